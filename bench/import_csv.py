"""CSV import of 1,000,000 contacts: seconds and peak RSS of `aicrm import contacts`.

Generates the CSV once (bench/results/contacts-<rows>.csv), then runs the real CLI under
`/usr/bin/time -v` against the database bench/load_contacts.py prepared, into a new empty
organization per run. Skips (and says so) when `aicrm.imports.cli.run_import` does not exist.

    .venv/bin/python bench/import_csv.py --db sqlite
    .venv/bin/python bench/import_csv.py --db postgresql --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import phonenumbers
from common import (
    RESULTS,
    ROOT,
    VENV_BIN,
    asyncpg_dsn,
    machine,
    read_state,
    rerun_command,
    write_json,
)

from aicrm import seed_data as words
from aicrm.auth import security
from aicrm.db import Database
from aicrm.models import User
from aicrm.orgs import service as org_service

TARGET = {"max_seconds": 120, "max_rss_mb": 500}
HEADER = ["first_name", "last_name", "email", "phone", "company_name", "title", "city", "country"]
AREA_CODES = (212, 312, 415, 512, 617, 206, 303, 404, 305, 503, 646, 718, 213, 408, 702, 615)


def importer_available() -> str | None:
    """None when the CLI importer exists, else why not."""
    try:
        module = importlib.import_module("aicrm.imports.cli")
    except ImportError as exc:
        return f"aicrm.imports.cli is missing ({exc})"
    if not hasattr(module, "run_import"):
        return "aicrm.imports.cli.run_import is missing"
    return None


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower().encode("ascii", "ignore").decode())


def make_csv(path: Path, rows: int, seed: int = 7) -> float:
    """A realistic contacts CSV: unique emails, valid US phones for 70% of rows, ~5,000
    companies. Returns the seconds it took (0 when the file was already there)."""
    if path.exists() and path.stat().st_size > 0:
        return 0.0
    started = time.perf_counter()
    rng = random.Random(seed)
    companies = [
        f"{a} {b}"
        for a in words.COMPANY_FIRST
        for b in sorted({w for ws in words.COMPANY_SECOND.values() for w in ws})
    ]
    rng.shuffle(companies)
    companies = companies[:5000]
    # (area code, exchange) pairs libphonenumber accepts: 10,000 unique valid numbers each
    blocks = [
        (area, exchange)
        for area in AREA_CODES
        for exchange in range(200, 1000)
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}{exchange}0000"))
    ]
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for n in range(rows):
            first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            company = companies[n % len(companies)]
            domain = _key(company) + ".example"
            city = words.CITIES[n % len(words.CITIES)]
            phone = ""
            if n % 10 < 7:
                area, exchange = blocks[(n // 10_000) % len(blocks)]
                phone = f"({area}) {exchange}-{n % 10_000:04d}"
            out.writerow(
                [
                    first,
                    last,
                    f"{_key(first)}.{_key(last)}.{n}@{domain}",
                    phone,
                    company,
                    words.TITLES[n % len(words.TITLES)],
                    city[0],
                    city[2],
                ]
            )
    tmp.rename(path)
    return round(time.perf_counter() - started, 2)


async def new_organization(url: str) -> str:
    """An empty organization for this run, so every run imports into the same starting state."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    db = Database(url=url)
    try:
        async with db.sessionmaker() as session, session.begin():
            owner = User(
                email=f"import-{stamp}@bench.example",
                full_name="Bench Import",
                password_hash=security.hash_password("bench-password"),
            )
            session.add(owner)
            await session.flush()
            org = await org_service.create_organization(
                session, name=f"Bench Import {stamp}", owner=owner
            )
            return org.slug
    finally:
        await db.dispose()


