from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, computed_field

from aicrm.kit.schemas import InputSchema, Record, Schema


class NotificationOut(Record):
    type: str
    title: str
    body: str
    link: str | None
    entity_type: str | None
    entity_id: int | None
    data: dict[str, Any]
    read_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def read(self) -> bool:
        return self.read_at is not None


class UnreadCount(Schema):
    count: int


class ReadAllOut(Schema):
    updated: int = Field(description="How many notifications were marked read")
    unread: int = Field(description="Unread notifications left (ones newer than up_to_id)")


class ReadAll(InputSchema):
    up_to_id: int | None = Field(
        default=None,
        ge=1,
        description="Only notifications up to this id (the newest one you have seen)",
    )


class PreferenceOut(Schema):
    type: str
    label: str
    description: str
    in_app: bool
    email: bool


class PreferenceIn(InputSchema):
    type: str = Field(min_length=1, max_length=60)
    in_app: bool = True
    email: bool = False


class EmailStatus(StrEnum):
    """queued → sent (by SMTP) | kept (no SMTP_URL: stays in the outbox for the UI) |
    failed (every attempt failed; the job's last error says why)."""

    queued = "queued"
    sent = "sent"
    kept = "kept"
    failed = "failed"


class EmailOut(Record):
    to_email: str
    subject: str
    body: str
    kind: str
    status: str
    sent_at: datetime | None
