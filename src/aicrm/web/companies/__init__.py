"""Web UI: companies."""
