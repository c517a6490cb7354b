"""Sales forecast quality: the backtest of `/api/v1/ai/forecasting` on the Maven Analytics CRM
pipeline (../shared/eval/maven_crm_pipeline: 8,800 opportunities of a fictitious B2B hardware
company, Oct 2016 - Dec 2017), beside naive baselines.

Loading, all through the HTTP API of a real server (`aicrm serve` in a subprocess, fresh
database): one organization, a pipeline Prospecting (10%) / Engaging (50%) / Won / Lost, the
85 accounts as companies, the 35 sales agents as members, and every opportunity as a deal created
in its stage at the product's list price (products.csv; the pipeline's "GTXPro" is "GTX Pro"),
then moved to Won (amount = close_value) or Lost. Lost deals keep their list price: that is what
the pipeline showed while they were open (the data set records 0 for them).

The API does not let a client set when a deal was created or closed, so after loading, this
script moves those timestamps back in the database (in-process, SQL on `deal.created_at`,
`deal.closed_at` and the deals' audit entries, which is where the forecast reads stage history):
created = engage_date, closed = close_date, both at noon UTC. Prospecting deals have no
engage_date; they are dated 2017-12-31, so they only appear in the forecast made after the data.

Then it asks the API for the forecast as of 2018-01-01 with a 6-month backtest (Jul - Dec 2017:
each month forecast from what was known at its start) and prints one JSON object.

    .venv/bin/python bench/ai_forecast.py
    .venv/bin/python bench/ai_forecast.py --db postgresql --backtest-months 9
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from common import PG_ADMIN_DSN, ROOT, VENV_BIN, machine, rerun_command

EVAL_DIR = Path(
    os.environ.get("AICRM_EVAL_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "eval")
)
DATA = EVAL_DIR / "maven_crm_pipeline"
PG_DATABASE = "aicrm_bench_forecast"
PASSWORD = "bench password 123"
PRODUCT_ALIASES = {"GTXPro": "GTX Pro"}
STAGES = [
    {"name": "Prospecting", "probability": 0.1},
    {"name": "Engaging", "probability": 0.5},
    {"name": "Won", "is_won": True},
    {"name": "Lost", "is_lost": True},
]
UNDATED = date(2017, 12, 31)


def noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


# -- server -------------------------------------------------------------------------------------


def fresh_database(db: str) -> str:
    if db == "sqlite":
        path = ROOT / "data" / "bench" / "ai_forecast.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        import asyncpg

        async def fresh() -> None:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
            finally:
                await conn.close()

        asyncio.run(fresh())
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DATABASE}"
    from aicrm import migrate

    migrate.upgrade(url)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = os.environ.copy()
    env.update(
        DATABASE_URL=url,
        DATA_DIR=str(data_dir),
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_LEVEL="WARNING",
        REDIS_URL="",
        EMBEDDED_WORKER="false",  # the forecast needs no jobs; keep the load on the API
        ACCESS_TOKEN_MINUTES="240",
        LOGIN_IP_RATE_PER_MINUTE="100000",
    )
    proc = subprocess.Popen(
        [str(VENV_BIN / "aicrm"), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
    proc.kill()
    raise SystemExit("server did not start")


# -- loading through the API --------------------------------------------------------------------


class Api:
    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.gate = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.requests = 0

    async def call(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        async with self.gate:
            for attempt in range(5):
                r = await self.client.request(method, path, json=body, headers=self.headers)
                self.requests += 1
                if r.status_code == 409 and "busy" in r.text and attempt < 4:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                break
        if r.status_code != ok:
            raise SystemExit(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None


async def register(client: httpx.AsyncClient, email: str, name: str, **extra: Any) -> Any:
    body = {"email": email, "password": PASSWORD, "full_name": name, **extra}
    r = await client.post("/api/v1/auth/register", json=body)
    if r.status_code != 201:
        raise SystemExit(f"register -> {r.status_code}: {r.text}")
    return r.json()


async def load(api: Api, limit: int | None) -> dict[str, Any]:
    client = api.client
    owner = await register(
        client,
        f"owner-{secrets.token_hex(4)}@maven.example",
        "Maven Owner",
        organization_name="Maven Bench",
    )
    api.headers = {"Authorization": f"Bearer {owner['access_token']}"}
    pipeline = await api.call(
        "POST", "/api/v1/pipelines", {"name": "Maven", "is_default": True, "stages": STAGES}, 201
    )

    accounts = read_csv("accounts.csv")
    companies: dict[str, int] = {}

    async def company(row: dict[str, str]) -> None:
        out = await api.call("POST", "/api/v1/companies", {"name": row["account"]}, 201)
        companies[row["account"]] = out["id"]

    await asyncio.gather(*(company(r) for r in accounts))

    for row in read_csv("sales_teams.csv"):
        email = (
            f"{row['sales_agent'].lower().replace(' ', '.')}-{secrets.token_hex(3)}@maven.example"
        )
        inv = await api.call("POST", "/api/v1/invitations", {"email": email, "role": "agent"}, 201)
        await register(client, email, row["sales_agent"], invitation_token=inv["token"])
    agents = {m["full_name"]: m["user_id"] for m in await api.call("GET", "/api/v1/members")}

    prices = {r["product"]: float(r["sales_price"]) for r in read_csv("products.csv")}
    rows = read_csv("sales_pipeline.csv")
    if limit:
        rows = rows[:limit]
    dates: dict[int, tuple[datetime, datetime | None]] = {}

    async def opportunity(row: dict[str, str]) -> None:
        product = PRODUCT_ALIASES.get(row["product"], row["product"])
        stage = "Prospecting" if row["deal_stage"] == "Prospecting" else "Engaging"
        body: dict[str, Any] = {
            "name": f"{product} · {row['account'] or 'unknown account'} ({row['opportunity_id']})",
            "pipeline_id": pipeline["id"],
            "stage": stage,
            "amount": prices[product],
        }
        if row["account"] in companies:
            body["company_id"] = companies[row["account"]]
        if row["sales_agent"] in agents:
            body["owner_id"] = agents[row["sales_agent"]]
        deal = await api.call("POST", "/api/v1/deals", body, 201)
        if row["deal_stage"] == "Won":
            await api.call(
                "PATCH",
                f"/api/v1/deals/{deal['id']}",
                {"stage": "Won", "amount": float(row["close_value"] or 0)},
            )
        elif row["deal_stage"] == "Lost":
            await api.call(
                "PUT",
                f"/api/v1/deals/{deal['id']}/stage",
                {"stage": "Lost", "won_lost_reason": "lost (Maven data set)"},
            )
        created = (
            noon(date.fromisoformat(row["engage_date"])) if row["engage_date"] else noon(UNDATED)
        )
        closed = noon(date.fromisoformat(row["close_date"])) if row["close_date"] else None
        dates[deal["id"]] = (created, closed)

    # a few workers, each creating and closing one opportunity at a time: closing moves a card
    # out of the Engaging column, which renumbers the cards below it, so the column is kept to
    # the open deals rather than all 8,800 at once
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for r in rows:
        queue.put_nowait(r)

    async def worker() -> None:
        while not queue.empty():
            await opportunity(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(api.concurrency)))
    seconds = time.perf_counter() - started
    return {
        "organization_id": owner["organization_id"],
        "pipeline_id": pipeline["id"],
        "dates": dates,
        "deals": len(rows),
        "agents": len(agents),
        "companies": len(companies),
        "load_seconds": round(seconds, 1),
        "requests": api.requests,
    }


async def backdate(
    url: str, org_id: int, dates: dict[int, tuple[datetime, datetime | None]]
) -> float:
    """Creation and close times the API does not accept, written in-process (see the docstring)."""
    from sqlalchemy import select, update

    from aicrm.db import Database
    from aicrm.models import AuditLog, Deal

    started = time.perf_counter()
    db = Database(url=url)
    try:
        session = await db.session(write=True)
        deal_rows = [
            {"id": i, "created_at": c, **({"closed_at": x} if x else {})}
            for i, (c, x) in dates.items()
        ]
        for batch in (
            [r for r in deal_rows if "closed_at" in r],
            [r for r in deal_rows if "closed_at" not in r],
        ):
            if batch:
                await session.execute(update(Deal), batch)
        entries = await session.execute(
            select(AuditLog.id, AuditLog.entity_id, AuditLog.action).where(
                AuditLog.organization_id == org_id,
                AuditLog.entity_type == "deal",
                AuditLog.action.in_(("create", "update")),
            )
        )
        audit_rows = []
        for audit_id, deal_id, action in entries.all():
            if deal_id not in dates:
                continue
            created, closed = dates[deal_id]
            when = created if action == "create" or closed is None else closed
            audit_rows.append({"id": audit_id, "created_at": when})
        if audit_rows:
            await session.execute(update(AuditLog), audit_rows)
        await session.commit()
        await session.close()
    finally:
        await db.dispose()
    return round(time.perf_counter() - started, 1)


# -- the measurement ----------------------------------------------------------------------------


def actual_by_month() -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in read_csv("sales_pipeline.csv"):
        if r["deal_stage"] == "Won":
            out[r["close_date"][:7]] += float(r["close_value"] or 0)
    return dict(out)


async def measure(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    body = {
        "as_of": args.as_of,
        "months": args.months,
        "backtest_months": args.backtest_months,
    }
    started = time.perf_counter()
    out = await api.call("POST", "/api/v1/ai/forecasting", body)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    await api.call("POST", "/api/v1/ai/forecasting", body)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    pipeline_only = await api.call(
        "POST", "/api/v1/ai/forecasting", {**body, "include_new_business": False, "months": 1}
    )
    ablation = time.perf_counter() - started
    started = time.perf_counter()
    live = await api.call("GET", "/api/v1/ai/forecasting")
    live_seconds = time.perf_counter() - started
    return {
        "forecast": out,
        "pipeline_only": pipeline_only,
        "live": live,
        "timing_seconds": {
            "forecast_with_backtest_cold": round(cold, 3),
            "forecast_cached": round(warm, 3),
            "pipeline_only_variant": round(ablation, 3),
            "live_forecast_today": round(live_seconds, 3),
            "server_elapsed_ms": out["elapsed_ms"],
        },
    }


def summary(
    load_info: dict[str, Any], backdate_s: float, m: dict[str, Any], args: Any
) -> dict[str, Any]:
    out = m["forecast"]
    bt = out["backtest"]
    truth = actual_by_month()
    months = []
    for row in bt["months"]:
        months.append(
            {
                "month": row["month"],
                "actual": row["actual"],
                "actual_in_csv": truth.get(row["month"], 0.0),
                "forecast": row["forecast"],
                "from_open_deals": row["expected"],
                "new_business": row["new_business"],
                "baseline_previous_month": row["baseline"],
                "baseline_3_month_mean": row["baseline_3m"],
                "error_pct": round(100 * (row["forecast"] - row["actual"]) / row["actual"], 1)
                if row["actual"]
                else None,
                "baseline_error_pct": round(
                    100 * (row["baseline"] - row["actual"]) / row["actual"], 1
                )
                if row["actual"]
                else None,
                "open_deals_at_start": row["open_deals"],
            }
        )
    pipeline_only_bt = m["pipeline_only"]["backtest"]
    return {
        "benchmark": "ai_forecast",
        "data": "maven_crm_pipeline (fictitious company; licence unverified, see SOURCE.md)",
        "db": args.db,
        "loaded_through_api": {
            "deals": load_info["deals"],
            "companies": load_info["companies"],
            "agents": load_info["agents"],
            "http_requests": load_info["requests"],
            "seconds": load_info["load_seconds"],
            "requests_per_second": round(load_info["requests"] / load_info["load_seconds"], 1),
            "timestamps_backdated_in_process_seconds": backdate_s,
        },
        "as_of": args.as_of,
        "backtest": {
            "months": months,
            "model": {"wape": bt["wape"], "mape": bt["mape"], "bias": bt["bias"]},
            "model_without_new_business": {"wape": bt["pipeline_only_wape"]},
            "baseline_previous_month": {
                "wape": bt["baseline_wape"],
                "mape": bt["baseline_mape"],
                "bias": bt["baseline_bias"],
            },
            "baseline_3_month_mean": {"wape": bt["baseline_3m_wape"]},
            "pipeline_only_run_wape": pipeline_only_bt["pipeline_only_wape"]
            if pipeline_only_bt
            else None,
        },
        "stages_learned": [
            {
                "stage": s["name"],
                "configured": s["configured_probability"],
                "learned": s["conversion"],
                "closed": s["closed"],
                "won": s["won"],
                "median_days_to_win": s["median_days_to_win"],
                "open_deals": s["open_deals"],
            }
            for s in out["stages"]
        ],
        "forecast_after_data": {
            "months": [
                {
                    k: x[k]
                    for k in (
                        "month",
                        "forecast",
                        "expected",
                        "commit",
                        "best_case",
                        "pipeline",
                        "new_business",
                    )
                }
                for x in out["months"]
            ],
            "totals": out["totals"],
        },
        "timing": m["timing_seconds"],
        "machine": machine(),
        "rerun": rerun_command(),
    }


async def run(args: argparse.Namespace, url: str, port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        api = Api(client, args.concurrency)
        info = await load(api, args.limit)
        backdate_s = await backdate(url, info["organization_id"], info["dates"])
        m = await measure(api, args)
    return summary(info, backdate_s, m, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--as-of", default="2018-01-01")
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--backtest-months", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="load only the first N deals")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} not found; set AICRM_EVAL_DIR")
    url = fresh_database(args.db)
    port = free_port()
    data_dir = ROOT / "data" / "bench" / "ai_forecast"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = start_server(url, port, data_dir)
    try:
        result = asyncio.run(run(args, url, port))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
