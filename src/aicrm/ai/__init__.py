"""AI engine: offline models and providers."""
