"""Webhook deliveries per second to a local receiver, with the embedded worker.

A receiver runs in its own process (asyncio, HTTP/1.1 keep-alive, answers 200 and checks every
signature). This process holds the embedded worker (the same one `aicrm serve` runs) on a
fresh, migrated database. Two phases, each timed from the worker's start to the last delivery
recorded as succeeded:

- events: N domain events committed to the outbox → relay → the webhooks consumer creates a
  delivery and a `webhooks.deliver` job per event → signed POSTs;
- deliver: N deliveries already queued → signed POSTs only.

    .venv/bin/python bench/webhooks.py --db sqlite
    .venv/bin/python bench/webhooks.py --db postgresql --events 3000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import PG_ADMIN_DSN, RESULTS, ROOT, machine, rerun_command, write_json

sys.path.insert(0, str(ROOT / "src"))

PG_DATABASE = "aicrm_bench_webhooks"
SQLITE_PATH = ROOT / "data" / "bench" / "webhooks.db"


# -- the receiver (its own process) ----------------------------------------------------------


async def _receiver(secret: str) -> None:
    from aicrm.webhooks.signing import verify

    stats = {"requests": 0, "bad_signatures": 0, "ids": set()}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                signature = ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"aicrm-signature":
                        signature = value.strip().decode()
                    elif key == b"aicrm-webhook-id":
                        stats["ids"].add(value.strip())
                body = await reader.readexactly(length)
                stats["requests"] += 1
                if not verify(secret, signature, body):
                    stats["bad_signatures"] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    # the parent asks for the counts by writing a line to our stdin
    await loop.run_in_executor(None, sys.stdin.readline)
    print(
        json.dumps(
            {
                "requests": stats["requests"],
                "distinct_ids": len(stats["ids"]),
                "bad_signatures": stats["bad_signatures"],
            }
        ),
        flush=True,
    )
    server.close()


class ReceiverProcess:
    def __init__(self, secret: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-receiver", secret],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def counts(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=10)
        return out


# -- the database ------------------------------------------------------------------------------


def database_url(db: str, override: str | None) -> str:
    if override:
        return override
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{SQLITE_PATH}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"


async def prepare(url: str) -> None:
    """A fresh schema built by the migrations."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
    else:
        import asyncpg

        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        if name in ("test", "postgres", ""):
            raise SystemExit(f"refusing to use the database {name!r}")
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    from aicrm import migrate

    await asyncio.to_thread(migrate.upgrade, url)


# -- the run -------------------------------------------------------------------------------------


async def count_succeeded(db: Any) -> int:
    from sqlalchemy import func, select

    from aicrm.models import WebhookDelivery

    session = await db.session(write=False)
    try:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == "succeeded")
            )
            or 0
        )
    finally:
        await session.close()


