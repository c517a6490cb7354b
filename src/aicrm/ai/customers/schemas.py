from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Schema
from aicrm.tasks.schemas import TaskPriority


class Reason(Schema):
    feature: str = Field(description="What it is about, e.g. activity.days_since_contact")
    text: str = Field(description="The reason as a person reads it")
    impact: float = Field(description="Signed effect on the value (positive raises it)")


class Part(Schema):
    value: float | None = None
    label: str | None = None
    confidence: float | None = None
    reasons: list[Reason] = Field(default_factory=list)
    recommendations: list[dict[str, Any]] = Field(default_factory=list)
    model: str = ""
    model_version: str = ""
    insight_id: int | None = Field(default=None, description="The stored insight (AI log)")
    generated_at: datetime | None = None


class ChurnRiskOut(Part):
    """Probability (0..1) that the customer churns; label high / medium / low (or churned)."""

    mode: str = Field(default="rules", description="model (trained), rules (cold start), status")


class LifetimeValueOut(Part):
    """Discounted value of the purchases expected over the horizon (`value`)."""

    currency: str = "USD"
    horizon_months: int = 12
    expected_purchases: float | None = None
    probability_alive: float | None = None
    average_purchase: float | None = None
    historical_value: float = Field(default=0, description="Won so far")
    purchases: int = 0
    recorded_value: float = Field(default=0, description="The contact's lifetime_value field")
    method: str = ""


class NextBestActionOut(Part):
    action: str = Field(
        default="none",
        description="complete_task, follow_up_deal, "
        "retention_call, check_in, upsell, qualify, reconnect, win_back, none",
    )
    title: str = ""
    text: str = ""
    channel: str = "email"
    due_at: datetime | None = None
    task: dict[str, Any] | None = Field(
        default=None, description="The task POST …/next-best-action/task would create"
    )


class Slot(Schema):
    weekday: str
    weekday_index: int = Field(description="0 = Monday")
    hour: int
    local_time: str
    expected_response_rate: float | None
    contact_observations: int
    organization_observations: int
    next_at: datetime = Field(description="The next such slot, UTC")


class OptimalTimingOut(Part):
    timezone: str = "UTC"
    best_slots: list[Slot] = Field(default_factory=list)


class CustomerInsights(Schema):
    customer_id: int
    churn_risk: ChurnRiskOut
    lifetime_value: LifetimeValueOut
    next_best_action: NextBestActionOut
    optimal_timing: OptimalTimingOut
    generated_at: datetime = Field(description="When the oldest of the four was computed")
    refreshed: bool = Field(description="Computed by this request (else the stored ones)")
    model_versions: dict[str, str]


class ChurnModelOut(Schema):
    version: int
    algorithm: str
    is_active: bool
    n_train: int
    metrics: dict[str, Any]
    trained_at: datetime | None


class ChurnStatus(Schema):
    mode: str = Field(description="model: a trained model scores; rules: cold-start rules")
    active: ChurnModelOut | None
    latest: ChurnModelOut | None = Field(description="The newest version, active or not")
    churned: int
    retained: int
    min_outcomes: int
    min_per_class: int
    eligible: bool = Field(description="Enough outcomes to train")
    label_definition: str
    queued_job_id: int | None = Field(
        default=None, description="With background=true: the training job (GET /api/v1/jobs/{id})"
    )


class ScoreOut(Schema):
    scored: int
    recorded: int = Field(description="Insights stored (unchanged scores are not stored again)")
    by_label: dict[str, int]
    mode: str
    model_version: str
    lifetime_values: int = Field(description="Customers whose lifetime value was estimated")
    duration_s: float


class TaskFromAction(InputSchema):
    option: int = Field(
        default=0, ge=0, le=2, description="0: the action; 1-2: one of the alternatives"
    )
    assignee_id: int | None = Field(default=None, gt=0, le=2**63 - 1)
    due_at: datetime | None = None
    priority: TaskPriority | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)
