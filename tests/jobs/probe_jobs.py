"""Jobs the jobs tests run, loaded by workers through JOB_MODULES=["tests.jobs.probe_jobs"].

`probe.effect` writes one audit_log row (action = the run's tag, entity_id = the job's number)
in the job's own transaction: counting rows per number tells whether each job's effect happened
exactly once, however often the job was started.

`enqueue_many` queues jobs with the environment's settings (DATABASE_URL, CELERY_BROKER_URL);
the crash tests call it in a subprocess so Celery mode's after-commit sending runs for real.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aicrm.jobs import JobContext, PermanentError, job
from aicrm.models import AuditLog

# A run tag goes into audit_log.action (String(40)): "probe:" + a short id.
PREFIX = "probe:"

# in-process hooks for the runner tests: job key -> event the job waits for
GATES: dict[str, asyncio.Event] = {}


@job("probe.effect", max_attempts=20, timeout=60)
async def effect(ctx: JobContext, run: str, n: int, sleep: float = 0.0) -> dict[str, Any]:
    """Sleep (slow I/O before the transaction, as jobs should), then write the effect row."""
    if sleep:
        await asyncio.sleep(sleep)
    session = await ctx.session()
    session.add(
        AuditLog(
            organization_id=None,
            action=PREFIX + run,
            entity_type="probe",
            entity_id=n,
            after={"job_id": ctx.job_id, "attempt": ctx.attempt, "worker": ctx.worker},
        )
    )
    return {"n": n}


@job("probe.gated", max_attempts=5)
async def gated(ctx: JobContext, run: str, n: int, gate: str) -> dict[str, Any]:
    """Waits for GATES[gate] (set by the test), then writes the effect row."""
    event = GATES.get(gate)
    if event is not None:
        await event.wait()
    session = await ctx.session()
    session.add(AuditLog(action=PREFIX + run, entity_type="probe", entity_id=n, after={}))
    return {"n": n}


@job("probe.flaky", max_attempts=5)
async def flaky(ctx: JobContext, run: str, n: int, fail_times: int) -> dict[str, Any]:
    """Fails its first `fail_times` attempts, then writes the effect row."""
    if ctx.attempt <= fail_times:
        raise RuntimeError(f"flaky failure {ctx.attempt}")
    session = await ctx.session()
    session.add(AuditLog(action=PREFIX + run, entity_type="probe", entity_id=n, after={}))
    return {"attempt": ctx.attempt}


@job("probe.broken", max_attempts=3)
async def broken(ctx: JobContext, run: str, message: str = "boom") -> None:
    """Always fails after writing (rolled back): its effect must never show."""
    session = await ctx.session()
    session.add(AuditLog(action=PREFIX + run, entity_type="probe", entity_id=0, after={}))
    raise ValueError(message)


@job("probe.permanent", max_attempts=5)
async def permanent(ctx: JobContext, run: str) -> None:
    raise PermanentError("this cannot work, do not retry")


async def enqueue_many(
    run: str, count: int, *, batch: int = 100, sleep: float = 0.0, database_url: str | None = None
) -> list[int]:
    """Queue `count` probe.effect jobs, `batch` per transaction, through aicrm.jobs.enqueue."""
    from aicrm.config import get_settings
    from aicrm.db import Database
    from aicrm.jobs import backend, enqueue
    from aicrm.jobs.registry import load_job_modules

    settings = get_settings()
    load_job_modules(settings)
    backend.configure(settings)
    db = Database(settings, url=database_url)
    ids: list[int] = []
    try:
        for start in range(0, count, batch):
            session = await db.session(write=True)
            try:
                rows = [
                    await enqueue(session, "probe.effect", {"run": run, "n": n, "sleep": sleep})
                    for n in range(start, min(count, start + batch))
                ]
                await session.commit()
                ids += [r.id for r in rows if r is not None]
            finally:
                await session.close()
    finally:
        await db.dispose()
    return ids


async def enqueue_specs(specs: list[dict[str, Any]]) -> list[int]:
    """Queue jobs described as {"name", "args", "delay"?, "max_attempts"?} in one transaction,
    with the environment's settings; returns their ids in order."""
    from aicrm.config import get_settings
    from aicrm.db import Database
    from aicrm.jobs import backend, enqueue
    from aicrm.jobs.registry import load_job_modules

    settings = get_settings()
    load_job_modules(settings)
    backend.configure(settings)
    db = Database(settings)
    try:
        session = await db.session(write=True)
        try:
            rows = [
                await enqueue(
                    session,
                    spec["name"],
                    spec.get("args", {}),
                    delay=spec.get("delay"),
                    max_attempts=spec.get("max_attempts"),
                )
                for spec in specs
            ]
            await session.commit()
        finally:
            await session.close()
    finally:
        await db.dispose()
    return [r.id for r in rows if r is not None]