def count_contacts(url: str, slug: str) -> int:
    sql = (
        "SELECT count(*) FROM contact c JOIN organization o ON o.id = c.organization_id "
        "WHERE o.slug = "
    )
    if url.startswith("sqlite"):
        conn = sqlite3.connect(f"file:{url.split('///', 1)[1]}?mode=ro", uri=True)
        try:
            return int(conn.execute(sql + "?", (slug,)).fetchone()[0])
        finally:
            conn.close()

    async def fetch() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return int(await conn.fetchval(sql + "$1", slug))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def peak_rss_kb(pid: int) -> int:
    """VmHWM (peak resident set) of the process and its children, in kB."""
    total = 0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total = max(total, int(line.split()[1]))
        except OSError:
            pass
    return total


def parse_time_v(stderr: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if rss:
        out["peak_rss_mb"] = round(int(rss.group(1)) / 1024, 1)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", stderr)
    if wall:
        seconds = 0.0
        for part in wall.group(1).split(":"):
            seconds = seconds * 60 + float(part)
        out["seconds"] = round(seconds, 2)
    for key, label in (("user_seconds", "User time"), ("system_seconds", "System time")):
        m = re.search(label + r" \(seconds\): ([\d.]+)", stderr)
        if m:
            out[key] = float(m.group(1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=1200, help="give up after this many s")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "import_csv",
        "db": args.db,
        "machine": machine(),
        "rows": args.rows,
        "command": rerun_command(),
    }
    missing = importer_available()
    if missing:
        result["skipped"] = missing
        print(json.dumps(result, indent=2))
        return
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time is missing: apt-get install -y time")
    state = read_state(args.db)
    url = state["database_url"]
    org_slug = asyncio.run(new_organization(url))
    result["organization"] = org_slug
    csv_path = RESULTS / f"contacts-{args.rows}.csv"
    result["csv_seconds"] = make_csv(csv_path, args.rows)
    result["csv_mb"] = round(csv_path.stat().st_size / 1e6, 1)
    cmd = [
        "/usr/bin/time",
        "-v",
        str(VENV_BIN / "aicrm"),
        "import",
        "contacts",
        str(csv_path),
        "--org",
        org_slug,
    ]
    env = os.environ.copy()
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING", DATA_DIR=str(RESULTS / "data"))
    result["import_command"] = " ".join(cmd[2:])
    result["load_average_before"] = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak = 0
    while proc.poll() is None and time.perf_counter() - started < args.timeout:
        peak = max(peak, peak_rss_kb(proc.pid))
        time.sleep(1)
    if proc.poll() is None:
        # stop /usr/bin/time and the importer under it
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        done_rows = count_contacts(url, org_slug)
        result["error"] = f"did not finish within {args.timeout}s"
        result["seconds"] = args.timeout
        result["rows_imported_before_timeout"] = done_rows
        result["rows_per_second"] = round(done_rows / args.timeout, 1)
        result["peak_rss_mb_so_far"] = round(peak / 1024, 1)
        result["load_average_after"] = os.getloadavg()
        write_json(RESULTS / f"import-{args.db}.json", result)
        print(json.dumps(result, indent=2))
        return
    stdout, stderr = proc.communicate()
    result["load_average_after"] = os.getloadavg()
    result["exit_code"] = proc.returncode
    result.update(parse_time_v(stderr))
    result["rows_per_second"] = round(args.rows / max(result.get("seconds", 0.0), 1e-9), 1)
    try:
        report = json.loads(stdout)
        result["report"] = {
            k: v
            for k, v in report.items()
            if k not in ("errors", "row_errors") and not isinstance(v, list)
        }
        result["report"]["errors"] = len(report.get("errors") or [])
    except json.JSONDecodeError:
        result["stdout_tail"] = stdout[-800:]
        result["stderr_tail"] = stderr[-800:]
    if "seconds" in result and "peak_rss_mb" in result:
        result["target"] = {
            **TARGET,
            "met": result["seconds"] <= TARGET["max_seconds"]
            and result["peak_rss_mb"] <= TARGET["max_rss_mb"]
            and proc.returncode == 0,
        }
    write_json(RESULTS / f"import-{args.db}.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
