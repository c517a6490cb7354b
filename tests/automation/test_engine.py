"""The condition engine, templates and triggers on their own (no server): operators, the change
operators against what each event carries, relative dates, and validation paths."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aicrm.automation import engine, templating, triggers
from aicrm.automation.engine import Fields, Subject, evaluate
from aicrm.automation.schemas import Op

LEAD = {
    "name": "Acme Corp",
    "value": 20000.0,
    "status": "Qualified",
    "source": "web",
    "tags": ["vip", "renewal"],
    "custom": {"tier": "gold"},
    "email": None,
    "created_at": "2026-11-01T10:00:00+00:00",
}
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def holds(field: str, op: str, value: object = None, **subject: object) -> bool:
    leaf: dict[str, object] = {"field": field, "op": op}
    if op not in ("is_empty", "is_not_empty", "changed"):
        leaf["value"] = value
    args = {"aliases": {"amount": "value"}, "now": NOW, **subject}
    return evaluate(leaf, Subject(dict(LEAD), **args))[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("value", "gt", 10000, True),
        ("value", "gt", "10000", True),
        ("amount", "gte", 20000, True),
        ("value", "lt", 20000, False),
        ("value", "lte", 20000, True),
        ("value", "eq", "20000", True),
        ("status", "eq", "qualified", True),
        ("status", "ne", "New", True),
        ("status", "in", ["New", "Qualified"], True),
        ("status", "not_in", ["New", "Lost"], True),
        ("tags", "in", ["vip"], True),
        ("tags", "contains", "VIP", True),
        ("tags", "not_in", ["cold"], True),
        ("name", "contains", "corp", True),
        ("name", "starts_with", "acme", True),
        ("name", "starts_with", "corp", False),
        ("email", "is_empty", None, True),
        ("tags", "is_not_empty", None, True),
        ("custom.tier", "eq", "Gold", True),
        ("custom.missing", "is_empty", None, True),
        ("created_at", "lt", "now-7d", True),
        ("created_at", "gt", "now-7d", False),
        ("created_at", "gte", "2026-11-01", True),
        ("name", "gt", 5, False),
        ("source", "gt", "a", True),
    ],
)
def test_operators(field: str, op: str, value: object, expected: bool) -> None:
    assert holds(field, op, value) is expected


def test_change_operators_read_the_event() -> None:
    moved = {"event_type": "lead.status_changed", "payload": {"from": "New", "to": "Qualified"}}
    assert holds("status", "changed", **moved)
    assert holds("status", "changed_to", "Qualified", **moved)
    assert holds("status", "changed_from", "new", **moved)
    assert not holds("status", "changed_from", "Contacted", **moved)
    # an event that says nothing about the field: no change known
    assert not holds("value", "changed", event_type="lead.updated", payload={})
    # a generic before/after payload works for any field (and aliases)
    diff = {"payload": {"before": {"value": 100}, "after": {"value": 200}}}
    assert holds("amount", "changed", event_type="lead.updated", **diff)
    assert holds("value", "changed_from", 100, event_type="lead.updated", **diff)
    # the outcome-only events: "changed to" holds, "changed from" cannot be known
    done = {"event_type": "task.completed", "payload": {}}
    assert holds("status", "changed_to", "done", **done)
    assert not holds("status", "changed_from", "todo", **done)
    stage = {"event_type": "deal.stage_changed", "payload": {"from_stage_id": 1, "to_stage_id": 2}}
    assert holds("stage_id", "changed_to", 2, **stage)


def test_groups_nest_and_trace() -> None:
    tree = {
        "all": [
            {"field": "value", "op": "gt", "value": 10000},
            {
                "any": [
                    {"field": "source", "op": "eq", "value": "referral"},
                    {"not": {"field": "tags", "op": "contains", "value": "cold"}},
                ]
            },
        ]
    }
    ok, trace = evaluate(tree, Subject(dict(LEAD), now=NOW))
    assert ok is True
    inner = trace["children"][1]
    assert inner["group"] == "any" and [c["result"] for c in inner["children"]] == [False, True]
    assert inner["children"][1]["children"][0]["path"] == "conditions.all[1].any[1].not"
    assert evaluate({}, Subject({}))[0] is True


def test_check_collects_every_error_with_its_path() -> None:
    fields = Fields(
        names=frozenset({"value", "status"}), custom_keys=frozenset({"tier"}), aliases={}
    )
    tree = {
        "all": [
            {"field": "value", "op": "gt"},
            {"field": "nope", "op": "eq", "value": 1},
            {"field": "custom.zzz", "op": "is_empty"},
            {"any": "not a list"},
            {"field": "status", "op": "in", "value": "New"},
            {"field": "value", "op": "is_empty", "value": 3},
            {"field": "value", "op": "lt", "value": "now-forever"},
            {"all": [], "any": []},
            {"field": "status", "op": "eq", "value": {"nested": 1}},
            {"field": "status", "op": "eq", "value": "x", "extra": 1},
        ]
    }
    paths = [e["field"] for e in engine.check(tree, fields)]
    assert paths == [
        "conditions.all[0].value",
        "conditions.all[1].field",
        "conditions.all[2].field",
        "conditions.all[3].any",
        "conditions.all[4].value",
        "conditions.all[5].value",
        "conditions.all[6].value",
        "conditions.all[7]",
        "conditions.all[8].value",
        "conditions.all[9].extra",
    ]
    deep: dict[str, object] = {"field": "value", "op": "eq", "value": 1}
    for _ in range(engine.MAX_DEPTH + 2):
        deep = {"not": deep}
    assert "nest" in engine.check(deep, fields)[0]["message"]
    assert engine.check({}, fields) == []


def test_every_operator_is_handled() -> None:
    for op in Op:
        value = [1] if op in (Op.in_, Op.not_in) else 1
        holds("value", op.value, value, event_type="lead.updated", payload={})


def test_templates_render_values_only() -> None:
    ctx = {"record": {"name": "Acme", "value": 20000.0}, "event": {}, "rule": {}, "link": "/x"}
    assert templating.render("Call {{ record.name }} ({{ record.value | int }})", ctx) == (
        "Call Acme (20000)"
    )
    assert templating.render("{{ record.missing | default('n/a') }}", ctx) == "n/a"
    assert templating.problem("{{ record.name | upper }}") is None
    for bad in (
        "{% for x in record %}{% endfor %}",
        "{{ record.name.upper() }}",
        "{{ 9 ** 9 ** 9 }}",
        "{{ record.__class__ }}",
        "{{ cycler }}",
        "{{ record.name | attr('x') }}",
        "{{ record.name",
    ):
        assert templating.problem(bad), bad


def test_triggers() -> None:
    assert triggers.event_problem("lead.status_changed") is None
    assert triggers.event_problem("*.created") is None
    assert triggers.event_problem("lead.statuschanged")
    assert triggers.event_problem("Lead Created")
    assert triggers.entity_of_pattern("lead.*") == "lead"
    assert triggers.entity_of_pattern("*.created") is None
    assert triggers.cron_problem("0 9 * * 1-5") is None
    assert triggers.cron_problem("0 0 9 * * 1-5")  # six fields
    assert triggers.cron_problem("61 * * * *")
    assert "never" in (triggers.cron_problem("0 9 31 2 *") or "")
    friday = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)  # a Friday, 10:30 in Paris
    nxt = triggers.next_run("0 9 * * 1-5", "Europe/Paris", friday)
    assert nxt == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 Paris
