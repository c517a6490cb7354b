"""Shared set-up of the automation tests: an organization with a sales team (a manager and two
reps), rule bodies, and polling for what jobs do after the commit of their cause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select

from aicrm.db import Database
from aicrm.models import Job, OutboxEvent
from tests.fixtures.factories import Account, create, member, register

RULES = "/api/v1/automation/rules"
T = TypeVar("T")


@dataclass
class Org:
    owner: Account
    manager: Account
    rep_a: Account
    rep_b: Account
    team_id: int


async def sales_org(client: httpx.AsyncClient, name: str = "Automation Co") -> Org:
    owner = await register(client, org=name)
    manager = await member(client, owner, "manager")
    rep_a = await member(client, owner, "agent")
    rep_b = await member(client, owner, "agent")
    team = await create(client, owner, "/api/v1/teams", {"name": "Sales", "kind": "sales"})
    for acc, is_manager in ((manager, True), (rep_a, False), (rep_b, False)):
        r = await client.post(
            f"/api/v1/teams/{team['id']}/members",
            json={"user_id": acc.user_id, "is_manager": is_manager},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
    return Org(owner, manager, rep_a, rep_b, team["id"])


def qualified_rule(team_id: int, name: str = "Big qualified leads") -> dict[str, Any]:
    """The issue's rule: when a lead moves to Qualified and value > 10,000, create a task for
    the sales team and notify its manager."""
    return {
        "name": name,
        "trigger": {"type": "event", "event": "lead.status_changed"},
        "conditions": {
            "all": [
                {"field": "status", "op": "changed_to", "value": "Qualified"},
                {"field": "value", "op": "gt", "value": 10000},
            ]
        },
        "actions": [
            {
                "type": "create_task",
                "title": "Call {{ record.name }} ({{ record.value | int }})",
                "team_id": team_id,
                "due_in_days": 1,
                "priority": "high",
            },
            {
                "type": "notify",
                "team_id": team_id,
                "team_scope": "managers",
                "title": "Qualified: {{ record.name }}",
                "body": "Worth {{ record.value }}",
            },
        ],
    }


async def create_rule(client: httpx.AsyncClient, acc: Account, body: dict[str, Any]) -> dict:
    r = await client.post(RULES, json=body, headers=acc.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def runs(client: httpx.AsyncClient, acc: Account, rule_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"{RULES}/{rule_id}/runs", params={"limit": 200}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def poll(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout: float = 20.0,
    what: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never held; last seen: {value}")
        await asyncio.sleep(0.1)


async def wait_runs(
    client: httpx.AsyncClient,
    acc: Account,
    rule_id: int,
    done: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    return await poll(lambda: runs(client, acc, rule_id), done, what=f"runs of rule {rule_id}")


async def settled(db: Database, *, timeout: float = 20.0) -> None:
    """Wait until every committed event went through the consumers and no automation job is
    queued or running (twice in a row: a running consumer may still queue runs)."""
    busy = (
        select(func.count())
        .select_from(Job)
        .where(
            Job.status.in_(("queued", "running")),
            Job.name.in_(("events.consume", "automation.run", "automation.scheduled")),
        )
    )
    unpublished = (
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    )

    async def probe() -> int:
        session = await db.session(write=False)
        try:
            return int((await session.scalar(busy)) or 0) + int(
                (await session.scalar(unpublished)) or 0
            )
        finally:
            await session.close()

    quiet = 0
    deadline = time.monotonic() + timeout
    while quiet < 2:
        quiet = quiet + 1 if await probe() == 0 else 0
        if time.monotonic() > deadline:
            raise AssertionError("the job queue never settled")
        await asyncio.sleep(0.15)
