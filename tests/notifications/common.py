"""Helpers shared by the notification tests: notifications are made by jobs after the commit of
their cause, so tests poll for them (briefly) instead of expecting them at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.fixtures.factories import Account, create

NOTIFICATIONS = "/api/v1/notifications"


async def notifications(
    client: httpx.AsyncClient, acc: Account, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(NOTIFICATIONS, params=params, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def wait_for(
    client: httpx.AsyncClient,
    acc: Account,
    predicate: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """Poll the account's notifications until `predicate(items)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        items = await notifications(client, acc)
        if predicate(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"notifications never matched; last seen: {items}")
        await asyncio.sleep(0.1)


async def assign_task(
    client: httpx.AsyncClient, by: Account, to: Account, title: str = "Call the customer back"
) -> dict[str, Any]:
    return await create(client, by, "/api/v1/tasks", {"title": title, "assignee_id": to.user_id})
