"""Automation's background work: the outbox consumer, one job per rule run, and the scheduler.

- `@consumer("automation")` sees every committed event and queues `automation.run` per
  (rule, event) with the idempotency key `automation:<rule>:<event>`;
- `automation.run` evaluates and executes one rule on one record in the job's transaction, so
  the actions, the run log entry and the job's completion commit together (exactly once);
- `automation.schedule` (periodic, every AUTOMATION_SCHEDULE_EVERY s, default 30) claims the due
  schedule rules and queues `automation.scheduled` per firing, which queues the runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aicrm.automation import service
from aicrm.config import get_settings
from aicrm.events.relay import consumer
from aicrm.jobs import JobContext, job, periodic
from aicrm.models import OutboxEvent, utcnow

RUN_ATTEMPTS = 5


@consumer("automation")
async def on_events(ctx: JobContext, events: list[OutboxEvent]) -> None:
    """Match committed events to rules; the runs are jobs of their own."""
    await service.on_events(await ctx.session(), events)


@job(service.RUN_JOB, max_attempts=RUN_ATTEMPTS, timeout=120)
async def run_rule(
    ctx: JobContext,
    rule_id: int,
    entity_type: str,
    entity_id: int,
    event_type: str | None = None,
    event_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one rule on one record and run its actions (see service.execute)."""
    assert ctx.organization_id is not None
    return await service.execute(
        await ctx.session(),
        ctx.organization_id,
        rule_id=rule_id,
        entity_type=entity_type,
        entity_id=entity_id,
        event_id=event_id,
        event_type=event_type,
        payload=dict(payload or {}),
        last_attempt=ctx.attempt >= RUN_ATTEMPTS,
    )


@job(service.SCHEDULED_JOB, max_attempts=5, timeout=300)
async def fire_schedule(ctx: JobContext, rule_id: int, fire_at: str) -> dict[str, Any]:
    """One firing of a schedule rule: queue a run for each matching record (bounded)."""
    assert ctx.organization_id is not None
    return await service.fire_schedule(
        await ctx.session(), ctx.organization_id, rule_id=rule_id, fire_at=fire_at
    )


@job("automation.schedule", max_attempts=3, timeout=120)
async def queue_due_schedules(ctx: JobContext, now: str | None = None) -> dict[str, int]:
    """Queue the schedule rules that are due (`now` lets tests pretend the time)."""
    when = datetime.fromisoformat(now) if now else utcnow()
    return {"queued": await service.queue_due(await ctx.session(), when)}


periodic(
    "automation.schedule",
    every=float(getattr(get_settings(), "AUTOMATION_SCHEDULE_EVERY", 30)),
)
