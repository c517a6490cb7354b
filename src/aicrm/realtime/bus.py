"""The process's message bus. In memory by default; Redis pub/sub fan-out when configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Message = dict[str, Any]
Listener = Callable[[Message], None]


class Bus(Protocol):
    def publish(self, message: Message) -> None:
        """Non-blocking; safe to call from the event loop thread right after a commit."""

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(message)` for every message; returns the unsubscribe function."""


class MemoryBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def publish(self, message: Message) -> None:
        for listener in list(self._listeners):
            listener(message)

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None


_bus: Bus = MemoryBus()


def get_bus() -> Bus:
    return _bus


def set_bus(bus: Bus) -> None:
    global _bus
    _bus = bus
