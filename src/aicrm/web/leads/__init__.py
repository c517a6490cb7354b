"""Web UI: leads."""
