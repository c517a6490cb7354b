"""The embedded worker: runs jobs and the scheduler tick inside `aicrm serve` (or `aicrm worker`
without a broker). Any number of processes may run one against the same database."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from contextlib import suppress

from aicrm.config import Settings
from aicrm.db import Database
from aicrm.jobs import backend, registry
from aicrm.jobs.runner import Runner
from aicrm.jobs.tick import tick
from aicrm.logging import get_logger

log = get_logger("aicrm.jobs")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class EmbeddedWorker:
    def __init__(self, db: Database, settings: Settings, *, concurrency: int | None = None) -> None:
        self.db = db
        self.settings = settings
        self.concurrency = concurrency or settings.JOB_CONCURRENCY
        self.runner = Runner(db, settings, worker_id())
        self._jobs_wake = asyncio.Event()
        self._relay_wake = asyncio.Event()
        self._running: set[asyncio.Task[str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake_jobs(self) -> None:
        self._call(self._jobs_wake.set)

    def wake_relay(self) -> None:
        self._call(self._relay_wake.set)

    def _call(self, fn: Callable[[], None]) -> None:
        # commits may happen on another thread's loop (CLI, tests): hop to the worker's loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop or self._loop is None:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        registry.load_job_modules(self.settings)
        backend.configure(self.settings, wake_jobs=self.wake_jobs, wake_relay=self.wake_relay)
        self._tasks = [
            asyncio.create_task(self._guard(self._work_loop), name="aicrm-jobs"),
            asyncio.create_task(self._guard(self._tick_loop), name="aicrm-tick"),
            asyncio.create_task(self._guard(self._lease_loop), name="aicrm-leases"),
        ]
        log.info("embedded worker started", worker=self.runner.worker, concurrency=self.concurrency)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let running jobs finish for `grace` seconds (the rest are re-run by
        whoever claims them after their lease expires)."""
        self._stopping = True
        backend.detach()
        self._jobs_wake.set()
        self._relay_wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self._running:
            await asyncio.wait(self._running, timeout=grace)
        with suppress(Exception):
            await self.runner.flush()

    async def _guard(self, loop: object) -> None:
        # a database hiccup must not kill the worker: log, pause, go on
        while not self._stopping:
            try:
                await loop()  # type: ignore[operator]
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("worker loop failed; restarting in 1 s")
                await asyncio.sleep(1.0)

    async def _work_loop(self) -> None:
        poll = self.settings.JOB_POLL_SECONDS
        while not self._stopping:
            self._jobs_wake.clear()
            free = self.concurrency - len(self._running)
            claimed = await self.runner.claim(free) if free > 0 else []
            for job in claimed:
                task = asyncio.create_task(self.runner.run(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            await self.runner.flush()
            if claimed and len(claimed) == free:
                # saturated: wait for a slot
                if self._running:
                    await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            if claimed:
                await asyncio.sleep(0)
                continue
            waiters: set[asyncio.Future[object]] = set(self._running)
            wake = asyncio.ensure_future(self._jobs_wake.wait())
            waiters.add(wake)
            await asyncio.wait(waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()

    async def _tick_loop(self) -> None:
        while not self._stopping:
            self._relay_wake.clear()
            result = await tick(self.db)
            if result.get("relayed") or result.get("periodic"):
                self._jobs_wake.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._relay_wake.wait(), timeout=1.0)

    async def _lease_loop(self) -> None:
        every = max(1.0, self.settings.JOB_LEASE_SECONDS / 3)
        while not self._stopping:
            await asyncio.sleep(every)
            await self.runner.renew()
