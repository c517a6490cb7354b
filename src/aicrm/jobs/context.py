"""What a running job gets: its ids, a lazily opened write transaction, a read session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.principal import Principal, system_principal

if TYPE_CHECKING:
    from aicrm.config import Settings
    from aicrm.db import Database


@dataclass
class JobContext:
    db: Database
    settings: Settings
    job_id: int
    name: str
    attempt: int
    organization_id: int | None
    worker: str
    _session: AsyncSession | None = field(default=None, repr=False)

    async def session(self) -> AsyncSession:
        """The job's write transaction, opened on first use.

        The runner marks the job succeeded in this same transaction, so a job's database effect
        and its completion commit together: a job run again after a crash has the effect of once.
        Open it after slow I/O (HTTP calls), not before: on SQLite it holds the write lock.
        """
        if self._session is None:
            self._session = await self.db.session(write=True)
        return self._session

    async def rollback(self) -> None:
        """Undo what the job wrote so far, when it has opened its transaction (opening one just
        to roll it back would wait for SQLite's write lock)."""
        if self._session is not None:
            await self._session.rollback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short read-only session, closed on exit (for loading what slow I/O needs)."""
        session = await self.db.session(write=False)
        try:
            yield session
        finally:
            await session.close()

    @property
    def principal(self) -> Principal:
        """The job's organization acting as itself (all permissions, no user)."""
        if self.organization_id is None:
            raise RuntimeError(f"job {self.name} has no organization")
        return system_principal(self.organization_id)
