"""Websocket client helpers for the realtime tests (the `websockets` library, real sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 10.0


def ws_url(base_url: str, token: str | None = None) -> str:
    url = base_url.replace("http://", "ws://", 1) + "/ws"
    return f"{url}?token={token}" if token else url


def open_ws(base_url: str, token: str | None = None, **kwargs: Any) -> Any:
    """`async with open_ws(...) as ws:`; no proxy, no compression unless asked."""
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", TIMEOUT)
    return connect(ws_url(base_url, token), **kwargs)


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(
    ws: ClientConnection, type_: str, timeout: float = TIMEOUT, *, skip_pings: bool = True
) -> dict[str, Any]:
    """The next message of `type_`, skipping server pings (answered) and other types."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await recv_json(ws, max(0.01, deadline - loop.time()))
        if message["type"] == type_:
            return message
        if message["type"] == "ping" and skip_pings:
            await ws.send(json.dumps({"type": "pong"}))


async def subscribe(ws: ClientConnection, channel: str) -> dict[str, Any]:
    """Subscribe and return the server's answer (`subscribed` or `error`)."""
    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
    while True:
        message = await recv_json(ws)
        if message["type"] in ("subscribed", "error") and message.get("channel") == channel:
            return message


async def drain_events(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything the server sent before a ping/pong round trip (a barrier: the hub delivers in
    order on one loop, so an event already queued for this client arrives before the pong)."""
    await ws.send(json.dumps({"type": "ping"}))
    seen = []
    while True:
        message = await recv_json(ws)
        if message["type"] == "pong":
            return seen
        if message["type"] != "ping":
            seen.append(message)
