"""Outgoing webhooks: signed deliveries of domain events to the organization's endpoints."""
