"""Customer insights (churn risk, lifetime value, next best action, best time) and the churn
model's status, training and bulk scoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from aicrm.ai.customers import service
from aicrm.ai.customers.deps import upgrade_for
from aicrm.ai.customers.schemas import ChurnStatus, CustomerInsights, ScoreOut, TaskFromAction
from aicrm.auth.deps import Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskOut

router = APIRouter(prefix="/api/v1", tags=["customer insights"], route_class=TxRoute)

Refresh = Annotated[bool, Query(description="Compute now even if the stored insights are fresh")]


@router.get("/customers/{customer_id}/insights", response_model=CustomerInsights)
async def customer_insights(
    customer_id: int,
    request: Request,
    principal: Reader,
    session: Session,
    refresh: Refresh = False,
) -> CustomerInsights:
    """Churn risk, lifetime value, next best action and optimal timing for one customer (a
    contact), each with a confidence and its reasons. Stored insights are returned while fresh
    (under 24 hours old and nothing about the customer changed); otherwise, or with
    `refresh=true`, they are computed and stored first. Any member who may read the contact may
    ask: the insights are derived from what they can read."""
    return await service.customer_insights(
        session,
        principal,
        customer_id,
        refresh=refresh,
        upgrade=upgrade_for(request, session),
    )


@router.get("/contacts/{contact_id}/insights", response_model=CustomerInsights)
async def contact_insights(
    contact_id: int,
    request: Request,
    principal: Reader,
    session: Session,
    refresh: Refresh = False,
) -> CustomerInsights:
    """The same as /customers/{id}/insights (a customer is a contact)."""
    return await service.customer_insights(
        session,
        principal,
        contact_id,
        refresh=refresh,
        upgrade=upgrade_for(request, session),
    )


@router.post(
    "/customers/{customer_id}/next-best-action/task",
    response_model=TaskOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_task_from_action(
    customer_id: int, principal: Writer, session: Session, data: TaskFromAction | None = None
) -> TaskOut:
    """Create the task the current next best action suggests (`option` 1-2: an alternative),
    assigned to the contact's owner (else you) at the best time to reach them; the insight is
    marked acted on."""
    task = await service.task_from_action(session, principal, customer_id, data or TaskFromAction())
    return (await task_service.to_out(session, principal, [task]))[0]


@router.get("/ai/churn", response_model=ChurnStatus)
async def churn_status(principal: Reader, session: Session) -> ChurnStatus:
    """The churn model: outcomes available (churned vs retained customers), whether a model can
    be trained, the active version with its hold-out metrics (ROC-AUC beside the cold-start
    rules'), and the latest version even when it was not activated."""
    return await service.churn_status(session, principal)


@router.post("/ai/churn/train", response_model=ChurnStatus)
async def train_churn(
    principal: Writer,
    session: Session,
    response: Response,
    background: Annotated[
        bool, Query(description="Queue it as a job (202) instead of training in this request")
    ] = False,
) -> ChurnStatus:
    """Train a new churn model version on every customer with a known outcome; it becomes
    active when its hold-out ROC-AUC is at least 0.6 and not below the rules'. 409 while the
    organization has too few outcomes (see GET /ai/churn). With `background=true` the training
    (and a re-score of every customer after it) runs as a job."""
    if background:
        response.status_code = status.HTTP_202_ACCEPTED
        return await service.queue_training(session, principal)
    return await service.train_churn(session, principal)


@router.post("/ai/churn/score", response_model=ScoreOut)
async def score_customers(principal: Writer, session: Session) -> ScoreOut:
    """Score every customer (statuses customer and inactive) now: churn risk onto each contact
    and as an insight when it changed, lifetime value for customers with purchases. The
    scheduled job does the same in the background, in batches."""
    out, _ = await service.score_all(session, principal)
    return out
