"""In-app notifications: stored per user, pushed over the websocket, filtered by preferences."""
