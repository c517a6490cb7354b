"""HTTP figures for contacts under the production server (`aicrm serve --workers 2`, granian).

Drives the server with wrk on loopback: GET by id, a 50-row keyset page (following cursors),
a name-prefix search and create, each at 64 and 8 connections. Load the data first with
bench/load_contacts.py; this script reads its state file (API key, id range, prefixes).

    .venv/bin/python bench/http_contacts.py --db sqlite
    .venv/bin/python bench/http_contacts.py --db postgresql --duration 15
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, VENV_BIN, machine, read_state, rerun_command, write_json

WRK_DIR = ROOT / "bench" / "wrk"
SCENARIOS: dict[str, dict[str, Any]] = {
    "get_by_id": {"script": "get_by_id.lua", "what": "GET /api/v1/contacts/{random id}"},
    "page_50": {"script": "page.lua", "what": "GET /api/v1/contacts?limit=50 (+ next_cursor)"},
    "search_prefix": {"script": "search.lua", "what": "GET /api/v1/contacts?q=<prefix>&limit=20"},
    "create": {"script": "create.lua", "what": "POST /api/v1/contacts"},
}
# From the issue: on a 2-core machine, at 64 and at 8 connections, on SQLite and PostgreSQL.
TARGETS = {
    "get_by_id": {"min_rps": 2000},
    "page_50": {"min_rps": 1000},
    "search_prefix": {"max_p50_ms": 20, "max_p99_ms": 100},
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return round(float(m.group(1)) * _UNITS[m.group(2)], 3)


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s and the --latency distribution from wrk's text output, plus the status
    counts our Lua `done()` prints on its WRK_JSON line."""
    out: dict[str, Any] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    out["rps"] = round(float(rps.group(1)), 1) if rps else 0.0
    dist = {}
    block = output.split("Latency Distribution", 1)
    if len(block) == 2:
        for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)", block[1], flags=re.M):
            dist[f"p{pct}"] = to_ms(value)
    out["latency_ms"] = dist
    line = re.search(r"^WRK_JSON (.*)$", output, flags=re.M)
    if line:
        extra = json.loads(line.group(1))
        out["requests"] = extra["requests"]
        out["statuses"] = extra["statuses"]
        out["socket_errors"] = {k: v for k, v in extra["errors"].items() if v}
        out["latency_ms"]["p99.9"] = round(extra["latency_us"]["p999"] / 1000, 3)
        out["latency_ms"]["max"] = round(extra["latency_us"]["max"] / 1000, 3)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    out["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return out


class Server:
    """`aicrm serve --workers 2` in its own process group, logs to a file."""

    def __init__(self, database_url: str, port: int, workers: int, log_level: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = RESULTS / f"server-{port}.log"
        env = os.environ.copy()
        env.update(
            DATABASE_URL=database_url,
            ENVIRONMENT="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            LOG_LEVEL=log_level,
            DATA_DIR=str(RESULTS / "server-data"),
        )
        self.cmd = [
            str(VENV_BIN / "aicrm"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise SystemExit(f"the server was not ready in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def postgres_backends(database_url: str) -> list[int]:
    """Server processes serving our benchmark database (not other people's)."""
    if not database_url.startswith("postgresql"):
        return []
    import asyncio

    import asyncpg
    from common import asyncpg_dsn

    async def fetch() -> list[int]:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            return [r["pid"] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch())


class CpuMeter:
    """CPU time the server's workers, the database's backends and wrk spent in one run:
    on a shared machine this says more about capacity than requests/s alone."""

    def __init__(self, server: Server, database_url: str) -> None:
        self.server = server
        self.database_url = database_url

    def start(self) -> None:
        self.workers0 = cpu_seconds(_children(self.server.proc.pid))
        self.db0 = cpu_seconds(postgres_backends(self.database_url))
        self.wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def stop(self, requests: int) -> dict[str, Any]:
        workers = cpu_seconds(_children(self.server.proc.pid))
        db = cpu_seconds(postgres_backends(self.database_url))
        wrk = resource.getrusage(resource.RUSAGE_CHILDREN)

        def delta(after: dict[int, float], before: dict[int, float]) -> float:
            return sum(v - before.get(pid, 0.0) for pid, v in after.items())

        spent = {
            "server_workers": delta(workers, self.workers0),
            "database": delta(db, self.db0),
            "wrk": (wrk.ru_utime + wrk.ru_stime) - (self.wrk0.ru_utime + self.wrk0.ru_stime),
        }
        out: dict[str, Any] = {"cpu_seconds": {k: round(v, 2) for k, v in spent.items()}}
        if requests:
            per = {k: round(v / requests * 1000, 3) for k, v in spent.items()}
            out["cpu_ms_per_request"] = per
            app_and_db = per["server_workers"] + per["database"]
            if app_and_db > 0:
                # what two idle cores could serve if only the server and database used them
                out["capacity_estimate_rps_2_cores"] = round(2000 / app_and_db)
        return out


def run_wrk(
    url: str, script: str, connections: int, duration: int, threads: int, env: dict[str, str]
) -> tuple[list[str], str]:
    cmd = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return cmd, done.stdout


def check_targets(name: str, figures: dict[str, Any]) -> dict[str, Any] | None:
    target = TARGETS.get(name)
    if target is None:
        return None
    ok = True
    if "min_rps" in target:
        ok &= figures["rps"] >= target["min_rps"]
    if "max_p50_ms" in target:
        ok &= figures["latency_ms"].get("p50", 1e9) <= target["max_p50_ms"]
    if "max_p99_ms" in target:
        ok &= figures["latency_ms"].get("p99", 1e9) <= target["max_p99_ms"]
    return {**target, "met": bool(ok)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--duration", type=int, default=12, help="seconds per wrk run (≤ 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded load first")
    parser.add_argument("--connections", default="64,8")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--log-level", default="INFO", help="the server's LOG_LEVEL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.duration > 15:
        raise SystemExit("keep each wrk run at 15 s or less (the machine is shared)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian) and retry")
    state = read_state(args.db)
    names = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    connections = [int(c) for c in args.connections.split(",")]
    port = args.port or free_port()
    wrk_env = os.environ.copy()
    wrk_env.update(
        BENCH_WRK_DIR=str(WRK_DIR),
        BENCH_API_KEY=state["api_key"],
        BENCH_ID_MIN=str(state["big_org"]["id_min"]),
        BENCH_ID_MAX=str(state["big_org"]["id_max"]),
        BENCH_PREFIXES=",".join(p["prefix"] for p in state["search_prefixes"]),
    )
    server = Server(state["database_url"], port, args.workers, args.log_level)
    meter = CpuMeter(server, state["database_url"])
    results: dict[str, Any] = {}
    commands: dict[str, list[str]] = {}
    try:
        server.wait_ready()
        for name in names:
            script = SCENARIOS[name]["script"]
            if args.warmup:
                run_wrk(server.url, script, 8, args.warmup, args.threads, wrk_env)
            results[name] = {"what": SCENARIOS[name]["what"]}
            for c in connections:
                before = os.getloadavg()[0]
                meter.start()
                cmd, text = run_wrk(server.url, script, c, args.duration, args.threads, wrk_env)
                commands[f"{name}@{c}"] = cmd
                figures = parse_wrk(text)
                figures.update(meter.stop(figures.get("requests", 0)))
                # other people share this machine: a 1-min load far above 2 (wrk + 2 workers)
                # before a run means the figure is depressed by someone else's work
                figures["load_average_1m"] = {"before": before, "after": os.getloadavg()[0]}
                target = check_targets(name, figures)
                if target is not None:
                    figures["target"] = target
                results[name][str(c)] = figures
                print(
                    f"{args.db:10} {name:14} c={c:<3} {figures['rps']:>9.1f} req/s  "
                    f"p50 {figures['latency_ms'].get('p50')} ms  "
                    f"p99 {figures['latency_ms'].get('p99')} ms  non-2xx {figures['non_2xx']}",
                    file=sys.stderr,
                )
    finally:
        server.stop()
    out = {
        "benchmark": "http_contacts",
        "db": args.db,
        "machine": machine(),
        "server": f"granian via `aicrm serve --workers {args.workers}`, LOG_LEVEL={args.log_level}",
        "load_generator": f"wrk -t{args.threads} on the same machine, {args.duration}s per run, "
        f"{args.warmup}s warm-up per scenario",
        "dataset": {
            "organizations": state["organizations"],
            "contacts_total": state["contacts_total"],
            "big_org_contacts": state["big_org"]["contacts"],
            "search_prefixes": len(state["search_prefixes"]),
        },
        "results": results,
        "wrk_command_example": " ".join(next(iter(commands.values()), [])),
        "server_log": str(server.log_path),
        "command": rerun_command(),
    }
    write_json(RESULTS / f"http-{args.db}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
