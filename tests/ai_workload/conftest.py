"""Fixtures of the workload tests: a database handle on the test server's database, for what
has no API — moving the clock back on records (a deal that entered its stage weeks ago, tasks
finished last month, last quarter's closed deals)."""

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
