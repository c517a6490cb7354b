from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from aicrm.kit.schemas import InputSchema, Record, Schema
from aicrm.webhooks.patterns import clean_patterns
from aicrm.webhooks.ssrf import url_error


class DeliveryStatus(StrEnum):
    pending = "pending"  # queued, not tried yet
    retrying = "retrying"  # the last attempt failed; another one is scheduled
    succeeded = "succeeded"  # a 2xx answer
    failed = "failed"  # gave up: attempts exhausted, 410 Gone, refused target, webhook disabled


class _WebhookFields(InputSchema):
    @field_validator("event_types", check_fields=False)
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else clean_patterns(value)

    @field_validator("url", check_fields=False)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # the shape only; where it points is checked by the service (it needs DNS)
        error = None if value is None else url_error(value)
        if error:
            raise ValueError(error)
        return value


class WebhookCreate(_WebhookFields):
    url: str = Field(min_length=1, max_length=2000, description="http:// or https:// endpoint")
    description: str = Field(default="", max_length=200)
    event_types: list[str] = Field(
        min_length=1,
        max_length=100,
        description="exact types (`deal.won`), globs (`deal.*`) or `*` for every event",
    )
    active: bool = True


class WebhookUpdate(_WebhookFields):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=200)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=100)
    active: bool | None = Field(
        default=None, description="true re-enables a disabled webhook and resets its failures"
    )
    version: int | None = Field(default=None, ge=1, description="or send If-Match")


class WebhookOut(Record):
    url: str
    description: str
    event_types: list[str]
    active: bool
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    version: int


class WebhookDetail(WebhookOut):
    """One webhook as settings admins see it, with its signing secret."""

    secret: str


class AttemptOut(Schema):
    attempt: int
    at: datetime
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None


class DeliveryOut(Record):
    subscription_id: int
    event_id: int | None
    event_type: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None
    latency_ms: float | None
    response_excerpt: str | None
    error: str | None
    delivered_at: datetime | None
    replay_of_id: int | None


class DeliveryDetail(DeliveryOut):
    """A delivery with the exact JSON body sent and every attempt's outcome."""

    payload: dict[str, Any]
    attempt_log: list[AttemptOut]
