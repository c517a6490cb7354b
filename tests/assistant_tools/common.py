"""Helpers of the tool tests: run a tool as a member of an organization, make records over HTTP,
and move timestamps back (the only thing done to the database directly: no API sets them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from aicrm.assistant import tools
from aicrm.assistant.tools import Action, ToolContext, ToolResult
from aicrm.assistant.toolset.undo import undo
from aicrm.db import Database
from aicrm.kit.principal import ROLE_PERMISSIONS, Principal, Role
from aicrm.models import Deal
from tests.fixtures.factories import Account, create, member, register

tools.load()


@dataclass
class Caller:
    """Runs tools as `acc` (with `role`) in a fresh transaction each time, committed after."""

    db: Database
    acc: Account
    role: str = "owner"
    timezone: str = "UTC"
    now: datetime | None = None

    @property
    def principal(self) -> Principal:
        role = Role(self.role)
        return Principal(
            organization_id=self.acc.organization_id,
            role=role,
            user_id=self.acc.user_id,
            permissions=ROLE_PERMISSIONS[role],
        )

    def _ctx(self, session: Any, confirmed: bool, now: datetime | None) -> ToolContext:
        return ToolContext(
            session=session,
            principal=self.principal,
            now=now or self.now or datetime.now(UTC),
            timezone=self.timezone,
            confirmed=confirmed,
        )

    async def __call__(
        self,
        tool: str,
        /,
        _confirmed: bool = False,
        _now: datetime | None = None,
        **args: Any,
    ) -> ToolResult:
        session = await self.db.session(write=True)
        try:
            result = await tools.execute(self._ctx(session, _confirmed, _now), tool, args)
            await session.commit()
            return result
        finally:
            await session.close()

    async def undo(self, action: Action) -> ToolResult:
        session = await self.db.session(write=True)
        try:
            result = await undo(self._ctx(session, False, None), action)
            await session.commit()
            return result
        finally:
            await session.close()


def undoable(result: ToolResult) -> Action:
    found = [a for a in result.actions if a.undoable]
    assert len(found) == 1, result.actions
    return found[0]


async def org(
    client: httpx.AsyncClient, db: Database, name: str = "Acme Test", **settings: Any
) -> tuple[Account, Caller]:
    acc = await register(client, org=name, full_name="Olive Owner")
    if settings:
        r = await client.patch("/api/v1/organizations/current", json=settings, headers=acc.headers)
        assert r.status_code == 200, r.text
    return acc, Caller(db, acc, "owner", timezone="UTC")


async def as_member(
    client: httpx.AsyncClient, db: Database, owner: Account, role: str
) -> tuple[Account, Caller]:
    acc = await member(client, owner, role)
    return acc, Caller(db, acc, role)


async def lead(client: httpx.AsyncClient, acc: Account, name: str, **fields: Any) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/leads", {"name": name, **fields})


async def contact(
    client: httpx.AsyncClient, acc: Account, name: str, **fields: Any
) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/contacts", {"name": name, **fields})


async def company(
    client: httpx.AsyncClient, acc: Account, name: str, **fields: Any
) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/companies", {"name": name, **fields})


async def deal(client: httpx.AsyncClient, acc: Account, name: str, **fields: Any) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/deals", {"name": name, **fields})


async def task(
    client: httpx.AsyncClient, acc: Account, title: str, **fields: Any
) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/tasks", {"title": title, **fields})


async def activity(
    client: httpx.AsyncClient, acc: Account, type_: str, **fields: Any
) -> dict[str, Any]:
    return await create(client, acc, "/api/v1/activities", {"type": type_, **fields})


async def get(
    client: httpx.AsyncClient, acc: Account, path: str, status: int = 200
) -> dict[str, Any]:
    r = await client.get(path, headers=acc.headers)
    assert r.status_code == status, r.text
    return r.json() if r.status_code == 200 else {}


async def items(
    client: httpx.AsyncClient, acc: Account, path: str, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(path, params={"limit": 500, **params}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def set_closed_at(db: Database, moments: dict[int, datetime]) -> None:
    session = await db.session(write=True)
    try:
        for deal_id, when in moments.items():
            await session.execute(update(Deal).where(Deal.id == deal_id).values(closed_at=when))
        await session.commit()
    finally:
        await session.close()


async def set_created_at(db: Database, model: Any, ids: Sequence[int], when: datetime) -> None:
    session = await db.session(write=True)
    try:
        await session.execute(update(model).where(model.id.in_(ids)).values(created_at=when))
        await session.commit()
    finally:
        await session.close()
