"""Jobs/s of the job runner: a no-op job (`jobs.noop`) and a job that writes a row
(`bench.write`, one audit_log insert in the job's own transaction), embedded (`aicrm worker`
without a broker: one process, JOB_CONCURRENCY jobs at once) and on Celery (`aicrm worker
--concurrency 2` on Redis: two worker processes).

The jobs are queued first, then the worker starts; jobs/s = jobs / (last finished_at − first
started_at), read from the job table, so neither enqueueing nor process start-up is counted.
For Celery, "batched" jobs were queued 1,000 per transaction (the after-commit sender packs
100 ids per message); "single" jobs one per transaction (one message each), as requests do.

    .venv/bin/python bench/jobs.py
    .venv/bin/python bench/jobs.py --dbs sqlite --modes embedded --count 5000
    .venv/bin/python bench/jobs.py --broker amqp://guest:guest@127.0.0.1:5672//
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aicrm.jobs import JobContext, job
from aicrm.models import AuditLog

BENCH_DIR = Path(__file__).resolve().parent


@job("bench.write", max_attempts=3)
async def write_row(ctx: JobContext, n: int) -> None:
    """One row written in the job's transaction (which also marks the job succeeded)."""
    session = await ctx.session()
    session.add(AuditLog(action="bench", entity_type="bench", entity_id=n))


# -- set-up ----------------------------------------------------------------------------------


def bench_database(db: str) -> str:
    from common import PG_ADMIN_DSN, ROOT

    if db == "sqlite":
        path = ROOT / "data" / "bench" / "jobs.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        import asyncpg

        name = "aicrm_bench_jobs"

        async def fresh() -> None:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(fresh())
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    from aicrm import migrate

    migrate.upgrade(url)
    return url


def env_for(url: str, data_dir: Path, broker: str, queue: str, log_level: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DATABASE_URL=url,
        DATA_DIR=str(data_dir),
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_LEVEL=log_level,
        REDIS_URL="",
        CELERY_BROKER_URL=broker,
        CELERY_QUEUE=queue,
        JOB_MODULES=json.dumps(["jobs"]),  # this file, for bench.write
        PYTHONPATH=os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


async def _clear(url: str) -> None:
    from sqlalchemy import text

    from aicrm.db import Database

    db = Database(url=url)
    try:
        session = await db.session(write=True)
        await session.execute(text("DELETE FROM job"))
        await session.execute(text("DELETE FROM audit_log WHERE action = 'bench'"))
        await session.commit()
        await session.close()
    finally:
        await db.dispose()


async def _enqueue(url: str, name: str, count: int, per_transaction: int) -> float:
    """Queue `count` jobs through aicrm.jobs.enqueue; returns jobs/s of enqueueing."""
    from aicrm.db import Database
    from aicrm.jobs import enqueue

    db = Database(url=url)
    started = time.perf_counter()
    try:
        for start in range(0, count, per_transaction):
            session = await db.session(write=True)
            for n in range(start, min(count, start + per_transaction)):
                await enqueue(session, name, {"n": n})
            await session.commit()
            await session.close()
    finally:
        await db.dispose()
    return count / (time.perf_counter() - started)


async def _progress(url: str) -> tuple[int, int, float | None]:
    """(jobs, succeeded, seconds from first start to last finish)."""
    from sqlalchemy import func, select

    from aicrm.db import Database
    from aicrm.models import Job

    db = Database(url=url)
    try:
        session = await db.session(write=False)
        total, done, first, last = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(Job.status == "succeeded"),
                    func.min(Job.started_at),
                    func.max(Job.finished_at),
                )
            )
        ).one()
        await session.close()
    finally:
        await db.dispose()
    span = (last - first).total_seconds() if first and last else None
    return int(total), int(done), span


# -- one scenario ----------------------------------------------------------------------------


