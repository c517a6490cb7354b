"""The daily forecast: `ai.forecast.scan` queues one `ai.forecast.refresh` per organization with
open deals (once per day each), which stores the organization-wide forecast — and one per
pipeline when there are several — as `forecast` insights, and the backtest's errors as a new
version of the organization's `forecast` model (accuracy over time)."""

from __future__ import annotations

from typing import Any

from aicrm.ai import modelstore
from aicrm.ai.forecast import repository, service
from aicrm.ai.forecast.schemas import ForecastOptions
from aicrm.config import get_settings
from aicrm.jobs import JobContext, enqueue, job, periodic
from aicrm.models import utcnow

SCAN_JOB = "ai.forecast.scan"
REFRESH_JOB = "ai.forecast.refresh"
DAY_SECONDS = 86400.0


@job(SCAN_JOB, max_attempts=3, timeout=120)
async def scan(ctx: JobContext) -> dict[str, int]:
    """Queue today's forecast of every organization with open deals."""
    session = await ctx.session()
    day = utcnow().date().isoformat()
    queued = 0
    for org_id in await repository.organizations_with_open_deals(session):
        found = await enqueue(
            session,
            REFRESH_JOB,
            {},
            organization_id=org_id,
            idempotency_key=f"{REFRESH_JOB}:{org_id}:{day}",
        )
        queued += found is not None
    return {"queued": queued}


@job(REFRESH_JOB, max_attempts=3, timeout=600)
async def refresh(ctx: JobContext) -> dict[str, Any]:
    """Store the organization's forecast (and each pipeline's, when it has several)."""
    session = await ctx.session()
    principal = ctx.principal
    out = await service.forecast(
        session, principal, ForecastOptions(), store=True, force_store=True
    )
    bt = out.backtest
    await modelstore.save(
        session,
        principal.organization_id,
        "forecast",
        None,
        algorithm=service.MODEL,
        metrics={
            "wape": bt.wape if bt else None,
            "mape": bt.mape if bt else None,
            "bias": bt.bias if bt else None,
            "baseline_wape": bt.baseline_wape if bt else None,
            "months": len(bt.months) if bt else 0,
        },
        params={"model_version": service.MODEL_VERSION},
        n_train=out.history.get("closed", 0),
    )
    pipelines = await service.pipeline_names(session, principal)
    if len(pipelines) > 1:
        for pipeline_id in sorted(pipelines):
            await service.forecast(
                session,
                principal,
                ForecastOptions(pipeline_id=pipeline_id),
                store=True,
                force_store=True,
            )
    return {"insight_id": out.insight_id, "forecast": out.totals.forecast}


_every = float(getattr(get_settings(), "AI_RETRAIN_EVERY", DAY_SECONDS))
if _every > 0:
    periodic(SCAN_JOB, every=_every)
