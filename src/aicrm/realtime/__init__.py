"""Realtime: committed domain events → messages on channels (`organization:N`, `user:N`,
`lead:N`, `deal:N`, `ticket:N`) → websocket clients subscribed to them.

`publish_events` runs right after a commit (aicrm.jobs.backend); the bus delivers in-process, or
through Redis pub/sub to every API process when REDIS_URL is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aicrm.models import OutboxEvent
from aicrm.realtime.bus import get_bus

# domain event type -> realtime message type (default: entity_updated)
TYPE_MAP = {
    "lead.scored": "lead_scored",
    "task.assigned": "task_assigned",
    "ticket.assigned": "ticket_assigned",
    "call.started": "call_started",
    "call.ended": "call_ended",
    "notification.created": "notification",
    "ai.insight": "ai_insight",
}
ENTITY_CHANNELS = {"lead", "deal", "ticket", "contact", "company", "task"}


def message_type(event_type: str) -> str:
    if event_type in TYPE_MAP:
        return TYPE_MAP[event_type]
    entity = event_type.split(".", 1)[0]
    return f"{entity}_updated"


def channels_for(event: OutboxEvent) -> list[str]:
    payload = event.payload or {}
    if event.type == "notification.created":
        # personal: only the recipient's channel
        return [f"user:{payload['user_id']}"]
    channels = [f"organization:{event.organization_id}"]
    if event.entity_type in ENTITY_CHANNELS and event.entity_id is not None:
        channels.append(f"{event.entity_type}:{event.entity_id}")
    for key in ("assignee_id", "owner_id", "user_id"):
        user_id = payload.get(key)
        if isinstance(user_id, int) and event.type.endswith(("assigned", "created")):
            channels.append(f"user:{user_id}")
    return channels


def messages_for(event: OutboxEvent) -> dict[str, Any]:
    return {
        "organization_id": event.organization_id,
        "channels": channels_for(event),
        "type": message_type(event.type),
        "event": event.type,
        "event_id": event.id,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "data": event.payload or {},
        "ts": event.created_at.isoformat() if event.created_at else None,
    }


def publish_events(events: Iterable[OutboxEvent]) -> None:
    bus = get_bus()
    for event in events:
        bus.publish(messages_for(event))
