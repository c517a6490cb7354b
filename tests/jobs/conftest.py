"""Fixtures of the jobs tests: a database of their own per backend (workers started by these
tests would otherwise race the test server's embedded worker for jobs), and small helpers."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from aicrm.config import Settings, get_settings
from aicrm.db import Database
from aicrm.models import AuditLog, Job
from tests.fixtures.server import prepare_database
from tests.jobs import probe_jobs
from tests.jobs.procs import Processes, worker_env

_TMP = Path(tempfile.mkdtemp(prefix="aicrm-jobs-"))


def _pg_own_database(base_url: str, suffix: str) -> str:
    """TEST_DATABASE_URL's server, database `<its name>_<suffix>` (created when missing)."""
    import asyncpg

    head, _, tail = base_url.rpartition("/")
    name, sep, query = tail.partition("?")
    own = f"{name}_{suffix}"
    admin_dsn = head.replace("postgresql+asyncpg://", "postgresql://", 1) + "/postgres"

    async def create() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{own}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{head}/{own}{sep}{query}"


@pytest.fixture(scope="session")
def jobs_database_url(backend: str) -> str:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{_TMP / 'jobs.db'}"
    else:
        url = _pg_own_database(os.environ["TEST_DATABASE_URL"], "jobs")
    prepare_database(url)
    return url


def job_settings(url: str, **overrides: Any) -> Settings:
    return get_settings().model_copy(update={"DATABASE_URL": url, **overrides})


@pytest.fixture(scope="session")
async def jobs_db(jobs_database_url: str) -> AsyncIterator[Database]:
    db = Database(job_settings(jobs_database_url), url=jobs_database_url)
    yield db
    await db.dispose()


def new_run() -> str:
    """A tag for one test's probe effects (audit_log.action = probe:<tag>)."""
    return uuid.uuid4().hex[:12]


async def effects(db: Database, run: str) -> dict[int, int]:
    """How many effect rows each job number of this run has."""
    session = await db.session(write=False)
    try:
        rows = await session.execute(
            select(AuditLog.entity_id, func.count())
            .where(AuditLog.action == probe_jobs.PREFIX + run)
            .group_by(AuditLog.entity_id)
        )
        return {int(n): int(c) for n, c in rows.all()}
    finally:
        await session.close()


async def job_row(db: Database, job_id: int) -> Job:
    session = await db.session(write=False)
    try:
        job = await session.get(Job, job_id)
        assert job is not None
        return job
    finally:
        await session.close()


async def clear_jobs(db: Database) -> None:
    """Workers started by a test see every due job of the database: start from none."""
    session = await db.session(write=True)
    try:
        await session.execute(text("DELETE FROM job"))
        await session.commit()
    finally:
        await session.close()


@pytest.fixture
def procs(tmp_path: Path, jobs_database_url: str) -> Iterator[Processes]:
    """Worker processes on the jobs database; whatever a test started is stopped after it."""
    p = Processes(tmp_path, worker_env(tmp_path, jobs_database_url))
    yield p
    p.stop_all()
