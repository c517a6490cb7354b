"""The rules API: contract, validation errors that name their path, permissions, tenancy,
optimistic concurrency and dry runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aicrm.jobs import registry
from tests.automation.helpers import RULES, create_rule, qualified_rule, runs, sales_org
from tests.fixtures.factories import create, member, register


def _fields(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in r.json()["errors"]}


async def test_rule_contract_update_and_delete(client: httpx.AsyncClient) -> None:
    org = await sales_org(client, "Contract Co")
    owner = org.owner
    rule = await create_rule(client, owner, qualified_rule(org.team_id))
    assert rule["event_type"] == "lead.status_changed"
    assert rule["schedule"] is None and rule["next_run_at"] is None
    assert rule["enabled"] is True and rule["version"] == 1 and rule["run_count"] == 0
    assert rule["created_by_id"] == owner.user_id
    # actions come back normalised with their defaults
    assert rule["actions"][0]["strategy"] == "least_loaded"
    assert rule["actions"][1]["owner"] is False

    listed = (await client.get(RULES, headers=owner.headers)).json()
    assert [r["id"] for r in listed["items"]] == [rule["id"]]
    r = await client.get(f"{RULES}/{rule['id']}", headers=owner.headers)
    assert r.headers["etag"] == '"1"'

    # stale If-Match: 412; current: applied, version bumps
    r = await client.patch(
        f"{RULES}/{rule['id']}",
        json={"enabled": False},
        headers={**owner.headers, "If-Match": '"7"'},
    )
    assert r.status_code == 412, r.text
    r = await client.patch(
        f"{RULES}/{rule['id']}",
        json={"enabled": False, "name": "Renamed"},
        headers={**owner.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["enabled"] is False
    assert (await client.get(RULES, params={"enabled": "true"}, headers=owner.headers)).json()[
        "items"
    ] == []

    # switching to a schedule trigger re-validates the conditions against leads and schedules it
    r = await client.patch(
        f"{RULES}/{rule['id']}",
        json={
            "enabled": True,
            "trigger": {"type": "schedule", "cron": "*/5 * * * *", "entity_type": "lead"},
            "conditions": {"field": "value", "op": "gt", "value": 100},
        },
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == "*/5 * * * *" and r.json()["next_run_at"] is not None
    assert r.json()["event_type"] is None

    audit = await client.get(
        "/api/v1/audit-log",
        params={"entity_type": "automation_rule", "entity_id": rule["id"]},
        headers=owner.headers,
    )
    assert [e["action"] for e in audit.json()["items"]] == ["update", "update", "create"]

    r = await client.delete(f"{RULES}/{rule['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert (await client.get(f"{RULES}/{rule['id']}", headers=owner.headers)).status_code == 404


async def test_validation_errors_name_the_path(client: httpx.AsyncClient) -> None:
    org = await sales_org(client, "Strict Co")
    owner = org.owner
    body: dict[str, Any] = {
        "name": "broken",
        "trigger": {"type": "event", "event": "lead.statuschanged"},
        "conditions": {
            "all": [
                {"field": "value", "op": "gt", "value": 1},
                {"field": "value", "op": "bigger", "value": 1},
                {"any": [{"field": "nope", "op": "eq", "value": 1}]},
            ]
        },
        "actions": [{"type": "create_task", "title": "x"}],
    }
    errors = _fields(await client.post(RULES, json=body, headers=owner.headers))
    assert "trigger.event" in errors
    assert "conditions.all[1].op" in errors

    body["trigger"] = {"type": "event", "event": "lead.*"}
    body["actions"] = [
        {"type": "create_task", "title": "Call {{ record.name"},
        {"type": "set_field", "field": "colour", "value": "red"},
        {"type": "set_field", "field": "value", "value": "lots"},
        {"type": "set_field", "field": "status", "value": "Nope"},
        {"type": "notify", "title": "hi", "team_id": 999999},
        {"type": "assign_owner"},
        {"type": "fly"},
        {"type": "add_tag", "tags": []},
        {"type": "send_email", "to": "not-an-address", "subject": "s", "body": "b"},
        {"type": "create_task", "title": "{{ record.__class__ }}{% for x in y %}{% endfor %}"},
    ]
    errors = _fields(await client.post(RULES, json=body, headers=owner.headers))
    assert "conditions.all[2].any[0].field" in errors  # leads have no field "nope"
    assert "template error" in errors["actions[0].title"]
    assert "colour" in errors["actions[1].field"]
    assert "actions[2].value" in errors
    assert "unknown status" in errors["actions[3].value"]
    assert "does not exist" in errors["actions[4].team_id"]
    assert "actions[5].user_id" in errors
    assert "actions[6].type" in errors
    assert "actions[7].tags" in errors
    assert "actions[8].to" in errors
    assert "is not a field" in errors["actions[9].title"]

    schedule = {
        "name": "bad schedule",
        "trigger": {
            "type": "schedule",
            "cron": "every monday",
            "timezone": "Mars/Olympus",
            "entity_type": "lead",
            "filter": {"colour": "red"},
        },
        "actions": [{"type": "add_tag", "tags": ["x"]}],
    }
    errors = _fields(await client.post(RULES, json=schedule, headers=owner.headers))
    assert {"trigger.cron", "trigger.timezone", "trigger.filter.colour"} <= set(errors)

    missing = {"name": "no trigger type", "trigger": {"event": "lead.created"}, "actions": []}
    errors = _fields(await client.post(RULES, json=missing, headers=owner.headers))
    assert {"trigger.type", "actions"} <= set(errors)


async def test_actions_of_capabilities_not_in_this_build(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Future Co")
    registry.load_job_modules()
    cases = {
        "start_followup_sequence": ({"sequence_id": 1}, "followups.start"),
        "request_ai_scoring": ({}, "ai.score_lead"),
        "call_webhook": ({"url": "http://127.0.0.1:9/hook"}, "webhooks.post"),
    }
    for type_, (extra, job_name) in cases.items():
        body = {
            "name": type_,
            "trigger": {"type": "event", "event": "lead.created"},
            "actions": [{"type": type_, **extra}],
        }
        r = await client.post(RULES, json=body, headers=owner.headers)
        if job_name in registry.JOBS:
            assert r.status_code == 201, r.text
        else:
            assert "not available in this build" in _fields(r)["actions[0].type"]


async def test_roles_and_permissions(client: httpx.AsyncClient) -> None:
    org = await sales_org(client, "Roles Co")
    owner = org.owner
    rule = await create_rule(client, owner, qualified_rule(org.team_id))
    viewer = await member(client, owner, "viewer")
    admin = await member(client, owner, "admin")
    lead = await create(client, owner, "/api/v1/leads", {"name": "L", "value": 50000})
    body = qualified_rule(org.team_id, "another")
    for acc in (viewer, org.rep_a, org.manager):
        # reading and trying rules: every member; writing them: settings permission only
        assert (await client.get(RULES, headers=acc.headers)).status_code == 200
        assert (
            await client.get(f"{RULES}/{rule['id']}/runs", headers=acc.headers)
        ).status_code == 200
        r = await client.post(
            f"{RULES}/{rule['id']}/dry-run",
            json={"entity_type": "lead", "entity_id": lead["id"]},
            headers=acc.headers,
        )
        assert r.status_code == 200, r.text
        assert (await client.post(RULES, json=body, headers=acc.headers)).status_code == 403
        assert (
            await client.patch(f"{RULES}/{rule['id']}", json={"name": "x"}, headers=acc.headers)
        ).status_code == 403
        assert (
            await client.delete(f"{RULES}/{rule['id']}", headers=acc.headers)
        ).status_code == 403
    assert (await client.post(RULES, json=body, headers=admin.headers)).status_code == 201


async def test_other_tenants_see_nothing(client: httpx.AsyncClient) -> None:
    org = await sales_org(client, "Tenant A")
    a = org.owner
    b = await register(client, org="Tenant B")
    rule = await create_rule(client, a, qualified_rule(org.team_id))
    lead_a = await create(client, a, "/api/v1/leads", {"name": "A's lead"})
    rid = rule["id"]
    assert (await client.get(RULES, headers=b.headers)).json()["items"] == []
    for method, path, body in (
        ("GET", f"{RULES}/{rid}", None),
        ("PATCH", f"{RULES}/{rid}", {"name": "mine now"}),
        ("DELETE", f"{RULES}/{rid}", None),
        ("GET", f"{RULES}/{rid}/runs", None),
        ("POST", f"{RULES}/{rid}/dry-run", {"record": {"name": "x"}}),
    ):
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path, r.text)
    # B cannot point its own rules at A's team, nor dry-run on A's records
    errors = _fields(await client.post(RULES, json=qualified_rule(org.team_id), headers=b.headers))
    assert "actions[0].team_id" in errors and "actions[1].team_id" in errors
    own = await create_rule(
        client,
        b,
        {
            "name": "b's",
            "trigger": {"type": "event", "event": "lead.created"},
            "actions": [{"type": "add_tag", "tags": ["b"]}],
        },
    )
    r = await client.post(
        f"{RULES}/{own['id']}/dry-run",
        json={"entity_type": "lead", "entity_id": lead_a["id"]},
        headers=b.headers,
    )
    assert r.status_code == 404
    assert (await client.get(f"{RULES}/{rid}", headers=a.headers)).json()["name"] == rule["name"]


async def test_dry_run_traces_and_writes_nothing(client: httpx.AsyncClient) -> None:
    org = await sales_org(client, "Dry Co")
    owner = org.owner
    rule = await create_rule(client, owner, qualified_rule(org.team_id))
    big = await create(
        client, owner, "/api/v1/leads", {"name": "Big", "value": 20000, "status": "Qualified"}
    )
    small = await create(client, owner, "/api/v1/leads", {"name": "Small", "value": 5000})
    url = f"{RULES}/{rule['id']}/dry-run"

    r = await client.post(
        url, json={"entity_type": "lead", "entity_id": big["id"]}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["matched"] is True and out["written"] is False
    # with no event given, the trigger's event is pretended: the lead just reached its status
    assert out["event"] == {
        "type": "lead.status_changed",
        "payload": {"from": None, "to": "Qualified"},
    }
    status, value = out["trace"]["children"]
    assert status["result"] is True and status["after"] == "Qualified"
    assert value == {
        "path": "conditions.all[1]",
        "field": "value",
        "op": "gt",
        "value": 10000,
        "actual": 20000.0,
        "result": True,
    }
    task, note = out["actions"]
    assert task["type"] == "create_task" and task["details"]["title"] == "Call Big (20000)"
    members = {org.manager.user_id, org.rep_a.user_id, org.rep_b.user_id}
    assert task["details"]["assignee_id"] in members
    assert task["details"]["lead_id"] == big["id"]
    assert note["details"]["user_ids"] == [org.manager.user_id]

    # an explicit event: it came from Qualified, so "changed to Qualified" does not hold
    r = await client.post(
        url,
        json={
            "entity_type": "lead",
            "entity_id": small["id"],
            "event": {"type": "lead.status_changed", "payload": {"from": "New", "to": "Contacted"}},
        },
        headers=owner.headers,
    )
    out = r.json()
    assert out["matched"] is False
    assert [c["result"] for c in out["trace"]["children"]] == [False, False]

    # a sample record instead of a stored one
    r = await client.post(
        url,
        json={"record": {"name": "Sample", "value": "15000", "status": "Qualified"}},
        headers=owner.headers,
    )
    assert r.json()["matched"] is True

    # nothing was written: no task, no run in the log
    tasks = (
        await client.get("/api/v1/tasks", params={"lead_id": big["id"]}, headers=owner.headers)
    ).json()["items"]
    assert tasks == []
    assert await runs(client, owner, rule["id"]) == []

    # an unsaved rule: validated like a save, then evaluated
    body = {
        "rule": {
            "name": "draft",
            "trigger": {"type": "event", "event": "lead.*"},
            "conditions": {"any": [{"field": "name", "op": "starts_with", "value": "bi"}]},
            "actions": [{"type": "set_field", "field": "amount", "value": 1}],
        },
        "entity_type": "lead",
        "entity_id": big["id"],
    }
    r = await client.post(f"{RULES}/dry-run", json=body, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["matched"] is True
    assert r.json()["actions"][0]["would"] == "set amount from 20000.0 to 1"
    body["rule"]["actions"] = [{"type": "set_field", "field": "amount", "value": -5}]
    assert "actions[0].value" in _fields(
        await client.post(f"{RULES}/dry-run", json=body, headers=owner.headers)
    )
    body["rule"]["actions"] = [{"type": "add_tag", "tags": ["x"]}]
    body["entity_type"] = "deal"
    assert "entity_type" in _fields(
        await client.post(f"{RULES}/dry-run", json=body, headers=owner.headers)
    )
    r = await client.post(url, json={}, headers=owner.headers)
    assert "entity_id" in _fields(r)


@pytest.mark.parametrize("sort", ["name", "-created_at", "id"])
async def test_rule_list_pages(client: httpx.AsyncClient, sort: str) -> None:
    owner = await register(client, org=f"Pages {sort}")
    made = []
    for i in range(5):
        made.append(
            (
                await create_rule(
                    client,
                    owner,
                    {
                        "name": f"rule {i}",
                        "trigger": {"type": "event", "event": "deal.won"},
                        "actions": [{"type": "add_tag", "tags": ["won"]}],
                    },
                )
            )["id"]
        )
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(RULES, params=params, headers=owner.headers)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)
