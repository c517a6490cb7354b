from __future__ import annotations

from typing import Any

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Money, Record


class CompanyOut(Record):
    name: str
    domain: str | None
    website: str | None
    industry: str | None
    size: str | None
    annual_revenue: Money | None
    phone: str | None
    street: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    description: str
    owner_id: int | None
    custom: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    version: int
    contact_count: int | None = None


class _CompanyFields(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
    )
    website: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=100)
    size: str | None = Field(default=None, max_length=30)
    annual_revenue: float | None = Field(default=None, ge=0, le=1e15)
    phone: str | None = Field(default=None, max_length=40)
    street: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    description: str | None = Field(default=None, max_length=20000)
    owner_id: int | None = None
    custom: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)


class CompanyCreate(_CompanyFields):
    name: str = Field(min_length=1, max_length=200)


class CompanyUpdate(_CompanyFields):
    version: int | None = None
