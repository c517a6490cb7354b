"""Auto-assignment over the API: who gets what and why, capacity, dry run versus execute,
deadline conflicts, permissions and tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import httpx

from aicrm.db import Database
from tests.ai_workload.common import (
    auto_assign,
    by_task,
    completed_earlier,
    get_task,
    iso,
    task,
    team,
)
from tests.fixtures.factories import member, register
from tests.notifications.common import wait_for


async def test_billing_task_goes_to_the_billing_member_with_room(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Assign Co")
    alice = await member(client, owner, "agent")
    bob = await member(client, owner, "agent")
    await team(client, owner, "Service", [(alice, ["billing"], 5), (bob, ["technical support"], 5)])
    billing = await task(client, owner, "Refund the March invoice", category="billing")
    login = await task(client, owner, "Customer cannot log in", category="support")
    # words of the title count too when there is no category
    dispute = await task(client, owner, "Invoice dispute from ACME")

    plan = await auto_assign(client, owner)

    assert plan["executed"] is False and plan["pool"] == "teams"
    got = by_task(plan)
    assert got[billing]["assignee_id"] == alice.user_id
    assert got[dispute]["assignee_id"] == alice.user_id
    assert got[login]["assignee_id"] == bob.user_id
    texts = [r["text"] for r in got[billing]["reasons"]]
    assert any("skills: billing" in t for t in texts), texts
    assert any("slots used" in t for t in texts), texts
    assert got[billing]["score"] > got[dispute]["score"] > 0
    assert got[billing]["previous_assignee_id"] is None
    # the owner is in no team: not part of the pool
    assert {p["user_id"] for p in plan["people"]} == {alice.user_id, bob.user_id}
    assert plan["summary"]["assigned"] == 3 and plan["unassignable"] == []


async def test_a_faster_history_wins_between_equal_skills(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Speed Co")
    slow = await member(client, owner, "agent")
    fast = await member(client, owner, "agent")
    await team(client, owner, "Billing", [(slow, ["billing"], 10), (fast, ["billing"], 10)])
    for who, days in ((slow, 6.0), (slow, 5.0), (slow, 7.0), (fast, 0.5), (fast, 0.8)):
        done = await task(
            client, owner, "Old invoice", category="billing", assignee_id=who.user_id, status="done"
        )
        await completed_earlier(db, done, took_days=days)
    new = await task(client, owner, "Chargeback", category="billing")

    got = by_task(await auto_assign(client, owner))

    assert got[new]["assignee_id"] == fast.user_id
    speed = [r["text"] for r in got[new]["reasons"] if r["feature"] == "speed"]
    assert speed and "billing tasks" in speed[0] and "vs team" in speed[0]


async def test_capacity_is_never_exceeded_and_the_rest_is_reported(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Full Co")
    alice = await member(client, owner, "agent")
    bob = await member(client, owner, "agent")
    await team(client, owner, "Billing", [(alice, ["billing"], 2), (bob, [], 2)])
    await task(client, owner, "Already hers", assignee_id=alice.user_id)
    ids = [await task(client, owner, f"Invoice {i}", category="billing") for i in range(6)]

    plan = await auto_assign(client, owner)

    people = {p["user_id"]: p for p in plan["people"]}
    assert people[alice.user_id]["open_before"] == 1
    assert people[alice.user_id]["open_after"] == 2 and people[alice.user_id]["assigned"] == 1
    assert people[bob.user_id]["open_after"] == 2
    for p in plan["people"]:
        assert p["open_after"] <= p["capacity"] and p["load_after"] <= 1.0
    assert len(plan["assignments"]) == 3
    assert len(plan["unassignable"]) == 3
    assert {u["task_id"] for u in plan["unassignable"]} <= set(ids)
    assert all("capacity" in u["reason"] for u in plan["unassignable"])

    capped = await auto_assign(client, owner, max_per_person=1)
    counts: dict[int, int] = {}
    for a in capped["assignments"]:
        counts[a["assignee_id"]] = counts.get(a["assignee_id"], 0) + 1
    assert max(counts.values()) == 1


async def test_dry_run_changes_nothing_and_execute_assigns_with_notifications_and_audit(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Run Co")
    alice = await member(client, owner, "agent")
    await team(client, owner, "Billing", [(alice, ["billing"], 5)])
    t1 = await task(client, owner, "Refund invoice 7", category="billing")
    t2 = await task(client, owner, "Refund invoice 8", category="billing")

    dry = await auto_assign(client, owner)
    assert dry["executed"] is False and dry["insight_id"] is None
    assert (await get_task(client, owner, t1))["assignee_id"] is None
    again = await auto_assign(client, owner)
    assert again["digest"] == dry["digest"]  # same data, same plan

    # a stale digest applies nothing and answers with the new plan
    r = await client.post(
        f"/api/v1/workspaces/{owner.organization_id}/tasks/auto-assign",
        json={"execute": True, "digest": "0000000000000000"},
        headers=owner.headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["plan"]["digest"] == dry["digest"]
    assert (await get_task(client, owner, t1))["assignee_id"] is None

    done = await auto_assign(client, owner, execute=True, digest=dry["digest"])
    assert done["executed"] is True and isinstance(done["insight_id"], int)
    for t in (t1, t2):
        assert (await get_task(client, owner, t))["assignee_id"] == alice.user_id
    items = await wait_for(client, alice, lambda items: {i["entity_id"] for i in items} >= {t1, t2})
    assert all(i["type"] == "task.assigned" for i in items)
    audit = await client.get(
        "/api/v1/audit-log", params={"entity_type": "task", "entity_id": t1}, headers=owner.headers
    )
    assert any(e["after"].get("assignee_id") == alice.user_id for e in audit.json()["items"])
    ai = await client.get(
        "/api/v1/audit-log", params={"action": "ai.workload"}, headers=owner.headers
    )
    entries = ai.json()["items"]
    assert entries and entries[0]["after"]["insight_id"] == done["insight_id"]
    assert entries[0]["after"]["inputs"]["scope"] == "unassigned"

    # nothing left unassigned: the next plan is empty
    assert (await auto_assign(client, owner))["assignments"] == []


async def test_a_due_date_that_cannot_be_met_is_a_conflict(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Late Co")
    alice = await member(client, owner, "agent")
    await team(client, owner, "Ops", [(alice, [], 10)])
    # 30 hours of work due in 20 hours: no queue can make it
    late = await task(
        client, owner, "Rebuild the data import", due_at=iso(timedelta(hours=20)), estimate_hours=30
    )
    fine = await task(
        client, owner, "Send the welcome pack", due_at=iso(timedelta(days=20)), estimate_hours=1
    )

    plan = await auto_assign(client, owner)

    got = by_task(plan)
    assert got[late]["deadline_conflict"] is True and got[fine]["deadline_conflict"] is False
    conflicts = {c["task_id"]: c for c in plan["conflicts"]}
    assert late in conflicts and fine not in conflicts
    c = conflicts[late]
    assert c["planned"] is True and c["assignee_id"] == alice.user_id
    assert c["hours_needed"] >= 30 > c["hours_available"]
    assert any(r["feature"] == "deadline" for r in got[late]["reasons"])


async def test_scope_open_rebalances_but_keeps_fitting_assignments(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Balance Co")
    alice = await member(client, owner, "agent")
    bob = await member(client, owner, "agent")
    await team(client, owner, "Team", [(alice, ["billing"], 3), (bob, ["billing"], 3)])
    mine = [
        await task(client, owner, f"Invoice {i}", category="billing", assignee_id=alice.user_id)
        for i in range(3)
    ]

    plan = await auto_assign(client, owner, scope="open")

    got = by_task(plan)
    assert set(got) == set(mine)
    assert all(got[t]["previous_assignee_id"] == alice.user_id for t in mine)
    moved = [t for t in mine if got[t]["assignee_id"] == bob.user_id]
    assert 1 <= len(moved) <= 2  # spread out, without moving everything
    kept = [t for t in mine if got[t]["assignee_id"] == alice.user_id]
    assert any(r["feature"] == "keep" for r in got[kept[0]]["reasons"])


async def test_without_teams_everyone_who_may_write_is_in_the_pool(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Solo Co")
    agent = await member(client, owner, "agent")
    viewer = await member(client, owner, "viewer")
    await task(client, owner, "Anything")
    plan = await auto_assign(client, owner)
    assert plan["pool"] == "members"
    pool = {p["user_id"] for p in plan["people"]}
    assert {owner.user_id, agent.user_id} <= pool and viewer.user_id not in pool


async def test_viewer_may_preview_but_not_execute(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="View Co")
    viewer = await member(client, owner, "viewer")
    t = await task(client, owner, "Something")
    assert (await auto_assign(client, viewer))["executed"] is False
    r = await client.post(
        f"/api/v1/workspaces/{owner.organization_id}/tasks/auto-assign",
        json={"execute": True},
        headers=viewer.headers,
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await get_task(client, owner, t))["assignee_id"] is None


async def test_other_workspace_is_not_found_and_bad_input_names_the_field(
    client: httpx.AsyncClient,
) -> None:
    a = await register(client, org="Tenant A")
    b = await register(client, org="Tenant B")
    theirs = await task(client, b, "B's task")
    for path in ("tasks/auto-assign", "optimize"):
        r = await client.post(
            f"/api/v1/workspaces/{b.organization_id}/{path}", json={}, headers=a.headers
        )
        assert r.status_code == 404, (path, r.text)

    async def field_of(body: dict[str, object]) -> str:
        r = await client.post(
            f"/api/v1/workspaces/{a.organization_id}/tasks/auto-assign",
            json=body,
            headers=a.headers,
        )
        assert r.status_code == 422, r.text
        return str(r.json()["errors"][0]["field"])

    assert await field_of({"scope": "everything"}) == "scope"
    assert await field_of({"task_ids": [theirs]}) == "task_ids"  # another tenant's task
    assert await field_of({"team_id": 2**40}) == "team_id"
    assert await field_of({"max_per_person": -1}) == "max_per_person"
    assert await field_of({"colour": "red"}) == "colour"
