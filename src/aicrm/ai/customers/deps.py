"""Request plumbing shared by the API endpoints and the web UI."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.customers.service import Upgrade
from aicrm.db import WRITE_METHODS, Database


def upgrade_for(request: Request, session: AsyncSession) -> Upgrade:
    """Make a read-only (GET) request's session able to write, for insights computed on read:
    on SQLite the read transaction ends and the session queues for the write lock (the
    request's commit releases it); PostgreSQL needs nothing."""

    async def upgrade() -> None:
        db: Database = request.app.state.db
        if db.is_sqlite and request.method not in WRITE_METHODS:
            await session.rollback()
            await db.begin_write(session)

    return upgrade
