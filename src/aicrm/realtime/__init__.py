"""Realtime: committed domain events → messages on channels (`organization:N`, `user:N`,
`lead:N`, `deal:N`, `ticket:N`, …) → websocket clients subscribed to them.

`publish_events` runs right after a commit (aicrm.jobs.backend), in whatever thread or event loop
committed: an API request, the embedded worker, a Celery task or a CLI command. It only hands
the messages to the process's bus (aicrm.realtime.bus), which never blocks: in memory by default,
or Redis pub/sub when REDIS_URL is set, so every API process's hub (aicrm.realtime.hub) delivers
them to its own websocket connections.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aicrm.kit.principal import Permission
from aicrm.models import OutboxEvent
from aicrm.realtime.bus import get_bus

# Domain event type -> realtime message type, for the types that are not "<entity>_updated".
TYPE_MAP = {
    "lead.scored": "lead_scored",
    "task.assigned": "task_assigned",
    "ticket.assigned": "ticket_assigned",
    "call.started": "call_started",
    "call.ended": "call_ended",
    "notification.created": "notification",
    "ai.insight": "ai_insight",
    "insight.created": "ai_insight",
    "deal.scored": "deal_scored",
    "message.received": "message_received",
}
# Entities whose records have their own channel (`lead:5`); the channel is authorised by
# finding the record in the subscriber's organization (aicrm.realtime.channels).
ENTITY_CHANNELS = ("lead", "deal", "ticket", "contact", "company", "task")
# Personal events: only the recipient's `user:N` channel, never the organization's.
PERSONAL_PREFIXES = ("notification.",)
# Events about settings-level resources reach only members who may manage settings (their
# payloads may name webhook URLs or rule internals that other roles cannot read through the API).
SETTINGS_PREFIXES = ("webhook.", "automation.", "job.", "api_key.")


def message_type(event_type: str) -> str:
    """`deal.stage_changed` → `deal_updated`: clients react to one type per entity, and read
    `event` when they need the precise change."""
    if event_type in TYPE_MAP:
        return TYPE_MAP[event_type]
    if event_type.startswith("notification."):
        return "notification_updated"
    entity = event_type.split(".", 1)[0]
    return f"{entity}_updated"


def channels_for(event: OutboxEvent) -> list[str]:
    """Where an event is delivered. Channels are scoped by the event's organization in the hub, so
    `user:7` here reaches user 7 only while connected to this organization."""
    payload = event.payload or {}
    if event.type.startswith(PERSONAL_PREFIXES):
        user_id = payload.get("user_id")
        return [f"user:{user_id}"] if isinstance(user_id, int) else []
    channels = [f"organization:{event.organization_id}"]
    if event.entity_type in ENTITY_CHANNELS and event.entity_id is not None:
        channels.append(f"{event.entity_type}:{event.entity_id}")
    if event.type.endswith((".assigned", ".created")):
        # the person a record was just given to hears about it on their own channel too
        for key in ("assignee_id", "owner_id", "user_id"):
            user_id = payload.get(key)
            if isinstance(user_id, int) and f"user:{user_id}" not in channels:
                channels.append(f"user:{user_id}")
    return channels


def message_for(event: OutboxEvent) -> dict[str, Any]:
    """The bus message of one event: the wire message (minus `channel`, added per channel by
    the hub) plus the organization, the channels it goes to and the permission a subscriber
    needs (hub-only fields, never sent to clients)."""
    return {
        "organization_id": event.organization_id,
        "channels": channels_for(event),
        "permission": (
            Permission.settings.value if event.type.startswith(SETTINGS_PREFIXES) else None
        ),
        "type": message_type(event.type),
        "event": event.type,
        "event_id": event.id,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "data": event.payload or {},
        "ts": event.created_at.isoformat() if event.created_at else None,
    }


def publish_events(events: Iterable[OutboxEvent]) -> None:
    """Hand committed events to the bus; never blocks and never raises into the committer."""
    bus = get_bus()
    for event in events:
        message = message_for(event)
        if message["channels"]:
            bus.publish(message)
