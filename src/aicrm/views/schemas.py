from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record

# A filter value as it appears in a query string: a scalar, or a list for `__in` / repeated keys.
FilterValue = str | int | float | bool | list[str | int | float] | None
Filters = dict[str, FilterValue]


class EntityType(StrEnum):
    contact = "contact"
    company = "company"
    lead = "lead"
    deal = "deal"


class ViewOut(Record):
    name: str
    entity_type: EntityType
    filters: Filters
    sort: str | None
    owner_id: int | None
    shared: bool
    count: int | None = Field(
        default=None, description="Records matching now; null when the filters no longer apply"
    )
    problem: str | None = Field(
        default=None, description="Why the filters no longer apply (e.g. a renamed lead status)"
    )


class ViewCreate(InputSchema):
    name: str = Field(min_length=1, max_length=120)
    entity_type: EntityType
    filters: Filters = Field(
        default_factory=dict,
        max_length=50,
        description='What the list endpoint takes as query parameters, e.g. {"status": "customer"}',
    )
    sort: str | None = Field(default=None, max_length=60)
    shared: bool = Field(default=True, description="False: visible to its owner only")


class ViewUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    filters: Filters | None = Field(default=None, max_length=50)
    sort: str | None = Field(default=None, max_length=60)
    shared: bool | None = None
