from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from aicrm.kit.schemas import InputSchema, Schema

MAX_IDS = 500
Id = Field(gt=0, le=2**63 - 1)


class Priority(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class Reason(Schema):
    feature: str
    text: str
    impact: float = Field(
        description="Signed effect on the value: score points for leads, probability for deals"
    )


class Recommendation(Schema):
    action: str
    text: str


class LeadScoreOut(Schema):
    lead_id: int
    score: int = Field(ge=0, le=100)
    priority: Priority
    confidence: float
    probability: float | None = Field(
        default=None, description="The model's probability of winning (None under the rules)"
    )
    reasons: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    model: str
    model_version: str
    insight_id: int | None = Field(
        default=None,
        description="The stored insight (None when nothing changed and no new one was stored)",
    )
    priority_kept: bool = Field(
        default=False,
        description="True when the lead's priority was set by a person and left as it was",
    )


class DealScoreOut(Schema):
    deal_id: int
    probability: float = Field(ge=0, le=1)
    confidence: float
    reasons: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    model: str
    model_version: str
    insight_id: int | None = None


class ScoreRequest(InputSchema):
    lead_ids: list[int] | None = Field(
        default=None, max_length=MAX_IDS, description=f"Up to {MAX_IDS} leads, scored now"
    )
    all: bool = Field(default=False, description="Score every open lead in a background job")

    @model_validator(mode="after")
    def _one(self) -> ScoreRequest:
        if not self.all and not self.lead_ids:
            raise ValueError("give lead_ids (a non-empty list) or all: true")
        if self.lead_ids and any(not 0 < i < 2**63 for i in self.lead_ids):
            raise ValueError("lead_ids must be positive ids")
        return self


class DealScoreRequest(InputSchema):
    deal_ids: list[int] | None = Field(default=None, max_length=MAX_IDS)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> DealScoreRequest:
        if not self.all and not self.deal_ids:
            raise ValueError("give deal_ids (a non-empty list) or all: true")
        if self.deal_ids and any(not 0 < i < 2**63 for i in self.deal_ids):
            raise ValueError("deal_ids must be positive ids")
        return self


class LeadScoreBatch(Schema):
    items: list[LeadScoreOut]
    skipped: list[int] = Field(
        default_factory=list, description="Ids not scored: unknown, or not open any more"
    )


class DealScoreBatch(Schema):
    items: list[DealScoreOut]
    skipped: list[int] = Field(default_factory=list)


class JobQueued(Schema):
    job_id: int | None
    queued: bool
    detail: str


class ModelVersionOut(Schema):
    version: int
    algorithm: str
    is_active: bool
    n_train: int
    metrics: dict[str, Any]
    trained_at: datetime | None


class Outcomes(Schema):
    won: int
    lost: int


class ModelStatus(Schema):
    mode: str = Field(description="model: the organization's trained model; rules: cold start")
    model: str
    model_version: str
    active: ModelVersionOut | None
    latest: ModelVersionOut | None = Field(description="The newest version, active or not")
    outcomes: Outcomes
    min_outcomes: int
    eligible: bool = Field(description="Enough outcomes of each kind to train")
    retrain_every_s: float
    outcome_definition: str


class LeadScoringStatus(ModelStatus):
    open_leads: int
    scored_open_leads: int
    priorities: dict[str, int] = Field(description="Open leads by their current priority")


class DealProbability(Schema):
    deal_id: int
    name: str
    amount: float
    currency: str
    stage: str
    probability: float
    expected_value: float


class WinProbabilityStatus(ModelStatus):
    open_deals: int
    average_probability: float | None
    expected_value: float = Field(description="Sum of amount × win probability of open deals")
    deals: list[DealProbability] = Field(
        description="Open deals with their current win probability, largest expected value first"
    )
