"""The AI engine's own API: status, insights (list, read, dismiss, act) and accuracy.

Features that produce insights have their own endpoints (text analysis, classifiers, lead
scoring, customer insights, forecasting, workload); they all store through aicrm.ai.insights.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from aicrm.ai import insights, service
from aicrm.ai.schemas import Accuracy, AIStatus, InsightOut, InsightStatus, Resolution
from aicrm.auth.deps import Reader, Session, Writer, require
from aicrm.db import TxRoute
from aicrm.jobs import service as jobs_service
from aicrm.jobs.schemas import JobOut
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page

Admin = Annotated[Principal, Depends(require(Permission.settings))]

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=TxRoute)


@router.get("/status", response_model=AIStatus)
async def ai_status(principal: Reader, session: Session) -> AIStatus:
    """Which embedding and chat providers answer (offline by default), the organization's
    active models with their validation metrics, classifiers and open insights by kind."""
    return await service.status(session, principal)


@router.get("/insights", response_model=Page[InsightOut])
async def list_insights(
    principal: Reader,
    session: Session,
    kind: Annotated[str | None, Query(description="One kind or several, comma-separated")] = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    status: InsightStatus | None = None,
    current: Annotated[
        bool | None, Query(description="true: only the latest of each kind per record")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[InsightOut]:
    """Stored AI decisions and findings, newest first (keyset-paginated)."""
    rows, nxt = await service.list_insights(
        session,
        principal,
        kind=kind,
        entity_type=entity_type,
        entity_id=entity_id,
        status=status.value if status else None,
        current=current,
        cursor=cursor,
        limit=limit,
    )
    return Page[InsightOut](items=[InsightOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/insights/{insight_id}", response_model=InsightOut)
async def get_insight(insight_id: int, principal: Reader, session: Session) -> InsightOut:
    return InsightOut.model_validate(await insights.InsightRepo(session, principal).get(insight_id))


@router.post("/insights/{insight_id}/dismiss", response_model=InsightOut)
async def dismiss_insight(
    insight_id: int, principal: Writer, session: Session, data: Resolution | None = None
) -> InsightOut:
    """Hide an insight (kept for accuracy and audit)."""
    row = await insights.resolve(
        session, principal, insight_id, "dismissed", data.note if data else ""
    )
    return InsightOut.model_validate(row)


@router.post("/insights/{insight_id}/act", response_model=InsightOut)
async def act_on_insight(
    insight_id: int, principal: Writer, session: Session, data: Resolution | None = None
) -> InsightOut:
    """Mark an insight as acted on (with what was done)."""
    row = await insights.resolve(session, principal, insight_id, "acted", data.note if data else "")
    return InsightOut.model_validate(row)


@router.post("/insights/{insight_id}/reopen", response_model=InsightOut)
async def reopen_insight(insight_id: int, principal: Writer, session: Session) -> InsightOut:
    return InsightOut.model_validate(await insights.resolve(session, principal, insight_id, "open"))


@router.get("/accuracy", response_model=Accuracy)
async def ai_accuracy(
    principal: Reader,
    session: Session,
    kind: Annotated[
        list[str] | None, Query(description="lead_score, win_probability, churn_risk, forecast")
    ] = None,
) -> Accuracy:
    """Predictions joined with what happened: for each kind, the last prediction made before
    the outcome was known, scored (ROC-AUC, Brier, accuracy at 0.5 for probabilities; error
    for forecasts), overall, by month of prediction and by model version."""
    return await service.accuracy(session, principal, kind)


@router.post("/refresh", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
async def refresh(principal: Admin, session: Session) -> JobOut:
    """Recompute every AI output of the organization now (train or keep its models, re-score
    open leads, deals and customers, store today's forecast, run the pattern scans) instead of
    waiting for the schedule; follow the returned job at `/api/v1/jobs/{id}`."""
    return jobs_service.to_out(await service.queue_refresh(session, principal))
