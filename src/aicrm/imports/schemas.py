from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from aicrm.kit.schemas import Schema


class Entity(StrEnum):
    contacts = "contacts"
    companies = "companies"
    leads = "leads"


class OnDuplicate(StrEnum):
    skip = "skip"
    update = "update"
    create = "create"


class RowError(Schema):
    row: int = Field(description="spreadsheet row number; the header is row 1")
    field: str = Field(description="the field the value was meant for, e.g. email or custom.tier")
    column: str | None = Field(default=None, description="the CSV column it came from")
    message: str


class ImportReport(Schema):
    entity: Entity
    dry_run: bool
    on_duplicate: OnDuplicate
    total: int = Field(description="data rows read (blank rows not counted)")
    created: int
    updated: int
    skipped: int = Field(description="rows matching an existing record (on_duplicate=skip)")
    failed: int = Field(description="rows not imported because of errors")
    errors: list[RowError] = Field(description="the first errors, one per field and row")
    error_count: int = Field(description="all errors, including those left out of `errors`")
    companies_created: int = 0
    mapping: dict[str, str] = Field(description="CSV column → field actually used")
    ignored_columns: list[str]
    duration_s: float
