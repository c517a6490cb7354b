"""Which events a subscription wants: exact types (`deal.won`), globs (`deal.*`, `*.created`,
`lead.status_*`) or `*` for everything.

`*` matches any run of characters, dots included, so `deal.*` covers every deal event. Types
under `notification.` are never sent: they are one user's inbox items (pushed to that user over
the websocket), not changes to CRM records, and an organization-wide endpoint must not receive
them.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

# The events the product emits today (the form offers these as checkboxes; any valid pattern
# is accepted, so types added later need no change here to be subscribed to).
KNOWN_EVENT_TYPES: tuple[str, ...] = (
    "activity.created",
    "activity.updated",
    "activity.deleted",
    "company.created",
    "company.updated",
    "company.deleted",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "deal.created",
    "deal.updated",
    "deal.stage_changed",
    "deal.reordered",
    "deal.won",
    "deal.lost",
    "deal.reopened",
    "deal.deleted",
    "import.completed",
    "lead.created",
    "lead.updated",
    "lead.status_changed",
    "lead.reordered",
    "lead.converted",
    "lead.deleted",
    "task.created",
    "task.updated",
    "task.assigned",
    "task.completed",
    "task.commented",
    "task.deleted",
)

TEST_EVENT = "webhook.test"
INTERNAL_PREFIXES = ("notification.",)
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


def clean_patterns(patterns: list[str]) -> list[str]:
    """Validated, de-duplicated patterns in the order given; raises ValueError naming the item
    (pydantic turns it into a 422 on `event_types`)."""
    out: list[str] = []
    for i, raw in enumerate(patterns):
        pattern = str(raw).strip()
        error = pattern_error(pattern)
        if error:
            raise ValueError(f"event_types[{i}] {pattern!r} {error}")
        if pattern not in out:
            out.append(pattern)
    if not out:
        raise ValueError("choose at least one event type (or `*` for all)")
    return out


def deliverable(event_type: str) -> bool:
    return not event_type.startswith(INTERNAL_PREFIXES)


def matches(patterns: list[str], event_type: str) -> bool:
    """Does a subscription with `patterns` want `event_type`?"""
    if not deliverable(event_type):
        return False
    return any(p == "*" or p == event_type or fnmatchcase(event_type, p) for p in patterns)
