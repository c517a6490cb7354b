"""Crash tests (issue 3): 1,000 jobs in flight, the worker killed with SIGKILL and restarted;
every job ends succeeded and each job's database effect exists exactly once.

Real processes: `aicrm worker` (embedded, no broker), and `aicrm worker` + `aicrm beat` on Celery
with Redis (skipped when Redis does not answer) and, smaller, on RabbitMQ (skipped when 5672 is
closed). Each probe job sleeps a little, then writes one audit_log row in its own transaction.
Leases are 2 s and the Celery re-dispatch window 3 s so recovery is quick.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from aicrm.db import Database
from aicrm.models import Job
from tests.jobs.conftest import clear_jobs, effects, new_run
from tests.jobs.probe_jobs import enqueue_many
from tests.jobs.procs import (
    AMQP_BROKER,
    REDIS_BROKER,
    Proc,
    Processes,
    cleanup_redis,
    enqueue_in_subprocess,
    reachable,
    wait_for,
)

COUNT = 1000
SLEEP = 0.05  # per job, before its transaction: keeps jobs in flight long enough to be killed


async def counts(db: Database) -> dict[str, int]:
    session = await db.session(write=False)
    try:
        rows = await session.execute(
            select(Job.status, func.count()).where(Job.name == "probe.effect").group_by(Job.status)
        )
        return {str(s): int(c) for s, c in rows.all()}
    finally:
        await session.close()


async def max_attempts_used(db: Database) -> int:
    session = await db.session(write=False)
    try:
        return int(
            await session.scalar(select(func.max(Job.attempts)).where(Job.name == "probe.effect"))
            or 0
        )
    finally:
        await session.close()


async def crash_and_recover(
    db: Database,
    procs: Processes,
    *,
    count: int,
    start_worker: Callable[[str], Proc],
    enqueue: Callable[[str], Awaitable[None]],
) -> dict[str, Any]:
    """Start a worker, queue `count` jobs, SIGKILL the worker mid-way, start another; every job
    must end succeeded with its effect exactly once."""
    await clear_jobs(db)
    run = new_run()
    first = start_worker("worker-1")
    await enqueue(run)

    async def some_done() -> bool:
        done = (await counts(db)).get("succeeded", 0)
        return done >= count // 5 or first.popen.poll() is not None

    await wait_for(some_done, 60, "the first jobs to finish", procs)
    assert first.popen.poll() is None, procs.logs()
    first.kill()
    at_kill = await counts(db)
    assert 0 < at_kill.get("succeeded", 0) < count, at_kill
    assert sum(at_kill.values()) == count, at_kill

    second = start_worker("worker-2")

    async def all_done() -> bool:
        return (await counts(db)).get("succeeded", 0) == count

    await wait_for(all_done, 90, f"all {count} jobs to succeed", procs)
    second.stop()
    final = await counts(db)
    assert final == {"succeeded": count}, final
    seen = await effects(db, run)
    assert len(seen) == count, f"{count - len(seen)} jobs have no effect"
    assert set(seen) == set(range(count))
    twice = {n: c for n, c in seen.items() if c != 1}
    assert twice == {}, f"effects not exactly once: {list(twice.items())[:10]}"
    if at_kill.get("running"):
        # the jobs the dead worker held were taken again after their lease ran out
        assert await max_attempts_used(db) >= 2
    return at_kill


async def test_embedded_worker_killed_mid_run(jobs_db: Database, procs: Processes) -> None:
    url = jobs_db.engine.url.render_as_string(hide_password=False)

    def start(name: str) -> Proc:
        return procs.start(name, "worker", "--concurrency", "16")

    async def enqueue(run: str) -> None:
        ids = await enqueue_many(run, COUNT, batch=100, sleep=SLEEP, database_url=url)
        assert len(ids) == COUNT

    await crash_and_recover(jobs_db, procs, count=COUNT, start_worker=start, enqueue=enqueue)


async def _celery_crash(
    db: Database, procs: Processes, broker: str, queue: str, count: int
) -> dict[str, Any]:
    procs.env.update(CELERY_BROKER_URL=broker, CELERY_QUEUE=queue)
    procs.start("beat", "beat")

    def start(name: str) -> Proc:
        return procs.start(name, "worker", "--concurrency", "2")

    async def enqueue(run: str) -> None:
        await enqueue_in_subprocess(procs, run, count, SLEEP)

    return await crash_and_recover(db, procs, count=count, start_worker=start, enqueue=enqueue)


@pytest.mark.skipif(
    not reachable(REDIS_BROKER, 6379), reason=f"Redis not reachable ({REDIS_BROKER})"
)
async def test_celery_worker_on_redis_killed_mid_run(jobs_db: Database, procs: Processes) -> None:
    queue = f"aicrm-test-{uuid.uuid4().hex[:8]}"
    try:
        await _celery_crash(jobs_db, procs, REDIS_BROKER, queue, COUNT)
    finally:
        procs.stop_all()
        cleanup_redis(REDIS_BROKER, queue)


@pytest.mark.skipif(not reachable(AMQP_BROKER, 5672), reason="RabbitMQ not reachable on 5672")
async def test_celery_worker_on_rabbitmq_killed_mid_run(
    jobs_db: Database, procs: Processes
) -> None:
    from kombu import Connection

    queue = f"aicrm-test-{uuid.uuid4().hex[:8]}"
    try:
        await _celery_crash(jobs_db, procs, AMQP_BROKER, queue, 300)
    finally:
        procs.stop_all()
        with Connection(AMQP_BROKER, connect_timeout=2) as conn:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.exchange_delete(queue)
