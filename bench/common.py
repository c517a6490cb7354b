"""Shared by the benchmark scripts: paths, database URLs, the loader's state file, machine facts."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sqlite3
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"  # git-ignored
VENV_BIN = ROOT / ".venv" / "bin"
SQLITE_PATH = ROOT / "data" / "bench" / "contacts.db"  # data/ is git-ignored
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "aicrm_bench"


def database_url(db: str, override: str | None = None) -> str:
    if override:
        return override
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{SQLITE_PATH}"
    if db == "postgresql":
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"
    raise SystemExit(f"--db must be sqlite or postgresql, not {db!r}")


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq DSN for asyncpg."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def pg_database_name(url: str) -> str:
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if name in ("test", "postgres", ""):
        raise SystemExit(f"refusing to benchmark in the database {name!r}; use {PG_DATABASE}")
    return name


def state_path(db: str) -> Path:
    return RESULTS / f"state-{db}.json"


def read_state(db: str) -> dict[str, Any]:
    path = state_path(db)
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: load the data first with `python bench/load_contacts.py --db {db}`"
        )
    return json.loads(path.read_text())


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def rerun_command() -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])


def cpu_calibration_us() -> float:
    """Best-of-5 microseconds for `sum(range(1000))`: how fast one core runs Python right now.
    It rises several-fold while other work shares the cores; figures measured at very different
    calibrations are not comparable."""
    import timeit

    return round(min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6, 1)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_calibration_us": cpu_calibration_us(),
    }
