from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from aicrm.kit.schemas import InputSchema, Record, Schema

MAX_TEXT = 2000  # characters of one example
MAX_PREDICT_TEXT = 10_000  # characters of one text to classify (longer ones are cut)
MAX_EXAMPLES = 50_000  # per classifier, across every upload
MAX_LABELS = 200
MAX_LABEL = 100
MIN_PER_LABEL = 3
MAX_BATCH = 1000


class ClassifierStatus(StrEnum):
    queued = "queued"  # examples stored, training job waiting
    training = "training"
    ready = "ready"  # a model answers predictions
    failed = "failed"  # see `error`; examples can be fixed and trained again


class Purpose(StrEnum):
    custom = "custom"
    ticket_category = "ticket_category"
    intent = "intent"
    routing = "routing"
    sentiment = "sentiment"
    priority = "priority"


class Example(InputSchema):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    label: str = Field(min_length=1, max_length=MAX_LABEL)


class ExamplesIn(InputSchema):
    examples: list[Example] = Field(min_length=1, max_length=MAX_EXAMPLES)


class ClassifierCreate(InputSchema):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    purpose: Purpose = Purpose.custom
    examples: list[Example] = Field(min_length=2, max_length=MAX_EXAMPLES)
    confidence_floor: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="answer null under this confidence; default: chosen on held-out examples",
    )


class TrainIn(InputSchema):
    confidence_floor: float | None = Field(
        default=None, ge=0, le=1, description="change the floor (null: choose it again)"
    )


class PredictIn(InputSchema):
    texts: list[str] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("texts")
    @classmethod
    def _cut(cls, value: list[str]) -> list[str]:
        return [t[:MAX_PREDICT_TEXT] for t in value]


class ClassifierOut(Record):
    name: str
    description: str
    purpose: str
    status: ClassifierStatus
    error: str | None
    labels: list[str]
    example_count: int
    confidence_floor: float | None = Field(
        description="the floor in use (the one given, else the one chosen when trained)"
    )
    floor_source: str = Field(description="given, or held-out (chosen when trained)")
    model_version: int
    trained_at: datetime | None
    accuracy: float | None = Field(description="held-out accuracy of the current model")
    macro_f1: float | None


class ClassifierDetail(ClassifierOut):
    label_counts: dict[str, int] = Field(description="stored examples per label")
    metrics: dict[str, Any] = Field(
        description="held-out accuracy, macro_f1, per_label, floor, training_seconds, …"
    )


class LabelScore(Schema):
    label: str
    confidence: float


class PredictionOut(Schema):
    label: str | None = Field(description="null: none of the labels (under the floor)")
    confidence: float
    top: list[LabelScore]


class PredictOut(Schema):
    classifier_id: int
    model_version: int
    confidence_floor: float
    predictions: list[PredictionOut]
