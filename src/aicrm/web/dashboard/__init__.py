"""Web UI: dashboard."""
