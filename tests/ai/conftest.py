"""A handle on the test server's database, to store insights the way the AI features do
(aicrm.ai.insights.record) without depending on any one feature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aicrm.ai import insights
from aicrm.config import get_settings
from aicrm.db import Database
from aicrm.kit.principal import system_principal


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(get_settings(), url=database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def store_insight(db: Database, organization_id: int, **fields: Any) -> int:
    session = await db.session()
    try:
        fields.setdefault("model", "test")
        fields.setdefault("model_version", "1")
        row = await insights.record(session, system_principal(organization_id), **fields)
        await session.commit()
        return row.id
    finally:
        await session.close()
