"""Scheduled pattern scans: `ai.scan_patterns` (periodic, every AI_SCAN_EVERY seconds) queues one
`ai.scan_workspace` job per organization; each detects on a read-only session, then stores the
new findings in the job's own transaction (on SQLite the write lock is held only for that)."""

from __future__ import annotations

from typing import Any

from aicrm.ai.workload import service
from aicrm.ai.workload.repository import organization_ids
from aicrm.config import get_settings
from aicrm.jobs import JobContext, enqueue, job, periodic
from aicrm.models import utcnow

SCAN_ALL = "ai.scan_patterns"
SCAN_ONE = "ai.scan_workspace"


@job(SCAN_ALL, max_attempts=3, timeout=120)
async def scan_patterns(ctx: JobContext) -> dict[str, int]:
    """Queue one scan per organization (once per scan period each)."""
    every = max(float(get_settings().AI_SCAN_EVERY), 1.0)
    slot = int(utcnow().timestamp() // every)
    async with ctx.read() as read:
        orgs = await organization_ids(read)
    session = await ctx.session()
    queued = 0
    for org_id in orgs:
        row = await enqueue(
            session,
            SCAN_ONE,
            {},
            organization_id=org_id,
            idempotency_key=f"{SCAN_ONE}:{org_id}:{slot}",
        )
        queued += row is not None
    return {"queued": queued}


@job(SCAN_ONE, max_attempts=3, timeout=300)
async def scan_workspace(ctx: JobContext, checks: list[str] | None = None) -> dict[str, Any]:
    """Run the pattern checks for the job's organization and store what is new."""
    principal = ctx.principal
    now = utcnow()
    async with ctx.read() as read:
        findings, skipped = await service.detect(read, principal, now=now, checks=checks)
    stored = await service.store(await ctx.session(), principal, findings, now=now)
    return {
        "findings": len(findings),
        "stored": sum(1 for _, _, new in stored if new),
        "skipped": [s.check for s in skipped],
    }


if get_settings().AI_SCAN_EVERY > 0:
    periodic(SCAN_ALL, every=float(get_settings().AI_SCAN_EVERY))
