"""Scaled-out job mode: Celery 5 workers and beat on Redis or RabbitMQ (`CELERY_BROKER_URL`).

The job table stays the source of truth; a broker message only says "look at these job ids
now". So a lost, duplicated or late message never loses or doubles a job:

- `aicrm.run_jobs(ids)` hands the ids to the worker process's event loop (one per process, in a
  thread of its own), which claims them with a lease (a job already taken, finished or not yet
  due is simply not claimed) and runs JOB_CONCURRENCY of them at once;
- the sender (registered with `backend.set_celery_sender`) publishes right after the commit
  that queued the jobs, up to 100 ids per message, and never retries: when the broker is down
  the request goes on and `sweep()` re-sends later;
- `aicrm.tick` (beat, every second) relays the outbox, queues periodic jobs and sweeps: due jobs
  never sent (delayed, retried, periodic), sent jobs whose message seems lost, and running jobs
  whose worker died (lease expired).

Run with `aicrm worker` / `aicrm beat` (or `celery -A aicrm.jobs.celery_app worker`).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import suppress
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy import or_, select, update

from aicrm.config import Settings
from aicrm.db import Database
from aicrm.jobs import backend, registry
from aicrm.jobs.runner import Claimed, Runner
from aicrm.logging import get_logger
from aicrm.models import Job, utcnow

log = get_logger("aicrm.jobs")
job_t = Job.__table__
T = TypeVar("T")

CHUNK = 100  # job ids per run_jobs message
SWEEP_BATCH = 1000
SEND_TIMEOUT = 1.0  # seconds to connect to / write to the broker from a request
BREAKER_SECONDS = 5.0  # after a failed publish, skip publishing this long (the sweep re-sends)
TICK_EXPIRES = 10.0  # a tick not started within this many seconds is dropped (a newer one comes)


def queue_name(settings: Settings) -> str:
    """The queue run_jobs/tick/relay go to (one per installation sharing a broker)."""
    return settings.CELERY_QUEUE or "aicrm"


def redispatch_seconds(settings: Settings) -> float:
    """How long a sent job may stay queued before the sweep assumes its message was lost."""
    return float(settings.JOB_REDISPATCH_SECONDS)


def chunks(ids: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# -- the Celery app ---------------------------------------------------------------------------


def make_app(settings: Settings) -> Celery:
    queue = queue_name(settings)
    celery = Celery("aicrm", broker=settings.CELERY_BROKER_URL or "memory://", set_as_current=True)
    celery.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        # the job table is the truth: an unacked message lost with its worker is re-sent by
        # the sweep, so early acks cost nothing and avoid redelivering finished work
        task_acks_late=False,
        task_publish_retry=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=4.0,
        enable_utc=True,
        timezone="UTC",
        beat_schedule={
            "aicrm-tick": {
                "task": "aicrm.tick",
                "schedule": 1.0,
                "options": {"expires": TICK_EXPIRES, "queue": queue},
            }
        },
        beat_schedule_filename=str(settings.DATA_DIR / "celerybeat-schedule"),
    )
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # Redis' ack emulation keeps every delivered message in a hash until acked, to restore
        # it an hour later if its worker died; the sweep already re-sends what a dead worker
        # held, from the job table, within JOB_REDISPATCH_SECONDS. Without it a message costs
        # the consumer one round trip instead of three.
        celery.conf.broker_transport_options = {"ack_emulation": False}
    return celery


app = make_app(backend.settings())


# -- one event loop, database and runner per worker process ------------------------------------


class WorkerState:
    """One event loop (in a thread of its own), database engine and runner per worker process,
    kept for the life of the process.

    A run_jobs task hands its ids to this loop and returns at once; the loop claims whatever is
    pending in one statement and runs JOB_CONCURRENCY jobs at once. So one-job messages, the
    common case (one request, one job), cost a message and a share of a claim, not a claim, a
    completion commit and a loop start-up each. Leases are renewed and completions flushed
    continuously, between tasks too. A task waits while its process already holds `capacity`
    ids, so a process never hoards more (the rest stays in the broker for other workers). Ids a
    process accepted but had not claimed when it died are re-sent by the sweep.
    """

    def __init__(self, settings: Settings) -> None:
        from aicrm.jobs.embedded import worker_id

        self.pid = os.getpid()
        self.settings = settings
        registry.load_job_modules(settings)
        backend.configure(settings)
        self.concurrency = max(1, settings.JOB_CONCURRENCY)
        self.capacity = max(2 * CHUNK, 2 * self.concurrency)
        try:
            import uvloop

            self.loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            self.loop = asyncio.new_event_loop()
        self.db = Database(settings)
        self.runner = Runner(self.db, settings, worker_id())
        self.pending: list[int] = []  # loop thread only
        self.running: set[asyncio.Task[str]] = set()  # loop thread only
        self.closing = False
        # ids accepted and not settled yet (pending or claimed and unfinished), shared between
        # the task thread (which waits on it) and the loop thread (which releases)
        self._held = 0
        self._room = threading.Condition()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._serve, args=(ready,), name="aicrm-jobs", daemon=True
        )
        self.thread.start()
        ready.wait()

    # -- called from Celery's task thread -----------------------------------------------------
    def accept(self, ids: list[int]) -> None:
        """Hand ids to the loop without waiting for it (waiting only while the process is
        full): a task thread blocked on the loop thread would wait for the GIL to come back."""
        with self._room:
            while self._held >= self.capacity and not self.closing:
                self._room.wait(1.0)
            if self.closing:
                raise RuntimeError("this worker process is shutting down")
            self._held += len(ids)
        self.loop.call_soon_threadsafe(self._take, ids)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the process's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- the loop thread ----------------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self._wake = asyncio.Event()
        self._flush_wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._background = [
            self.loop.create_task(self._guard(self._dispatch)),
            self.loop.create_task(self._guard(self._flush_loop)),
            self.loop.create_task(self._guard(self._lease_loop)),
        ]
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _guard(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        # a database hiccup must not stop the process's job loop: log, pause, go on
        while not self.closing:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("celery job loop failed; restarting in 1 s")
                await asyncio.sleep(1.0)

    def _take(self, ids: list[int]) -> None:
        self.pending.extend(ids)
        self._wake.set()

    def _release(self, count: int) -> None:
        if count:
            with self._room:
                self._held -= count
                self._room.notify_all()

    async def _dispatch(self) -> None:
        while not self.closing:
            await self._wake.wait()
            self._wake.clear()
            while self.pending and not self.closing:
                # everything pending in one claim: ids that arrive while a claim commits are
                # claimed together by the next one, so the claim cost per job falls as load rises
                batch, self.pending = self.pending, []
                try:
                    claimed = await self.runner.claim(len(batch), ids=batch)
                except BaseException:
                    # the database failed (the guard retries in a second) or we are stopping
                    self.pending[:0] = batch
                    raise
                # ids not claimable now (running elsewhere, finished, not due) are dropped: the
                # job table, not this list, says what is left to do
                self._release(len(batch) - len(claimed))
                for job in claimed:
                    task = asyncio.ensure_future(self._run(job))
                    self.running.add(task)
                    task.add_done_callback(self._finished)

    async def _run(self, job: Claimed) -> str:
        # claimed jobs waiting for a slot keep their lease (the runner renews all it holds)
        async with self._slots:
            return await self.runner.run(job)

    def _finished(self, task: asyncio.Task[str]) -> None:
        self.running.discard(task)
        self._release(1)
        self._flush_wake.set()
        if not task.cancelled() and task.exception() is not None:
            # the runner records job failures itself; this is it failing to (database down):
            # the job's lease runs out and it is run again
            log.error("job could not be settled", exc_info=task.exception())

    async def _flush_loop(self) -> None:
        """Mark finished jobs without a database effect succeeded, many per statement."""
        while not self.closing:
            await self._flush_wake.wait()
            self._flush_wake.clear()
            await asyncio.sleep(0.002)  # let a burst of completions share one statement
            await self.runner.flush()

    async def _lease_loop(self) -> None:
        every = max(0.5, self.settings.JOB_LEASE_SECONDS / 3)
        while not self.closing:
            await asyncio.sleep(every)
            await self.runner.renew()

    async def drain(self, grace: float) -> None:
        """Stop taking work, give running jobs `grace` seconds, settle what can be settled."""
        self.closing = True
        with self._room:
            self._room.notify_all()
        for task in self._background:
            task.cancel()
        pending, self.pending = self.pending, []
        if pending:
            # accepted but never claimed: let the next sweep re-send them at once
            with suppress(Exception):
                await _undispatch(self.db, pending, None)
        if self.running:
            await asyncio.wait(self.running, timeout=grace)
        with suppress(Exception):
            await self.runner.flush()
        await self.db.dispose()

    def close(self, grace: float = 10.0) -> None:
        with suppress(Exception):
            self.call(self.drain(grace), timeout=grace + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_state: WorkerState | None = None
_state_lock = threading.Lock()
_local = threading.local()


def state() -> WorkerState:
    """This process's state, made on first use. Checked against the pid so nothing opened
    before a fork (sockets, loops, threads) is ever used by a child."""
    global _state
    with _state_lock:
        if _state is None or _state.pid != os.getpid():
            _state = WorkerState(backend.settings())
        return _state


@worker_process_init.connect
def _process_init(**_: Any) -> None:
    state()


@worker_process_shutdown.connect
def _process_shutdown(**_: Any) -> None:
    global _state
    current = _state
    if current is not None and current.pid == os.getpid():
        current.close()
        _state = None


# -- tasks ------------------------------------------------------------------------------------


@app.task(name="aicrm.run_jobs", ignore_result=True)
def run_jobs(ids: list[int]) -> int:
    """Hand the given jobs to this process's loop, which claims those still claimable and runs
    them; the job table says what is left to do."""
    ids = [int(i) for i in ids]
    state().accept(ids)
    return len(ids)


@app.task(name="aicrm.tick", ignore_result=True)
def tick_task() -> dict[str, int]:
    """Relay the outbox, queue periodic jobs, re-send what needs sending (beat, every second)."""
    from aicrm.jobs.tick import tick

    s = state()
    return s.call(tick(s.db))


@app.task(name="aicrm.relay", ignore_result=True)
def relay_task() -> int:
    """Hand newly committed events to the consumers now rather than at the next tick."""
    from aicrm.events.relay import relay

    s = state()
    return s.call(relay(s.db))


# -- publishing -------------------------------------------------------------------------------


class BrokerUnavailable(RuntimeError):
    pass


class Publisher:
    """A broker connection of our own for sending, with short timeouts and no retries, so a
    request never hangs on a broker that is down. One per process and thread (kombu connections
    are not thread-safe)."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self.pid = os.getpid()
        self._connection: Any = None
        self._producer: Any = None

    def _open(self) -> Any:
        if self._producer is None:
            url = self.celery.conf.broker_url or ""
            options = dict(self.celery.conf.broker_transport_options or {})
            options["max_retries"] = 0
            if url.startswith(("redis", "rediss")):
                options |= {"socket_connect_timeout": SEND_TIMEOUT, "socket_timeout": SEND_TIMEOUT}
            elif url.startswith(("amqp", "pyamqp")):
                options |= {"read_timeout": SEND_TIMEOUT, "write_timeout": SEND_TIMEOUT}
            self._connection = self.celery.connection_for_write(
                connect_timeout=SEND_TIMEOUT, transport_options=options
            )
            self._producer = self.celery.amqp.Producer(self._connection, auto_declare=False)
        return self._producer

    def publish(self, name: str, args: list[Any], **options: Any) -> None:
        try:
            producer = self._open()
            self.celery.send_task(name, args=args, producer=producer, retry=False, **options)
        except Exception:
            self.reset()
            raise

    def reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            with suppress(Exception):
                connection.release()


