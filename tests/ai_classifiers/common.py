"""Shared by the classifier tests: the Banking77 sample, creating and waiting for a classifier."""

from __future__ import annotations

import asyncio
import csv
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.factories import Account

DATA = Path(__file__).parent / "data"
BASE = "/api/v1/ai/classifiers"
UNRELATED = [
    "What's a good recipe for banana bread?",
    "I want to book a meeting room for Tuesday afternoon",
]


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def examples(per_label: int = 30, labels: set[str] | None = None) -> list[dict[str, str]]:
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows("train.csv"):
        if labels is None or r["label"] in labels:
            out.setdefault(r["label"], [])
            if len(out[r["label"]]) < per_label:
                out[r["label"]].append({"text": r["text"], "label": r["label"]})
    return [e for group in out.values() for e in group]


def unique_name(prefix: str = "intents") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(
    client: httpx.AsyncClient, acc: Account, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = body or {"name": unique_name(), "examples": examples(10)}
    r = await client.post(BASE, json=body, headers=acc.headers)
    assert r.status_code == 202, r.text
    return r.json()


async def wait_ready(
    client: httpx.AsyncClient,
    acc: Account,
    classifier_id: int,
    *,
    version: int = 1,
    timeout: float = 45,
) -> dict[str, Any]:
    """Poll GET until the classifier is ready with at least `model_version`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        r = await client.get(f"{BASE}/{classifier_id}", headers=acc.headers)
        assert r.status_code == 200, r.text
        last = r.json()
        assert last["status"] != "failed", last
        if last["status"] == "ready" and last["model_version"] >= version:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"classifier {classifier_id} not ready: {last}")
