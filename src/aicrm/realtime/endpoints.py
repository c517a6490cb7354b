"""WebSocket `/ws`: authenticate, then subscribe/unsubscribe to channels and receive events.

Protocol (JSON text frames):
- client → `{"type": "subscribe", "channel": "lead:5"}` → `{"type": "subscribed", "channel": …}`
  or `{"type": "error", "channel": …, "detail": …}`; `unsubscribe` likewise (`unsubscribed`);
  `{"type": "ping"}` → `{"type": "pong"}`; `{"type": "pong"}` answers the server's pings.
- server → events `{"type": "lead_updated", "channel", "event", "event_id", "entity_type",
  "entity_id", "data", "ts"}`, once per subscribed channel the event goes to; `{"type": "ping"}`
  every WS_HEARTBEAT_SECONDS. A client silent for about two heartbeats is closed (4408); a client
  whose queue of WS_QUEUE_SIZE messages fills is closed with 1013 (try again later).
- Refused credentials close with 4401 (the web client renews its session and reconnects), a
  cross-site cookie handshake or a role without read access with 4403.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketState

from aicrm.errors import AICRMError, PermissionDenied
from aicrm.logging import get_logger
from aicrm.realtime import channels
from aicrm.realtime.hub import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, Connection, Hub, hub_for
from aicrm.realtime.web import router as web_router  # noqa: F401 - mounted by create_app

log = get_logger("aicrm.realtime")

MAX_CHANNELS = 200
MAX_FRAME = 4096


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the hub with the server (it listens to the bus from then on) and close every
    websocket when the server stops."""
    hub = hub_for(app)
    await hub.start()
    try:
        yield
    finally:
        await hub.stop()


router = APIRouter(lifespan=lifespan)


def _reply(kind: str, channel: object = None, **extra: object) -> str:
    body: dict[str, object] = {"type": kind}
    if channel is not None:
        body["channel"] = channel
    body.update(extra)
    return json.dumps(body, default=str)


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """Live events for the channels the client subscribes to."""
    app = websocket.app
    hub = hub_for(app)
    await hub.start()  # no-op once the lifespan started it
    await websocket.accept()
    try:
        principal = await channels.authenticate(websocket, app.state.db, app.state.settings)
    except AICRMError as exc:
        # accepted first so the client can read the code and reason (a refused handshake is
        # only a 403 that browsers do not show to scripts)
        code = CLOSE_FORBIDDEN if isinstance(exc, PermissionDenied) else CLOSE_UNAUTHORIZED
        await websocket.close(code=code, reason=exc.message[:120])
        return
    conn = hub.connect(websocket, principal, websocket.state.credential)
    try:
        await _receive_loop(hub, conn)
    finally:
        hub.disconnect(conn)


async def _receive_loop(hub: Hub, conn: Connection) -> None:
    websocket = conn.websocket
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        conn.last_seen = time.monotonic()
        if conn.closed:
            if websocket.application_state == WebSocketState.DISCONNECTED:
                return
            continue
        raw = message.get("text")
        if raw is None and message.get("bytes") is not None:
            raw = message["bytes"].decode("utf-8", "replace")
        if not raw or len(raw) > MAX_FRAME:
            conn.push(_reply("error", detail=f"send JSON text frames of at most {MAX_FRAME} bytes"))
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            conn.push(_reply("error", detail="not JSON"))
            continue
        if not isinstance(data, dict):
            conn.push(_reply("error", detail="send a JSON object with a 'type'"))
            continue
        await _handle(hub, conn, data)


async def _handle(hub: Hub, conn: Connection, data: dict[str, object]) -> None:
    kind = data.get("type")
    channel = data.get("channel")
    if kind == "ping":
        conn.push(_reply("pong"))
    elif kind == "pong":
        pass  # last_seen is already updated
    elif kind == "subscribe":
        if len(conn.channels) >= MAX_CHANNELS and channel not in conn.channels:
            conn.push(_reply("error", channel, detail=f"at most {MAX_CHANNELS} channels"))
            return
        try:
            name = await _authorize(conn, channel)
        except AICRMError as exc:
            conn.push(_reply("error", channel, detail=exc.message))
            return
        hub.subscribe(conn, name)
        conn.push(_reply("subscribed", name))
    elif kind == "unsubscribe":
        try:
            channels.parse(channel)
        except AICRMError as exc:
            conn.push(_reply("error", channel, detail=exc.message))
            return
        assert isinstance(channel, str)
        hub.unsubscribe(conn, channel)
        conn.push(_reply("unsubscribed", channel))
    else:
        conn.push(
            _reply("error", channel, detail="type must be subscribe, unsubscribe, ping or pong")
        )


async def _authorize(conn: Connection, channel: object) -> str:
    # a session takes a database connection only when an entity channel queries its record
    db = conn.websocket.app.state.db
    session = await db.session(write=False)
    try:
        return await channels.authorize(session, conn.principal, channel)
    finally:
        await session.close()
