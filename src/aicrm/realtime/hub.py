"""The websocket hub of one app: its connections, their channel subscriptions, delivery, and
heartbeats.

The hub lives on the event loop of the server that runs the app. Messages arrive from the bus in
any thread (a request's commit on this loop, a job on another loop, the Redis subscriber thread,
a test's own loop) and hop onto the hub's loop with `call_soon_threadsafe` (`call_soon` on its own
loop, so a commit never waits for the fan-out). Each message is encoded once per channel and sent
to every subscriber in publish order, in slices so requests get the loop in between. A send never
blocks the hub: a client whose socket is full gets a bounded backlog (WS_QUEUE_SIZE) drained by a
task of its own, and when that fills the client does not keep up and is closed (1013, try again
later) — never slowing the publisher or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from starlette.websockets import WebSocket

from aicrm.config import Settings
from aicrm.db import Database
from aicrm.kit.principal import Principal
from aicrm.logging import get_logger
from aicrm.realtime.bus import Message, get_bus

log = get_logger("aicrm.realtime")

# close codes (4000-4999 are the application's own)
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_HEARTBEAT_TIMEOUT = 4408

PING = json.dumps({"type": "ping"})
# membership and API-key checks of open connections: a member removed from the organization
# stops receiving its events within this time
REVALIDATE_SECONDS = 60.0
# bus message fields for the hub only
HUB_FIELDS = ("organization_id", "channels", "permission")
# sends per loop callback during a fan-out
SLICE = 256


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


async def _finish(coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Drive a coroutine that suspended on `waiting` to its end."""
    while True:
        if isinstance(waiting, asyncio.Future):
            await asyncio.wait((waiting,))
        else:
            await asyncio.sleep(0)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


