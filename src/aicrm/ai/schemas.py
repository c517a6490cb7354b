from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record, Schema


class InsightOut(Record):
    kind: str
    entity_type: str | None
    entity_id: int | None
    title: str
    value: float | None
    label: str | None
    confidence: float | None
    reasons: list[Any]
    recommendations: list[Any]
    data: dict[str, Any]
    model: str
    model_version: str
    severity: str
    status: str
    is_current: bool
    resolved_at: datetime | None
    resolved_by_id: int | None


class InsightStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    acted = "acted"


class Resolution(InputSchema):
    note: str = Field(default="", max_length=2000, description="Why, or what was done")


class ProviderStatus(Schema):
    embeddings: dict[str, Any]
    chat: dict[str, Any]
    offline: bool = Field(description="True when no external model endpoint is configured")


class ModelStatus(Schema):
    kind: str
    version: int
    algorithm: str
    is_active: bool
    n_train: int
    metrics: dict[str, Any]
    trained_at: datetime | None


class AIStatus(Schema):
    providers: ProviderStatus
    models: list[ModelStatus]
    classifiers: int
    insights: dict[str, int] = Field(description="Open, current insights by kind")


class AccuracyPoint(Schema):
    period: str
    n: int
    auc: float | None = None
    brier: float | None = None
    accuracy: float | None = None
    mae: float | None = None
    wape: float | None = None


class AccuracyKind(Schema):
    kind: str
    outcome: str = Field(description="What a prediction is compared with")
    n: int = Field(description="Predictions whose outcome is known")
    auc: float | None = None
    brier: float | None = None
    accuracy: float | None = None
    mae: float | None = None
    wape: float | None = None
    by_period: list[AccuracyPoint]
    by_model_version: dict[str, int]


class Accuracy(Schema):
    generated_at: datetime
    kinds: list[AccuracyKind]
