"""Web UI: audit."""
