from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record


class FieldType(StrEnum):
    text = "text"
    number = "number"
    boolean = "boolean"
    date = "date"
    select = "select"
    multiselect = "multiselect"
    email = "email"
    url = "url"
    phone = "phone"


class EntityType(StrEnum):
    contact = "contact"
    company = "company"
    lead = "lead"
    deal = "deal"


class CustomFieldOut(Record):
    entity_type: EntityType
    key: str
    label: str
    field_type: FieldType
    options: list[str]
    required: bool


class CustomFieldCreate(InputSchema):
    entity_type: EntityType
    key: str = Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=120)
    field_type: FieldType
    options: list[str] = Field(default_factory=list, max_length=200)
    required: bool = False


class CustomFieldUpdate(InputSchema):
    label: str | None = Field(default=None, min_length=1, max_length=120)
    options: list[str] | None = Field(default=None, max_length=200)
    required: bool | None = None
