"""Web UI: settings."""
