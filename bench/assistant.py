"""The offline assistant: command → plan latency (intent, slots, dates, amounts and the fuzzy
resolution of every name against the organization's records) with 100,000 leads in the
organization; optionally command → action (the planned tool executed, then rolled back).

A fresh database gets the demo data (`aicrm.seed.run_seed`), then 100,000 more leads in the
demo organization (Northwind), written in bulk with their folded name keys. The synthetic names
are double-barrelled ("Jessica Blake-Moreno") so that they never equal a demo name but crowd
every prefix the demo names have: each lookup has thousands of near neighbours. The commands
are the first turns of the evaluation set (tests/assistant_offline/data/*.jsonl): one pass to
warm up, then `--passes` timed passes, one database session per command as in a request.

    .venv/bin/python bench/assistant.py
    .venv/bin/python bench/assistant.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/h2_bench
    .venv/bin/python bench/assistant.py --leads 20000 --passes 2 --execute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import ROOT, machine, rerun_command
from live import fresh_database

sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "assistant_offline" / "data"
CHUNK = 5_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[k], 2)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": round(max(values), 2) if values else 0.0,
        "mean": round(statistics.fmean(values), 2) if values else 0.0,
    }


async def load_leads(url: str, n: int, seed: int) -> tuple[int, float]:
    """n synthetic leads in the demo organization, in bulk (Core inserts, chunked)."""
    from sqlalchemy import func, insert, select, text

    from aicrm import seed_data as words
    from aicrm.db import Database
    from aicrm.kit.text import fold
    from aicrm.models import Lead, LeadStatus, Organization

    rng = random.Random(seed)
    db = Database(url=url)
    started = time.perf_counter()
    async with db.sessionmaker() as session:
        org_id = (
            await session.execute(
                select(Organization.id).where(Organization.name == "Northwind Demo")
            )
        ).scalar_one()
        statuses = list(
            (
                await session.execute(
                    select(LeadStatus.id).where(LeadStatus.organization_id == org_id)
                )
            ).scalars()
        )
        ends = dict(
            (
                await session.execute(
                    select(Lead.status_id, func.count())
                    .where(Lead.organization_id == org_id)
                    .group_by(Lead.status_id)
                )
            ).all()
        )
        companies = [
            f"{a} {b}"
            for a in words.COMPANY_FIRST
            for b in sorted({x for v in words.COMPANY_SECOND.values() for x in v})
        ]
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for i in range(n):
            first = rng.choice(words.FIRST_NAMES)
            last, last2 = rng.sample(words.LAST_NAMES, 2)
            name = f"{first} {last}-{last2}"
            status = rng.choice(statuses)
            order = ends.get(status, 0)
            ends[status] = order + 1
            rows.append(
                {
                    "organization_id": org_id,
                    "name": name,
                    "name_key": fold(name),
                    "company": rng.choice(companies),
                    "email": f"lead{i}@bench.example",
                    "notes": "",
                    "status_id": status,
                    "card_order": order,
                    "source": "website",
                    "value": Decimal(rng.randrange(1_000, 120_000, 100)),
                    "priority": "medium",
                    "requirements": "",
                    "custom": {},
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(rows) == CHUNK or i == n - 1:
                await session.execute(insert(Lead.__table__), rows)
                rows = []
        await session.commit()
        await session.execute(text("ANALYZE"))
        await session.commit()
        total = (
            await session.execute(select(func.count()).where(Lead.organization_id == org_id))
        ).scalar_one()
    await db.dispose()
    return total, time.perf_counter() - started


def commands() -> list[str]:
    texts: list[str] = []
    for name in ("commands.jsonl", "holdout.jsonl", "holdout_late.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            if line.strip():
                texts.append(json.loads(line)["turns"][0]["text"])
    return texts


async def measure(url: str, passes: int, execute: bool) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    from tests.assistant_offline.evaluate import principal_for

    from aicrm.assistant import tools
    from aicrm.assistant.offline import Call, plan
    from aicrm.assistant.tools import ToolContext
    from aicrm.db import Database

    zone = "America/New_York"
    now = datetime(2026, 12, 9, 14, 30, tzinfo=ZoneInfo(zone))
    texts = commands()
    db = Database(url=url)
    if execute:
        tools.load()
    plan_ms: list[float] = []
    action_ms: dict[str, list[float]] = {}
    kinds: dict[str, int] = {}
    per_text: dict[str, list[float]] = {}
    try:
        async with db.sessionmaker() as session:
            principal = await principal_for(session)
        for p in range(passes + 1):
            for text in texts:
                async with db.sessionmaker() as session:
                    ctx = ToolContext(session=session, principal=principal, now=now, timezone=zone)
                    t0 = time.perf_counter()
                    result = await plan(ctx, [], text)
                    t1 = time.perf_counter()
                    if execute and isinstance(result, Call):
                        await tools.execute(ctx, result.name, result.args)
                        t2 = time.perf_counter()
                        if p:
                            action_ms.setdefault(result.name, []).append((t2 - t0) * 1000)
                    await session.rollback()
                if p == 0:
                    continue  # warm-up pass
                ms = (t1 - t0) * 1000
                plan_ms.append(ms)
                per_text.setdefault(text, []).append(ms)
                kind = type(result).__name__.lower()
                kinds[kind] = kinds.get(kind, 0) + 1
            log(f"pass {p} done ({'warm-up' if p == 0 else 'timed'})")
    finally:
        await db.dispose()
    slowest = sorted(per_text.items(), key=lambda kv: -max(kv[1]))[:5]
    out: dict[str, Any] = {
        "commands": len(texts),
        "samples": len(plan_ms),
        "plan_ms": summary(plan_ms),
        "plans": {k: v // max(1, passes) for k, v in sorted(kinds.items())},
        "slowest": [{"text": t, "max_ms": round(max(v), 1)} for t, v in slowest],
    }
    if execute:
        all_ms = [m for v in action_ms.values() for m in v]
        out["command_to_action_ms"] = summary(all_ms)
        out["command_to_action_ms_by_tool"] = {k: summary(v) for k, v in sorted(action_ms.items())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="PostgreSQL URL (emptied first); default: SQLite in a temp dir")
    ap.add_argument(
        "--leads", type=int, default=100_000, help="synthetic leads added to the demo org"
    )
    ap.add_argument("--passes", type=int, default=3, help="timed passes over the commands")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--execute", action="store_true", help="also run each planned tool (rolled back)"
    )
    args = ap.parse_args()
    # the app's log lines go to stdout; this script's stdout is one JSON document
    stdout, sys.stdout = sys.stdout, sys.stderr

    from aicrm.seed import run_seed

    with tempfile.TemporaryDirectory(prefix="aicrm-assistant-bench-") as tmp:
        url = fresh_database(args.db, Path(tmp), "assistant")
        log("seeding the demo data")
        asyncio.run(run_seed(seed=42, database_url=url))
        log(f"loading {args.leads} leads")
        total, load_s = asyncio.run(load_leads(url, args.leads, args.seed))
        log(f"{total} leads in the organization; measuring")
        result = asyncio.run(measure(url, args.passes, args.execute))
        log("the evaluation set against the crowded organization")
        from tests.assistant_offline.evaluate import evaluate

        accuracy = {
            name: {"passed": r["passed"], "cases": r["cases"], "accuracy": r["accuracy"]}
            for name, r in asyncio.run(evaluate(url)).items()
        }
    report = {
        "benchmark": "assistant offline command → plan",
        "database": "postgresql" if args.db else "sqlite",
        "leads_in_organization": total,
        "load_seconds": round(load_s, 1),
        **result,
        "evaluation_accuracy_with_these_leads": accuracy,
        "target": "plan p99 ≤ 150 ms",
        "machine": machine(),
        "rerun": rerun_command(),
    }
    stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
