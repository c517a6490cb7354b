"""SQLite writers of one process queue on an asyncio lock, never in sqlite3's busy handler
(with the inline driver that handler would freeze the event loop, and with it the writer that
holds the lock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from aicrm import migrate
from aicrm.config import Settings
from aicrm.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(Settings(DATABASE_URL=url, DATA_DIR=tmp_path))
    yield database
    await database.dispose()


async def test_a_waiting_writer_leaves_the_loop_free(db: Database) -> None:
    first = await db.session(write=True)
    await first.execute(text("UPDATE organization SET name = name"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def second_writer() -> str:
        session = await db.session(write=True)  # waits for `first`, without blocking the loop
        try:
            await session.execute(text("UPDATE organization SET name = name"))
            await session.commit()
            return "written"
        finally:
            await session.close()

    tick_task = asyncio.create_task(ticker())
    waiting = asyncio.create_task(second_writer())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert ticks >= 10  # the loop kept running while the second writer waited
    await first.commit()
    await first.close()
    assert await asyncio.wait_for(waiting, 5) == "written"
    tick_task.cancel()


async def test_a_second_write_session_in_the_same_task_is_refused(db: Database) -> None:
    first = await db.session(write=True)
    try:
        with pytest.raises(RuntimeError, match="deadlock"):
            await db.session(write=True)
    finally:
        await first.close()
    # the lock was released by closing: a new writer gets it at once
    again = await asyncio.wait_for(db.session(write=True), 1)
    await again.close()
