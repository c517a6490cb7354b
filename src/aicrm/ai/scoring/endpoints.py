"""Lead scoring and deal win probability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from aicrm.ai.scoring import jobs, service
from aicrm.ai.scoring.schemas import (
    DealScoreBatch,
    DealScoreOut,
    DealScoreRequest,
    JobQueued,
    LeadScoreBatch,
    LeadScoreOut,
    LeadScoringStatus,
    ScoreRequest,
    WinProbabilityStatus,
)
from aicrm.auth.deps import Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.jobs import enqueue
from aicrm.kit.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["lead scoring"], route_class=TxRoute)

SCORE_DOC = """
The score is 0-100 with a priority (high / medium / low), a confidence and the top reasons, each
`{feature, text, impact}` with `impact` in score points (positive raises the score). While the
organization has fewer than AI_MIN_OUTCOMES closed leads (won: a won status or converted; lost: a
lost status) transparent rules score it — budget, completeness, engagement, recency, source
quality, pipeline progress; after that a model trained on its own closed leads does, once it
beat the rules on the newest closed leads (see `GET /api/v1/ai/lead-scoring`). The result is
stored as a `lead_score` insight; the lead's `quality_score` and `priority` follow (a priority
someone set by hand is kept) and `lead.scored` is emitted.
"""


async def _queue(
    session: Session, principal: Principal, name: str, args: dict[str, object], detail: str
) -> JobQueued:
    row = await enqueue(session, name, args, organization_id=principal.organization_id)
    await session.flush()
    return JobQueued(job_id=row.id if row else None, queued=row is not None, detail=detail)


@router.post("/leads/{lead_id}/qualify", response_model=LeadScoreOut, description=SCORE_DOC)
async def qualify_lead(lead_id: int, principal: Writer, session: Session) -> LeadScoreOut:
    """Score a lead now (409 when it is already won, lost or converted)."""
    return await service.qualify(session, principal, lead_id)


@router.post(
    "/ai/lead-scoring",
    response_model=LeadScoreBatch | JobQueued,
    description=SCORE_DOC + "\n`{all: true}` queues a job scoring every open lead (202).",
)
async def score_leads(
    data: ScoreRequest, principal: Writer, session: Session, response: Response
) -> LeadScoreBatch | JobQueued:
    """Score the given leads now, or every open lead in a background job."""
    if data.all:
        response.status_code = status.HTTP_202_ACCEPTED
        return await _queue(
            session,
            principal,
            jobs.SCORE_LEADS,
            {"all_open": True, "after_id": 0, "record": "always"},
            "every open lead is being scored",
        )
    ids = list(dict.fromkeys(data.lead_ids or []))
    items = await service.score_leads(session, principal, ids, record="always")
    done = {i.lead_id for i in items}
    return LeadScoreBatch(items=items, skipped=[i for i in ids if i not in done])


@router.get("/ai/lead-scoring", response_model=LeadScoringStatus)
async def lead_scoring_status(principal: Reader, session: Session) -> LeadScoringStatus:
    """Rules or model, the active and latest versions with their time-split validation (ROC-AUC
    of the model beside the rules' on the same newest closed leads), outcome counts and the open
    leads' priorities."""
    return await service.lead_status(session, principal)


@router.post(
    "/ai/lead-scoring/train", response_model=JobQueued, status_code=status.HTTP_202_ACCEPTED
)
async def train_lead_scoring(principal: Writer, session: Session) -> JobQueued:
    """Retrain now (a job): validate on a time split, activate only if it beats the rules, then
    re-score the open leads. Follow it with `GET /api/v1/jobs/{job_id}`."""
    return await _queue(
        session, principal, jobs.TRAIN_LEADS, {"score": True, "force": True}, "training queued"
    )


# -- deals ------------------------------------------------------------------------------------

WIN_DOC = """
Probability 0-1 that the deal is won, with a confidence and the top reasons (`impact` in
probability). Cold start: the stage's configured probability, lowered for deals gone quiet or
past their expected close date; with enough closed deals, a model trained on them (stage before
closing, amount, age, time in stage, close date, activity, the owner's win rate, contact and
company, custom fields). Stored as a `win_probability` insight; `deal.scored` is emitted.
"""


@router.post("/deals/{deal_id}/win-probability", response_model=DealScoreOut, description=WIN_DOC)
async def deal_win_probability(deal_id: int, principal: Writer, session: Session) -> DealScoreOut:
    """Score a deal's chance to win now (409 when it is already won or lost)."""
    return await service.deal_win_probability(session, principal, deal_id)


@router.post("/ai/win-probability", response_model=DealScoreBatch | JobQueued, description=WIN_DOC)
async def score_deals(
    data: DealScoreRequest, principal: Writer, session: Session, response: Response
) -> DealScoreBatch | JobQueued:
    """Score the given deals now, or every open deal in a background job."""
    if data.all:
        response.status_code = status.HTTP_202_ACCEPTED
        return await _queue(
            session,
            principal,
            jobs.SCORE_DEALS,
            {"all_open": True, "after_id": 0, "record": "always"},
            "every open deal is being scored",
        )
    ids = list(dict.fromkeys(data.deal_ids or []))
    items = await service.score_deals(session, principal, ids, record="always")
    done = {i.deal_id for i in items}
    return DealScoreBatch(items=items, skipped=[i for i in ids if i not in done])


@router.get("/ai/win-probability", response_model=WinProbabilityStatus)
async def win_probability_status(
    principal: Reader,
    session: Session,
    limit: Annotated[int, Query(ge=0, le=500, description="Open deals listed")] = 20,
) -> WinProbabilityStatus:
    """Rules or model with its validation metrics, and the open deals' current win probability
    (computed now, not stored)."""
    return await service.deal_status(session, principal, limit=limit)


@router.post(
    "/ai/win-probability/train", response_model=JobQueued, status_code=status.HTTP_202_ACCEPTED
)
async def train_win_probability(principal: Writer, session: Session) -> JobQueued:
    """Retrain the win probability model now (a job), then re-score the open deals."""
    return await _queue(
        session, principal, jobs.TRAIN_DEALS, {"score": True, "force": True}, "training queued"
    )
