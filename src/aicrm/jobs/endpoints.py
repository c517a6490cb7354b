"""Jobs admin: the organization's background jobs (settings permission)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from aicrm.auth.deps import Session, require
from aicrm.db import TxRoute
from aicrm.jobs import service
from aicrm.jobs.schemas import JobOut, JobState, JobStats
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], route_class=TxRoute)

Admin = Annotated[Principal, Depends(require(Permission.settings))]


@router.get("", response_model=Page[JobOut])
async def list_jobs(
    principal: Admin,
    session: Session,
    status: JobState | None = Query(
        None, description="queued, running, failed (waiting to retry), succeeded, dead, discarded"
    ),
    name: Annotated[
        str | None, Query(max_length=80, description="job name, e.g. jobs.noop")
    ] = None,
    sort: str = "-id",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[JobOut]:
    """The organization's jobs, newest first, keyset-paginated. Sort by id, run_at or
    created_at (prefix '-' to reverse)."""
    rows, nxt = await service.list_jobs(
        session, principal, state=status, name=name, sort=sort, cursor=cursor, limit=limit
    )
    return Page[JobOut](items=[service.to_out(j) for j in rows], next_cursor=nxt)


@router.get("/stats", response_model=JobStats)
async def job_stats(principal: Admin, session: Session) -> JobStats:
    """How many of the organization's jobs are in each state."""
    return await service.stats(session, principal)


@router.post("/ping", response_model=JobOut, status_code=status.HTTP_201_CREATED)
async def ping(principal: Admin, session: Session) -> JobOut:
    """Queue a no-op job: when it turns succeeded, a worker is alive and picking up work."""
    return service.to_out(await service.ping(session, principal))


@router.get("/{job_id}", response_model=JobOut)
async def get_job(job_id: int, principal: Admin, session: Session) -> JobOut:
    """One job with its arguments, attempts, last error and result."""
    return service.to_out(await service.get(session, principal, job_id))


@router.post("/{job_id}/retry", response_model=JobOut)
async def retry_job(job_id: int, principal: Admin, session: Session) -> JobOut:
    """Run a dead, discarded or failed job again now, with a fresh set of attempts
    (409 for queued, running or succeeded jobs)."""
    return service.to_out(await service.retry(session, principal, job_id))


@router.post("/{job_id}/discard", response_model=JobOut)
async def discard_job(job_id: int, principal: Admin, session: Session) -> JobOut:
    """Never run this queued, failed or dead job (409 while it runs or once it succeeded)."""
    return service.to_out(await service.discard(session, principal, job_id))
