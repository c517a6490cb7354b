from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import available_timezones

from pydantic import Field, field_validator

from aicrm.kit.schemas import InputSchema, Money, Record

_TIMEZONES = available_timezones()


class ContactStatus(StrEnum):
    lead = "lead"
    prospect = "prospect"
    customer = "customer"
    churned = "churned"
    inactive = "inactive"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    phone = "phone"
    chat = "chat"
    whatsapp = "whatsapp"


class ContactOut(Record):
    first_name: str
    last_name: str
    name: str
    email: str | None
    emails: list[str]
    phone: str | None
    phones: list[str]
    company_id: int | None
    title: str | None
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    status: ContactStatus
    lifetime_value: Money
    churn_risk: float | None
    owner_id: int | None
    preferred_channel: Channel
    timezone: str | None
    notes: str
    custom: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    last_activity_at: datetime | None
    version: int


def _tz(v: str | None) -> str | None:
    if v is not None and v not in _TIMEZONES:
        raise ValueError("must be an IANA time zone such as Europe/Paris")
    return v


class _ContactFields(InputSchema):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    emails: list[str] | None = Field(default=None, max_length=20)
    phone: str | None = Field(default=None, max_length=40)
    phones: list[str] | None = Field(default=None, max_length=20)
    company_id: int | None = None
    company_name: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=120)
    street: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    status: ContactStatus | None = None
    lifetime_value: float | None = Field(default=None, ge=0, le=1e13)
    churn_risk: float | None = Field(default=None, ge=0, le=1)
    owner_id: int | None = None
    preferred_channel: Channel | None = None
    timezone: str | None = None
    notes: str | None = Field(default=None, max_length=20000)
    custom: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)

    _tz = field_validator("timezone")(_tz)


class ContactCreate(_ContactFields):
    pass


class ContactUpdate(_ContactFields):
    version: int | None = Field(
        default=None, description="Optimistic concurrency: the version you read"
    )
