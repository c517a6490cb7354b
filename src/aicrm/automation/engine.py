"""Conditions: a tree of `all` / `any` / `not` groups over field comparisons.

`check()` validates a tree at write time, collecting every error with its path
(`conditions.all[1].op`); `evaluate()` runs it against a record and an event and returns the
result with a trace of every node (the value each leaf saw, and why it held or not) for dry runs
and the execution log.

Comparisons are forgiving the way a person would expect: numbers compare as numbers whatever
their JSON type (`"10000"` equals `10000`), text compares without regard to case, dates compare
as dates, and `now`, `now-7d`, `now+2h` are dates relative to the evaluation time.
`changed`, `changed_from` and `changed_to` read the event: its `before`/`after` (or `changes`)
when the producer sent them, else what the status, stage and assignment events carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aicrm.automation.schemas import Op

GROUPS = ("all", "any", "not")
MAX_DEPTH = 8
MAX_LEAVES = 100
MAX_CHILDREN = 50
NO_VALUE = {Op.is_empty, Op.is_not_empty, Op.changed}
LIST_VALUE = {Op.in_, Op.not_in}
ORDERED = {Op.gt, Op.gte, Op.lt, Op.lte}
CHANGE_OPS = {Op.changed, Op.changed_from, Op.changed_to}
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\d{1,6})\s*([mhdw]))?$", re.I)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# What the status / stage / assignment events carry, as (field → (before key, after key)).
EVENT_CHANGES: dict[str, dict[str, tuple[str | None, str]]] = {
    "lead.status_changed": {"status": ("from", "to")},
    "deal.stage_changed": {
        "stage": ("from", "to"),
        "stage_id": ("from_stage_id", "to_stage_id"),
    },
    "task.assigned": {"assignee_id": ("previous_assignee_id", "assignee_id")},
}
# Events that say what a field became without saying what it was.
EVENT_OUTCOMES: dict[str, dict[str, Any]] = {
    "task.completed": {"status": "done"},
    "deal.won": {"status": "won"},
    "deal.lost": {"status": "lost"},
}


@dataclass(frozen=True)
class Fields:
    """What a tree may refer to: None means "not known here" (a trigger on several record
    types), so only the shape is checked."""

    names: frozenset[str] | None
    custom_keys: frozenset[str] | None
    aliases: dict[str, str]


# -- validation ----------------------------------------------------------------------------


def check(node: Any, fields: Fields, path: str = "conditions") -> list[dict[str, str]]:
    """Every problem in a condition tree, each naming its path; [] when it is valid."""
    errors: list[dict[str, str]] = []
    leaves = [0]
    _check(node, fields, path, 0, errors, leaves)
    if leaves[0] > MAX_LEAVES:
        errors.append({"field": path, "message": f"at most {MAX_LEAVES} comparisons"})
    return errors


def _err(errors: list[dict[str, str]], path: str, message: str) -> None:
    errors.append({"field": path, "message": message})


def _check(
    node: Any,
    fields: Fields,
    path: str,
    depth: int,
    errors: list[dict[str, str]],
    leaves: list[int],
) -> None:
    if depth > MAX_DEPTH:
        _err(errors, path, f"groups nest at most {MAX_DEPTH} deep")
        return
    if not isinstance(node, dict):
        _err(errors, path, "must be an object: a group (all/any/not) or a comparison")
        return
    if depth == 0 and not node:
        return  # no conditions: the rule always runs
    groups = [k for k in GROUPS if k in node]
    if groups:
        if len(node) != 1:
            _err(errors, path, "a group has exactly one key: all, any or not")
            return
        key = groups[0]
        child = node[key]
        if key == "not":
            _check(child, fields, f"{path}.not", depth + 1, errors, leaves)
            return
        if not isinstance(child, list):
            _err(errors, f"{path}.{key}", "must be a list of conditions")
            return
        if len(child) > MAX_CHILDREN:
            _err(errors, f"{path}.{key}", f"at most {MAX_CHILDREN} conditions per group")
        for i, item in enumerate(child[:MAX_CHILDREN]):
            _check(item, fields, f"{path}.{key}[{i}]", depth + 1, errors, leaves)
        return
    leaves[0] += 1
    _check_leaf(node, fields, path, errors)


def _check_leaf(
    node: dict[str, Any], fields: Fields, path: str, errors: list[dict[str, str]]
) -> None:
    extra = set(node) - {"field", "op", "value"}
    if extra:
        _err(
            errors,
            f"{path}.{sorted(extra)[0]}",
            "unknown key; a comparison has field, op and value (groups: all, any, not)",
        )
    name = node.get("field")
    if not isinstance(name, str) or not name.strip():
        _err(errors, f"{path}.field", "name the field to compare")
    else:
        problem = field_problem(name, fields)
        if problem:
            _err(errors, f"{path}.field", problem)
    raw_op = node.get("op")
    try:
        op = Op(raw_op)
    except ValueError:
        _err(errors, f"{path}.op", f"must be one of {[o.value for o in Op]}")
        return
    has_value = "value" in node
    value = node.get("value")
    if op in NO_VALUE:
        if has_value and value is not None:
            _err(errors, f"{path}.value", f"{op.value} takes no value")
        return
    if not has_value:
        _err(errors, f"{path}.value", f"{op.value} needs a value")
        return
    if op in LIST_VALUE:
        if not isinstance(value, list) or not value:
            _err(errors, f"{path}.value", f"{op.value} needs a non-empty list")
        elif len(value) > 200 or not all(_scalar(v) for v in value):
            _err(errors, f"{path}.value", "a list of at most 200 numbers, texts or booleans")
        return
    if not _scalar(value):
        _err(errors, f"{path}.value", "must be a number, a text, a boolean or null")
        return
    if op in ORDERED and (value is None or isinstance(value, bool)):
        _err(errors, f"{path}.value", f"{op.value} needs a number, a date or a text")
    elif op in ORDERED and isinstance(value, str) and value.lower().startswith("now"):
        if not _RELATIVE.match(value.strip()):
            _err(errors, f"{path}.value", "relative dates look like now, now-7d, now+2h")
    elif op in (Op.contains, Op.starts_with) and (value is None or value == ""):
        _err(errors, f"{path}.value", f"{op.value} needs a non-empty text")


def field_problem(name: str, fields: Fields) -> str | None:
    """Why a field name cannot be read, or None."""
    if len(name) > 80:
        return "field names are at most 80 characters"
    if name.startswith("event."):
        return None if len(name) > 6 else "name the event payload key: event.<key>"
    if name.startswith("custom."):
        key = name[7:]
        if not key:
            return "name the custom field: custom.<key>"
        if fields.custom_keys is not None and key not in fields.custom_keys:
            return f"no custom field {key!r} is defined for this record type"
        return None
    if fields.names is not None and name not in fields.names:
        return f"unknown field {name!r}; known: {sorted(fields.names)}"
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str) and len(str(value)) <= 1000


# -- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a rule looks at: the record (fresh, API shape) and the event that woke it."""

    record: dict[str, Any]
    event_type: str | None = None
    payload: dict[str, Any] | None = None
    aliases: dict[str, str] | None = None
    now: datetime | None = None

    def value(self, name: str) -> Any:
        if name == "event.type":
            return self.event_type
        if name.startswith("event."):
            return _dig(self.payload or {}, name[6:])
        if name.startswith("custom."):
            return (self.record.get("custom") or {}).get(name[7:])
        return self.record.get((self.aliases or {}).get(name, name))

    def change(self, name: str) -> tuple[bool, Any, Any] | None:
        """(known-before, before, after) of a field according to the event, None if it does not
        say. known-before is false when only the outcome is known (task.completed)."""
        payload = self.payload or {}
        target = (self.aliases or {}).get(name, name)
        for key in (name, target):
            before, after = payload.get("before"), payload.get("after")
            if isinstance(before, dict) and isinstance(after, dict):
                if key in before or key in after:
                    return True, before.get(key), after.get(key)
            changes = payload.get("changes")
            if isinstance(changes, dict) and key in changes:
                pair = changes[key]
                if isinstance(pair, dict):
                    return True, pair.get("from"), pair.get("to")
                if isinstance(pair, list | tuple) and len(pair) == 2:
                    return True, pair[0], pair[1]
        known = EVENT_CHANGES.get(self.event_type or "", {})
        for key in (name, target):
            if key in known:
                b, a = known[key]
                return True, payload.get(b) if b else None, payload.get(a)
        outcome = EVENT_OUTCOMES.get(self.event_type or "", {})
        for key in (name, target):
            if key in outcome:
                return False, None, outcome[key]
        return None


