"""Workload manager and pattern scans: how long an auto-assignment plan and a scan take.

A fresh, migrated database gets two organizations, written with bulk inserts:

- "plan": 50 members in one team (skills from a list of 8, capacity 15-35, 5 open tasks each),
  5,000 tasks completed over the last 180 days (the speed history) and 1,000 unassigned open
  tasks (60% with a category, 70% with a due date, half with an estimate);
- "scan": 20 members, 10,000 deals across a 6-stage pipeline (a third closed) with their stage
  moves in the audit log, 10,000 inbound activities over 60 days, 2,000 leads, 2,000 open tasks
  (some overdue).

Figures: the plan through the service (loading + optimisation, a dry run) best / median of
`--repeat`, the optimiser alone, applying the plan through the tasks service (events, audit),
and the scan (detect: every check; store: insights written).

    .venv/bin/python bench/ai_workload.py
    .venv/bin/python bench/ai_workload.py --db postgresql
    .venv/bin/python bench/ai_workload.py --tasks 2000 --members 100 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import PG_ADMIN_DSN, RESULTS, ROOT, machine, rerun_command, write_json

sys.path.insert(0, str(ROOT / "src"))

PG_DATABASE = "aicrm_bench_workload"
SQLITE_PATH = ROOT / "data" / "bench" / "ai_workload.db"
SKILLS = [
    "billing",
    "technical support",
    "sales",
    "onboarding",
    "legal",
    "renewals",
    "data migration",
    "marketing",
]
CATEGORIES = ["billing", "support", "sales", "onboarding", "legal", "renewals"]
TITLES = [
    "Refund invoice for {c}",
    "{c} cannot log in",
    "Product demo for {c}",
    "Set up the workspace of {c}",
    "Contract review with {c}",
    "Renew the subscription of {c}",
    "Import the CSV export of {c}",
    "Call back {c} about the payment",
]


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
            Path(str(path) + suffix).unlink(missing_ok=True)
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


async def _bulk(session: Any, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows, returning their ids (in order)."""
    from sqlalchemy import insert

    ids: list[int] = []
    for start in range(0, len(rows), 2000):
        chunk = rows[start : start + 2000]
        result = await session.execute(insert(model).returning(model.id), chunk)
        ids += [r[0] for r in result.all()]
    return ids


async def _org_with_team(
    session: Any, name: str, members: int, rng: random.Random
) -> tuple[int, list[int]]:
    from aicrm.models import Membership, Organization, Team, TeamMember, User

    org_id = (
        await _bulk(
            session, Organization, [{"name": name, "slug": f"bench-{uuid.uuid4().hex[:10]}"}]
        )
    )[0]
    tag = uuid.uuid4().hex[:8]
    users = await _bulk(
        session,
        User,
        [
            {
                "email": f"m{i}-{tag}@bench.example",
                "full_name": f"Member {i}",
                "password_hash": "x",
                "is_active": True,
                "active_organization_id": org_id,
            }
            for i in range(members)
        ],
    )
    await _bulk(
        session,
        Membership,
        [{"organization_id": org_id, "user_id": u, "role": "agent"} for u in users],
    )
    team_id = (await _bulk(session, Team, [{"organization_id": org_id, "name": "Everyone"}]))[0]
    await _bulk(
        session,
        TeamMember,
        [
            {
                "organization_id": org_id,
                "team_id": team_id,
                "user_id": u,
                "skills": rng.sample(SKILLS, rng.randint(1, 3)),
                "capacity": rng.randint(15, 35),
            }
            for u in users
        ],
    )
    return org_id, users


def _task_row(
    org_id: int, rng: random.Random, now: datetime, i: int, **extra: Any
) -> dict[str, Any]:
    category = rng.choice(CATEGORIES) if rng.random() < 0.6 else None
    return {
        "organization_id": org_id,
        "title": rng.choice(TITLES).format(c=f"Customer {i}"),
        "description": "",
        "status": "todo",
        "priority": rng.choice(["low", "medium", "medium", "high", "urgent"]),
        "category": category,
        "due_at": now + timedelta(hours=rng.randint(4, 24 * 30)) if rng.random() < 0.7 else None,
        "estimate_hours": rng.choice([1.0, 2.0, 4.0, 8.0]) if rng.random() < 0.5 else None,
        "version": 1,
        **extra,
    }


