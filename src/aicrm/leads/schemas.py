from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Money, Record, Schema


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class LeadStatusOut(Record):
    name: str
    position: int
    color: str
    is_won: bool
    is_lost: bool


class LeadStatusCreate(InputSchema):
    name: str = Field(min_length=1, max_length=60)
    color: str = Field(default="#64748b", pattern=r"^#[0-9a-fA-F]{6}$")
    position: int | None = Field(default=None, ge=0, le=1000)
    is_won: bool = False
    is_lost: bool = False


class LeadStatusUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    position: int | None = Field(default=None, ge=0, le=1000)
    is_won: bool | None = None
    is_lost: bool | None = None


class LeadOut(Record):
    name: str
    company: str | None
    email: str | None
    phone: str | None
    notes: str
    status: str
    status_id: int
    card_order: int
    source: str | None
    value: Money
    quality_score: int | None
    priority: Priority
    requirements: str
    timeline: str | None
    budget: Money | None
    assignee_id: int | None
    contact_id: int | None
    company_id: int | None
    converted_at: datetime | None
    converted_deal_id: int | None
    last_contacted_at: datetime | None
    custom: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    version: int


class _LeadFields(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    notes: str | None = Field(default=None, max_length=20000)
    status: str | None = Field(default=None, min_length=1, max_length=60)
    source: str | None = Field(default=None, max_length=60)
    value: float | None = Field(default=None, ge=0, le=1e13)
    quality_score: int | None = Field(default=None, ge=0, le=100)
    priority: Priority | None = None
    requirements: str | None = Field(default=None, max_length=20000)
    timeline: str | None = Field(default=None, max_length=120)
    budget: float | None = Field(default=None, ge=0, le=1e13)
    assignee_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    custom: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)


class LeadCreate(_LeadFields):
    name: str = Field(min_length=1, max_length=200)
    card_order: int | None = Field(default=None, ge=0, le=1_000_000)


class LeadUpdate(_LeadFields):
    version: int | None = None


class LeadMove(InputSchema):
    status: str = Field(min_length=1, max_length=60)
    card_order: int | None = Field(
        default=None, ge=0, description="0-based position in the target column; end if omitted"
    )
    version: int | None = None


class KanbanColumn(Schema):
    status: str
    status_id: int
    color: str
    is_won: bool
    is_lost: bool
    count: int
    total_value: float
    leads: list[LeadOut]


class Kanban(Schema):
    columns: list[KanbanColumn]
