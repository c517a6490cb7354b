"""Databases of their own for the assistant's tests: SQLite files, or `<test db>_<name>` on
PostgreSQL (created fresh; the shared `test` database is left to the rest of the suite)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from aicrm import migrate


def fresh_database(backend: str, tmp: Path, name: str, *, revision: str = "head") -> str:
    """An empty database migrated to head (SQLite file, or `<test db>_<name>` on PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
    else:
        base = make_url(os.environ["TEST_DATABASE_URL"])
        dbname = f"{base.database}_{name}"

        async def create() -> None:
            engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname}
                )
                if exists:
                    await conn.execute(text(f'DROP DATABASE "{dbname}" WITH (FORCE)'))
                await conn.execute(text(f'CREATE DATABASE "{dbname}"'))
            await engine.dispose()

        asyncio.run(create())
        url = base.set(database=dbname).render_as_string(hide_password=False)
    migrate.upgrade(url, revision)
    return url
