"""The scheduler's heartbeat: relay the outbox, queue periodic jobs, and (Celery mode) re-send
jobs whose message may have been lost. `aicrm serve` runs it every second in-process; in Celery
mode `aicrm beat` sends it as a task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aicrm.db import Database
from aicrm.events.relay import relay
from aicrm.jobs import registry
from aicrm.models import Job, utcnow

_last_slot: dict[str, int] = {}


async def enqueue_periodic(db: Database, now: datetime | None = None) -> int:
    """Queue each periodic job once per slot; concurrent tickers collide on the idempotency key."""
    registry.load_job_modules()
    now = now or utcnow()
    rows: list[dict[str, Any]] = []
    for spec in registry.PERIODIC.values():
        slot = int(now.timestamp() // spec.every)
        if _last_slot.get(spec.name) == slot:
            continue
        _last_slot[spec.name] = slot
        job_spec = registry.JOBS[spec.name]
        rows.append(
            {
                "name": spec.name,
                "args": spec.args,
                "status": "queued",
                "attempts": 0,
                "max_attempts": job_spec.max_attempts or 3,
                "run_at": now,
                "idempotency_key": f"periodic:{spec.name}:{slot}",
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return 0
    insert = sqlite_insert if db.is_sqlite else pg_insert
    session = await db.session(write=True)
    try:
        result = await session.execute(insert(Job.__table__).values(rows).on_conflict_do_nothing())
        await session.commit()
    finally:
        await session.close()
    return result.rowcount or 0


async def tick(db: Database) -> dict[str, int]:
    relayed = await relay(db)
    queued = await enqueue_periodic(db)
    out = {"relayed": relayed, "periodic": queued}
    from aicrm.jobs import backend

    if backend.is_celery():
        from aicrm.jobs.celery_app import sweep

        out["redispatched"] = await sweep(db)
    return out
