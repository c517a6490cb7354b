from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record


class ActivityType(StrEnum):
    note = "note"
    call = "call"
    email = "email"
    meeting = "meeting"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class TimelineOf(StrEnum):
    contact = "contact"
    company = "company"
    lead = "lead"
    deal = "deal"


# Types that count as talking to the lead (a note is internal).
CONTACTING = {ActivityType.call, ActivityType.email, ActivityType.meeting}
# Only these have a direction.
DIRECTED = {ActivityType.call, ActivityType.email}
LINKS = ("contact_id", "company_id", "lead_id", "deal_id")


class ActivityOut(Record):
    type: ActivityType
    subject: str
    body: str
    direction: Direction | None
    outcome: str | None
    duration_minutes: int | None
    occurred_at: datetime
    user_id: int | None
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    deal_id: int | None


class _ActivityFields(InputSchema):
    type: ActivityType | None = None
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=50000)
    direction: Direction | None = Field(default=None, description="Calls and emails only")
    outcome: str | None = Field(default=None, max_length=60)
    duration_minutes: int | None = Field(default=None, ge=0, le=100000)
    occurred_at: datetime | None = Field(
        default=None, description="When it happened (now if omitted; no offset means UTC)"
    )
    user_id: int | None = Field(default=None, description="Who did it (the caller if omitted)")
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None


class ActivityCreate(_ActivityFields):
    type: ActivityType


class ActivityUpdate(_ActivityFields):
    pass