_breaker_until = 0.0
_breaker_lock = threading.Lock()


def _publisher() -> Publisher:
    current: Publisher | None = getattr(_local, "publisher", None)
    if current is None or current.pid != os.getpid():
        current = Publisher(app)
        _local.publisher = current
    return current


def publish(job_ids: list[int], relay: bool = False) -> int:
    """Send run_jobs messages (≤ CHUNK ids each) and optionally a relay message; raises
    BrokerUnavailable when the broker cannot be reached (or failed moments ago)."""
    global _breaker_until
    if not job_ids and not relay:
        return 0
    if time.monotonic() < _breaker_until:
        raise BrokerUnavailable("the broker failed moments ago; not trying again yet")
    sent = 0
    publisher = _publisher()
    try:
        for chunk in chunks(list(job_ids)):
            publisher.publish("aicrm.run_jobs", [chunk])
            sent += 1
        if relay:
            publisher.publish("aicrm.relay", [])
            sent += 1
    except Exception as exc:
        with _breaker_lock:
            _breaker_until = time.monotonic() + BREAKER_SECONDS
        raise BrokerUnavailable(f"could not publish to the broker: {exc}") from exc
    return sent


def send(job_ids: list[int], relay: bool) -> None:
    """The after-commit sender: best effort, never raises (the sweep re-sends what is lost)."""
    try:
        publish(job_ids, relay)
    except BrokerUnavailable as exc:
        log.warning(
            "jobs not sent to the broker; the sweep will", jobs=len(job_ids), error=str(exc)
        )


