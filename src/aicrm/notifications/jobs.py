"""Background work of notifications: domain events → notifications, the due-soon scan, and (by
importing aicrm.notifications.email) the `email.send` job.

The consumer runs as an `events.consume` job after the events' commit; its notifications commit
with the job's completion, so a retried batch never notifies twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.deals import service as deal_service
from aicrm.errors import NotFound
from aicrm.events.relay import consumer
from aicrm.jobs import JobContext, enqueue, job, periodic
from aicrm.kit.principal import Principal, system_principal
from aicrm.leads import service as lead_service
from aicrm.models import OutboxEvent, utcnow
from aicrm.notifications import email as _email  # noqa: F401 - registers email.send
from aicrm.notifications import repository, service
from aicrm.notifications import types as t
from aicrm.tasks import service as task_service

DUE_SOON_JOB = "notifications.task_due_soon"
SCAN_JOB = "notifications.scan_due_soon"
DUE_SOON_HORIZON = timedelta(hours=24)
SCAN_EVERY_SECONDS = 300.0
SCAN_BATCH = 500

Handler = Callable[[AsyncSession, Principal, OutboxEvent, int | None], Awaitable[None]]


async def _actor_name(session: AsyncSession, actor: int | None) -> str:
    if actor is None:
        return "An automation"
    return (await repository.users(session, [actor])).get(actor, ("", "Someone"))[1]


async def _task_assigned(
    session: AsyncSession, principal: Principal, event: OutboxEvent, actor: int | None
) -> None:
    assignee = (event.payload or {}).get("assignee_id")
    if not isinstance(assignee, int) or assignee == actor or event.entity_id is None:
        return
    try:
        task = await task_service.get(session, principal, event.entity_id)
    except NotFound:
        return  # deleted before we got to it
    if task.assignee_id != assignee:
        return  # reassigned since: that change has its own event
    due = f" It is due {task.due_at:%b %-d, %H:%M} UTC." if task.due_at else ""
    await service.notify(
        session,
        principal,
        user_ids=[assignee],
        type_=t.TASK_ASSIGNED,
        title=f"Task assigned to you: {task.title}",
        body=f"{await _actor_name(session, actor)} assigned you this task.{due}",
        link=f"/tasks/{task.id}",
        entity_type="task",
        entity_id=task.id,
        data={"actor_user_id": actor},
    )


async def _deal_closed(
    session: AsyncSession, principal: Principal, event: OutboxEvent, actor: int | None
) -> None:
    if event.entity_id is None:
        return
    try:
        deal = await deal_service.get(session, principal, event.entity_id)
    except NotFound:
        return
    if deal.owner_id is None or deal.owner_id == actor:
        return  # owners closing their own deals know already
    won = event.type == "deal.won"
    reason = (event.payload or {}).get("reason")
    body = f"{await _actor_name(session, actor)} marked it {'won' if won else 'lost'}."
    if reason:
        body += f" Reason: {reason}"
    await service.notify(
        session,
        principal,
        user_ids=[deal.owner_id],
        type_=t.DEAL_WON if won else t.DEAL_LOST,
        title=f"Deal {'won' if won else 'lost'}: {deal.name}",
        body=body,
        link=f"/deals/{deal.id}",
        entity_type="deal",
        entity_id=deal.id,
        data={"actor_user_id": actor, "amount": (event.payload or {}).get("amount")},
    )


def _new_lead_assignee(event: OutboxEvent) -> int | None:
    """Who an update event assigned the lead to (update events name their changes)."""
    change = ((event.payload or {}).get("changes") or {}).get("assignee_id") or {}
    to = change.get("to")
    return to if isinstance(to, int) else None


async def _lead_assigned(
    session: AsyncSession, principal: Principal, event: OutboxEvent, actor: int | None
) -> None:
    """A lead created for someone or handed to someone (no dedicated event: lead.created and the
    `changes` of lead.updated say it)."""
    if event.entity_id is None:
        return
    updated = event.type == "lead.updated"
    named = _new_lead_assignee(event) if updated else (event.payload or {}).get("assignee_id")
    if (updated and named is None) or (named is not None and named == actor):
        return
    try:
        lead = await lead_service.get(session, principal, event.entity_id)
    except NotFound:
        return
    if named is None:
        # lead.created does not name its assignee: the lead's, if unchanged since its creation
        if lead.version != 1:
            return
        named = lead.assignee_id
    if not isinstance(named, int) or named == actor or lead.assignee_id != named:
        return  # unassigned, self-assigned, or reassigned since (that change has its own event)
    assignee = named
    await service.notify(
        session,
        principal,
        user_ids=[assignee],
        type_=t.LEAD_ASSIGNED,
        title=f"Lead assigned to you: {lead.name}",
        body=f"{await _actor_name(session, actor)} assigned you this lead.",
        link=f"/leads/{lead.id}",
        entity_type="lead",
        entity_id=lead.id,
        data={"actor_user_id": actor},
    )


HANDLERS: dict[str, Handler] = {
    "task.assigned": _task_assigned,
    "deal.won": _deal_closed,
    "deal.lost": _deal_closed,
    "lead.created": _lead_assigned,
    "lead.updated": _lead_assigned,
}


@consumer("notifications")
async def on_events(ctx: JobContext, events: list[OutboxEvent]) -> None:
    """Domain events → notifications for the people they concern."""
    wanted = [e for e in events if e.type in HANDLERS]
    if not wanted:
        return
    session = await ctx.session()
    for event in wanted:
        actor = (event.payload or {}).get("actor_user_id")
        principal = system_principal(event.organization_id)
        await HANDLERS[event.type](
            session, principal, event, actor if isinstance(actor, int) else None
        )


# -- tasks due soon ------------------------------------------------------------------------


def due_soon_key(task_id: int, assignee_id: int) -> str:
    """Once per task and assignee (a reassigned task tells its new assignee too)."""
    return f"{DUE_SOON_JOB}:{task_id}:{assignee_id}"


@job(SCAN_JOB, max_attempts=3)
async def scan_due_soon(ctx: JobContext) -> dict[str, int]:
    """Queue one due-soon job per open assigned task due within 24 hours, once per task."""
    start = utcnow()
    end = start + DUE_SOON_HORIZON
    session = await ctx.session()
    queued = 0
    after: tuple[datetime, int] | None = None
    while True:
        rows = await repository.open_tasks_due(
            session, start=start, end=end, after=after, limit=SCAN_BATCH
        )
        if not rows:
            break
        keys = {task_id: due_soon_key(task_id, assignee) for _, task_id, assignee, _ in rows}
        used = await repository.used_job_keys(session, list(keys.values()))
        for org_id, task_id, assignee, _due in rows:
            if keys[task_id] in used:
                continue
            await enqueue(
                session,
                DUE_SOON_JOB,
                {"task_id": task_id, "assignee_id": assignee},
                organization_id=org_id,
                idempotency_key=keys[task_id],
            )
            queued += 1
        await session.flush()
        if len(rows) < SCAN_BATCH:
            break
        after = (rows[-1][3], rows[-1][1])
    return {"queued": queued}


@job(DUE_SOON_JOB)
async def task_due_soon(ctx: JobContext, task_id: int, assignee_id: int) -> dict[str, Any]:
    """Tell the assignee their task is due within 24 hours (if it still is, and still theirs)."""
    session = await ctx.session()
    try:
        task = await task_service.get(session, ctx.principal, task_id)
    except NotFound:
        return {"skipped": "task deleted"}
    now = utcnow()
    if (
        task.status == "done"
        or task.assignee_id != assignee_id
        or task.due_at is None
        or not now - timedelta(minutes=5) <= task.due_at <= now + DUE_SOON_HORIZON
    ):
        return {"skipped": "no longer due soon"}
    await service.notify(
        session,
        ctx.principal,
        user_ids=[assignee_id],
        type_=t.TASK_DUE_SOON,
        title=f"Due soon: {task.title}",
        body=f"This task is due {task.due_at:%b %-d, %H:%M} UTC.",
        link=f"/tasks/{task.id}",
        entity_type="task",
        entity_id=task.id,
        data={"due_at": task.due_at.isoformat()},
    )
    return {"notified": assignee_id}


periodic(SCAN_JOB, every=SCAN_EVERY_SECONDS)
