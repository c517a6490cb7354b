"""Background producers of notifications: the periodic due-soon scan (once per task), and the
consumer's lead-assignment handler fed by an event written to the outbox."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from aicrm.db import Database
from aicrm.jobs import enqueue
from aicrm.models import Job
from aicrm.notifications.jobs import SCAN_JOB, due_soon_key
from tests.fixtures.factories import create, member, register
from tests.notifications.common import notifications, wait_for


async def _run_scan(db: Database) -> int:
    """Queue a scan like the scheduler does and wait for the server's worker to finish it."""
    session = await db.session(write=True)
    try:
        job = await enqueue(session, SCAN_JOB, {})
        assert job is not None
        await session.commit()
        job_id = job.id
    finally:
        await session.close()
    deadline = time.monotonic() + 15
    while True:
        session = await db.session(write=False)
        try:
            row = await session.get(Job, job_id)
        finally:
            await session.close()
        assert row is not None
        if row.status == "succeeded":
            return int((row.result or {})["queued"])
        assert row.status in ("queued", "running"), (row.status, row.last_error)
        assert time.monotonic() < deadline, "the scan never ran"
        await asyncio.sleep(0.1)


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).replace(microsecond=0).isoformat()


async def test_due_soon_scan_notifies_once_per_task(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Due Co")
    agent = await member(client, owner, "agent")
    soon = await create(
        client,
        owner,
        "/api/v1/tasks",
        {"title": "Renewal call", "assignee_id": agent.user_id, "due_at": _iso(timedelta(hours=2))},
    )
    later = await create(
        client,
        owner,
        "/api/v1/tasks",
        {"title": "Next month", "assignee_id": agent.user_id, "due_at": _iso(timedelta(days=3))},
    )
    done = await create(
        client,
        owner,
        "/api/v1/tasks",
        {
            "title": "Already done",
            "assignee_id": agent.user_id,
            "due_at": _iso(timedelta(hours=1)),
            "status": "done",
        },
    )
    await wait_for(client, agent, lambda items: len(items) == 3)  # the three assignments

    assert await _run_scan(db) >= 1
    items = await wait_for(
        client, agent, lambda items: any(i["type"] == "task.due_soon" for i in items)
    )
    due = [i for i in items if i["type"] == "task.due_soon"]
    assert [i["entity_id"] for i in due] == [soon["id"]]
    assert due[0]["title"] == "Due soon: Renewal call" and due[0]["link"] == f"/tasks/{soon['id']}"

    # the next scans find it again but say nothing new
    await _run_scan(db)
    await _run_scan(db)
    session = await db.session(write=False)
    try:
        keyed = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.idempotency_key == due_soon_key(soon["id"], agent.user_id))
        )
        others = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.idempotency_key.in_(
                    [due_soon_key(t["id"], agent.user_id) for t in (later, done)]
                )
            )
        )
    finally:
        await session.close()
    assert (keyed, others) == (1, 0)
    await asyncio.sleep(0.5)
    items = await notifications(client, agent)
    assert len([i for i in items if i["type"] == "task.due_soon"]) == 1
    assert await notifications(client, owner) == []


async def test_lead_assignment_notifies_the_new_assignee(client: httpx.AsyncClient) -> None:
    """Leads have no dedicated assignment event: lead.created and the `changes` of lead.updated
    tell the consumer who got the lead."""
    owner = await register(client, org="Lead Co", full_name="Lena Lead")
    agent = await member(client, owner, "agent")
    manager = await member(client, owner, "manager")

    def leads_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["type"] == "lead.assigned"]

    created = await create(
        client, owner, "/api/v1/leads", {"name": "Globex", "assignee_id": agent.user_id}
    )
    items = await wait_for(client, agent, lambda items: len(leads_of(items)) == 1)
    n = leads_of(items)[0]
    assert n["title"] == "Lead assigned to you: Globex" and n["entity_id"] == created["id"]
    assert n["body"] == "Lena Lead assigned you this lead."
    assert n["link"] == f"/leads/{created['id']}"

    mine = await create(
        client, owner, "/api/v1/leads", {"name": "Own lead", "assignee_id": owner.user_id}
    )
    other = await create(client, owner, "/api/v1/leads", {"name": "Initech"})
    r = await client.patch(
        f"/api/v1/leads/{other['id']}",
        json={"assignee_id": manager.user_id},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    theirs = await wait_for(client, manager, lambda items: len(leads_of(items)) == 1)
    assert leads_of(theirs)[0]["entity_id"] == other["id"]
    for body in ({"notes": "called them"}, {"assignee_id": agent.user_id}):  # the first: no news
        r = await client.patch(f"/api/v1/leads/{other['id']}", json=body, headers=manager.headers)
        assert r.status_code == 200, r.text
    items = await wait_for(client, agent, lambda items: len(leads_of(items)) == 2)
    assert leads_of(items)[0]["entity_id"] == other["id"]
    assert leads_of(items)[0]["body"].startswith("Manager User assigned")
    assert len(leads_of(await notifications(client, manager))) == 1
    # nobody is told about leads they gave themselves
    assert not [i for i in await notifications(client, owner) if i["entity_id"] == mine["id"]]
