"""Fixtures of the tool tests: tools run through `aicrm.assistant.tools.execute` (and `undo`) in
a session of their own on the live test server's database, as the chat engine runs them; data
is made and checked over HTTP like a client would."""

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
