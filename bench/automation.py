"""Automation rule runs per second, with the embedded worker.

A fresh, migrated database holds one organization with a sales team of 5 and one rule: on
`lead.created`, when value > 1,000, add a tag and create a task for the team's least-loaded
member. N leads are created through the lead service (half of them worth more than 1,000), then
the embedded worker (the one `aicrm serve` runs) is started and timed until every event has its
run in the execution log: relay → automation consumer → one `automation.run` job per event →
record read fresh, conditions evaluated, actions through the lead and task services, run logged.

    .venv/bin/python bench/automation.py --db sqlite
    .venv/bin/python bench/automation.py --db postgresql --leads 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import PG_ADMIN_DSN, RESULTS, ROOT, machine, rerun_command, write_json

sys.path.insert(0, str(ROOT / "src"))

PG_DATABASE = "aicrm_bench_automation"
SQLITE_PATH = ROOT / "data" / "bench" / "automation.db"


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


async def setup(db: Any, leads: int) -> int:
    """The organization, its team, the rule and the leads (their events wait in the outbox)."""
    from aicrm.automation import service as automation
    from aicrm.automation.schemas import RuleCreate
    from aicrm.kit.principal import system_principal
    from aicrm.leads import service as lead_service
    from aicrm.leads.schemas import LeadCreate
    from aicrm.models import Membership, Team, TeamMember, User
    from aicrm.orgs import service as org_service

    session = await db.session(write=True)
    try:
        stamp = int(time.time())
        users = [
            User(email=f"bench-{stamp}-{i}@example.com", full_name=f"Rep {i}", password_hash="x")
            for i in range(5)
        ]
        session.add_all(users)
        await session.flush()
        org = await org_service.create_organization(session, name="Bench rules", owner=users[0])
        team = Team(organization_id=org.id, name="Sales", kind="sales", description="")
        session.add(team)
        await session.flush()
        for i, user in enumerate(users):
            if i:
                session.add(Membership(organization_id=org.id, user_id=user.id, role="agent"))
            session.add(
                TeamMember(
                    organization_id=org.id,
                    team_id=team.id,
                    user_id=user.id,
                    skills=[],
                    capacity=10,
                    is_manager=i == 0,
                )
            )
        await session.flush()
        principal = system_principal(org.id)
        await automation.create(
            session,
            principal,
            RuleCreate(
                name="big leads get a task",
                trigger={"type": "event", "event": "lead.created"},
                conditions={"field": "value", "op": "gt", "value": 1000},
                actions=[
                    {"type": "add_tag", "tags": ["big"]},
                    {"type": "create_task", "title": "Call {{ record.name }}", "team_id": team.id},
                ],
            ),
        )
        await session.commit()
        for start in range(0, leads, 500):
            for i in range(start, min(leads, start + 500)):
                await lead_service.create(
                    session,
                    principal,
                    LeadCreate(name=f"Lead {i}", value=2000 if i % 2 else 500),
                )
            await session.commit()
        return int(org.id)
    finally:
        await session.close()


async def count_runs(db: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from aicrm.models import AutomationRun

    session = await db.session(write=False)
    try:
        rows = await session.execute(
            select(AutomationRun.status, func.count()).group_by(AutomationRun.status)
        )
        return {str(s): int(n) for s, n in rows.all()}
    finally:
        await session.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from aicrm.config import Settings
    from aicrm.db import Database
    from aicrm.jobs.embedded import EmbeddedWorker
    from aicrm.jobs.registry import load_job_modules

    url = database_url(args.db, args.database_url)
    await prepare(url)
    settings = Settings(
        DATABASE_URL=url,
        ENVIRONMENT="development",
        DATA_DIR=RESULTS / "automation-data",
        LOG_LEVEL="WARNING",
        JOB_CONCURRENCY=args.concurrency,
        JOB_POLL_SECONDS=0.2,
    )
    load_job_modules(settings)
    db = Database(settings, url=url)
    try:
        await setup(db, args.leads)
        worker = EmbeddedWorker(db, settings)
        cpu = time.process_time()
        started = time.perf_counter()
        await worker.start()
        counts: dict[str, int] = {}
        try:
            while True:
                counts = await count_runs(db)
                done = sum(counts.values())
                if done >= args.leads or time.perf_counter() - started > args.timeout:
                    break
                await asyncio.sleep(0.05)
        finally:
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            await worker.stop()
    finally:
        await db.dispose()
    done = sum(counts.values())
    return {
        "runs": done,
        "by_status": counts,
        "seconds": round(elapsed, 2),
        "runs_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "worker_cpu_ms_per_run": round(cpu / done * 1000, 2) if done else None,
        "complete": done >= args.leads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="override the database URL")
    parser.add_argument("--leads", type=int, default=1000, help="lead.created events")
    parser.add_argument("--concurrency", type=int, default=16, help="JOB_CONCURRENCY")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    results = asyncio.run(run(args))
    out = {
        "benchmark": "automation",
        "db": args.db,
        "machine": machine(),
        "setup": {
            "worker": f"embedded worker in this process, JOB_CONCURRENCY={args.concurrency}",
            "rule": "on lead.created, value > 1000 → add_tag + create_task (least-loaded of 5)",
            "events": args.leads,
            "matching": args.leads // 2,
        },
        "results": results,
        "command": rerun_command(),
    }
    write_json(RESULTS / f"automation-{args.db}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
