from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aicrm.kit.principal import Role
from aicrm.kit.schemas import Email, InputSchema, Schema


class RegisterIn(InputSchema):
    email: Email
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(default="", max_length=200)
    organization_name: str | None = Field(default=None, max_length=200)
    invitation_token: str | None = None


class LoginIn(InputSchema):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(InputSchema):
    refresh_token: str = Field(min_length=10)


class LogoutIn(InputSchema):
    refresh_token: str | None = None


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    organization_id: int | None = None


class MembershipOut(Schema):
    organization_id: int
    organization_name: str
    role: Role


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    active_organization_id: int | None
    role: Role | None
    permissions: list[str]
    memberships: list[MembershipOut]


class PasswordResetRequestIn(InputSchema):
    email: Email


class PasswordResetConfirmIn(InputSchema):
    token: str = Field(min_length=10)
    new_password: str = Field(min_length=8, max_length=256)


class ApiKeyCreate(InputSchema):
    name: str = Field(min_length=1, max_length=120)
    scopes: list[str] = Field(default_factory=lambda: ["read"])
    expires_at: datetime | None = None


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
