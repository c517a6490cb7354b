"""Web UI: tasks."""