def _dig(data: dict[str, Any], path: str) -> Any:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def evaluate(node: dict[str, Any] | None, subject: Subject) -> tuple[bool, dict[str, Any]]:
    """(matched, trace). An empty tree matches."""
    if not node:
        return True, {"path": "conditions", "group": "all", "result": True, "children": []}
    return _eval(node, subject, "conditions")


def _eval(node: dict[str, Any], subject: Subject, path: str) -> tuple[bool, dict[str, Any]]:
    for key in GROUPS:
        if key in node:
            if key == "not":
                ok, child = _eval(node["not"], subject, f"{path}.not")
                return not ok, {"path": path, "group": "not", "result": not ok, "children": [child]}
            children = []
            results = []
            for i, item in enumerate(node[key]):
                ok, trace = _eval(item, subject, f"{path}.{key}[{i}]")
                results.append(ok)
                children.append(trace)
            result = all(results) if key == "all" else any(results)
            return result, {"path": path, "group": key, "result": result, "children": children}
    return _leaf(node, subject, path)


def _leaf(node: dict[str, Any], subject: Subject, path: str) -> tuple[bool, dict[str, Any]]:
    name = str(node.get("field"))
    op = Op(node.get("op"))
    expected = node.get("value")
    trace: dict[str, Any] = {"path": path, "field": name, "op": op.value}
    if op not in NO_VALUE:
        trace["value"] = expected
    if op in CHANGE_OPS:
        change = subject.change(name)
        if change is None:
            trace.update(result=False, note=f"the event says nothing about a change of {name}")
            return False, trace
        known_before, before, after = change
        trace["before"] = before if known_before else "?"
        trace["after"] = after
        if op is Op.changed:
            result = not known_before or not _equal(before, after)
        elif op is Op.changed_to:
            result = _equal(after, expected) and (not known_before or not _equal(before, after))
        else:
            result = known_before and _equal(before, expected) and not _equal(before, after)
            if not known_before:
                trace["note"] = "the event does not say what the value was before"
        trace["result"] = result
        return result, trace
    actual = subject.value(name)
    trace["actual"] = actual
    result, note = compare(op, actual, expected, now=subject.now)
    trace["result"] = result
    if note:
        trace["note"] = note
    return result, trace


