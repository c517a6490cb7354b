"""AI engine figures that belong to no single feature: embeddings per second for 64-word texts
(bundled wordllama, cache bypassed and cached), and the peak RSS of the API process once every
model is loaded (a real `aicrm serve` on a fresh SQLite database, driven through each AI
endpoint so that each model is trained or loaded in that process).

    .venv/bin/python bench/ai.py
    .venv/bin/python bench/ai.py --texts 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, VENV_BIN, machine, rerun_command

TARGETS = {"embeddings_per_s": 2000, "api_peak_rss_mb": 300}
WORDS = (
    "customer invoice refund order delivery account password card payment transfer upgrade plan "
    "meeting schedule pricing quote contract renewal support ticket issue error login billing "
    "team demo trial discount shipping address phone email tomorrow today week month urgent "
    "please thanks help need want would like could should problem question product service"
).split()


def embeddings(n: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from aicrm.ai.providers.embeddings import CachedEmbedder, WordLlamaEmbedder

    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(64)) + f" #{i}" for i in range(n)]
    t0 = time.perf_counter()
    inner = WordLlamaEmbedder()
    load_s = time.perf_counter() - t0
    inner.embed(texts[:200])  # warm-up
    t0 = time.perf_counter()
    inner.embed(texts)
    raw = n / (time.perf_counter() - t0)
    cached = CachedEmbedder(inner, size=n)
    cached.embed(texts)
    t0 = time.perf_counter()
    cached.embed(texts)
    hit = n / (time.perf_counter() - t0)
    return {
        "model": inner.describe(),
        "texts": n,
        "words_per_text": 64,
        "load_seconds": round(load_s, 2),
        "embeddings_per_s": round(raw),
        "cached_embeddings_per_s": round(hit),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            key, value = line.split(":", 1)
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def api_rss() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="aicrm-bench-ai-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'ai.db'}",
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    }
    subprocess.run([VENV_BIN / "aicrm", "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [VENV_BIN / "aicrm", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    steps: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        steps["idle"] = rss_mb(proc.pid)
        c = httpx.Client(base_url=base, timeout=120)
        r = c.post(
            "/api/v1/auth/register",
            json={"email": "bench@example.com", "password": "bench-password-1", "full_name": "B"},
        )
        r.raise_for_status()
        org = r.json()["organization_id"]
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        lead = c.post("/api/v1/leads", json={"name": "Dana Smith", "value": 12000}).json()
        contact = c.post("/api/v1/contacts", json={"name": "Sam Lee", "status": "customer"}).json()
        deal = c.post("/api/v1/deals", json={"name": "Renewal", "amount": 9000}).json()
        c.post("/api/v1/tasks", json={"title": "Call back about the invoice"})
        examples = [
            {"text": f"{w} {v} please", "label": label}
            for label, words in (
                ("billing", ("invoice", "refund", "charge")),
                ("tech", ("login", "error", "crash")),
            )
            for w in words
            for v in ("issue", "question", "problem", "help", "today")
        ]
        calls = [
            (
                "analyze",
                "POST",
                "/api/v1/ai/analyze",
                {
                    "text": "Hi, I'm Dana from Acme Inc. Our login is down since 9am, please call +1 415 555 0100 ASAP!"
                },
            ),
            (
                "sentiment",
                "POST",
                "/api/v1/ai/sentiment-analysis",
                {"text": "Thanks, that was really helpful"},
            ),
            (
                "classifier",
                "POST",
                "/api/v1/ai/classifiers",
                {"name": "bench", "examples": examples},
            ),
            ("qualify", "POST", f"/api/v1/leads/{lead['id']}/qualify", None),
            ("win_probability", "POST", f"/api/v1/deals/{deal['id']}/win-probability", None),
            ("customer_insights", "GET", f"/api/v1/customers/{contact['id']}/insights", None),
            ("forecast", "GET", "/api/v1/ai/forecasting", None),
            ("auto_assign", "POST", f"/api/v1/workspaces/{org}/tasks/auto-assign", {}),
            ("optimize", "POST", f"/api/v1/workspaces/{org}/optimize", None),
            ("status", "GET", "/api/v1/ai/status", None),
        ]
        for name, method, path, body in calls:
            r = c.request(method, path, json=body) if body is not None else c.request(method, path)
            steps[name] = {"status": r.status_code, **rss_mb(proc.pid)}
        # the classifier trains in the embedded worker; then predict loads it in this process
        clf = next(
            (i for i in c.get("/api/v1/ai/classifiers").json()["items"] if i["name"] == "bench"),
            None,
        )
        for _ in range(600):
            if clf is None or clf["status"] in ("ready", "failed"):
                break
            time.sleep(0.1)
            clf = c.get(f"/api/v1/ai/classifiers/{clf['id']}").json()
        if clf is not None:
            r = c.post(
                f"/api/v1/ai/classifiers/{clf['id']}/predict",
                json={"texts": ["refund my invoice please", "the login page shows an error"]},
            )
            steps["classifier_predict"] = {"status": r.status_code, **rss_mb(proc.pid)}
        time.sleep(3)  # let the other queued jobs (scoring, scans) finish
        steps["after_jobs"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    peak = max(v.get("VmHWM", 0) for v in steps.values() if isinstance(v, dict))
    return {"peak_rss_mb": peak, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10000)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "targets": TARGETS}
    result["embeddings"] = embeddings(args.texts)
    if not args.skip_rss:
        result["api"] = api_rss()
    result["rerun"] = rerun_command()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
