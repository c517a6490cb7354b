"""A live aicrm server on a fresh database, shared by the AI benchmarks that go through the API
(bench/ai_churn.py, ai_classifiers.py, ai_scoring.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path


class Server:
    """The real app under uvicorn in a thread, on a free port, for benchmarks over HTTP."""

    def __init__(self, url: str) -> None:
        import uvicorn

        from aicrm.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(database_url=url),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def fresh_database(db: str | None, tmp: Path, name: str = "bench") -> str:
    """A migrated empty database: SQLite in `tmp`, or the PostgreSQL database `db` (created when
    missing, emptied when not; never `test` or `postgres`)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from aicrm import migrate

    if not db:
        url = f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
    else:
        url = db
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        if name in ("test", "postgres", ""):
            raise SystemExit(f"refusing to use the database {name!r}")
        asyncio.run(_ensure_pg_database(url))

        async def reset() -> None:
            engine = create_async_engine(url)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset())
    migrate.upgrade(url)
    return url


async def _ensure_pg_database(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        )
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    await admin.dispose()
