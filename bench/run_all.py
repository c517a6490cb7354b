"""Every benchmark, once, on SQLite and on PostgreSQL (`make bench`).

For each database: load ten organizations with 1,000,000 contacts in one
(bench/load_contacts.py), drive the production server with wrk (bench/http_contacts.py), then
time the CSV import of 1,000,000 contacts (bench/import_csv.py), webhook deliveries/s
(bench/webhooks.py) and automation runs/s (bench/automation.py); then jobs/s embedded and on
Celery (bench/jobs.py) and websocket delivery latency with 1,000 clients (bench/websocket.py);
then the AI engine (bench/ai*.py: embeddings/s and RSS, text analysis, custom classifiers on
Banking77, lead scoring, churn, CLV, forecast backtest, workload planning). PostgreSQL uses its own bench databases, created when missing. Prints one JSON document and
keeps it in bench/results/.

    .venv/bin/python bench/run_all.py
    .venv/bin/python bench/run_all.py --dbs sqlite --contacts 200000 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from common import RESULTS, ROOT, machine, rerun_command, write_json

PY = sys.executable
AI_BENCHES = (
    "ai",
    "ai_text",
    "ai_classifiers",
    "ai_scoring",
    "ai_churn",
    "ai_clv",
    "ai_forecast",
    "ai_workload",
)


def run_json(args: list[str], timeout: int) -> dict[str, Any]:
    """Run one bench script; its stdout is a JSON document, its stderr passes through."""
    started = time.perf_counter()
    done = subprocess.run(
        [PY, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        return {
            "error": f"{' '.join(args)} exited {done.returncode}",
            "stdout": done.stdout[-2000:],
        }
    data = json.loads(done.stdout)
    data["wall_seconds"] = round(time.perf_counter() - started, 1)
    return data


def wait_for_quiet(max_wait: int, threshold: float) -> list[float]:
    """Other people share this machine: give their load a moment to pass before measuring."""
    deadline = time.time() + max_wait
    while time.time() < deadline and os.getloadavg()[0] > threshold:
        time.sleep(10)
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=3_000)
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--import-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded databases")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument(
        "--skip-events", action="store_true", help="skip jobs, webhooks, automation, websocket"
    )
    parser.add_argument("--skip-ai", action="store_true", help="skip the AI benchmarks")
    parser.add_argument(
        "--quiet-wait", type=int, default=120, help="max seconds to wait for a calm machine"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "run_all",
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "results": {},
    }
    for db in [d for d in args.dbs.split(",") if d]:
        res: dict[str, Any] = {}
        if not args.skip_load:
            res["load"] = run_json(
                [
                    "bench/load_contacts.py",
                    "--db",
                    db,
                    "--contacts",
                    str(args.contacts),
                    "--others",
                    str(args.others),
                ],
                timeout=1800,
            )
        res["load_average_before_http"] = wait_for_quiet(args.quiet_wait, 1.0)
        res["http"] = run_json(
            ["bench/http_contacts.py", "--db", db, "--duration", str(args.duration)],
            timeout=900,
        )
        if not args.skip_import:
            res["import"] = run_json(
                ["bench/import_csv.py", "--db", db, "--rows", str(args.import_rows)],
                timeout=1800,
            )
        if not args.skip_events:
            for script in ("webhooks", "automation"):
                res[script] = run_json([f"bench/{script}.py", "--db", db], timeout=900)
        report["results"][db] = res
        print(f"{db}: done", file=sys.stderr)
    if not args.skip_events:
        # jobs/s (embedded and Celery, each database) and websocket delivery latency
        report["results"]["jobs"] = run_json(["bench/jobs.py", "--dbs", args.dbs], timeout=1800)
        report["results"]["websocket"] = run_json(["bench/websocket.py"], timeout=900)
    if not args.skip_ai:
        for script in AI_BENCHES:
            report["results"][script] = run_json([f"bench/{script}.py"], timeout=3600)
    report["finished_at"] = datetime.now(UTC).isoformat()
    report["command"] = rerun_command()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    write_json(RESULTS / f"run_all-{stamp}.json", report)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
