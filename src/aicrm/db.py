"""Engine and session factories; one transaction per request or job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from aicrm.config import Settings, get_settings
from aicrm.errors import AICRMError, Conflict, Invalid
from aicrm.kit import idempotency
from aicrm.kit.idempotency import Replay

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
WRITE_LOCK_TIMEOUT = 30.0
_LOCK_KEY = "aicrm_sqlite_write_lock"


def _release(session: Session) -> None:
    lock: asyncio.Lock | None = session.info.pop(_LOCK_KEY, None)
    if lock is not None and lock.locked():
        lock.release()


@event.listens_for(Session, "after_transaction_end")
def _end_write_transaction(session: Session, transaction: Any) -> None:
    # the outermost transaction of a SQLite write session ended (commit, rollback or close)
    if transaction.parent is None and _LOCK_KEY in session.info:
        _release(session)


@event.listens_for(Session, "after_soft_rollback")
def _soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None and _LOCK_KEY in session.info:
        _release(session)


def make_engine(settings: Settings | None = None, url: str | None = None) -> AsyncEngine:
    settings = settings or get_settings()
    url = url or settings.DATABASE_URL
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if settings.SQLITE_DRIVER == "inline":
            from aicrm.kit import sqlite_inline

            kwargs["module"] = sqlite_inline.dbapi()
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_setup(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_POOL_SIZE,
        pool_pre_ping=False,
    )


def _sqlite_setup(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be used for writes:
        # a deferred transaction that reads then writes fails with SQLITE_BUSY under WAL.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Holds the engine and the session factory of one app or CLI process."""

    def __init__(self, settings: Settings | None = None, url: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.engine = make_engine(self.settings, url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # SQLite has one writer at a time. Within this process writers queue on this lock, so a
        # writer waiting never blocks the event loop inside sqlite3's busy handler (with the
        # inline driver that would stall the very coroutine holding the lock). Other processes
        # still wait in the busy handler.
        self.write_lock = asyncio.Lock()
        self._writer: asyncio.Task[Any] | None = None

    async def session(self, *, write: bool = True) -> AsyncSession:
        session = self.sessionmaker()
        if self.is_sqlite and write:
            try:
                await self.begin_write(session)
            except BaseException:
                await session.close()
                raise
        return session

    async def begin_write(self, session: AsyncSession) -> None:
        """Start `session`'s next transaction as the SQLite writer (no-op on PostgreSQL)."""
        if not self.is_sqlite:
            return
        task = asyncio.current_task()
        if self.write_lock.locked() and task is not None and self._writer is task:
            raise RuntimeError(
                "a second SQLite write session in the task that holds the first would deadlock; "
                "commit or roll back the first one before opening another"
            )
        try:
            if self.write_lock.locked():
                await asyncio.wait_for(self.write_lock.acquire(), WRITE_LOCK_TIMEOUT)
            else:
                await self.write_lock.acquire()  # free: no timer needed
        except TimeoutError:
            raise Conflict("The database was busy; retry the request") from None
        self._writer = task
        session.info[_LOCK_KEY] = self.write_lock
        try:
            await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        except BaseException:
            _release(session.sync_session)
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session outside a request: committed when the block ends, rolled back when it
        raises, closed either way."""
        session = await self.session(write=True)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Session for this request; TxRoute commits it before the response is sent."""
    db: Database = request.app.state.db
    session = await db.session(write=request.method in WRITE_METHODS)
    request.state.session = session
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


def _is_bad_input(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OverflowError) or type(seen).__name__ in {
            "DataError",
            "NumericValueOutOfRangeError",
        }:
            return True
        seen = seen.__cause__
    return False


class TxRoute(APIRoute):
    """Commits the request's session after the endpoint succeeded, before the response leaves."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except (DBAPIError, OverflowError) as exc:
                # a number beyond a column's range reaching the driver is bad input, not a bug
                if not _is_bad_input(exc):
                    raise
                raise Invalid("A value is out of range or malformed for its field") from exc
            except Replay as replay:
                return replay.response
            except AICRMError as exc:
                failed: AsyncSession | None = getattr(request.state, "session", None)
                if exc.commit and failed is not None and failed.in_transaction():
                    await failed.commit()
                raise
            session: AsyncSession | None = getattr(request.state, "session", None)
            if session is not None and session.in_transaction():
                try:
                    if response.status_code < 400:
                        idempotency.store(request, session, response)
                        await session.commit()
                    else:
                        await session.rollback()
                except IntegrityError as exc:
                    await session.rollback()
                    raise Conflict("The change conflicts with existing data") from exc
                except OperationalError as exc:
                    await session.rollback()
                    raise Conflict("The database was busy; retry the request") from exc
            return response

        return route