def compare(op: Op, actual: Any, expected: Any, *, now: datetime | None = None) -> tuple[bool, str]:
    """(result, note): the note says why a comparison could not be made."""
    if op is Op.is_empty:
        return _empty(actual), ""
    if op is Op.is_not_empty:
        return not _empty(actual), ""
    if op is Op.eq:
        return _equal(actual, expected), ""
    if op is Op.ne:
        return not _equal(actual, expected), ""
    if op in (Op.in_, Op.not_in):
        options = expected if isinstance(expected, list) else [expected]
        if isinstance(actual, list):
            hit = any(_equal(a, o) for a in actual for o in options)
        else:
            hit = any(_equal(actual, o) for o in options)
        return (hit if op is Op.in_ else not hit), ""
    if op is Op.contains:
        if isinstance(actual, list):
            return any(_equal(a, expected) for a in actual), ""
        if actual is None:
            return False, "the field is empty"
        return str(expected).lower() in str(actual).lower(), ""
    if op is Op.starts_with:
        if actual is None or isinstance(actual, list | dict):
            return False, "the field is not a text"
        return str(actual).lower().startswith(str(expected).lower()), ""
    return _ordered(op, actual, expected, now or datetime.now(UTC))


def _ordered(op: Op, actual: Any, expected: Any, now: datetime) -> tuple[bool, str]:
    if actual is None:
        return False, "the field is empty"
    a_num, e_num = _number(actual), _number(expected)
    pair: tuple[Any, Any] | None = None
    if a_num is not None and e_num is not None:
        pair = (a_num, e_num)
    else:
        a_dt, e_dt = _datetime(actual, now), _datetime(expected, now)
        if a_dt is not None and e_dt is not None:
            pair = (a_dt, e_dt)
        elif isinstance(actual, str) and isinstance(expected, str):
            pair = (actual.lower(), expected.lower())
    if pair is None:
        return False, f"cannot compare {actual!r} with {expected!r}"
    a, e = pair
    result = {Op.gt: a > e, Op.gte: a >= e, Op.lt: a < e, Op.lte: a <= e}[op]
    return bool(result), ""


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _datetime(value: Any, now: datetime) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        sign, amount, unit = m.groups()
        if not amount:
            return now
        delta = timedelta(**{_UNITS[unit.lower()]: int(amount)})
        return now + delta if sign == "+" else now - delta
    if text.lower() == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if len(text) < 10 or not text[:4].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _equal(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return _bool(actual) is not None and _bool(actual) == _bool(expected)
    if isinstance(actual, int | float) or isinstance(expected, int | float):
        a, e = _number(actual), _number(expected)
        return a is not None and a == e
    return str(actual).strip().lower() == str(expected).strip().lower()


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    return None