def run_scenario(
    *,
    url: str,
    mode: str,
    job_name: str,
    count: int,
    per_transaction: int,
    broker: str,
    workers: int,
    log_dir: Path,
    log_level: str,
    timeout: float,
) -> dict[str, Any]:
    from aicrm.config import get_settings
    from aicrm.jobs import backend

    queue = f"aicrm-bench-{uuid.uuid4().hex[:8]}"
    env = env_for(url, log_dir / "data", broker if mode == "celery" else "", queue, log_level)
    asyncio.run(_clear(url))
    # the bench process queues like the API would in this mode (Celery: publishes after commit)
    os.environ["CELERY_BROKER_URL"] = env["CELERY_BROKER_URL"]
    os.environ["CELERY_QUEUE"] = queue
    get_settings.cache_clear()
    backend.configure(get_settings())
    if mode == "celery":
        import importlib

        from aicrm.jobs import celery_app

        importlib.reload(celery_app)  # the app follows the scenario's broker and queue
    enqueue_rate = asyncio.run(_enqueue(url, job_name, count, per_transaction))
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "aicrm.cli", "worker"]
    cmd += ["--concurrency", str(workers)] if mode == "celery" else []
    log_path = log_dir / f"worker-{mode}-{job_name}-{per_transaction}.log"
    spawned = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=log_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                total, done, span = asyncio.run(_progress(url))
                if done >= count:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"the worker exited ({proc.returncode}); see {log_path}")
                if time.perf_counter() - spawned > timeout:
                    raise SystemExit(f"only {done}/{count} jobs after {timeout}s; see {log_path}")
                time.sleep(0.2)
            wall = time.perf_counter() - spawned
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    if mode == "celery" and broker.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()
    assert span is not None
    return {
        "jobs": count,
        "jobs_per_s": round(count / span, 1),
        "seconds_first_start_to_last_finish": round(span, 3),
        "wall_seconds_incl_worker_start": round(wall, 2),
        "enqueued_per_transaction": per_transaction,
        "enqueue_jobs_per_s": round(enqueue_rate, 1),
        # the machine is shared: a 1-min load far above the worker's own processes means the
        # figure is depressed by someone else's work
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "worker_log": str(log_path),
    }


TARGETS = {("embedded", "noop"): 1000, ("celery", "noop"): 500}


def main() -> None:
    from common import RESULTS, machine, rerun_command, write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--modes", default="embedded,celery")
    parser.add_argument("--count", type=int, default=20000, help="no-op jobs per run")
    parser.add_argument("--write-count", type=int, default=10000, help="row-writing jobs per run")
    parser.add_argument("--single-count", type=int, default=5000, help="Celery one-per-message")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--log-level", default="WARNING", help="the workers' LOG_LEVEL")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    log_dir = RESULTS / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for db in [d for d in args.dbs.split(",") if d]:
        url = bench_database(db)
        for mode in [m for m in args.modes.split(",") if m]:
            scenarios = [
                ("noop", "jobs.noop", args.count, 1000),
                ("write", "bench.write", args.write_count, 1000),
            ]
            if mode == "celery":
                scenarios.append(("noop_single", "jobs.noop", args.single_count, 1))
            for key, job_name, count, per_tx in scenarios:
                figures = run_scenario(
                    url=url,
                    mode=mode,
                    job_name=job_name,
                    count=count,
                    per_transaction=per_tx,
                    broker=args.broker,
                    workers=args.workers,
                    log_dir=log_dir,
                    log_level=args.log_level,
                    timeout=args.timeout,
                )
                target = TARGETS.get((mode, key))
                if target:
                    figures["target_jobs_per_s"] = target
                    figures["meets_target"] = figures["jobs_per_s"] >= target
                results.setdefault(db, {}).setdefault(mode, {})[key] = figures
                print(
                    f"{db:10} {mode:8} {key:12} {figures['jobs_per_s']:>9.1f} jobs/s",
                    file=sys.stderr,
                )
    out = {
        "benchmark": "jobs",
        "machine": machine(),
        "embedded": "`aicrm worker` without a broker: one process, JOB_CONCURRENCY="
        f"{os.environ.get('JOB_CONCURRENCY', '16')} jobs at once",
        "celery": f"`aicrm worker --concurrency {args.workers}` (prefork) on {args.broker}",
        "how": "jobs queued first; jobs/s = jobs / (last finished_at - first started_at)",
        "results": results,
        "command": rerun_command(),
    }
    write_json(RESULTS / "jobs.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
