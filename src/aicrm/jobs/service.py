"""Jobs admin: see the organization's jobs, retry what died, discard what should not run.

Retry resets the attempt count: a dead job had used all its attempts, so keeping them would
let it fail once and die again. Its last error stays visible until a run succeeds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.errors import Conflict
from aicrm.jobs import backend
from aicrm.jobs.queue import enqueue
from aicrm.jobs.repository import JobRepo, state_of
from aicrm.jobs.schemas import JobOut, JobState, JobStats
from aicrm.kit.principal import Principal
from aicrm.models import Job, utcnow

SORTABLE = {"id": Job.id, "run_at": Job.run_at, "created_at": Job.created_at}
RETRYABLE = {JobState.dead, JobState.discarded, JobState.failed}
DISCARDABLE = {JobState.queued, JobState.failed, JobState.dead}


def to_out(job: Job) -> JobOut:
    out = JobOut.model_validate(job)
    out.status = state_of(job)
    return out


def _audit_view(job: Job) -> dict[str, Any]:
    return {
        "name": job.name,
        "status": state_of(job).value,
        "attempts": job.attempts,
        "run_at": job.run_at,
    }


async def list_jobs(
    session: AsyncSession,
    principal: Principal,
    *,
    state: JobState | None = None,
    name: str | None = None,
    sort: str = "-id",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Job], str | None]:
    repo = JobRepo.from_session(session, principal)
    return await repo.page(
        repo.listing(state=state, name=name),
        sort=sort,
        sortable=SORTABLE,
        cursor=cursor,
        limit=limit,
    )


async def get(session: AsyncSession, principal: Principal, job_id: int) -> Job:
    return await JobRepo.from_session(session, principal).get(job_id)


async def stats(session: AsyncSession, principal: Principal) -> JobStats:
    counts = await JobRepo.from_session(session, principal).counts()
    known = {k: v for k, v in counts.items() if k in JobStats.model_fields}
    return JobStats(**known, total=sum(counts.values()))


async def names(session: AsyncSession, principal: Principal) -> list[str]:
    return await JobRepo.from_session(session, principal).names()


def _wake(session: AsyncSession, job: Job) -> None:
    """Hand the job to the worker after commit, the way enqueue() does: the embedded worker is
    woken, Celery gets a run_jobs message (dispatched_at marks it sent)."""
    session.info.setdefault(backend.JOBS_KEY, []).append(job)


async def retry(session: AsyncSession, principal: Principal, job_id: int) -> Job:
    """Queue a dead, discarded or failed job to run now, with a fresh set of attempts."""
    job = await JobRepo.from_session(session, principal).get(job_id, for_update=True)
    state = state_of(job)
    if state not in RETRYABLE:
        raise Conflict(
            f"job {job_id} is {state.value}; only dead, discarded or failed jobs can be retried"
        )
    before = _audit_view(job)
    now = utcnow()
    job.status = "queued"
    job.attempts = 0
    job.run_at = now
    job.lease_until = None
    job.worker = None
    job.finished_at = None
    job.dispatched_at = now if backend.is_celery() else None
    await session.flush()
    _wake(session, job)
    await audit.record(
        session, principal, "retry", "job", job.id, before=before, after=_audit_view(job)
    )
    return job


async def discard(session: AsyncSession, principal: Principal, job_id: int) -> Job:
    """Stop a queued, failed or dead job from ever running (a discarded job stays discarded)."""
    job = await JobRepo.from_session(session, principal).get(job_id, for_update=True)
    state = state_of(job)
    if state is JobState.discarded:
        return job
    if state not in DISCARDABLE:
        hint = "wait for it to finish" if state is JobState.running else "it already finished"
        raise Conflict(f"job {job_id} is {state.value}; {hint}")
    before = _audit_view(job)
    job.status = "discarded"
    job.finished_at = utcnow()
    job.lease_until = None
    await session.flush()
    await audit.record(
        session, principal, "discard", "job", job.id, before=before, after=_audit_view(job)
    )
    return job


async def ping(session: AsyncSession, principal: Principal) -> Job:
    """Queue a no-op job for the organization: it succeeds within moments when a worker runs."""
    job = await enqueue(
        session,
        "jobs.noop",
        {"requested_by": principal.user_id},
        organization_id=principal.organization_id,
    )
    assert job is not None  # no idempotency key: always queued
    await session.flush()
    return job
