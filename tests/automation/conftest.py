"""Fixtures of the automation tests: a handle on the test server's database, for waiting until
the job queue is idle and for calling the scheduler with a pretend time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aicrm.config import get_settings
from aicrm.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(get_settings(), url=database_url)
    try:
        yield database
    finally:
        await database.dispose()
