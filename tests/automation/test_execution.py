"""Rules running for real: events → the automation consumer → one job per run → actions through
the domain services, on the test server's embedded worker."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from aicrm.automation import service
from aicrm.db import Database
from aicrm.events import emit
from aicrm.jobs import backend, registry
from aicrm.jobs.backend import EVENTS_KEY
from aicrm.kit.principal import system_principal
from aicrm.models import EmailOutbox, Job
from tests.automation.helpers import (
    RULES,
    create_rule,
    poll,
    qualified_rule,
    runs,
    sales_org,
    settled,
    wait_runs,
)
from tests.fixtures.factories import Account, create, member, register


async def _tasks_of_lead(client: httpx.AsyncClient, acc: Account, lead_id: int) -> list[dict]:
    r = await client.get("/api/v1/tasks", params={"lead_id": lead_id}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _move(client: httpx.AsyncClient, acc: Account, lead_id: int, status: str) -> None:
    r = await client.put(
        f"/api/v1/leads/{lead_id}/status", json={"status": status}, headers=acc.headers
    )
    assert r.status_code == 200, r.text


async def _lead(client: httpx.AsyncClient, acc: Account, lead_id: int) -> dict:
    r = await client.get(f"/api/v1/leads/{lead_id}", headers=acc.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_big_qualified_lead_gets_a_team_task_and_the_manager_is_told(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await sales_org(client)
    owner = org.owner
    # the manager and rep A are busy, so the least-loaded member of the team is rep B
    for acc in (org.manager, org.manager, org.rep_a):
        await create(client, owner, "/api/v1/tasks", {"title": "busy", "assignee_id": acc.user_id})
    rule = await create_rule(client, owner, qualified_rule(org.team_id))
    big = await create(client, owner, "/api/v1/leads", {"name": "Big Co", "value": 20000})
    small = await create(client, owner, "/api/v1/leads", {"name": "Small Co", "value": 5000})

    await _move(client, owner, big["id"], "Qualified")
    await _move(client, owner, small["id"], "Qualified")

    tasks = await poll(
        lambda: _tasks_of_lead(client, owner, big["id"]), bool, what="the rule's task"
    )
    assert len(tasks) == 1
    task = tasks[0]
    assert task["title"] == "Call Big Co (20000)"
    assert task["assignee_id"] == org.rep_b.user_id
    assert task["team_id"] == org.team_id
    assert task["priority"] == "high"
    assert task["due_at"] is not None

    # the team's manager is notified (through the notifications API, as that user)
    async def manager_inbox() -> list[dict]:
        r = await client.get("/api/v1/notifications", headers=org.manager.headers)
        assert r.status_code == 200, r.text
        return [n for n in r.json()["items"] if n.get("entity_id") == big["id"]]

    notes = await poll(manager_inbox, bool, what="the manager's notification")
    assert notes[0]["title"] == "Qualified: Big Co"
    assert notes[0]["type"] == "automation.notify"
    # the reps are not managers: nothing for them
    r = await client.get("/api/v1/notifications", headers=org.rep_b.headers)
    assert not [n for n in r.json()["items"] if n.get("entity_id") == big["id"]]

    await settled(db)
    log = await runs(client, owner, rule["id"])
    by_lead = {r["entity_id"]: r for r in log}
    assert by_lead[big["id"]]["status"] == "matched"
    actions = [s for s in by_lead[big["id"]]["log"] if s["step"] == "action"]
    assert [a["type"] for a in actions] == ["create_task", "notify"]
    assert actions[0]["details"]["task_id"] == task["id"]
    assert actions[1]["details"]["notified"] == [org.manager.user_id]
    # the 5,000 lead moved to Qualified too, but its value fails the condition: no task
    small_run = by_lead[small["id"]]
    assert small_run["status"] == "skipped" and small_run["matched"] is False
    trace = next(s for s in small_run["log"] if s["step"] == "conditions")["trace"]
    assert [c["result"] for c in trace["children"]] == [True, False]
    assert trace["children"][1]["actual"] == 5000
    assert await _tasks_of_lead(client, owner, small["id"]) == []

    got = (await client.get(f"{RULES}/{rule['id']}", headers=owner.headers)).json()
    assert got["run_count"] == 1 and got["last_run_at"] is not None

    # the rule's own task event carries the rule in its origin (so it cannot re-trigger it)
    r = await client.get(
        "/api/v1/audit-log",
        params={"entity_type": "task", "entity_id": task["id"]},
        headers=owner.headers,
    )
    assert r.status_code == 200
    assert r.json()["items"][0]["actor_user_id"] is None  # made by the organization itself


async def test_rules_that_would_loop_stop(client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="Loop Co")
    # two rules ping-ponging a lead between Contacted and Qualified
    ping = await create_rule(
        client,
        owner,
        {
            "name": "ping",
            "trigger": {"type": "event", "event": "lead.status_changed"},
            "conditions": {"field": "status", "op": "changed_to", "value": "Contacted"},
            "actions": [{"type": "set_field", "field": "status", "value": "Qualified"}],
        },
    )
    pong = await create_rule(
        client,
        owner,
        {
            "name": "pong",
            "trigger": {"type": "event", "event": "lead.status_changed"},
            "conditions": {"field": "status", "op": "changed_to", "value": "Qualified"},
            "actions": [{"type": "set_field", "field": "status", "value": "Contacted"}],
        },
    )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Loopy"})
    await _move(client, owner, lead["id"], "Contacted")
    await settled(db)

    ping_runs = await runs(client, owner, ping["id"])
    pong_runs = await runs(client, owner, pong["id"])
    assert sorted(r["status"] for r in ping_runs) == ["matched", "stopped", "stopped"]
    assert sorted(r["status"] for r in pong_runs) == ["matched", "skipped", "stopped"]
    for r in ping_runs + pong_runs:
        if r["status"] == "stopped":
            assert r["error"].startswith("loop stopped")
    assert (await _lead(client, owner, lead["id"]))["status"] == "Contacted"
    # nothing is still going on: the loop really stopped
    before = len(ping_runs) + len(pong_runs)
    await settled(db)
    assert (
        len(await runs(client, owner, ping["id"])) + len(await runs(client, owner, pong["id"]))
        == before
    )


async def test_a_rule_changing_what_triggers_it_runs_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Self Co")
    rule = await create_rule(
        client,
        owner,
        {
            "name": "on every update",
            "trigger": {"type": "event", "event": "lead.updated"},
            "actions": [{"type": "set_field", "field": "priority", "value": "high"}],
        },
    )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Touchy", "priority": "low"})
    r = await client.patch(
        f"/api/v1/leads/{lead['id']}", json={"name": "Touchy 2"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    await settled(db)
    log = await runs(client, owner, rule["id"])
    # its own lead.updated came back with the rule in its origin and was not run again
    assert sorted(r["status"] for r in log) == ["matched", "stopped"]
    stopped = next(r for r in log if r["status"] == "stopped")
    assert "caused by this rule" in stopped["error"]
    assert (await _lead(client, owner, lead["id"]))["priority"] == "high"


async def test_long_chains_stop_at_the_depth_limit(client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="Chain Co")
    names = [f"Step {i}" for i in range(1, 8)]
    for name in names:
        r = await client.post("/api/v1/lead-statuses", json={"name": name}, headers=owner.headers)
        assert r.status_code == 201, r.text
    chain = []
    for i in range(6):  # rule i: when a lead reaches Step i+1, move it to Step i+2
        chain.append(
            await create_rule(
                client,
                owner,
                {
                    "name": f"chain {i}",
                    "trigger": {"type": "event", "event": "lead.status_changed"},
                    "conditions": {"field": "status", "op": "changed_to", "value": names[i]},
                    "actions": [{"type": "set_field", "field": "status", "value": names[i + 1]}],
                },
            )
        )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Chained"})
    await _move(client, owner, lead["id"], names[0])
    await settled(db)
    # five rules ran in a row; the sixth was stopped by the depth limit (5)
    assert (await _lead(client, owner, lead["id"]))["status"] == names[5]
    last = await runs(client, owner, chain[5]["id"])
    stopped = [r for r in last if r["status"] == "stopped"]
    assert stopped and "chain of 5 rules" in stopped[0]["error"]
    assert not [r for r in last if r["status"] == "matched"]


async def test_rate_cap_per_record(client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="Busy Co")
    rule = await create_rule(
        client,
        owner,
        {
            "name": "tell me about every update",
            "trigger": {"type": "event", "event": "lead.updated"},
            "actions": [{"type": "notify", "user_ids": [owner.user_id], "title": "updated"}],
        },
    )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Hot"})
    cap = service.rate_per_minute()
    for i in range(cap + 2):
        r = await client.patch(
            f"/api/v1/leads/{lead['id']}", json={"notes": f"edit {i}"}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
    await settled(db)
    log = await runs(client, owner, rule["id"])
    statuses = [r["status"] for r in log]
    assert statuses.count("matched") == cap
    assert statuses.count("stopped") == 2
    assert "rate limit" in next(r for r in log if r["status"] == "stopped")["error"]
    # the log pages by keyset, newest first, and filters by status
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get(f"{RULES}/{rule['id']}/runs", params=params, headers=owner.headers)
        ).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted((r["id"] for r in log), reverse=True)
    r = await client.get(
        f"{RULES}/{rule['id']}/runs", params={"status": "stopped"}, headers=owner.headers
    )
    assert [x["status"] for x in r.json()["items"]] == ["stopped", "stopped"]


async def test_a_failing_action_rolls_back_the_run_and_is_logged(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Failing Co")
    empty = await create(client, owner, "/api/v1/teams", {"name": "Nobody here"})
    rule = await create_rule(
        client,
        owner,
        {
            "name": "tag then task for an empty team",
            "trigger": {"type": "event", "event": "lead.created"},
            "actions": [
                {"type": "add_tag", "tags": ["seen"]},
                {"type": "create_task", "title": "Call", "team_id": empty["id"]},
            ],
        },
    )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Unlucky"})
    log = await wait_runs(client, owner, rule["id"], bool)
    run = log[0]
    assert run["status"] == "failed"
    assert "no members" in run["error"]
    steps = [s for s in run["log"] if s["step"] == "action"]
    assert [s["status"] for s in steps] == ["rolled back", "failed"]
    # the tag of the first action was rolled back with the failure
    assert (await _lead(client, owner, lead["id"]))["tags"] == []
    r = await client.get(f"/api/v1/automation/runs/{run['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "failed"


async def test_schedule_rule_runs_over_matching_records(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Schedule Co")
    rule = await create_rule(
        client,
        owner,
        {
            "name": "weekday follow-ups",
            "trigger": {
                "type": "schedule",
                "cron": "0 9 * * 1-5",
                "timezone": "Europe/Paris",
                "entity_type": "lead",
                "filter": {"status": "Qualified"},
            },
            "conditions": {"field": "value", "op": "gte", "value": 1000},
            "actions": [{"type": "add_tag", "tags": ["follow-up"]}],
        },
    )
    due = datetime.fromisoformat(rule["next_run_at"])
    assert due.weekday() < 5 and due > datetime.now(due.tzinfo)
    hit = await create(
        client, owner, "/api/v1/leads", {"name": "A", "status": "Qualified", "value": 5000}
    )
    cheap = await create(
        client, owner, "/api/v1/leads", {"name": "B", "status": "Qualified", "value": 500}
    )
    other = await create(client, owner, "/api/v1/leads", {"name": "C", "value": 5000})

    # the periodic job's function, at a pretend time just after the rule is due
    now = due + timedelta(seconds=30)
    for _ in range(2):  # the second pass finds nothing due: the rule was claimed
        session = await db.session()
        try:
            await service.queue_due(session, now)
            await session.commit()
        finally:
            await session.close()
    session = await db.session(write=False)
    try:
        key = f"automation:{rule['id']}:at:{int(due.timestamp())}"
        assert (
            await session.scalar(
                select(func.count()).select_from(Job).where(Job.idempotency_key == key)
            )
            == 1
        )
    finally:
        await session.close()
    moved = (await client.get(f"{RULES}/{rule['id']}", headers=owner.headers)).json()
    assert datetime.fromisoformat(moved["next_run_at"]) > now

    async def tags() -> list[list[str]]:
        return [(await _lead(client, owner, x["id"]))["tags"] for x in (hit, cheap, other)]

    assert await poll(tags, lambda t: t[0] == ["follow-up"], what="the scheduled tag") == [
        ["follow-up"],
        [],
        [],
    ]
    await settled(db)
    log = await runs(client, owner, rule["id"])
    assert [(r["entity_id"], r["status"], r["event_type"]) for r in log] == [
        (hit["id"], "matched", "schedule")
    ]


async def test_call_webhook_posts_the_record_signed(
    client: httpx.AsyncClient, db: Database
) -> None:
    registry.load_job_modules()
    if "webhooks.post" not in registry.JOBS:
        pytest.skip("the webhooks area (webhooks.post job) is not in this build")
    from aicrm.webhooks.signing import SIGNATURE_HEADER, verify
    from tests.webhooks.receiver import Receiver

    owner = await register(client, org="Hook Co")
    viewer = await member(client, owner, "viewer")
    secret = "automation-secret-123"
    async with Receiver() as receiver:
        rule = await create_rule(
            client,
            owner,
            {
                "name": "tell the ERP",
                "trigger": {"type": "event", "event": "lead.created"},
                "actions": [{"type": "call_webhook", "url": receiver.url, "secret": secret}],
            },
        )
        lead = await create(client, owner, "/api/v1/leads", {"name": "Hooked", "value": 7})
        await receiver.wait_for(lambda r: bool(r.succeeded()))
        got = receiver.succeeded()[0]
        body = json.loads(got.body)
        assert body["data"]["record"]["id"] == lead["id"]
        assert body["data"]["rule"] == {"id": rule["id"], "name": "tell the ERP"}
        assert body["data"]["event"]["type"] == "lead.created"
        assert verify(secret, got.headers[SIGNATURE_HEADER.lower()], got.body)
    # the secret is shown to those who manage rules only, and survives a save of the mask
    seen = (await client.get(f"{RULES}/{rule['id']}", headers=viewer.headers)).json()
    assert seen["actions"][0]["secret"] == service.SECRET
    r = await client.patch(
        f"{RULES}/{rule['id']}", json={"actions": seen["actions"]}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["actions"][0]["secret"] == secret
    await settled(db)


async def test_round_robin_owner_and_an_email_to_the_record(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await sales_org(client, "Rotation Co")
    owner = org.owner
    rule = await create_rule(
        client,
        owner,
        {
            "name": "share out new leads and greet them",
            "trigger": {"type": "event", "event": "lead.created"},
            "conditions": {"field": "email", "op": "is_not_empty"},
            "actions": [
                {"type": "assign_owner", "team_id": org.team_id, "strategy": "round_robin"},
                {
                    "type": "send_email",
                    "to": "record",
                    "subject": "Hello {{ record.name }}",
                    "body": "Your contact is {{ record.assignee_id }}.",
                },
            ],
        },
    )
    leads = [
        await create(
            client, owner, "/api/v1/leads", {"name": f"Lead {i}", "email": f"lead{i}@example.com"}
        )
        for i in range(3)
    ]
    await settled(db)
    log = await runs(client, owner, rule["id"])
    assert sorted(r["status"] for r in log) == ["matched"] * 3
    owners = {(await _lead(client, owner, x["id"]))["assignee_id"] for x in leads}
    # three runs in turn: each member of the team got one lead
    assert owners == {org.manager.user_id, org.rep_a.user_id, org.rep_b.user_id}
    session = await db.session(write=False)
    try:
        rows = (
            await session.scalars(
                select(EmailOutbox).where(
                    EmailOutbox.organization_id == owner.organization_id,
                    EmailOutbox.kind == "automation",
                )
            )
        ).all()
    finally:
        await session.close()
    assert sorted(r.to_email for r in rows) == [f"lead{i}@example.com" for i in range(3)]
    by_to = {r.to_email: r for r in rows}
    first = await _lead(client, owner, leads[0]["id"])
    assert by_to["lead0@example.com"].subject == "Hello Lead 0"
    # the template saw the record after the owner was assigned by the action before it
    assert by_to["lead0@example.com"].body == f"Your contact is {first['assignee_id']}."


async def test_the_actions_savepoint_publishes_nothing_before_the_commit(
    client: httpx.AsyncClient, db: Database
) -> None:
    """SQLAlchemy fires after_commit when a savepoint is released: the events queued inside must
    still wait for the real commit, and those of a rolled-back savepoint must never go out."""
    owner = await register(client, org="Savepoint Co")
    principal = system_principal(owner.organization_id)
    backend.install_hooks()
    session = await db.session()
    try:
        await emit(session, principal, "lead.updated", entity_type="lead", entity_id=1)
        async with service.savepoint(session):
            await emit(session, principal, "lead.updated", entity_type="lead", entity_id=2)
        assert [e.entity_id for e in session.info[EVENTS_KEY]] == [1, 2]

        async def failing_action() -> None:
            async with service.savepoint(session):
                await emit(session, principal, "lead.updated", entity_type="lead", entity_id=3)
                await session.flush()
                raise RuntimeError("an action failed")

        with pytest.raises(RuntimeError):
            await failing_action()
        assert [e.entity_id for e in session.info[EVENTS_KEY]] == [1, 2]
    finally:
        await session.rollback()
        await session.close()
