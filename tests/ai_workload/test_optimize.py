"""Pattern insights over the API and the scheduled job: a seeded bottleneck (deals stuck in a
stage), overdue work and a workload imbalance are found, stored once, and come with
recommendations; the web panel shows them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from aicrm.db import Database
from aicrm.jobs import enqueue
from aicrm.models import Job
from tests.ai_workload.common import age_deals, iso, optimize, task, team
from tests.fixtures.factories import Account, create, member, register
from tests.web.test_pages import csrf_of, web_login


async def _seed(client: httpx.AsyncClient, db: Database) -> tuple[Account, Account, Account]:
    owner = await register(client, org="Patterns Co")
    alice = await member(client, owner, "agent")
    bob = await member(client, owner, "agent")
    await team(client, owner, "Sales", [(alice, ["sales"], 4), (bob, ["sales"], 10)])
    stuck = [
        (
            await create(
                client,
                owner,
                "/api/v1/deals",
                {
                    "name": f"Stuck {i}",
                    "stage": "Proposal",
                    "amount": 1000,
                    "owner_id": alice.user_id,
                },
            )
        )["id"]
        for i in range(4)
    ]
    for i in range(4):
        await create(
            client, owner, "/api/v1/deals", {"name": f"Moving {i}", "stage": "Qualification"}
        )
    await age_deals(db, stuck, days=40)
    for i in range(6):
        await task(client, owner, f"Call {i}", assignee_id=alice.user_id)
    for i in range(3):
        await task(
            client, owner, f"Late {i}", assignee_id=bob.user_id, due_at=iso(timedelta(days=-10))
        )
    return owner, alice, bob


def _checks(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in result["findings"]}


async def test_optimize_finds_stuck_deals_overdue_work_and_imbalance(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, alice, bob = await _seed(client, db)

    result = await optimize(client, owner)

    found = _checks(result)
    stage = found["deal_stage"]
    assert stage["kind"] == "bottleneck" and stage["new"] is True
    assert stage["data"]["stage"] == "Proposal" and stage["data"]["stuck"] == 4
    assert stage["data"]["median_days"] >= 39
    assert "Proposal" in stage["title"]
    imbalance = found["imbalance"]
    assert imbalance["kind"] == "workload"
    assert alice.user_id in imbalance["data"]["over_capacity"]
    assert any(m["from_user_id"] == alice.user_id for m in imbalance["data"]["moves"])
    overdue = found["overdue_tasks"]
    assert overdue["entity_type"] == "user" and overdue["entity_id"] == bob.user_id
    categories = {r["category"] for r in result["recommendations"]}
    assert {"bottleneck_resolution", "resource_reallocation", "process_improvement"} <= categories
    assert all(isinstance(r["insight_id"], int) for r in result["recommendations"])
    assert {s["check"] for s in result["skipped"]} >= {"negative_sentiment", "inbound_drop"}

    # stored once: a second run finds the same things without storing them again
    again = _checks(await optimize(client, owner))
    for check in ("deal_stage", "imbalance", "overdue_tasks"):
        assert again[check]["new"] is False
        assert again[check]["insight_id"] == found[check]["insight_id"]

    # each finding is an audited AI decision
    audit = await client.get(
        "/api/v1/audit-log", params={"action": "ai.bottleneck"}, headers=owner.headers
    )
    assert len(audit.json()["items"]) == 2

    # a viewer reads insights but cannot run the scans
    viewer = await member(client, owner, "viewer")
    r = await client.post(
        f"/api/v1/workspaces/{owner.organization_id}/optimize", json={}, headers=viewer.headers
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/workspaces/{owner.organization_id}/optimize",
        json={"checks": ["nonsense"]},
        headers=owner.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "checks"


async def _run_job(db: Database, name: str, org_id: int | None) -> dict[str, Any]:
    session = await db.session(write=True)
    try:
        job = await enqueue(session, name, {}, organization_id=org_id)
        assert job is not None
        await session.commit()
        job_id = job.id
    finally:
        await session.close()
    deadline = time.monotonic() + 20
    while True:
        session = await db.session(write=False)
        try:
            row = await session.get(Job, job_id)
        finally:
            await session.close()
        assert row is not None
        if row.status == "succeeded":
            return dict(row.result or {})
        assert row.status in ("queued", "running"), (row.status, row.last_error)
        assert time.monotonic() < deadline, "the job never ran"
        await asyncio.sleep(0.1)


async def test_scheduled_scan_stores_findings_per_organization(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner, _, _ = await _seed(client, db)
    await _run_job(db, "ai.scan_patterns", None)
    session = await db.session(write=False)
    try:
        queued = await session.scalar(
            select(func.count(Job.id)).where(
                Job.name == "ai.scan_workspace", Job.organization_id == owner.organization_id
            )
        )
    finally:
        await session.close()
    assert queued and queued >= 1
    result = await _run_job(db, "ai.scan_workspace", owner.organization_id)
    assert result["findings"] >= 3
    # the periodic fan-out may have stored them first; either way they are stored now, once
    found = _checks(await optimize(client, owner))
    assert found["deal_stage"]["new"] is False and found["imbalance"]["new"] is False


async def test_tasks_page_shows_insights_and_the_auto_assign_plan(
    client: httpx.AsyncClient, db: Database, base_url: str
) -> None:
    owner, _, _ = await _seed(client, db)
    await optimize(client, owner)
    unassigned = await task(client, owner, "Pitch the new plan", category="sales")
    c = await web_login(base_url, owner)
    try:
        page = (await c.get("/tasks")).text
        assert 'id="workspace-insights"' in page and "stuck in Proposal" in page
        assert 'hx-get="/tasks/auto-assign"' in page

        hx = {"HX-Request": "true", "X-CSRF-Token": csrf_of(c)}
        plan = await c.get("/tasks/auto-assign", headers={"HX-Request": "true"})
        assert plan.status_code == 200
        assert "Pitch the new plan" in plan.text and "skills: sales" in plan.text
        r = await client.get(f"/api/v1/tasks/{unassigned}", headers=owner.headers)
        assert r.json()["assignee_id"] is None  # showing the plan changes nothing

        digest = plan.text.split('name="digest" value="', 1)[1].split('"', 1)[0]
        done = await c.post(
            "/tasks/auto-assign", data={"digest": digest, "scope": "unassigned"}, headers=hx
        )
        assert done.status_code == 200, done.text
        assert "tasksChanged" in done.headers.get("HX-Trigger", "")
        r = await client.get(f"/api/v1/tasks/{unassigned}", headers=owner.headers)
        assert r.json()["assignee_id"] is not None

        insight_id = (await optimize(client, owner))["findings"][0]["insight_id"]
        panel = await c.get("/tasks/insights", headers={"HX-Request": "true"})
        assert f'id="insight-{insight_id}"' in panel.text
        r = await client.post(
            f"/api/v1/ai/insights/{insight_id}/dismiss", json={}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        panel = await c.get("/tasks/insights", headers={"HX-Request": "true"})
        assert f'id="insight-{insight_id}"' not in panel.text
    finally:
        await c.aclose()
