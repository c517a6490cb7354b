"""The name-key migration (a5c1e2d3f4b6) on a database that already has leads and deals: keys
backfilled with kit.text.fold, indexes created, and the downgrade removes them again."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aicrm import migrate
from aicrm.db import make_engine
from tests.assistant_offline.databases import fresh_database

BEFORE = "d7a09f6e5bed"
REVISION = "a5c1e2d3f4b6"


def _filler(col: sa.Column[Any]) -> Any:
    t = col.type
    if isinstance(t, sa.Boolean):
        return False
    if isinstance(t, sa.Integer | sa.Numeric | sa.Float):
        return 0
    if isinstance(t, sa.DateTime):
        return datetime.now(UTC)
    if isinstance(t, sa.Date):
        return date.today()
    if isinstance(t, sa.JSON):
        return {}
    if isinstance(t, sa.LargeBinary):
        return b""
    return "x"


async def _insert(conn: AsyncConnection, table: str, **values: Any) -> int:
    """A row with the given values; every other required column gets a plain value."""

    def reflect(sync_conn: Any) -> sa.Table:
        return sa.Table(table, sa.MetaData(), autoload_with=sync_conn)

    t = await conn.run_sync(reflect)
    row = dict(values)
    for col in t.columns:
        if col.name in row or col.primary_key or col.nullable or col.server_default is not None:
            continue
        row[col.name] = _filler(col)
    return (await conn.execute(sa.insert(t).values(**row).returning(t.c.id))).scalar_one()


async def _seed_old_schema(url: str) -> None:
    engine = make_engine(url=url)
    async with engine.begin() as conn:
        org = await _insert(conn, "organization", name="Old Org", slug="old-org-mig")
        status = await _insert(conn, "lead_status", organization_id=org, name="New", position=0)
        pipe = await _insert(conn, "pipeline", organization_id=org, name="Sales", is_default=True)
        stage = await _insert(
            conn, "pipeline_stage", organization_id=org, pipeline_id=pipe, name="Open", position=0
        )
        for name in ("Zoë Ångström", "John  Smith"):
            await _insert(conn, "lead", organization_id=org, name=name, status_id=status)
        await _insert(
            conn,
            "deal",
            organization_id=org,
            name="Acme Corp — Renewal",
            pipeline_id=pipe,
            stage_id=stage,
        )
    await engine.dispose()


async def _keys(url: str) -> tuple[dict[str, str], dict[str, str], set[str]]:
    engine = make_engine(url=url)
    async with engine.connect() as conn:
        leads = dict((await conn.execute(sa.text("SELECT name, name_key FROM lead"))).all())
        deals = dict((await conn.execute(sa.text("SELECT name, name_key FROM deal"))).all())

        if conn.dialect.name == "sqlite":
            q = "SELECT name FROM sqlite_master WHERE type = 'index'"
        else:
            q = "SELECT indexname FROM pg_indexes WHERE tablename IN ('lead', 'deal', 'company')"
        names = set((await conn.execute(sa.text(q))).scalars())
    await engine.dispose()
    return leads, deals, names


async def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url=url)
    async with engine.connect() as conn:
        cols = await conn.run_sync(lambda c: {x["name"] for x in sa.inspect(c).get_columns(table)})
    await engine.dispose()
    return cols


def test_upgrade_backfills_and_downgrade_removes(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = fresh_database(
        backend, tmp_path_factory.mktemp("assistant_mig"), "assistant_mig", revision=BEFORE
    )
    asyncio.run(_seed_old_schema(url))
    migrate.upgrade(url, REVISION)
    leads, deals, indexes = asyncio.run(_keys(url))
    assert leads == {"Zoë Ångström": "zoe angstrom", "John  Smith": "john smith"}
    assert deals == {"Acme Corp — Renewal": "acme corp — renewal"}
    assert {
        "ix_lead_org_name_key",
        "ix_deal_org_name_key",
        "ix_lead_org_name_rest",
        "ix_deal_org_name_rest",
        "ix_company_org_name_rest",
    } <= indexes
    migrate.downgrade(url, BEFORE)
    assert "name_key" not in asyncio.run(_columns(url, "lead"))
    assert "name_key" not in asyncio.run(_columns(url, "deal"))
    migrate.upgrade(url, REVISION)
    assert asyncio.run(_keys(url))[0]["John  Smith"] == "john smith"
