"""Helpers of the workload tests: teams with skills and capacity, plans, and moving records'
timestamps back (the only thing done to the database directly)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from aicrm.db import Database
from aicrm.models import AuditLog, Deal, Task
from tests.fixtures.factories import Account, create


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).replace(microsecond=0).isoformat()


async def team(
    client: httpx.AsyncClient,
    owner: Account,
    name: str,
    members: Sequence[tuple[Account, list[str], int]],
) -> int:
    """A team of `members` given as (account, skills, capacity)."""
    team_id = (await create(client, owner, "/api/v1/teams", {"name": name}))["id"]
    for acc, skills, capacity in members:
        await create(
            client,
            owner,
            f"/api/v1/teams/{team_id}/members",
            {"user_id": acc.user_id, "skills": skills, "capacity": capacity},
        )
    return int(team_id)


async def task(client: httpx.AsyncClient, acc: Account, title: str, **fields: Any) -> int:
    return int((await create(client, acc, "/api/v1/tasks", {"title": title, **fields}))["id"])


async def auto_assign(
    client: httpx.AsyncClient, acc: Account, *, status: int = 200, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/workspaces/{acc.organization_id}/tasks/auto-assign",
        json=body,
        headers=acc.headers,
    )
    assert r.status_code == status, r.text
    return dict(r.json())


async def optimize(client: httpx.AsyncClient, acc: Account, **body: Any) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/workspaces/{acc.organization_id}/optimize", json=body, headers=acc.headers
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def get_task(client: httpx.AsyncClient, acc: Account, task_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}", headers=acc.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def by_task(plan: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {a["task_id"]: a for a in plan["assignments"]}


async def age_deals(db: Database, deal_ids: Sequence[int], days: float) -> None:
    """Make deals look created — and moved into their stage — `days` ago."""
    when = datetime.now(UTC) - timedelta(days=days)
    session = await db.session(write=True)
    try:
        await session.execute(update(Deal).where(Deal.id.in_(deal_ids)).values(created_at=when))
        await session.execute(
            update(AuditLog)
            .where(AuditLog.entity_type == "deal", AuditLog.entity_id.in_(deal_ids))
            .values(created_at=when)
        )
        await session.commit()
    finally:
        await session.close()


async def completed_earlier(db: Database, task_id: int, *, took_days: float) -> None:
    """A done task that took `took_days` from creation to completion, a month ago."""
    done = datetime.now(UTC) - timedelta(days=30)
    session = await db.session(write=True)
    try:
        await session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(created_at=done - timedelta(days=took_days), completed_at=done)
        )
        await session.commit()
    finally:
        await session.close()
