"""Web UI: auth."""
