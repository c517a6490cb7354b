"""Shared by the webhook tests: creating subscriptions, waiting for deliveries, overriding the
running server's settings for one test, reading rows the API does not expose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.fixtures.factories import Account, create
from tests.fixtures.server import LiveServer

HOOKS = "/api/v1/webhooks"


async def make_hook(
    client: httpx.AsyncClient, acc: Account, url: str, event_types: list[str], **extra: Any
) -> dict[str, Any]:
    return await create(client, acc, HOOKS, {"url": url, "event_types": event_types, **extra})


async def deliveries(
    client: httpx.AsyncClient, acc: Account, hook_id: int, **params: Any
) -> list[dict[str, Any]]:
    """Every delivery of a webhook (all pages)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{HOOKS}/{hook_id}/deliveries", params=query, headers=acc.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


async def eventually(
    check: Callable[[], Any], *, timeout: float = 30, every: float = 0.1, what: str = ""
) -> Any:
    """Poll the async `check()` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


async def delivery_settled(
    client: httpx.AsyncClient, acc: Account, hook_id: int, delivery_id: int, *, timeout: float = 30
) -> dict[str, Any]:
    """The delivery once it succeeded or gave up."""

    async def check() -> dict[str, Any] | None:
        r = await client.get(f"{HOOKS}/{hook_id}/deliveries/{delivery_id}", headers=acc.headers)
        assert r.status_code == 200, r.text
        d = r.json()
        return d if d["status"] in ("succeeded", "failed") else None

    return await eventually(check, timeout=timeout, what=f"delivery {delivery_id}")


@contextmanager
def server_settings(live_server: LiveServer, **values: Any) -> Iterator[Any]:
    """Change settings of the running test server (its API and embedded worker share one
    Settings object) for the duration of a block."""
    settings = live_server.app.state.settings
    before = {k: getattr(settings, k) for k in values}
    for k, v in values.items():
        setattr(settings, k, v)
    try:
        yield settings
    finally:
        for k, v in before.items():
            setattr(settings, k, v)


@asynccontextmanager
async def engine_for(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Direct read access to the test database (for rows the API does not expose)."""
    engine = create_async_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