async def timed_run(db: Any, settings: Any, target: int, timeout: float) -> dict[str, Any]:
    """Start a worker, wait until `target` deliveries succeeded, stop it."""
    from aicrm.jobs.embedded import EmbeddedWorker
    from aicrm.webhooks.jobs import close_clients

    worker = EmbeddedWorker(db, settings)
    before = await count_succeeded(db)
    cpu = time.process_time()
    started = time.perf_counter()
    await worker.start()
    done = 0
    try:
        while True:
            done = await count_succeeded(db)
            if done >= target or time.perf_counter() - started > timeout:
                break
            await asyncio.sleep(0.05)
    finally:
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        await worker.stop()
        await close_clients()
    sent = done - before
    return {
        "deliveries": sent,
        "seconds": round(elapsed, 2),
        "deliveries_per_s": round(sent / elapsed, 1) if elapsed else 0.0,
        "worker_cpu_ms_per_delivery": round(cpu / sent * 1000, 2) if sent else None,
        "worker_cpu_utilisation": round(cpu / elapsed, 2) if elapsed else None,
        # what one core given wholly to the worker would send (the machine is shared: the
        # wall-clock rate above drops when others take the cores)
        "capacity_estimate_per_core": round(sent / cpu) if cpu and sent else None,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "complete": done >= target,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from aicrm.config import Settings
    from aicrm.db import Database
    from aicrm.events import emit
    from aicrm.jobs.registry import load_job_modules
    from aicrm.kit.principal import system_principal
    from aicrm.models import Organization, WebhookDelivery, WebhookSubscription, utcnow
    from aicrm.webhooks import service
    from aicrm.webhooks.signing import new_secret

    url = database_url(args.db, args.database_url)
    await prepare(url)
    settings = Settings(
        DATABASE_URL=url,
        ENVIRONMENT="development",
        DATA_DIR=RESULTS / "webhooks-data",
        LOG_LEVEL="WARNING",
        WEBHOOK_ALLOW_PRIVATE=True,
        JOB_CONCURRENCY=args.concurrency,
        JOB_POLL_SECONDS=0.2,
    )
    load_job_modules(settings)
    db = Database(settings, url=url)
    secret = new_secret()
    receiver = ReceiverProcess(secret)
    results: dict[str, Any] = {}
    try:
        session = await db.session(write=True)
        try:
            org = Organization(name="Bench webhooks", slug=f"bench-webhooks-{int(time.time())}")
            session.add(org)
            await session.flush()
            sub = WebhookSubscription(
                organization_id=org.id,
                url=receiver.url,
                description="bench",
                event_types=["lead.*"],
                secret=secret,
                active=True,
                consecutive_failures=0,
                version=1,
                extra={},
            )
            session.add(sub)
            await session.commit()
            org_id, sub_id = org.id, sub.id
        finally:
            await session.close()
        principal = system_principal(org_id)

        # phase 1: events → consumer → deliveries
        session = await db.session(write=True)
        try:
            for i in range(args.events):
                await emit(
                    session,
                    principal,
                    "lead.created",
                    entity_type="lead",
                    entity_id=i + 1,
                    payload={"status": "New", "value": float(i)},
                )
            await session.commit()
        finally:
            await session.close()
        results["events"] = await timed_run(db, settings, args.events, args.timeout)
        results["events"]["what"] = (
            "outbox events → relay → webhooks consumer → delivery + job each → signed POST"
        )

        # phase 2: deliveries already queued
        session = await db.session(write=True)
        try:
            rows = [
                WebhookDelivery(
                    organization_id=org_id,
                    subscription_id=sub_id,
                    event_id=None,
                    event_type="lead.updated",
                    payload=service.envelope(
                        event_type="lead.updated",
                        created_at=utcnow(),
                        organization_id=org_id,
                        data={"entity_type": "lead", "entity_id": i + 1},
                    ),
                    status="pending",
                    attempts=0,
                )
                for i in range(args.events)
            ]
            session.add_all(rows)
            await service._queue(session, rows, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
            await session.commit()
        finally:
            await session.close()
        results["deliver"] = await timed_run(db, settings, 2 * args.events, args.timeout)
        results["deliver"]["what"] = "queued webhooks.deliver jobs → signed POST"
    finally:
        results["receiver"] = receiver.counts()
        await db.dispose()
    return results


def quiet_logs() -> None:
    """Warnings and up, on stderr: stdout carries only the JSON result."""
    import logging

    import structlog

    from aicrm.logging import configure

    configure("WARNING", True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    logging.getLogger().handlers[0].setStream(sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="override the database URL")
    parser.add_argument("--events", type=int, default=2000, help="deliveries per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="JOB_CONCURRENCY")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--serve-receiver", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver is not None:
        asyncio.run(_receiver(args.serve_receiver))
        return
    quiet_logs()
    results = asyncio.run(run(args))
    out = {
        "benchmark": "webhooks",
        "db": args.db,
        "machine": machine(),
        "setup": {
            "worker": f"embedded worker in this process, JOB_CONCURRENCY={args.concurrency}",
            "receiver": "asyncio HTTP/1.1 keep-alive server in its own process, verifies "
            "every signature, answers 200",
            "client": "pooled httpx.AsyncClients shared by the whole worker process "
            "(JOB_CONCURRENCY / 4 of them, taken in turn; SSRF-guarded transport), "
            "never one per delivery",
            "deliveries_per_phase": args.events,
        },
        "results": results,
        "command": rerun_command(),
    }
    write_json(RESULTS / f"webhooks-{args.db}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
