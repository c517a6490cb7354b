"""Test harness: the real app served over real HTTP (uvicorn on a free port) on SQLite and,
when TEST_DATABASE_URL is set, again on PostgreSQL (+ Redis when TEST_REDIS_URL is set).

Every test makes its own organizations with unique emails, so tests share no state even though
they share a database per backend."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="aicrm-test-"))
os.environ.setdefault("ENVIRONMENT", "test")
os.environ["DATA_DIR"] = str(_TMP)
os.environ["SECRET_KEY"] = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
os.environ["LOGIN_IP_RATE_PER_MINUTE"] = "1000000"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "")
# webhook receivers in tests listen on 127.0.0.1; retries should not make tests wait long
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "true"
os.environ["JOB_BACKOFF_SECONDS"] = "0.2"
os.environ["JOB_BACKOFF_MAX_SECONDS"] = "2"
os.environ["JOB_POLL_SECONDS"] = "0.2"

import httpx  # noqa: E402
import pytest  # noqa: E402

from aicrm.config import get_settings  # noqa: E402
from aicrm.db import Database  # noqa: E402
from tests.fixtures.server import LiveServer, prepare_database  # noqa: E402

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def pytest_report_header(config: pytest.Config) -> str:
    return f"aicrm backends: {', '.join(BACKENDS)}; redis: {os.environ.get('REDIS_URL') or 'no'}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str) -> str:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{_TMP / 'test.db'}"
    else:
        url = os.environ["TEST_DATABASE_URL"]
    prepare_database(url)
    return url


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url)
    # for tests/<area>/isolation.py creators that must set up rows the API cannot make directly
    os.environ["AICRM_TEST_DATABASE_URL"] = database_url
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
        yield c


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database handle of the test's own (rows the API does not show, what a request wrote);
    a package's conftest may define its own `db`."""
    database = Database(get_settings(), url=database_url)
    try:
        yield database
    finally:
        await database.dispose()
