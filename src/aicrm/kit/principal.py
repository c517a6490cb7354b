"""Who is acting: the auth subject every repository scopes by."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    manager = "manager"
    agent = "agent"
    viewer = "viewer"


class Permission(StrEnum):
    read = "records:read"
    write = "records:write"
    delete = "records:delete"
    import_ = "records:import"
    export = "records:export"
    teams = "teams:manage"
    members = "members:manage"
    settings = "settings:manage"
    api_keys = "api_keys:manage"
    audit = "audit:read"
    org_delete = "organization:delete"


_ALL = set(Permission)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.owner: frozenset(_ALL),
    Role.admin: frozenset(_ALL - {Permission.org_delete}),
    Role.manager: frozenset(
        {
            Permission.read,
            Permission.write,
            Permission.delete,
            Permission.import_,
            Permission.export,
            Permission.teams,
            Permission.audit,
        }
    ),
    Role.agent: frozenset({Permission.read, Permission.write}),
    Role.viewer: frozenset({Permission.read}),
}

# API-key scopes map onto the same permissions.
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.read, Permission.export}),
    "write": frozenset({Permission.read, Permission.write, Permission.delete, Permission.import_}),
    "admin": frozenset(_ALL - {Permission.org_delete}),
}


@dataclass(frozen=True)
class Principal:
    organization_id: int
    role: Role
    user_id: int | None = None
    api_key_id: int | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    request_id: str | None = None
    ip: str | None = None
    # automation rules whose actions led to this change (loop protection), outermost first
    origin: tuple[int, ...] = ()

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def system_principal(organization_id: int, *, origin: tuple[int, ...] = ()) -> Principal:
    """The organization itself acting (jobs, automation): every permission, no user."""
    return Principal(
        organization_id=organization_id,
        role=Role.owner,
        permissions=frozenset(_ALL),
        origin=origin,
    )
