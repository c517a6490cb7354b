"""Jobs every build has: housekeeping of the job table and the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from aicrm.events import relay as _relay  # noqa: F401 - registers events.consume
from aicrm.jobs.context import JobContext
from aicrm.jobs.registry import job, periodic
from aicrm.models import Job, OutboxEvent, utcnow


@job("jobs.noop", max_attempts=1)
async def noop(ctx: JobContext, **_: Any) -> None:
    """Does nothing: measures the runner's own overhead (bench) and checks a worker is alive."""
    return None


@job("jobs.prune")
async def prune(ctx: JobContext) -> dict[str, int]:
    """Delete finished jobs and relayed events older than JOB_RETENTION_DAYS (dead ones stay)."""
    cutoff = utcnow() - timedelta(days=ctx.settings.JOB_RETENTION_DAYS)
    session = await ctx.session()
    jobs = await session.execute(
        delete(Job).where(Job.status.in_(("succeeded", "discarded")), Job.finished_at < cutoff)
    )
    events = await session.execute(delete(OutboxEvent).where(OutboxEvent.published_at < cutoff))
    return {"jobs": jobs.rowcount or 0, "events": events.rowcount or 0}


periodic("jobs.prune", every=3600)
