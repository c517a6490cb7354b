"""Celery mode beyond the crash test: retries with backoff, delayed jobs and periodic jobs all
reach the workers through beat's tick and the sweep; a broker that is down never hangs the
sender; `aicrm beat` refuses to run without a broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from aicrm.db import Database
from aicrm.jobs import celery_app, enqueue
from aicrm.models import Job
from tests.jobs.conftest import clear_jobs, effects, job_row, job_settings, new_run
from tests.jobs.procs import (
    REDIS_BROKER,
    Processes,
    cleanup_redis,
    enqueue_specs_in_subprocess,
    reachable,
    wait_for,
)

DOWN = ["redis://127.0.0.1:1/0", "amqp://guest:guest@127.0.0.1:1//"]


@pytest.fixture
def broker_down(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """celery_app publishing to a broker nobody listens on (a fresh publisher, breaker closed)."""
    url = request.param
    broken = celery_app.make_app(job_settings("", CELERY_BROKER_URL=url))
    monkeypatch.setattr(celery_app, "app", broken)
    monkeypatch.setattr(celery_app, "_breaker_until", 0.0)
    monkeypatch.setattr(celery_app._local, "publisher", None, raising=False)
    yield url
    celery_app._local.publisher = None


@pytest.mark.parametrize("broker_down", DOWN, indirect=True)
def test_a_broker_that_is_down_fails_fast_and_never_raises_into_a_request(
    broker_down: str,
) -> None:
    started = time.monotonic()
    with pytest.raises(celery_app.BrokerUnavailable):
        celery_app.publish([1, 2, 3])
    # bounded by the short connect timeout and no retries (kombu's default retries for long)
    assert time.monotonic() - started < 5
    # the breaker is open now: no second attempt while it is
    with pytest.raises(celery_app.BrokerUnavailable, match="moments ago"):
        celery_app.publish([4])
    # what the after-commit hook calls: logs, never raises
    celery_app.send([5], True)


@pytest.mark.parametrize("broker_down", DOWN[:1], indirect=True)
async def test_the_sweep_undoes_a_dispatch_the_broker_never_got(
    broker_down: str, jobs_db: Database
) -> None:
    await clear_jobs(jobs_db)
    session = await jobs_db.session(write=True)
    try:
        job = await enqueue(session, "jobs.noop", {})
        assert job is not None
        await session.commit()
    finally:
        await session.close()
    with pytest.raises(celery_app.BrokerUnavailable):
        await celery_app.sweep(jobs_db)
    row = await job_row(jobs_db, job.id)
    assert row.status == "queued" and row.dispatched_at is None  # the next sweep sends it


@pytest.mark.skipif(
    not reachable(REDIS_BROKER, 6379), reason=f"Redis not reachable ({REDIS_BROKER})"
)
async def test_retries_delays_dead_letters_and_periodic_jobs_on_celery(
    jobs_db: Database, procs: Processes
) -> None:
    await clear_jobs(jobs_db)
    queue = f"aicrm-test-{uuid.uuid4().hex[:8]}"
    procs.env.update(CELERY_BROKER_URL=REDIS_BROKER, CELERY_QUEUE=queue)
    run = new_run()
    try:
        procs.start("beat", "beat")
        procs.start("worker", "worker", "--concurrency", "2")
        flaky, delayed, permanent = await enqueue_specs_in_subprocess(
            procs,
            [
                {"name": "probe.flaky", "args": {"run": run, "n": 1, "fail_times": 2}},
                {"name": "probe.effect", "args": {"run": run, "n": 2}, "delay": 2},
                {"name": "probe.permanent", "args": {"run": run}},
            ],
        )

        async def settled() -> bool:
            rows = [await job_row(jobs_db, i) for i in (flaky, delayed, permanent)]
            return [r.status for r in rows] == ["succeeded", "succeeded", "dead"]

        await wait_for(settled, 60, "the three jobs to settle", procs)
        flaky_row = await job_row(jobs_db, flaky)
        assert flaky_row.attempts == 3 and flaky_row.last_error is None
        delayed_row = await job_row(jobs_db, delayed)
        assert delayed_row.started_at is not None and delayed_row.started_at >= delayed_row.run_at
        dead = await job_row(jobs_db, permanent)
        assert dead.attempts == 1 and (dead.last_error or "").startswith("PermanentError")
        assert await effects(jobs_db, run) == {1: 1, 2: 1}

        # beat's tick queued the periodic housekeeping job and the sweep sent it
        async def pruned() -> bool:
            session = await jobs_db.session(write=False)
            try:
                status = await session.scalar(
                    select(Job.status).where(Job.name == "jobs.prune").limit(1)
                )
            finally:
                await session.close()
            return status == "succeeded"

        await wait_for(pruned, 30, "the periodic jobs.prune to run", procs)
    finally:
        procs.stop_all()
        cleanup_redis(REDIS_BROKER, queue)


def test_beat_needs_a_broker() -> None:
    from aicrm.cli import app

    result = CliRunner().invoke(app, ["beat"])
    assert result.exit_code == 2
    assert "CELERY_BROKER_URL" in result.output
