"""The runner against the real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set):
retries with backoff, dead letters, permanent errors, fenced completion after a lost lease,
idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update

from aicrm.db import Database
from aicrm.jobs import enqueue
from aicrm.jobs.runner import Claimed, Runner
from aicrm.models import Job, utcnow
from tests.jobs import probe_jobs
from tests.jobs.conftest import effects, job_row, job_settings, new_run

BASE = 0.05  # backoff base in these tests (seconds)


def runner(db: Database, worker: str = "test-worker", **overrides: float) -> Runner:
    values = {
        "JOB_BACKOFF_SECONDS": BASE,
        "JOB_BACKOFF_MAX_SECONDS": 1.0,
        "JOB_LEASE_SECONDS": 30.0,
    }
    settings = job_settings(
        db.engine.url.render_as_string(hide_password=False), **(values | overrides)
    )
    return Runner(db, settings, worker)


async def queue(db: Database, name: str, args: dict[str, object], **kw: object) -> int:
    session = await db.session(write=True)
    try:
        job = await enqueue(session, name, args, **kw)  # type: ignore[arg-type]
        assert job is not None
        await session.commit()
        return job.id
    finally:
        await session.close()


async def claim_one(r: Runner, job_id: int, timeout: float = 5.0) -> Claimed:
    """Claim this job as soon as it is due (after its backoff)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        claimed = await r.claim(1, ids=[job_id])
        if claimed:
            return claimed[0]
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} never became due"
        await asyncio.sleep(0.01)


async def test_retries_with_backoff_then_success(jobs_db: Database) -> None:
    run = new_run()
    job_id = await queue(jobs_db, "probe.flaky", {"run": run, "n": 1, "fail_times": 2})
    r = runner(jobs_db)
    for attempt in (1, 2):
        claimed = await claim_one(r, job_id)
        assert claimed.attempts == attempt
        before = utcnow()
        assert await r.run(claimed) == "retry"
        after = utcnow()
        row = await job_row(jobs_db, job_id)
        assert row.status == "queued" and row.attempts == attempt
        assert row.last_error and f"RuntimeError: flaky failure {attempt}" in row.last_error
        assert row.lease_until is None and row.dispatched_at is None
        # equal jitter: between half and all of base * 2^(attempt-1)
        delay = BASE * 2 ** (attempt - 1)
        assert before + timedelta(seconds=delay / 2) <= row.run_at
        assert row.run_at <= after + timedelta(seconds=delay)
    claimed = await claim_one(r, job_id)
    assert claimed.attempts == 3
    assert await r.run(claimed) == "succeeded"
    row = await job_row(jobs_db, job_id)
    assert row.status == "succeeded" and row.attempts == 3
    assert row.last_error is None and row.result == {"attempt": 3}
    assert row.finished_at is not None and row.lease_until is None
    # the two failed attempts' writes rolled back with them
    assert await effects(jobs_db, run) == {1: 1}


async def test_dead_after_max_attempts_keeps_the_last_error(jobs_db: Database) -> None:
    run = new_run()
    job_id = await queue(jobs_db, "probe.broken", {"run": run, "message": "boom"})
    r = runner(jobs_db)
    outcomes = []
    for _ in range(3):  # probe.broken has max_attempts=3
        outcomes.append(await r.run(await claim_one(r, job_id)))
    assert outcomes == ["retry", "retry", "dead"]
    row = await job_row(jobs_db, job_id)
    assert row.status == "dead" and row.attempts == 3 and row.finished_at is not None
    assert row.last_error is not None
    assert row.last_error.startswith("ValueError: boom")
    assert "Traceback" in row.last_error and "probe_jobs.py" in row.last_error
    # a dead job is never claimed again
    assert await r.claim(1, ids=[job_id]) == []
    assert await effects(jobs_db, run) == {}


async def test_max_attempts_given_at_enqueue_wins(jobs_db: Database) -> None:
    run = new_run()
    job_id = await queue(jobs_db, "probe.broken", {"run": run}, max_attempts=1)
    r = runner(jobs_db)
    assert await r.run(await claim_one(r, job_id)) == "dead"


async def test_permanent_error_is_dead_at_once(jobs_db: Database) -> None:
    run = new_run()
    job_id = await queue(jobs_db, "probe.permanent", {"run": run})
    r = runner(jobs_db)
    assert await r.run(await claim_one(r, job_id)) == "dead"
    row = await job_row(jobs_db, job_id)
    assert row.status == "dead" and row.attempts == 1
    assert row.last_error and row.last_error.startswith("PermanentError: this cannot work")


