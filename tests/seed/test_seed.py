"""`aicrm seed-demo`: deterministic content, consistent boards and task graphs, valid phones, and
tenant isolation seen through the real API by the demo admin."""

from __future__ import annotations

import asyncio
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import phonenumbers
import pytest
from sqlalchemy import Select, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from aicrm.kit.text import normalize_phone
from aicrm.models import (
    Activity,
    AuditLog,
    Company,
    Contact,
    Deal,
    Lead,
    LeadStatus,
    Organization,
    PipelineStage,
    Task,
    TaskDependency,
)
from aicrm.seed import run_seed
from tests.fixtures.server import LiveServer, prepare_database

E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _fresh_database(backend: str, tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    """An empty, migrated database of its own: the demo's fixed emails and slugs would clash
    with the organizations other tests create in the shared one."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp(name) / 'seed.db'}"
    else:
        base = make_url(os.environ["TEST_DATABASE_URL"])
        dbname = f"{base.database}_{name}"
        assert dbname != "test"

        async def create() -> None:
            engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname}
                )
                if not exists:
                    await conn.execute(text(f'CREATE DATABASE "{dbname}"'))
            await engine.dispose()

        asyncio.run(create())
        url = base.set(database=dbname).render_as_string(hide_password=False)
    prepare_database(url)
    return url


@pytest.fixture(scope="session")
def seeded(backend: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    url = _fresh_database(backend, tmp_path_factory, "seed_a")
    return url, asyncio.run(run_seed(seed=42, database_url=url))


@pytest.fixture(scope="session")
def seeded_again(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _fresh_database(backend, tmp_path_factory, "seed_b")
    asyncio.run(run_seed(seed=42, database_url=url))
    return url


@pytest.fixture(scope="session")
def seeded_server(seeded: tuple[str, dict[str, Any]]) -> Iterator[LiveServer]:
    server = LiveServer(seeded[0])
    server.start()
    yield server
    server.stop()


async def _all(url: str, stmt: Select[Any]) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(stmt)).all())
    finally:
        await engine.dispose()


async def _org_ids(url: str) -> dict[str, int]:
    return {n: i for n, i in await _all(url, select(Organization.name, Organization.id))}


async def test_counts_and_login_are_reported(seeded: tuple[str, dict[str, Any]]) -> None:
    url, result = seeded
    assert result["organization"] == "Northwind Demo"
    assert result["login"] == {"email": "admin@demo.example", "password": "demo-password"}
    counts = result["counts"]
    assert counts["companies"] >= 100
    assert counts["contacts"] >= 450
    assert counts["leads"] >= 140
    assert counts["deals"] >= 70
    assert counts["activities"] >= 1400
    assert counts["tasks"] >= 50
    assert counts["task_dependencies"] > 0
    assert counts["task_comments"] > 0
    assert counts["taggings"] > 0
    assert result["other_organizations"][0]["organization"] == "Globex Demo"
    orgs = await _org_ids(url)
    n = await _all(
        url,
        select(Contact.organization_id, text("count(*)")).group_by(Contact.organization_id),
    )
    assert dict(n) == {
        orgs["Northwind Demo"]: counts["contacts"],
        orgs["Globex Demo"]: result["other_organizations"][0]["counts"]["contacts"],
    }
    seeds = await _all(url, select(AuditLog.organization_id).where(AuditLog.action == "seed"))
    assert sorted(r[0] for r in seeds) == sorted(orgs.values())


async def test_same_seed_gives_same_content(
    seeded: tuple[str, dict[str, Any]], seeded_again: str
) -> None:
    again = seeded_again
    stmt = select(
        Contact.name, Contact.email, Contact.phone, Contact.status, Contact.lifetime_value
    ).order_by(Contact.id)
    first, second = await _all(seeded[0], stmt), await _all(again, stmt)
    assert len(first) >= 500
    assert first == second
    leads = select(Lead.name, Lead.company, Lead.value, Lead.card_order).order_by(Lead.id)
    assert await _all(seeded[0], leads) == await _all(again, leads)
    deals = select(Deal.name, Deal.amount, Deal.status).order_by(Deal.id)
    assert await _all(seeded[0], deals) == await _all(again, deals)


async def test_every_column_has_cards_in_dense_order(seeded: tuple[str, dict[str, Any]]) -> None:
    url = seeded[0]
    for org_id in (await _org_ids(url)).values():
        statuses = await _all(
            url, select(LeadStatus.id).where(LeadStatus.organization_id == org_id)
        )
        leads = await _all(
            url, select(Lead.status_id, Lead.card_order).where(Lead.organization_id == org_id)
        )
        stages = await _all(
            url, select(PipelineStage.id).where(PipelineStage.organization_id == org_id)
        )
        deals = await _all(
            url,
            select(Deal.stage_id, Deal.card_order, Deal.status, Deal.closed_at).where(
                Deal.organization_id == org_id
            ),
        )
        for columns, cards in (
            ([s for (s,) in statuses], [(c, o) for c, o in leads]),
            ([s for (s,) in stages], [(c, o) for c, o, _s, _d in deals]),
        ):
            orders: dict[int, list[int]] = defaultdict(list)
            for column, order in cards:
                orders[column].append(order)
            assert set(orders) == set(columns), "every column has cards"
            for column in columns:
                assert sorted(orders[column]) == list(range(len(orders[column])))
        now = datetime.now(UTC)
        for _stage, _order, status, closed_at in deals:
            assert (status == "open") == (closed_at is None)
            if closed_at is not None:
                assert closed_at.replace(tzinfo=UTC) <= now


async def test_phones_are_valid_e164(seeded: tuple[str, dict[str, Any]]) -> None:
    url = seeded[0]
    phones = [p for (p,) in await _all(url, select(Contact.phone))]
    phones += [p for (ps,) in await _all(url, select(Contact.phones)) for p in ps]
    phones += [p for (p,) in await _all(url, select(Company.phone))]
    phones += [p for (p,) in await _all(url, select(Lead.phone)) if p is not None]
    assert len(phones) > 1000
    for phone in phones:
        assert phone is not None
        assert E164.match(phone), phone
        assert normalize_phone(phone) == phone
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), phone


async def test_timeline_is_recent_and_touches_contacts_and_leads(
    seeded: tuple[str, dict[str, Any]],
) -> None:
    url = seeded[0]
    acts = await _all(
        url, select(Activity.occurred_at, Activity.contact_id, Activity.lead_id, Activity.type)
    )
    now = datetime.now(UTC)
    latest_contact: dict[int, datetime] = {}
    latest_lead: dict[int, datetime] = {}
    for at, contact_id, lead_id, kind in acts:
        at = at.replace(tzinfo=UTC)
        assert now - timedelta(days=182) <= at <= now
        if contact_id is not None:
            latest_contact[contact_id] = max(at, latest_contact.get(contact_id, at))
        if lead_id is not None and kind != "note":
            latest_lead[lead_id] = max(at, latest_lead.get(lead_id, at))
    contacts = dict(await _all(url, select(Contact.id, Contact.last_activity_at)))
    for contact_id, at in latest_contact.items():
        assert contacts[contact_id].replace(tzinfo=UTC) == at
    leads = dict(await _all(url, select(Lead.id, Lead.last_contacted_at)))
    assert latest_lead
    for lead_id, at in latest_lead.items():
        assert leads[lead_id].replace(tzinfo=UTC) == at


async def test_task_dependencies_have_no_cycle(seeded: tuple[str, dict[str, Any]]) -> None:
    url = seeded[0]
    status = dict(await _all(url, select(Task.id, Task.status)))
    edges = await _all(url, select(TaskDependency.task_id, TaskDependency.blocked_by_id))
    assert edges
    blockers: dict[int, list[int]] = defaultdict(list)
    for task_id, blocked_by in edges:
        blockers[task_id].append(blocked_by)
        if status[task_id] == "done":
            assert status[blocked_by] == "done", "a done task's blockers are done"
    # Kahn's algorithm: every task can be ordered after its blockers
    pending = {t: len(blockers[t]) for t in status}
    blocks: dict[int, list[int]] = defaultdict(list)
    for task_id, blocked_by in edges:
        blocks[blocked_by].append(task_id)
    ready = [t for t, n in pending.items() if n == 0]
    ordered = 0
    while ready:
        t = ready.pop()
        ordered += 1
        for nxt in blocks[t]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                ready.append(nxt)
    assert ordered == len(status)
    overdue = await _all(
        url,
        select(Task.id).where(Task.status != "done", Task.due_at < datetime.now(UTC)),
    )
    assert overdue, "some tasks are overdue"


async def test_if_empty_skips_a_database_with_users(seeded: tuple[str, dict[str, Any]]) -> None:
    url = seeded[0]
    before = len(await _all(url, select(Contact.id)))
    result = await run_seed(seed=42, if_empty=True, database_url=url)
    assert result["skipped"] is True
    again = await run_seed(seed=7, database_url=url)
    assert again["skipped"] is True, "the demo organization is never loaded twice"
    assert len(await _all(url, select(Contact.id))) == before


async def test_demo_admin_sees_only_northwind(
    seeded: tuple[str, dict[str, Any]], seeded_server: LiveServer
) -> None:
    url = seeded[0]
    orgs = await _org_ids(url)
    northwind = {
        i
        for (i,) in await _all(
            url, select(Contact.id).where(Contact.organization_id == orgs["Northwind Demo"])
        )
    }
    globex = [
        i
        for (i,) in await _all(
            url, select(Contact.id).where(Contact.organization_id == orgs["Globex Demo"])
        )
    ]
    async with httpx.AsyncClient(base_url=seeded_server.url, timeout=30) as client:
        r = await client.post(
            "/api/v1/auth/login", json={"email": "admin@demo.example", "password": "demo-password"}
        )
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()
        assert me["full_name"] == "Alex Admin"
        assert me["active_organization_id"] == orgs["Northwind Demo"]
        roles = {m["organization_name"]: m["role"] for m in me["memberships"]}
        assert roles == {"Northwind Demo": "owner", "Globex Demo": "viewer"}

        seen: set[int] = set()
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = await client.get("/api/v1/contacts", params=params, headers=headers)
            assert page.status_code == 200, page.text
            seen |= {c["id"] for c in page.json()["items"]}
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        assert seen == northwind
        other = await client.get(f"/api/v1/contacts/{globex[0]}", headers=headers)
        assert other.status_code == 404

        board = await client.get("/api/v1/leads/kanban", headers=headers)
        assert board.status_code == 200, board.text
        columns = board.json()["columns"]
        assert [c["status"] for c in columns] == [
            "New",
            "Contacted",
            "Qualified",
            "Proposal",
            "Won",
            "Lost",
        ]
        for column in columns:
            assert column["leads"], f"column {column['status']} is empty"
            assert [ld["card_order"] for ld in column["leads"]] == list(range(column["count"]))

        # other password logins work too
        r = await client.post(
            "/api/v1/auth/login",
            json={"email": "owner@globex.example", "password": "demo-password"},
        )
        assert r.status_code == 200
        globex_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        page = await client.get("/api/v1/contacts?limit=500", headers=globex_headers)
        assert {c["id"] for c in page.json()["items"]} == set(globex)


async def test_seeded_records_render_through_the_api(
    seeded: tuple[str, dict[str, Any]], seeded_server: LiveServer
) -> None:
    """Every seeded value fits the API's response schemas (enums, money, dates)."""
    async with httpx.AsyncClient(base_url=seeded_server.url, timeout=30) as client:
        r = await client.post(
            "/api/v1/auth/login", json={"email": "admin@demo.example", "password": "demo-password"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for path in (
            "/api/v1/deals/board",
            "/api/v1/deals?limit=500",
            "/api/v1/tasks?limit=500",
            "/api/v1/activities?limit=500",
            "/api/v1/companies?limit=500",
            "/api/v1/leads?limit=500",
            "/api/v1/teams",
            "/api/v1/tags",
            "/api/v1/members",
        ):
            r = await client.get(path, headers=headers)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
