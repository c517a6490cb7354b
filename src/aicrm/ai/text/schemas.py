from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from aicrm.kit.schemas import InputSchema, Schema

MAX_CHARS = 20000
MAX_TEXTS = 100


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# kept exactly as sent (not stripped), so entity offsets index the caller's own string
Text = Annotated[str, Field(min_length=1, max_length=MAX_CHARS), AfterValidator(_not_blank)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class IntentLabel(StrEnum):
    sales_inquiry = "sales_inquiry"
    pricing = "pricing"
    booking_request = "booking_request"
    support_request = "support_request"
    technical_issue = "technical_issue"
    billing = "billing"
    complaint = "complaint"
    cancellation = "cancellation"
    feedback = "feedback"
    spam = "spam"
    other = "other"


class SentimentLabel(StrEnum):
    negative = "negative"
    neutral = "neutral"
    positive = "positive"


class UrgencyLevel(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class EntityType(StrEnum):
    email = "email"
    phone = "phone"
    money = "money"
    date = "date"
    datetime = "datetime"
    company = "company"
    person = "person"
    product = "product"


class AnalyzeIn(InputSchema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: Text | None = Field(default=None, description="One message (give text or texts)")
    texts: list[Text] | None = Field(
        default=None, min_length=1, max_length=MAX_TEXTS, description="Up to 100 messages"
    )
    products: list[Name] = Field(
        default_factory=list, max_length=1000, description="Product names to look for (fuzzy)"
    )
    known_names: list[Name] = Field(
        default_factory=list, max_length=5000, description="Company names to look for (fuzzy)"
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone for relative dates (default: the organization's)",
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="Country for phone numbers and date order (default: the organization's)",
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{3}$",
        description="Currency of amounts written without one (default: the organization's)",
    )
    reference_time: datetime | None = Field(
        default=None, description="When the message was written (default: now)"
    )


class SentimentIn(InputSchema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: Text | None = None
    texts: list[Text] | None = Field(default=None, min_length=1, max_length=MAX_TEXTS)


class LanguageOut(Schema):
    code: str = Field(description="ISO 639-1, or und")
    confidence: float
    alternatives: dict[str, float]


class IntentOut(Schema):
    label: IntentLabel
    confidence: float
    alternatives: dict[str, float] = Field(description="Runners-up and their probabilities")


class SentimentOut(Schema):
    score: float = Field(description="−1 (negative) … 1 (positive)")
    label: SentimentLabel
    confidence: float
    probabilities: dict[str, float]


class Reason(Schema):
    feature: str
    text: str
    impact: float


class UrgencyOut(Schema):
    level: UrgencyLevel
    score: float
    reasons: list[Reason]


class EntityOut(Schema):
    type: EntityType
    text: str
    value: Any = Field(description="Normalised: E.164, ISO 8601, {amount, currency}, name")
    start: int
    end: int
    source: str | None = None
    score: float | None = Field(default=None, description="Fuzzy match score (0-100)")
    assumed_currency: bool | None = None


class AnalysisOut(Schema):
    language: LanguageOut
    intent: IntentOut
    sentiment: SentimentOut
    urgency: UrgencyOut
    entities: list[EntityOut]
    summary: str | None
    model_versions: dict[str, str]


class AnalysisBatchOut(Schema):
    items: list[AnalysisOut]
    model_versions: dict[str, str]


class SentimentResultOut(SentimentOut):
    model_version: str


class SentimentBatchOut(Schema):
    items: list[SentimentOut]
    model_version: str
