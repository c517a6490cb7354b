"""The catalogue of domain event types and the one pattern language consumers subscribe with.

Webhook subscriptions and automation triggers both name events by exact type (`deal.won`) or
glob (`deal.*`, `*.created`, `lead.status_*`, `*`), where `*` matches any run of characters,
dots included. A new event type is emitted by a service and added here so forms can offer it.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

EVENT_TYPES: tuple[str, ...] = (
    "activity.created",
    "activity.updated",
    "activity.deleted",
    "company.created",
    "company.updated",
    "company.deleted",
    "company.merged",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "contact.merged",
    "deal.created",
    "deal.updated",
    "deal.stage_changed",
    "deal.reordered",
    "deal.won",
    "deal.lost",
    "deal.reopened",
    "deal.deleted",
    "deal.scored",
    "import.completed",
    "insight.created",
    "insight.dismissed",
    "insight.acted",
    "insight.reopened",
    "lead.created",
    "lead.updated",
    "lead.status_changed",
    "lead.reordered",
    "lead.converted",
    "lead.scored",
    "lead.deleted",
    "task.created",
    "task.updated",
    "task.assigned",
    "task.completed",
    "task.commented",
    "task.deleted",
)

MAX_PATTERN = 60
# lowercase words joined by dots; `*` may stand for any part of a word or for whole words
_PATTERN = re.compile(r"^(\*|[a-z0-9_*]+(\.[a-z0-9_*]+)*)$")


def pattern_error(pattern: str) -> str | None:
    """Why `pattern` is not a valid event type pattern, or None."""
    if not pattern:
        return "must not be empty"
    if len(pattern) > MAX_PATTERN:
        return f"must be at most {MAX_PATTERN} characters"
    if not _PATTERN.match(pattern):
        return (
            "must be an event type like `deal.won`, a glob like `deal.*`, or `*` "
            "(lowercase letters, digits, `_`, `.` and `*` only)"
        )
    if "**" in pattern:
        return "use a single `*` (it already matches any run of characters)"
    return None


def matches(pattern: str, event_type: str) -> bool:
    return pattern == "*" or pattern == event_type or fnmatchcase(event_type, pattern)
