"""Which events a subscription wants: exact types (`deal.won`), globs (`deal.*`, `*.created`,
`lead.status_*`) or `*` for everything.

`*` matches any run of characters, dots included, so `deal.*` covers every deal event. Types
under `notification.` are never sent: they are one user's inbox items (pushed to that user over
the websocket), not changes to CRM records, and an organization-wide endpoint must not receive
them.
"""

from __future__ import annotations

from aicrm.events.types import EVENT_TYPES, pattern_error
from aicrm.events.types import matches as _matches

# the form offers these as checkboxes; any valid pattern is accepted, so types added later need
# no change here to be subscribed to
KNOWN_EVENT_TYPES = EVENT_TYPES
TEST_EVENT = "webhook.test"
INTERNAL_PREFIXES = ("notification.",)
__all__ = ["KNOWN_EVENT_TYPES", "TEST_EVENT", "clean_patterns", "matches", "pattern_error"]


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
    return any(_matches(p, event_type) for p in patterns)
