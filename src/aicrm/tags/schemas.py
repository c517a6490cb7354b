from __future__ import annotations

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record

TagName = Field(min_length=1, max_length=60)


class TagOut(Record):
    name: str
    color: str


class TagCreate(InputSchema):
    name: str = TagName
    color: str = Field(default="#64748b", pattern=r"^#[0-9a-fA-F]{6}$")


class TagUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
