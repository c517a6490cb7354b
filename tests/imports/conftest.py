from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Direct access to the test database, for rows whose API does not exist yet and for
    checking what a request wrote."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()
