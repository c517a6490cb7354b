"""The outbox relay: hands committed events to the durable consumers as jobs.

Each consumer (`@consumer("webhooks")`) gets its own `events.consume` job per batch of events,
so a failing consumer is retried with backoff, shows in the jobs admin, and never blocks the
others or loses an event. The relay marks the batch published in the same transaction that
queues those jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from aicrm.db import Database
from aicrm.jobs import registry
from aicrm.jobs.context import JobContext
from aicrm.jobs.queue import enqueue
from aicrm.models import OutboxEvent, utcnow

Consumer = Callable[[JobContext, list[OutboxEvent]], Awaitable[None]]
CONSUMERS: dict[str, Consumer] = {}
BATCH = 500


def consumer(name: str) -> Callable[[Consumer], Consumer]:
    """Register `async def fn(ctx, events)`; it runs as a job, after the events' commit."""

    def register(fn: Consumer) -> Consumer:
        CONSUMERS[name] = fn
        return fn

    return register


async def relay(db: Database, limit: int = BATCH) -> int:
    """Move unpublished events to the consumers; returns how many were relayed."""
    registry.load_job_modules()
    total = 0
    while True:
        # a cheap read first: the write lock (SQLite) is taken only when there is work
        async with db.sessionmaker() as probe:
            pending = await probe.scalar(
                select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).limit(1)
            )
        if pending is None:
            return total
        session = await db.session(write=True)
        try:
            pick = (
                select(OutboxEvent.id)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
            if not db.is_sqlite:
                pick = pick.with_for_update(skip_locked=True)
            ids = list((await session.scalars(pick)).all())
            if not ids:
                await session.rollback()
                return total
            for name in CONSUMERS:
                await enqueue(session, "events.consume", {"consumer": name, "event_ids": ids})
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids))
                .values(published_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        finally:
            await session.close()
        total += len(ids)
        if len(ids) < limit:
            return total


@registry.job("events.consume", max_attempts=10)
async def consume(ctx: JobContext, consumer: str, event_ids: list[int]) -> dict[str, Any]:
    fn = CONSUMERS.get(consumer)
    if fn is None:
        return {"skipped": f"no consumer {consumer!r} in this process"}
    session = await ctx.session()
    events = list(
        (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.id.in_(event_ids)).order_by(OutboxEvent.id)
            )
        ).all()
    )
    await fn(ctx, events)
    return {"events": len(events)}
