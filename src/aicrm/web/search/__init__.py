"""Web UI: search."""
