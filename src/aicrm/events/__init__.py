"""Domain events written to the outbox in the same transaction as the change.

A change that rolls back emits nothing. After commit the events are published to websocket
clients (aicrm.realtime) and the outbox relay (aicrm.events.relay) hands them to the durable
consumers — webhooks, automation rules, notifications — as jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.jobs.backend import EVENTS_KEY
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
    data = dict(payload or {}, actor_user_id=principal.user_id)
    if principal.origin:
        data["origin"] = list(principal.origin)
    event = OutboxEvent(
        organization_id=principal.organization_id,
        type=type_,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=jsonable(data),
    )
    session.add(event)
    session.info.setdefault(EVENTS_KEY, []).append(event)
    return event


def changes(before: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Event payload part naming what an update changed: `{"changes": {field: {from, to}}}`,
    so automation conditions like changed_from/changed_to can read it."""
    from aicrm.kit.snapshot import diff, snapshot

    b, a = diff(before, snapshot(obj))
    return {"changes": {k: {"from": b.get(k), "to": a.get(k)} for k in a}}
