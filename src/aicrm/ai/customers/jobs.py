"""Background work for customer insights.

- `ai.customers.refresh` (periodic, every AI_RETRAIN_EVERY seconds; 0 turns it off) queues, per
  organization with customers, a retrain and a re-score;
- `ai.customers.train_churn` trains a new churn model version when the organization has enough
  outcomes (skips otherwise), loading the data with a read session so SQLite's write lock is
  only held to save the model, then queues a re-score;
- `ai.customers.score_all` scores `BATCH_PER_JOB` customers in one transaction and queues
  itself for the next ones, so a large organization never holds one long transaction.
"""

from __future__ import annotations

from typing import Any

from aicrm.ai.customers import repository as repo
from aicrm.ai.customers import service
from aicrm.config import get_settings
from aicrm.errors import Conflict
from aicrm.jobs import JobContext, enqueue, job, periodic
from aicrm.models import utcnow

REFRESH_JOB = "ai.customers.refresh"
TRAIN_JOB = service.TRAIN_JOB
SCORE_JOB = "ai.customers.score_all"
BATCH_PER_JOB = 2000


@job(TRAIN_JOB, max_attempts=3, timeout=1800)
async def train_churn(ctx: JobContext, score: bool = True, run: str = "") -> dict[str, Any]:
    """Retrain the organization's churn model (skipped while outcomes are too few), then
    re-score its customers."""
    result: dict[str, Any]
    async with ctx.read() as reader:
        counts = await repo.count_labels(reader, ctx.principal)
        est = None
        if service.eligible(counts):
            try:
                est = await service.fit_churn(reader, ctx.principal)
            except Conflict as exc:
                result = {"skipped": exc.message}
        else:
            result = {"skipped": "too few outcomes", **counts}
    session = await ctx.session()
    if est is not None:
        status = await service.save_churn(session, ctx.principal, est)
        latest = status.latest
        result = {
            "version": latest.version if latest else None,
            "active": bool(latest and latest.is_active),
            "auc": (latest.metrics or {}).get("auc") if latest else None,
        }
    if score:
        key = run or f"train-{ctx.job_id}"
        await enqueue(
            session,
            SCORE_JOB,
            {"after_id": 0, "run": key},
            organization_id=ctx.organization_id,
            idempotency_key=f"{SCORE_JOB}:{ctx.organization_id}:{key}:0",
        )
    return result


@job(SCORE_JOB, max_attempts=3, timeout=900)
async def score_all(ctx: JobContext, after_id: int = 0, run: str = "") -> dict[str, Any]:
    """Score the next BATCH_PER_JOB customers after `after_id`, then queue the rest."""
    session = await ctx.session()
    out, cursor = await service.score_all(
        session, ctx.principal, after_id=after_id, limit=BATCH_PER_JOB
    )
    if cursor is not None:
        await enqueue(
            session,
            SCORE_JOB,
            {"after_id": cursor, "run": run},
            organization_id=ctx.organization_id,
            idempotency_key=f"{SCORE_JOB}:{ctx.organization_id}:{run or ctx.job_id}:{cursor}",
        )
    return {**out.model_dump(), "next_after_id": cursor}


@job(REFRESH_JOB, max_attempts=3, timeout=300)
async def refresh(ctx: JobContext) -> dict[str, int]:
    """Queue a retrain (which then re-scores) for every organization with customers."""
    every = get_settings().AI_RETRAIN_EVERY or 86400.0
    slot = int(utcnow().timestamp() // every)
    async with ctx.read() as reader:
        orgs = await repo.organizations_with_customers(reader)
    session = await ctx.session()
    queued = 0
    for org_id in orgs:
        row = await enqueue(
            session,
            TRAIN_JOB,
            {"score": True, "run": f"slot-{slot}"},
            organization_id=org_id,
            idempotency_key=f"{TRAIN_JOB}:{org_id}:{slot}",
        )
        queued += row is not None
    return {"organizations": len(orgs), "queued": queued}


if get_settings().AI_RETRAIN_EVERY > 0:
    periodic(REFRESH_JOB, every=get_settings().AI_RETRAIN_EVERY)
