"""Triggers: which events wake a rule, and when a scheduled rule is next due."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from aicrm.automation.schemas import ENTITY_TYPES
from aicrm.events.types import EVENT_TYPES, matches, pattern_error

# Events about records rules can act on. An exact type must be one of them and a glob must
# match at least one, so a typo is a 422 instead of a rule that silently never runs.
KNOWN_EVENTS: tuple[str, ...] = tuple(e for e in EVENT_TYPES if e.split(".", 1)[0] in ENTITY_TYPES)


def event_problem(pattern: str) -> str | None:
    problem = pattern_error(pattern)
    if problem is not None:
        return problem
    if not any(matches(pattern, e) for e in KNOWN_EVENTS):
        return f"matches no event; known events: {list(KNOWN_EVENTS)}"
    return None


def entity_of_pattern(pattern: str) -> str | None:
    """The record type every event matching `pattern` is about, or None when it may vary."""
    types = {e.split(".", 1)[0] for e in KNOWN_EVENTS if matches(pattern, e)}
    if len(types) == 1:
        found = types.pop()
        return found if found in ENTITY_TYPES else None
    return None


def cron_problem(cron: str) -> str | None:
    if len(cron.split()) != 5:
        return "five fields: minute hour day-of-month month day-of-week (e.g. 0 9 * * 1-5)"
    if not croniter.is_valid(cron):
        return "not a valid cron expression (e.g. 0 9 * * 1-5)"
    try:
        croniter(cron, datetime.now(UTC)).get_next(datetime)
    except (CroniterBadDateError, ValueError, KeyError):
        return "this schedule never comes round (e.g. 31 February)"
    return None


def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone such as UTC or Europe/Paris"
    return None


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the cron names, read in `timezone`, in UTC."""
    local = after.astimezone(ZoneInfo(timezone))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(UTC)
