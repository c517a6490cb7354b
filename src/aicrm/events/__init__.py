"""Domain events written to the outbox in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import jsonable
from aicrm.models import OutboxEvent


async def emit(
    session: AsyncSession,
    principal: Principal,
    type_: str,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Store an event (e.g. `lead.status_changed`); it commits or rolls back with the change."""
    event = OutboxEvent(
        organization_id=principal.organization_id,
        type=type_,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=jsonable(dict(payload or {}, actor_user_id=principal.user_id)),
    )
    session.add(event)
    return event
