"""Domain events → realtime messages: the type clients see and the channels each event goes to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aicrm.models import OutboxEvent
from aicrm.realtime import channels_for, message_for, message_type


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("deal.stage_changed", "deal_updated"),
        ("deal.won", "deal_updated"),
        ("lead.status_changed", "lead_updated"),
        ("lead.created", "lead_updated"),
        ("lead.scored", "lead_scored"),
        ("task.assigned", "task_assigned"),
        ("task.completed", "task_updated"),
        ("ticket.assigned", "ticket_assigned"),
        ("call.started", "call_started"),
        ("call.ended", "call_ended"),
        ("notification.created", "notification"),
        ("notification.read", "notification_updated"),
        ("ai.insight", "ai_insight"),
        ("message.received", "message_received"),
    ],
)
def test_message_types(event: str, expected: str) -> None:
    assert message_type(event) == expected


def _event(
    type_: str, entity_type: str | None, entity_id: int | None, **payload: object
) -> OutboxEvent:
    return OutboxEvent(
        id=9,
        organization_id=3,
        type=type_,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=payload,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_channels() -> None:
    assert channels_for(_event("lead.status_changed", "lead", 5, to="Won")) == [
        "organization:3",
        "lead:5",
    ]
    assert channels_for(_event("task.assigned", "task", 7, assignee_id=11)) == [
        "organization:3",
        "task:7",
        "user:11",
    ]
    # a change that is not an assignment does not go to personal channels
    assert channels_for(_event("task.updated", "task", 7, assignee_id=11)) == [
        "organization:3",
        "task:7",
    ]
    # notifications are personal: never on the organization channel
    assert channels_for(_event("notification.created", "notification", 4, user_id=11)) == [
        "user:11"
    ]
    assert channels_for(_event("notification.created", "notification", 4)) == []
    # unknown entities: organization only
    assert channels_for(_event("import.finished", "import", 2)) == ["organization:3"]


def test_message_shape() -> None:
    message = message_for(_event("deal.won", "deal", 8, amount=10.0))
    assert message == {
        "organization_id": 3,
        "channels": ["organization:3", "deal:8"],
        "permission": None,
        "type": "deal_updated",
        "event": "deal.won",
        "event_id": 9,
        "entity_type": "deal",
        "entity_id": 8,
        "data": {"amount": 10.0},
        "ts": "2026-01-02T03:04:05+00:00",
    }
    assert message_for(_event("webhook.disabled", "webhook", 1))["permission"] == (
        "settings:manage"
    )
