"""Workflow automation: per-organization rules (trigger → conditions → ordered actions)."""
