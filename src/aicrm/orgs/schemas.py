from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aicrm.kit.principal import Role
from aicrm.kit.schemas import Email, InputSchema, Record, Schema


class OrganizationOut(Record):
    name: str
    slug: str
    default_currency: str
    default_region: str
    timezone: str


class OrganizationCreate(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str = "UTC"


class OrganizationUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str | None = None


class MemberOut(Schema):
    user_id: int
    email: str
    full_name: str
    role: Role
    joined_at: datetime


class MemberUpdate(InputSchema):
    role: Role


class InvitationCreate(InputSchema):
    email: Email
    role: Role = Role.agent


class InvitationOut(Record):
    email: str
    role: Role
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreated(InvitationOut):
    token: str


class InvitationAccept(InputSchema):
    token: str = Field(min_length=10)


class TeamCreate(InputSchema):
    name: str = Field(min_length=1, max_length=120)
    kind: str = Field(
        default="other", pattern=r"^(sales|support|technical|success|marketing|other)$"
    )
    description: str = ""


class TeamUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: str | None = Field(
        default=None, pattern=r"^(sales|support|technical|success|marketing|other)$"
    )
    description: str | None = None


class TeamMemberIn(InputSchema):
    user_id: int
    skills: list[str] = Field(default_factory=list, max_length=50)
    capacity: int = Field(default=10, ge=0, le=1000)
    is_manager: bool = False


class TeamMemberUpdate(InputSchema):
    skills: list[str] | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=1000)
    is_manager: bool | None = None


class TeamMemberOut(Schema):
    user_id: int
    email: str
    full_name: str
    skills: list[str]
    capacity: int
    is_manager: bool


class TeamOut(Record):
    name: str
    kind: str
    description: str
    members: list[TeamMemberOut] = Field(default_factory=list)
