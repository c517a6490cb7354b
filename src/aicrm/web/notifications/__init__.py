"""Notifications in the web UI."""
