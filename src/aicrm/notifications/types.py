"""The notification types users can receive, with the labels the preferences page shows.

One registry, so the preferences API can list every type (and refuse unknown ones) and each
producer — event consumer, webhooks, automation — names its type in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotificationType:
    name: str
    label: str
    description: str = ""


TYPES: dict[str, NotificationType] = {}


def register_type(name: str, label: str, description: str = "") -> NotificationType:
    """Declare a notification type (idempotent for the same label; a new label replaces it)."""
    spec = NotificationType(name, label, description)
    TYPES[name] = spec
    return spec


def label(name: str) -> str:
    spec = TYPES.get(name)
    return spec.label if spec else name.replace(".", " ").replace("_", " ").capitalize()


TASK_ASSIGNED = register_type(
    "task.assigned", "Task assigned to me", "Someone else assigns you a task."
).name
TASK_DUE_SOON = register_type(
    "task.due_soon", "Task due soon", "A task assigned to you is due within 24 hours."
).name
DEAL_WON = register_type(
    "deal.won", "Deal won", "A deal you own is marked won by someone else."
).name
DEAL_LOST = register_type(
    "deal.lost", "Deal lost", "A deal you own is marked lost by someone else."
).name
LEAD_ASSIGNED = register_type(
    "lead.assigned", "Lead assigned to me", "Someone else assigns you a lead."
).name
WEBHOOK_DISABLED = register_type(
    "webhook.disabled",
    "Webhook disabled",
    "A webhook subscription was switched off after repeated delivery failures.",
).name
AUTOMATION_NOTIFY = register_type(
    "automation.notify", "Automation rule", "An automation rule's “notify” action names you."
).name
