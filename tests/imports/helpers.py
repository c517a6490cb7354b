"""Uploading CSV text the way a browser or script would."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from tests.fixtures.factories import Account


async def upload(
    client: httpx.AsyncClient,
    acc: Account,
    entity: str,
    text: str,
    *,
    mapping: dict[str, Any] | None = None,
    dry_run: bool = False,
    on_duplicate: str = "skip",
    timeout: float = 60,
) -> httpx.Response:
    data = {"dry_run": "true" if dry_run else "false", "on_duplicate": on_duplicate}
    if mapping is not None:
        data["mapping"] = json.dumps(mapping)
    return await client.post(
        f"/api/v1/imports/{entity}",
        files={"file": (f"{entity}.csv", text.encode("utf-8"), "text/csv")},
        data=data,
        headers=acc.headers,
        timeout=timeout,
    )


async def export(
    client: httpx.AsyncClient, acc: Account, entity: str, **params: Any
) -> httpx.Response:
    return await client.get(
        f"/api/v1/exports/{entity}.csv", params=params, headers=acc.headers, timeout=60
    )


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
