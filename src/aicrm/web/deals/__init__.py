"""Web UI: deals."""
