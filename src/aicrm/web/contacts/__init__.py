"""Web UI: contacts."""
