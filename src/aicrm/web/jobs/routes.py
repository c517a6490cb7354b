"""Settings → Jobs: the organization's background jobs by state, with retry and discard."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.errors import Invalid
from aicrm.jobs import service as job_service
from aicrm.jobs.repository import state_of
from aicrm.jobs.schemas import JobState
from aicrm.kit.principal import Permission
from aicrm.models import Job
from aicrm.web.core import Ctx, WebCtx, WebRoute, page, partial, toast, trigger

router = APIRouter(prefix="/settings/jobs", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 50
# state, label, badge class, dot colour
STATES = [
    (JobState.queued, "Queued", "badge-pending", "#2e90fa"),
    (JobState.running, "Running", "badge-in-progress", "#6172f3"),
    (JobState.failed, "Failed", "badge-medium", "#f79009"),
    (JobState.dead, "Dead", "badge-lost", "#d92d20"),
    (JobState.succeeded, "Succeeded", "badge-done", "#079455"),
    (JobState.discarded, "Discarded", "badge-neutral", "#98a2b3"),
]
BADGES = {s.value: badge for s, _, badge, _ in STATES}


def _state(value: str) -> JobState | None:
    if not value:
        return None
    try:
        return JobState(value)
    except ValueError as exc:
        raise Invalid("Choose one of the job states", field="status") from exc


def _row(job: Job) -> dict[str, Any]:
    state = state_of(job)
    error = (job.last_error or "").strip()
    return {
        "j": job,
        "state": state.value,
        "badge": BADGES[state.value],
        "error_head": error.splitlines()[0][:140] if error else "",
        "error": error,
        "can_retry": state in job_service.RETRYABLE,
        "can_discard": state in job_service.DISCARDABLE,
    }


async def _stats(ctx: Ctx) -> dict[str, Any]:
    return {"stats": await job_service.stats(ctx.session, ctx.principal), "states": STATES}


async def _list(ctx: Ctx, status: str, name: str, cursor: str | None) -> dict[str, Any]:
    rows, next_cursor = await job_service.list_jobs(
        ctx.session,
        ctx.principal,
        state=_state(status),
        name=name or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    query = {k: v for k, v in (("status", status), ("name", name)) if v}
    return {
        "rows": [_row(j) for j in rows],
        "next_cursor": next_cursor,
        "state_filter": status,
        "name_filter": name,
        "query": urlencode(query),
    }


@router.get("")
async def jobs_page(
    ctx: WebCtx, status: str = "", name: str = "", cursor: str | None = None, fragment: str = ""
) -> Response:
    ctx.require(Permission.settings)
    if ctx.htmx and fragment == "stats":
        return await partial(ctx, "jobs/_stats.html", state_filter=status, **await _stats(ctx))
    context = await _list(ctx, status, name, cursor)
    if ctx.htmx and fragment == "rows":
        return await partial(ctx, "jobs/_rows.html", **context)
    if ctx.htmx and fragment == "list":
        return await partial(ctx, "jobs/_list.html", **context)
    return await page(
        ctx,
        "jobs/page.html",
        active="jobs",
        names=await job_service.names(ctx.session, ctx.principal),
        **context,
        **await _stats(ctx),
    )


async def _changed(ctx: Ctx, job: Job, message: str) -> Response:
    """The job's new row, the counts swapped out of band, and a toast."""
    row = await partial(ctx, "jobs/_row.html", row=_row(job))
    stats = await partial(ctx, "jobs/_stats.html", oob=True, **await _stats(ctx))
    response = HTMLResponse(bytes(row.body) + bytes(stats.body))
    return toast(response, message)


@router.post("/{job_id}/retry")
async def retry(ctx: WebCtx, job_id: int) -> Response:
    ctx.require(Permission.settings)
    job = await job_service.retry(ctx.session, ctx.principal, job_id)
    return await _changed(ctx, job, f"Job #{job.id} queued to run again")


@router.post("/{job_id}/discard")
async def discard(ctx: WebCtx, job_id: int) -> Response:
    ctx.require(Permission.settings)
    job = await job_service.discard(ctx.session, ctx.principal, job_id)
    return await _changed(ctx, job, f"Job #{job.id} discarded")


@router.post("/ping")
async def ping(ctx: WebCtx) -> Response:
    ctx.require(Permission.settings)
    job = await job_service.ping(ctx.session, ctx.principal)
    response = Response(status_code=204)
    trigger(response, jobsChanged=True)
    return toast(response, f"Ping job #{job.id} queued: it turns succeeded when a worker runs")