async def test_unknown_job_name_is_dead(jobs_db: Database) -> None:
    session = await jobs_db.session(write=True)
    try:
        job = Job(name="nobody.registered", args={}, status="queued", run_at=utcnow())
        session.add(job)
        await session.commit()
    finally:
        await session.close()
    r = runner(jobs_db)
    assert await r.run(await claim_one(r, job.id)) == "dead"
    assert "no job named 'nobody.registered'" in ((await job_row(jobs_db, job.id)).last_error or "")


async def test_completion_is_fenced_after_a_lost_lease(jobs_db: Database) -> None:
    """Worker A's lease expires while its job still runs; worker B takes the job. A's effect
    and completion roll back together (its attempt number no longer matches), B's commit:
    the effect happens once."""
    run = new_run()
    gate = f"gate-{run}"
    probe_jobs.GATES[gate] = asyncio.Event()
    job_id = await queue(jobs_db, "probe.gated", {"run": run, "n": 7, "gate": gate})
    a, b = runner(jobs_db, "worker-a"), runner(jobs_db, "worker-b")
    claimed_a = await claim_one(a, job_id)
    running_a = asyncio.create_task(a.run(claimed_a))
    await asyncio.sleep(0.05)
    assert not running_a.done()
    # B cannot take a job whose lease is alive
    assert await b.claim(1, ids=[job_id]) == []
    # A's process stalls past its lease (simulated: the lease runs out now)
    session = await jobs_db.session(write=True)
    try:
        await session.execute(
            update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    finally:
        await session.close()
    claimed_b = await claim_one(b, job_id)
    assert claimed_b.attempts == 2
    # A renewing its lease now must not steal the job back
    await a.renew()
    assert (await job_row(jobs_db, job_id)).worker == "worker-b"
    probe_jobs.GATES[gate].set()
    assert await running_a == "lost"
    assert await effects(jobs_db, run) == {}
    assert await b.run(claimed_b) == "succeeded"
    row = await job_row(jobs_db, job_id)
    assert row.status == "succeeded" and row.attempts == 2 and row.worker == "worker-b"
    assert await effects(jobs_db, run) == {7: 1}
    del probe_jobs.GATES[gate]


async def test_renew_extends_only_this_workers_leases(jobs_db: Database) -> None:
    run = new_run()
    gate = f"gate-{run}"
    probe_jobs.GATES[gate] = asyncio.Event()
    job_id = await queue(jobs_db, "probe.gated", {"run": run, "n": 1, "gate": gate})
    r = runner(jobs_db, "renewer", JOB_LEASE_SECONDS=2.0)
    claimed = await claim_one(r, job_id)
    first = (await job_row(jobs_db, job_id)).lease_until
    task = asyncio.create_task(r.run(claimed))
    await asyncio.sleep(0.05)
    await r.renew()
    renewed = (await job_row(jobs_db, job_id)).lease_until
    assert first is not None and renewed is not None and renewed > first
    probe_jobs.GATES[gate].set()
    assert await task == "succeeded"
    del probe_jobs.GATES[gate]


async def test_jobs_without_a_db_effect_finish_in_one_batch(jobs_db: Database) -> None:
    ids = [await queue(jobs_db, "jobs.noop", {"n": n}) for n in range(5)]
    r = runner(jobs_db)
    claimed = await r.claim(5, ids=ids)
    assert sorted(c.id for c in claimed) == ids
    assert await asyncio.gather(*(r.run(c) for c in claimed)) == ["succeeded"] * 5
    # not marked yet: completion waits for flush()
    assert (await job_row(jobs_db, ids[0])).status == "running"
    assert await r.flush() == 5
    assert {(await job_row(jobs_db, i)).status for i in ids} == {"succeeded"}


async def test_idempotency_key_dedupes_enqueue(jobs_db: Database) -> None:
    key = f"once-{new_run()}"
    first = await queue(jobs_db, "jobs.noop", {}, idempotency_key=key)
    session = await jobs_db.session(write=True)
    try:
        assert await enqueue(session, "jobs.noop", {}, idempotency_key=key) is None
        # twice in one transaction: the second is dropped before the unique index sees it
        key2 = f"twice-{new_run()}"
        assert await enqueue(session, "jobs.noop", {}, idempotency_key=key2) is not None
        assert await enqueue(session, "jobs.noop", {}, idempotency_key=key2) is None
        await session.commit()
        counts = dict(
            (
                await session.execute(
                    select(Job.idempotency_key, func.count())
                    .where(Job.idempotency_key.in_([key, key2]))
                    .group_by(Job.idempotency_key)
                )
            ).all()
        )
    finally:
        await session.close()
    assert counts == {key: 1, key2: 1}
    assert (await job_row(jobs_db, first)).idempotency_key == key
