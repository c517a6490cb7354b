"""enqueue(): a job row written in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.jobs import registry
from aicrm.kit.snapshot import jsonable
from aicrm.models import Job, utcnow

PENDING_KEY = "aicrm_jobs"


class UnknownJob(ValueError):
    pass


async def enqueue(
    session: AsyncSession,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    organization_id: int | None = None,
    delay: float | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    max_attempts: int | None = None,
) -> Job | None:
    """Queue `name(**args)`; it commits or rolls back with the caller's change.

    With an idempotency key already used, nothing is queued and None is returned.
    """
    registry.load_job_modules()
    spec = registry.JOBS.get(name)
    if spec is None:
        raise UnknownJob(name)
    if idempotency_key is not None:
        # the same key queued earlier in this transaction is not flushed yet (autoflush is off):
        # without this check the commit would fail on the unique index
        pending = session.info.get(PENDING_KEY, ())
        if any(getattr(j, "idempotency_key", None) == idempotency_key for j in pending):
            return None
        existing = await session.scalar(
            select(Job.id).where(Job.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return None
    now = utcnow()
    when = run_at or (now + timedelta(seconds=delay) if delay else now)
    from aicrm.jobs import backend

    row = Job(
        organization_id=organization_id,
        name=name,
        args=jsonable(dict(args or {})),
        status="queued",
        attempts=0,
        max_attempts=max_attempts or spec.max_attempts or backend.settings().JOB_MAX_ATTEMPTS,
        run_at=when,
        idempotency_key=idempotency_key,
        # in Celery mode the message is sent right after commit (see backend.after_commit)
        dispatched_at=now if backend.is_celery() and when <= now else None,
    )
    session.add(row)
    session.info.setdefault(PENDING_KEY, []).append(row)
    return row
