"""The process's message bus: in memory by default, Redis pub/sub fan-out when REDIS_URL is set.

Every process has one bus, API servers and workers alike. `publish` is called right after a
commit from any thread or event loop and must never block; listeners (the websocket hub of an API
process) are called synchronously from whatever thread publishes or receives, and hop to their
own event loop themselves (aicrm.realtime.hub.Hub.dispatch).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from aicrm.logging import get_logger

log = get_logger("aicrm.realtime")

Message = dict[str, Any]
Listener = Callable[[Message], None]


class Bus(Protocol):
    def publish(self, message: Message) -> None:
        """Non-blocking; safe from any thread, right after a commit."""

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(message)` for every message; returns the unsubscribe function."""

    def wait_ready(self, timeout: float) -> bool:
        """Block up to `timeout` seconds until messages from other processes can arrive."""

    def close(self) -> None:
        """Stop background threads (tests, process shutdown)."""


class MemoryBus:
    """Delivers to the listeners of this process only."""

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()

    def publish(self, message: Message) -> None:
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:  # noqa: BLE001 - one broken listener must not starve the others
                log.exception("realtime listener failed")

    def listen(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unlisten() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unlisten

    def wait_ready(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        self._listeners = ()


_bus: Bus | None = None
_bus_pid: int | None = None
_bus_lock = threading.Lock()


def _make_bus() -> Bus:
    from aicrm.jobs import backend

    settings = backend.settings()
    if settings.REDIS_URL:
        from aicrm.realtime.redis_bus import RedisBus, channel_name

        return RedisBus(
            settings.REDIS_URL,
            getattr(settings, "REALTIME_CHANNEL", "") or channel_name(settings.REDIS_URL),
        )
    return MemoryBus()


def get_bus() -> Bus:
    """The process's bus, made on first use from the settings `aicrm serve`/`worker`/CLI
    configured (REDIS_URL). A forked child (Celery prefork) makes its own: threads do not
    survive a fork."""
    global _bus, _bus_pid
    bus, pid = _bus, os.getpid()
    if bus is not None and _bus_pid == pid:
        return bus
    with _bus_lock:
        if _bus is None or _bus_pid != pid:
            _bus, _bus_pid = _make_bus(), pid
        return _bus


def set_bus(bus: Bus | None) -> None:
    """Replace the process's bus (None: made again from the settings on next use)."""
    global _bus, _bus_pid
    with _bus_lock:
        old = _bus
        _bus, _bus_pid = bus, (os.getpid() if bus is not None else None)
    if old is not None and old is not bus:
        old.close()