backend.set_celery_sender(send)


# -- the sweep --------------------------------------------------------------------------------


async def sweep(db: Database) -> int:
    """Re-send what needs a message: running jobs whose lease expired, and due queued jobs never
    sent or sent longer than the re-dispatch window ago. Returns how many were sent."""
    settings = backend.settings()
    total = 0
    while True:
        now = utcnow()
        stale = now - timedelta(seconds=redispatch_seconds(settings))
        not_recent = or_(job_t.c.dispatched_at.is_(None), job_t.c.dispatched_at < stale)
        # two index range scans (ix_job_status_run_at), as in Runner.claim, rather than one OR
        picks = [
            select(job_t.c.id).where(
                job_t.c.status == "running", job_t.c.lease_until < now, not_recent
            ),
            select(job_t.c.id).where(job_t.c.status == "queued", job_t.c.run_at <= now, not_recent),
        ]
        ids: list[int] = []
        session = await db.session(write=True)
        try:
            for pick in picks:
                want = SWEEP_BATCH - len(ids)
                if want <= 0:
                    break
                pick = pick.order_by(job_t.c.run_at, job_t.c.id).limit(want)
                if not db.is_sqlite:
                    pick = pick.with_for_update(skip_locked=True)
                stmt = (
                    update(job_t)
                    .where(job_t.c.id.in_(pick.scalar_subquery()))
                    .values(dispatched_at=now)
                    .returning(job_t.c.id)
                )
                ids += (await session.scalars(stmt)).all()
            # committed before publishing: a worker must find the rows unlocked
            await session.commit()
        finally:
            await session.close()
        if not ids:
            return total
        try:
            publish(sorted(ids))
        except BrokerUnavailable:
            await _undispatch(db, ids, now)
            raise
        total += len(ids)
        if len(ids) < SWEEP_BATCH:
            return total


async def _undispatch(db: Database, ids: list[int], when: Any) -> None:
    """Forget a dispatch that never led to a run (the broker was down, or the process that had
    the ids stopped), so the next sweep sends the queued ones again."""
    stmt = update(job_t).where(job_t.c.id.in_(ids))
    if when is not None:
        stmt = stmt.where(job_t.c.dispatched_at == when)  # only the dispatch made then
    else:
        stmt = stmt.where(job_t.c.status == "queued")
    session = await db.session(write=True)
    try:
        await session.execute(stmt.values(dispatched_at=None))
        await session.commit()
    finally:
        await session.close()