async def seed_plan(db: Any, tasks: int, members: int) -> int:
    from aicrm.models import Task

    rng = random.Random(7)
    now = datetime.now(UTC)
    session = await db.session(write=True)
    try:
        org_id, users = await _org_with_team(session, "Bench plan", members, rng)
        rows = [
            _task_row(org_id, rng, now, i, assignee_id=u, status="in_progress")
            for i, u in enumerate(u for u in users for _ in range(5))
        ]
        for i in range(5000):
            done = now - timedelta(days=rng.uniform(1, 179))
            rows.append(
                _task_row(
                    org_id,
                    rng,
                    now,
                    i,
                    assignee_id=rng.choice(users),
                    status="done",
                    created_at=done - timedelta(days=rng.expovariate(1 / 2.5)),
                    completed_at=done,
                )
            )
        rows += [_task_row(org_id, rng, now, i) for i in range(tasks)]
        await _bulk(session, Task, rows)
        await session.commit()
    finally:
        await session.close()
    return org_id


async def seed_scan(db: Any, deals: int, activities: int) -> int:
    from aicrm.models import (
        Activity,
        AuditLog,
        Deal,
        Lead,
        LeadStatus,
        Pipeline,
        PipelineStage,
        Task,
    )

    rng = random.Random(11)
    now = datetime.now(UTC)
    session = await db.session(write=True)
    try:
        org_id, users = await _org_with_team(session, "Bench scan", 20, rng)
        pipeline = (
            await _bulk(
                session,
                Pipeline,
                [{"organization_id": org_id, "name": "Sales", "is_default": True}],
            )
        )[0]
        names = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]
        stages = await _bulk(
            session,
            PipelineStage,
            [
                {
                    "organization_id": org_id,
                    "pipeline_id": pipeline,
                    "name": n,
                    "position": i,
                    "probability": 0.1 * (i + 1),
                    "is_won": n == "Won",
                    "is_lost": n == "Lost",
                }
                for i, n in enumerate(names)
            ],
        )
        deal_rows, moves = [], []
        for i in range(deals):
            created = now - timedelta(days=rng.uniform(0, 300))
            path = [stages[0]]
            t = created
            times = [created]
            while path[-1] not in (stages[4], stages[5]) and rng.random() < 0.7:
                # Proposal is the slow stage
                stay = rng.expovariate(1 / (25 if path[-1] == stages[2] else 6))
                t = t + timedelta(days=stay)
                if t > now:
                    break
                nxt = stages[4] if rng.random() < 0.3 else stages[5] if rng.random() < 0.2 else None
                if nxt is None:
                    nxt = stages[min(stages.index(path[-1]) + 1, 3)]
                path.append(nxt)
                times.append(t)
            status = "won" if path[-1] == stages[4] else "lost" if path[-1] == stages[5] else "open"
            deal_rows.append(
                {
                    "organization_id": org_id,
                    "name": f"Deal {i}",
                    "pipeline_id": pipeline,
                    "stage_id": path[-1],
                    "amount": rng.randint(1, 50) * 1000,
                    "status": status,
                    "closed_at": times[-1] if status != "open" else None,
                    "owner_id": rng.choice(users),
                    "created_at": created,
                    "custom": {},
                    "version": 1,
                }
            )
            moves.append(list(zip(times, path, strict=True)))
        deal_ids = await _bulk(session, Deal, deal_rows)
        audit = [
            {
                "organization_id": org_id,
                "action": "create" if j == 0 else "update",
                "entity_type": "deal",
                "entity_id": d,
                "after": {"stage_id": s},
                "created_at": t,
            }
            for d, seq in zip(deal_ids, moves, strict=True)
            for j, (t, s) in enumerate(seq)
        ]
        await _bulk(session, AuditLog, audit)
        await _bulk(
            session,
            Activity,
            [
                {
                    "organization_id": org_id,
                    "type": rng.choice(["email", "call"]),
                    "direction": "inbound",
                    "occurred_at": now - timedelta(days=rng.uniform(0, 60)),
                }
                for _ in range(activities)
            ],
        )
        statuses = await _bulk(
            session,
            LeadStatus,
            [
                {
                    "organization_id": org_id,
                    "name": n,
                    "position": i,
                    "is_won": n == "Won",
                    "is_lost": n == "Lost",
                }
                for i, n in enumerate(["New", "Contacted", "Qualified", "Won", "Lost"])
            ],
        )
        await _bulk(
            session,
            Lead,
            [
                {
                    "organization_id": org_id,
                    "name": f"Lead {i}",
                    "status_id": rng.choice(statuses),
                    "created_at": now - timedelta(days=rng.uniform(0, 90)),
                    "custom": {},
                    "version": 1,
                }
                for i in range(2000)
            ],
        )
        await _bulk(
            session,
            Task,
            [
                _task_row(
                    org_id,
                    rng,
                    now - timedelta(days=rng.uniform(0, 12)),
                    i,
                    assignee_id=rng.choice(users[: 5 if i % 3 else 20]),
                )
                for i in range(2000)
            ],
        )
        await session.commit()
    finally:
        await session.close()
    return org_id


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from aicrm.ai.workload import planner, service
    from aicrm.ai.workload.schemas import AutoAssignIn
    from aicrm.config import get_settings
    from aicrm.db import Database
    from aicrm.kit.principal import system_principal

    await prepare(url)
    db = Database(get_settings(), url=url)
    try:
        t0 = time.perf_counter()
        plan_org = await seed_plan(db, args.tasks, args.members)
        scan_org = await seed_scan(db, args.deals, args.activities)
        seed_s = time.perf_counter() - t0

        principal = system_principal(plan_org)
        plan_times, solver_times = [], []
        out = None
        for _ in range(args.repeat):
            session = await db.session(write=False)
            try:
                t = time.perf_counter()
                out, result = await service.build_plan(session, principal, AutoAssignIn())
                plan_times.append(time.perf_counter() - t)
                solver_times.append(result.stats["seconds"])
            finally:
                await session.close()
        assert out is not None
        session = await db.session(write=True)
        try:
            t = time.perf_counter()
            applied = await service.auto_assign(
                session, principal, plan_org, AutoAssignIn(execute=True)
            )
            await session.commit()
            execute_s = time.perf_counter() - t
        finally:
            await session.close()

        principal = system_principal(scan_org)
        detect_times = []
        findings: list[Any] = []
        for _ in range(args.repeat):
            session = await db.session(write=False)
            try:
                t = time.perf_counter()
                findings, skipped = await service.detect(session, principal)
                detect_times.append(time.perf_counter() - t)
            finally:
                await session.close()
        session = await db.session(write=True)
        try:
            t = time.perf_counter()
            stored = await service.store(session, principal, findings)
            await session.commit()
            store_s = time.perf_counter() - t
        finally:
            await session.close()
    finally:
        await db.dispose()
    return {
        "seed_seconds": round(seed_s, 1),
        "plan": {
            "tasks": args.tasks,
            "members": args.members,
            "assigned": out.summary.assigned,
            "unassignable": out.summary.unassignable,
            "deadline_conflicts": out.summary.conflicts,
            "slots": out.stats["slots"],
            "service_seconds_best": round(min(plan_times), 3),
            "service_seconds_median": round(statistics.median(plan_times), 3),
            "optimiser_seconds_median": round(statistics.median(solver_times), 3),
            "solver_passes_max": planner.SOLVER_PASSES,
            "execute_seconds": round(execute_s, 2),
            "executed_assignments": applied.summary.assigned,
        },
        "scan": {
            "deals": args.deals,
            "inbound_activities": args.activities,
            "leads": 2000,
            "open_tasks": 2000,
            "detect_seconds_best": round(min(detect_times), 3),
            "detect_seconds_median": round(statistics.median(detect_times), 3),
            "store_seconds": round(store_s, 3),
            "findings": sorted({f.check for f in findings}),
            "stored": sum(1 for _, _, new in stored if new),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="database URL (overrides --db)")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--deals", type=int, default=10000)
    parser.add_argument("--activities", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import os

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    url = database_url(args.db, args.url)
    figures = asyncio.run(measure(url, args))
    out = {
        "benchmark": "ai_workload",
        "machine": machine(),
        "database": url.split("://", 1)[0],
        "results": figures,
        "command": rerun_command(),
    }
    write_json(RESULTS / f"ai_workload-{args.db}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
