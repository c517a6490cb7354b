"""Lead scoring and deal win probability: features, cold-start rules, per-organization models."""
