"""Base schemas shared by every domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer

T = TypeVar("T")

# Money columns are NUMERIC in the database; the API speaks JSON numbers.
Money = Annotated[
    float, PlainSerializer(lambda v: float(v) if v is not None else None, return_type=float)
]


def _email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(
            value.strip(), check_deliverability=False, globally_deliverable=False
        ).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc


# Accepts private and special-use domains (self-hosted installs use them), unlike pydantic's EmailStr.
Email = Annotated[str, AfterValidator(_email)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class InputSchema(BaseModel):
    """Request bodies: unknown fields are rejected so typos surface as 422s naming the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Record(Schema):
    id: int
    created_at: datetime
    updated_at: datetime


class Page(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
