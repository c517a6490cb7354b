"""Warm-up hook for aicrm.ai.warm: build the configured embedder once."""

from __future__ import annotations


def warm() -> None:
    from aicrm.ai.providers.embeddings import embedder

    embedder().embed(["warm up"])
