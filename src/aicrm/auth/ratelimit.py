"""Fixed-window rate limits: in memory embedded, Redis when REDIS_URL is set."""

from __future__ import annotations

import time
from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        """Count a hit; return (allowed, seconds until the window resets)."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        now = int(time.time())
        start = now - now % window_s
        wstart, count = self._windows.get(key, (start, 0))
        if wstart != start:
            wstart, count = start, 0
        count += 1
        self._windows[key] = (wstart, count)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == start}
        return count <= limit, wstart + window_s - now


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        from redis import asyncio as aioredis

        self._redis = aioredis.from_url(url)

    async def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        now = int(time.time())
        start = now - now % window_s
        rkey = f"aicrm:rl:{key}:{start}"
        pipe = self._redis.pipeline()
        pipe.incr(rkey)
        pipe.expire(rkey, window_s + 1)
        count, _ = await pipe.execute()
        return int(count) <= limit, start + window_s - now


def make_rate_limiter(redis_url: str) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