class Connection:
    """One accepted websocket: who it is, what it listens to, and what waits to be sent.

    A send is run eagerly: the ASGI server writes the frame to the socket without suspending
    unless the socket's buffer is full, so the common case costs no task switch. A send that
    does have to wait gets a task that finishes it and then sends the backlog, which is bounded
    by the hub's queue size: beyond it the client is too slow and is closed.
    """

    def __init__(
        self, hub: Hub, websocket: WebSocket, principal: Principal, credential: str
    ) -> None:
        self.hub = hub
        self.websocket = websocket
        self.principal = principal
        self.credential = credential
        self.channels: set[str] = set()
        self.limit = max(1, hub.queue_size)
        self.backlog: deque[str] = deque()
        self.flusher: asyncio.Task[None] | None = None
        self.last_seen = time.monotonic()
        self.closed = False

    def push(self, wire: str) -> None:
        """Send now, or queue behind a send that waits; never blocks."""
        if self.closed:
            return
        if self.flusher is not None:
            if len(self.backlog) >= self.limit:
                self.hub.drop(self, CLOSE_TRY_AGAIN_LATER, "too slow: messages are not being read")
            else:
                self.backlog.append(wire)
            return
        try:
            pending = self._send_eagerly(wire)
        except Exception:  # noqa: BLE001 - the socket went away; the receive loop notices
            self.hub.drop(self, None, "")
            return
        if pending is not None:
            self.flusher = asyncio.get_running_loop().create_task(self._drain(*pending))

    def _send_eagerly(self, wire: str) -> tuple[Coroutine[Any, Any, Any], Any] | None:
        """Run the send until it completes (None) or suspends (the coroutine and what it waits
        on)."""
        coro = self.websocket.send({"type": "websocket.send", "text": wire})
        try:
            waiting = coro.send(None)
        except StopIteration:
            return None
        return coro, waiting

    async def _drain(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        try:
            while True:
                await _finish(coro, waiting)
                while True:
                    if self.closed or not self.backlog:
                        return
                    pending = self._send_eagerly(self.backlog.popleft())
                    if pending is not None:
                        coro, waiting = pending
                        break
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:  # noqa: BLE001 - the socket went away; the receive loop notices
            self.hub.drop(self, None, "")
        finally:
            if self.flusher is asyncio.current_task():
                self.flusher = None


class Hub:
    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.db = db
        self.queue_size = settings.WS_QUEUE_SIZE
        self.heartbeat_seconds = settings.WS_HEARTBEAT_SECONDS
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[Connection] = set()
        # (organization id, channel) -> connections: a channel name means something only inside
        # the organization that published to it (user:7 of org 1 is not user:7 of org 2)
        self.subscribers: dict[tuple[int, str], set[Connection]] = {}
        self.delivered = 0
        self.dropped_slow = 0
        self._unlisten: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._kick: asyncio.Event | None = None
        self._closing: set[asyncio.Task[Any]] = set()
        self._outbox: deque[list[Any]] = deque()
        self._pumping = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and listen to the bus (idempotent)."""
        if self.loop is not None and not self.loop.is_closed():
            return
        self.loop = asyncio.get_running_loop()
        self._kick = asyncio.Event()
        bus = get_bus()
        self._unlisten = bus.listen(self.dispatch)
        self._ticker = self.loop.create_task(self._heartbeats(), name="aicrm-ws-heartbeat")
        # messages from other processes flow once the Redis subscription is confirmed; do not
        # hold up start-up for long when Redis is down (the subscriber keeps retrying)
        if not await asyncio.to_thread(bus.wait_ready, 2.0):
            log.warning("realtime: bus not ready yet; other processes' events will follow")

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._outbox.clear()
        for conn in list(self.connections):
            self.drop(conn, CLOSE_GOING_AWAY, "server shutting down")
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=2)
        self.loop = None

    def configure(
        self, *, heartbeat_seconds: float | None = None, queue_size: int | None = None
    ) -> None:
        """Change heartbeat interval / queue size (new connections get the new queue size).
        Safe from any thread."""
        if queue_size is not None:
            self.queue_size = queue_size
        if heartbeat_seconds is not None:
            self.heartbeat_seconds = heartbeat_seconds
            loop, kick = self.loop, self._kick
            if loop is not None and kick is not None and not loop.is_closed():
                loop.call_soon_threadsafe(kick.set)

    # -- connections -----------------------------------------------------------------------

    def connect(self, websocket: WebSocket, principal: Principal, credential: str) -> Connection:
        conn = Connection(self, websocket, principal, credential)
        self.connections.add(conn)
        return conn

    def disconnect(self, conn: Connection) -> None:
        """The receive loop ended: forget the connection (no close frame to send)."""
        self.drop(conn, None, "")

    def drop(self, conn: Connection, code: int | None, reason: str) -> None:
        """Forget a connection at once and close it in the background (never waits)."""
        if conn.closed:
            return
        conn.closed = True
        self.connections.discard(conn)
        for channel in conn.channels:
            key = (conn.principal.organization_id, channel)
            subs = self.subscribers.get(key)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subscribers[key]
        conn.channels.clear()
        conn.backlog.clear()
        if conn.flusher is not None and conn.flusher is not asyncio.current_task():
            conn.flusher.cancel()
        if code is not None:
            if code == CLOSE_TRY_AGAIN_LATER:
                self.dropped_slow += 1
            log.info("realtime: closing websocket", code=code, reason=reason)
            task = asyncio.get_running_loop().create_task(self._close(conn, code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await conn.websocket.close(code=code, reason=reason)

    def subscribe(self, conn: Connection, channel: str) -> None:
        if conn.closed:
            return
        conn.channels.add(channel)
        key = (conn.principal.organization_id, channel)
        self.subscribers.setdefault(key, set()).add(conn)

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        conn.channels.discard(channel)
        key = (conn.principal.organization_id, channel)
        subs = self.subscribers.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[key]

    # -- delivery --------------------------------------------------------------------------

    def dispatch(self, message: Message) -> None:
        """Bus listener, called from any thread: deliver on the hub's own loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            # after the committer's current step: a commit does not wait for the fan-out
            loop.call_soon(self.deliver, message)
            return
        try:
            loop.call_soon_threadsafe(self.deliver, message)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def deliver(self, message: Message) -> None:
        """On the hub's loop: encode once per channel, send to every subscriber."""
        org_id = message.get("organization_id")
        if not isinstance(org_id, int):
            return
        body = {k: v for k, v in message.items() if k not in HUB_FIELDS}
        needs = message.get("permission")
        for channel in message.get("channels") or ():
            subs = self.subscribers.get((org_id, channel))
            if not subs:
                continue
            wire = encode({"channel": channel, **body})
            if needs:
                conns = [c for c in subs if needs in c.principal.permissions]
            else:
                conns = list(subs)
            self._outbox.append([conns, wire, 0])
            self.delivered += len(conns)
        if self._outbox and not self._pumping:
            self._pumping = True
            self._pump()

    def _pump(self) -> None:
        """Send in slices of SLICE, so a fan-out to many clients lets requests in between;
        one outbox keeps every client's messages in publish order."""
        budget = SLICE
        outbox = self._outbox
        while outbox and budget > 0:
            item = outbox[0]
            conns, wire, start = item
            stop = min(len(conns), start + budget)
            for i in range(start, stop):
                conns[i].push(wire)
            budget -= stop - start
            if stop >= len(conns):
                outbox.popleft()
            else:
                item[2] = stop
        if outbox and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon(self._pump)
        else:
            self._pumping = False

    # -- heartbeats and revalidation -------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Ping every connection each interval; drop those silent for about two intervals
        (a client answers pings with pong, or sends anything)."""
        assert self._kick is not None
        last_check = time.monotonic()
        while True:
            interval = max(0.05, self.heartbeat_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=interval)
            self._kick.clear()
            now = time.monotonic()
            limit = 2 * interval + min(1.0, interval / 2)
            for conn in list(self.connections):
                if now - conn.last_seen > limit:
                    self.drop(conn, CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
                else:
                    conn.push(PING)
            if self.db is not None and now - last_check >= REVALIDATE_SECONDS:
                last_check = now
                try:
                    await self.revalidate()
                except Exception:  # noqa: BLE001 - a database hiccup must not stop heartbeats
                    log.exception("realtime: revalidation failed")

    async def revalidate(self) -> None:
        """Close connections whose member left the organization or whose API key was revoked."""
        from aicrm.realtime.channels import still_allowed

        assert self.db is not None
        seen: dict[tuple[int, int | None, int | None], bool] = {}
        session = await self.db.session(write=False)
        try:
            for conn in list(self.connections):
                p = conn.principal
                key = (p.organization_id, p.user_id, p.api_key_id)
                if key not in seen:
                    seen[key] = await still_allowed(session, p)
                if not seen[key]:
                    self.drop(conn, CLOSE_UNAUTHORIZED, "no longer allowed")
        finally:
            await session.close()


def hub_for(app: FastAPI) -> Hub:
    """The app's hub, made on first use (the router lifespan starts it with the server)."""
    hub: Hub | None = getattr(app.state, "realtime_hub", None)
    if hub is None:
        hub = Hub(app.state.settings, getattr(app.state, "db", None))
        app.state.realtime_hub = hub
    return hub
