"""Redis pub/sub fan-out: every process publishes its committed events to one Redis channel and
every API process's hub hears them all, so a change made through one API process (or a Celery
worker, or a CLI command) reaches websocket clients connected to any other.

Two daemon threads per process, both started on first use:
- the publisher drains a bounded in-memory queue, so `publish` never waits for Redis;
- the subscriber (only in processes with listeners, i.e. a websocket hub) reads the channel.
Both reconnect with exponential backoff and jitter after any failure. Messages published in
this process are delivered to its own listeners at once (not through Redis): local clients keep
getting events while Redis is down, and the subscriber skips the copies it published itself.
Realtime is best effort — the outbox keeps every event durably — so while Redis is unreachable
messages older than STALE_SECONDS are dropped rather than delivered late.
"""

from __future__ import annotations

import atexit
import json
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis

from aicrm.logging import get_logger
from aicrm.realtime.bus import Listener, MemoryBus, Message

log = get_logger("aicrm.realtime")

STALE_SECONDS = 10.0
MAX_PENDING = 10_000
BATCH = 200
BACKOFF_START = 0.1
BACKOFF_MAX = 10.0


def channel_name(url: str) -> str:
    """Pub/sub channels are global to a Redis server, not per database number: two deployments
    (or test runs) sharing one server on different databases must not hear each other, so the
    database number is part of the channel name."""
    path = urlsplit(url).path.strip("/")
    return f"aicrm:realtime:{path or '0'}"


def _backoff(current: float) -> float:
    return min(BACKOFF_MAX, current * 2) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter


class RedisBus:
    def __init__(self, url: str, channel: str) -> None:
        self.url = url
        self.channel = channel
        self.instance = uuid.uuid4().hex
        # visible in CLIENT LIST, so an operator (or a test) can tell which connection is whose
        self.subscriber_name = f"aicrm-realtime-{self.instance[:12]}"
        self._local = MemoryBus()
        self._pending: queue.Queue[tuple[float, Message] | None] = queue.Queue(MAX_PENDING)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self._publisher: threading.Thread | None = None
        self._subscriber: threading.Thread | None = None
        self._dropped = 0
        atexit.register(self.flush)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        self._local.publish(message)
        if self._publisher is None:
            self._start_publisher()
        try:
            self._pending.put_nowait((time.monotonic(), message))
        except queue.Full:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.warning("realtime: Redis publish queue full, dropping", dropped=self._dropped)

    def _start_publisher(self) -> None:
        with self._lock:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_loop, name="aicrm-realtime-pub", daemon=True
                )
                self._publisher.start()

    def _publish_loop(self) -> None:
        client: redis.Redis | None = None
        backoff = BACKOFF_START
        while True:
            item = self._pending.get()
            if item is None:
                return
            batch = [item]
            stopping = False
            while len(batch) < BATCH:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            taken = len(batch) + stopping
            while batch and not self._stop.is_set():
                try:
                    if client is None:
                        client = redis.Redis.from_url(
                            self.url, socket_connect_timeout=2, socket_timeout=5
                        )
                    pipe = client.pipeline(transaction=False)
                    for _, message in batch:
                        envelope = {"src": self.instance, "m": message}
                        pipe.publish(self.channel, json.dumps(envelope, default=str))
                    pipe.execute()
                    backoff = BACKOFF_START
                    batch = []
                except (redis.RedisError, OSError) as exc:
                    log.warning("realtime: Redis publish failed; retrying", error=str(exc))
                    if client is not None:
                        client.close()
                    client = None
                    self._stop.wait(backoff)
                    backoff = _backoff(backoff)
                    cutoff = time.monotonic() - STALE_SECONDS
                    batch = [(t, m) for t, m in batch if t >= cutoff]
            for _ in range(taken):
                self._pending.task_done()
            if stopping:
                return

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (briefly) for queued messages to reach Redis: a CLI command exits right after
        its commit, and its daemon publisher would otherwise die with the messages."""
        deadline = time.monotonic() + timeout
        while (
            self._publisher is not None
            and self._publisher.is_alive()
            and self._pending.unfinished_tasks > 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)

    # -- subscribing -----------------------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        unlisten = self._local.listen(listener)
        if self._subscriber is None:
            with self._lock:
                if self._subscriber is None:
                    self._subscriber = threading.Thread(
                        target=self._subscribe_loop, name="aicrm-realtime-sub", daemon=True
                    )
                    self._subscriber.start()
        return unlisten

    def wait_ready(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def _subscribe_loop(self) -> None:
        backoff = BACKOFF_START
        while not self._stop.is_set():
            client: redis.Redis | None = None
            pubsub: Any = None
            try:
                client = redis.Redis.from_url(
                    self.url,
                    socket_connect_timeout=2,
                    socket_keepalive=True,
                    health_check_interval=15,
                    client_name=self.subscriber_name,
                )
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    item = pubsub.get_message(timeout=1.0)
                    if item is None:
                        continue
                    if item["type"] == "subscribe":
                        self._subscribed.set()
                        if backoff > BACKOFF_START:
                            log.info("realtime: Redis subscription restored")
                        backoff = BACKOFF_START
                        continue
                    if item["type"] == "message":
                        self._receive(item["data"])
            except (redis.RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning(
                    "realtime: Redis subscription lost; reconnecting",
                    error=str(exc),
                    retry_in=round(backoff, 2),
                )
                self._stop.wait(backoff)
                backoff = _backoff(backoff)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except (redis.RedisError, OSError):
                        pass
        self._subscribed.clear()

    def _receive(self, data: bytes | str) -> None:
        try:
            envelope = json.loads(data)
            if envelope.get("src") == self.instance:
                return  # delivered locally when published
            message = envelope["m"]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("realtime: malformed message on the Redis channel")
            return
        self._local.publish(message)

    def close(self) -> None:
        self.flush()
        self._stop.set()
        if self._publisher is not None:
            try:
                self._pending.put_nowait(None)
            except queue.Full:
                pass
        self._local.close()
