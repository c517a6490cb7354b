from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from aicrm.companies.schemas import CompanyOut
from aicrm.contacts.schemas import ContactOut
from aicrm.kit.schemas import InputSchema, Schema


class DuplicateEntity(StrEnum):
    contact = "contact"
    company = "company"


class Reason(StrEnum):
    email = "email"
    phone = "phone"
    domain = "domain"
    name_company = "name+company"
    name = "name"


class DuplicateRecord(Schema):
    id: int
    name: str
    email: str | None = None
    phone: str | None = None
    domain: str | None = None
    company_id: int | None = None


class DuplicateGroup(Schema):
    reason: Reason
    key: str = Field(description="the shared email, phone or domain, or the folded name")
    score: float = Field(description="100 for exact keys, else the lowest pairwise name score")
    ids: list[int]
    records: list[DuplicateRecord]


class DuplicateScan(Schema):
    entity: DuplicateEntity
    groups: list[DuplicateGroup]
    truncated: bool = Field(description="more groups exist than `limit` allowed")


class MergeIn(InputSchema):
    primary_id: int
    duplicate_ids: list[int] = Field(min_length=1, max_length=100)
    fields: dict[str, int] = Field(
        default_factory=dict,
        description="field → id of the record whose value wins (default: the primary's value)",
    )


class ContactMergeOut(ContactOut):
    merged_ids: list[int]
    moved: dict[str, int] = Field(description="rows re-pointed at the primary, per table.column")


class CompanyMergeOut(CompanyOut):
    merged_ids: list[int]
    moved: dict[str, int]
