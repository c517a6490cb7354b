"""`ai.refresh_organization`: bring every AI output of one organization up to date at once —
train (or keep) its lead scoring, win probability and churn models and re-score every open
record, store today's forecast and run the pattern scans (`POST /api/v1/ai/refresh`). The
scheduled jobs do the same for every organization on their own clock; this is "now", for one.

Each step is its own job (retried and timed out on its own), queued in this job's transaction."""

from __future__ import annotations

from typing import Any

from aicrm.jobs import JobContext, enqueue, job

REFRESH_ORGANIZATION = "ai.refresh_organization"

# (job, args, takes `run`): trainers skip when outcomes are too few and then only re-score
# (with the cold-start rules)
STEPS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("ai.train_lead_scoring", {"score": True, "force": False}, True),
    ("ai.train_win_probability", {"score": True, "force": False}, True),
    ("ai.customers.train_churn", {"score": True}, True),
    ("ai.forecast.refresh", {}, False),
    ("ai.scan_workspace", {}, False),
)


@job(REFRESH_ORGANIZATION, max_attempts=3, timeout=120)
async def refresh_organization(ctx: JobContext, run: str = "") -> dict[str, Any]:
    """Queue every AI step for the organization; `run` names the refresh (idempotency)."""
    session = await ctx.session()
    key = run or f"refresh-{ctx.job_id}"
    queued = []
    for name, args, takes_run in STEPS:
        row = await enqueue(
            session,
            name,
            {**args, "run": key} if takes_run else args,
            organization_id=ctx.organization_id,
            idempotency_key=f"{name}:{ctx.organization_id}:{key}",
        )
        if row is not None:
            queued.append(name)
    return {"queued": queued}
