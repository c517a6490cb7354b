"""Audit log: who, what, when, before and after — for every write."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import diff, jsonable, snapshot
from aicrm.models import AuditLog
from aicrm.models.base import Base


async def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    organization_id: int | None = None,
    user_id: int | None = None,
) -> AuditLog:
    entry = AuditLog(
        organization_id=principal.organization_id if principal else organization_id,
        actor_user_id=principal.user_id if principal else user_id,
        actor_api_key_id=principal.api_key_id if principal else None,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        request_id=principal.request_id if principal else None,
        ip=principal.ip if principal else None,
    )
    session.add(entry)
    return entry


async def created(session: AsyncSession, principal: Principal, entity_type: str, obj: Base) -> None:
    await record(session, principal, "create", entity_type, obj.id, after=snapshot(obj))


async def updated(
    session: AsyncSession, principal: Principal, entity_type: str, obj: Base, before: dict[str, Any]
) -> None:
    b, a = diff(before, snapshot(obj))
    if b or a:
        await record(session, principal, "update", entity_type, obj.id, before=b, after=a)


async def deleted(session: AsyncSession, principal: Principal, entity_type: str, obj: Base) -> None:
    await record(session, principal, "delete", entity_type, obj.id, before=snapshot(obj))
