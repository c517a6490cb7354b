"""Churn model quality on the IBM Telco churn data, loaded through the product's CSV import.

Protocol (all through the HTTP API of a live server on a fresh database):

1. the 7,043 customers are split 70/30, stratified on `Churn`, with a fixed seed;
2. each telco column becomes a contact custom field (numbers as `number`, SeniorCitizen as
   `boolean`, Contract / PaymentMethod / InternetService / gender as `select`, the Yes/No and
   "No internet service" columns as plain `text`: the model turns Yes/No text into 1/0 itself);
   `customerID` becomes the contact's name;
3. preprocessing: the `Churn` column is replaced by a `status` column — "churned" for Yes,
   "customer" for No — for the 70% only;
4. the 70% are imported (POST /api/v1/imports/contacts) and the model is trained on them
   (POST /api/v1/ai/churn/train; its own stratified 30% hold-out inside that 70% gives the
   "internal" AUC);
5. only then the 30% are imported, every one with status "customer" (their true labels stay in
   this script), and scored (POST /api/v1/ai/churn/score): the model never saw them at all;
6. their `churn_risk` is read back (GET /api/v1/contacts) and scored against the true labels.

Baseline: logistic regression on `tenure` alone, trained on the same 70%, scored on the same 30%.

    .venv/bin/python bench/ai_churn.py
    .venv/bin/python bench/ai_churn.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/h4_customers
    .venv/bin/python bench/ai_churn.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import secrets
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from live import Server, fresh_database

EVAL = Path(
    os.environ.get("AICRM_EVAL_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "eval")
)
DATA = EVAL / "telco_churn" / "Telco-Customer-Churn.csv"
NUMBERS = {"tenure", "MonthlyCharges", "TotalCharges"}
BOOLEANS = {"SeniorCitizen"}
SELECTS = {"gender", "Contract", "PaymentMethod", "InternetService"}
TARGET = 0.85


def key_of(column: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", column).lower().replace("__", "_")


def load() -> tuple[list[str], list[dict[str, str]]]:
    with DATA.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def split(rows: list[dict[str, str]], seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import train_test_split

    y = [r["Churn"] == "Yes" for r in rows]
    train, test = train_test_split(
        list(range(len(rows))), test_size=0.3, stratify=y, random_state=seed
    )
    return sorted(train), sorted(test)


def to_csv(columns: list[str], rows: list[dict[str, str]], *, hide_labels: bool) -> bytes:
    features = [c for c in columns if c not in ("customerID", "Churn")]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["name", "status", *[f"custom.{key_of(c)}" for c in features]])
    for r in rows:
        status = "customer" if hide_labels or r["Churn"] != "Yes" else "churned"
        w.writerow([r["customerID"], status, *[r[c].strip() for c in features]])
    return out.getvalue().encode()


def tenure_baseline(rows: list[dict[str, str]], train: list[int], test: list[int]) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x = np.array([[float(r["tenure"])] for r in rows])
    y = np.array([r["Churn"] == "Yes" for r in rows], dtype=int)
    model = LogisticRegression().fit(x[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


# -- a live server on a fresh database --------------------------------------------------------


# -- the run ----------------------------------------------------------------------------------


async def run_once(
    base: str, columns: list[str], rows: list[dict[str, str]], seed: int
) -> dict[str, Any]:
    import httpx
    import numpy as np
    from sklearn.metrics import roc_auc_score

    train, test = split(rows, seed)
    timings: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, timeout=600) as c:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        r = await c.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": "correct horse battery",
                "full_name": "Bench",
                "organization_name": f"Telco {seed}",
            },
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for col in columns:
            if col in ("customerID", "Churn"):
                continue
            body: dict[str, Any] = {
                "entity_type": "contact",
                "key": key_of(col),
                "label": col,
                "field_type": "text",
            }
            if col in NUMBERS:
                body["field_type"] = "number"
            elif col in BOOLEANS:
                body["field_type"] = "boolean"
            elif col in SELECTS:
                body["field_type"] = "select"
                body["options"] = sorted({row[col] for row in rows})
            r = await c.post("/api/v1/custom-fields", json=body, headers=headers)
            assert r.status_code == 201, r.text

        async def import_csv(data: bytes, name: str) -> dict[str, Any]:
            t0 = time.perf_counter()
            r = await c.post(
                "/api/v1/imports/contacts",
                files={"file": (name, data, "text/csv")},
                data={"on_duplicate": "create"},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            report = r.json()
            timings[f"import_{name}_s"] = round(time.perf_counter() - t0, 2)
            assert report["failed"] == 0, report["errors"][:3]
            return report

        rep = await import_csv(
            to_csv(columns, [rows[i] for i in train], hide_labels=False), "train"
        )
        t0 = time.perf_counter()
        r = await c.post("/api/v1/ai/churn/train", headers=headers)
        assert r.status_code == 200, r.text
        timings["train_s"] = round(time.perf_counter() - t0, 2)
        status = r.json()
        await import_csv(to_csv(columns, [rows[i] for i in test], hide_labels=True), "test")
        t0 = time.perf_counter()
        r = await c.post("/api/v1/ai/churn/score", headers=headers)
        assert r.status_code == 200, r.text
        timings["score_all_s"] = round(time.perf_counter() - t0, 2)
        scored = r.json()

        risk: dict[str, tuple[int, float | None]] = {}
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500, "sort": "id"}
            if cursor:
                params["cursor"] = cursor
            r = await c.get("/api/v1/contacts", params=params, headers=headers)
            page = r.json()
            for item in page["items"]:
                risk[item["name"]] = (item["id"], item["churn_risk"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        y = np.array([rows[i]["Churn"] == "Yes" for i in test], dtype=int)
        p = np.array([risk[rows[i]["customerID"]][1] for i in test], dtype=float)
        auc = float(roc_auc_score(y, p))
        order = np.argsort(-p)
        top = order[: len(order) // 10]
        # one explanation, read the way a user would: the riskiest held-out customer
        riskiest = rows[test[int(order[0])]]["customerID"]
        t0 = time.perf_counter()
        r = await c.get(f"/api/v1/customers/{risk[riskiest][0]}/insights", headers=headers)
        timings["insights_first_request_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        t0 = time.perf_counter()
        await c.get(f"/api/v1/customers/{risk[riskiest][0]}/insights", headers=headers)
        timings["insights_stored_request_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        insight = r.json()["churn_risk"]
    active = status.get("active") or {}
    return {
        "seed": seed,
        "n_train": len(train),
        "n_test": len(test),
        "imported_train": rep["created"],
        "roc_auc_test": round(auc, 4),
        "baseline_tenure_lr_auc_test": round(tenure_baseline(rows, train, test), 4),
        "precision_at_10pct": round(float(y[top].mean()), 4),
        "base_rate_test": round(float(y.mean()), 4),
        "brier_test": round(float(np.mean((p - y) ** 2)), 4),
        "model": {
            "version": active.get("version"),
            "algorithm": active.get("algorithm"),
            "internal_holdout_auc": (active.get("metrics") or {}).get("auc"),
            "internal_rules_auc": (active.get("metrics") or {}).get("rules_auc"),
            "C": (active.get("metrics") or {}).get("C"),
            "features": (active.get("metrics") or {}).get("features"),
            "columns": (active.get("metrics") or {}).get("columns"),
            "top_features": (active.get("metrics") or {}).get("top_features", [])[:5],
        },
        "scored": scored["scored"],
        "example": {
            "customer": riskiest,
            "churn_risk": insight["value"],
            "label": insight["label"],
            "reasons": [x["text"] for x in insight["reasons"]],
        },
        "timings": timings,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--db", default="", help="SQLAlchemy URL of a PostgreSQL database to wipe and use"
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing (set AICRM_EVAL_DIR)")
    tmp = Path(tempfile.mkdtemp(prefix="aicrm-churn-"))
    os.environ.setdefault("ENVIRONMENT", "test")
    os.environ["DATA_DIR"] = str(tmp)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["LOG_LEVEL"] = "ERROR"  # stdout carries the JSON result only
    os.environ["LOGIN_IP_RATE_PER_MINUTE"] = "100000"
    os.environ["REDIS_URL"] = ""
    os.environ["AI_RETRAIN_EVERY"] = "0"  # no scheduled retrain while measuring
    columns, rows = load()
    url = fresh_database(args.db, tmp, "churn")
    runs = []
    with Server(url) as server:
        for seed in args.seeds:
            runs.append(asyncio.run(run_once(server.url, columns, rows, seed)))
    aucs = [r["roc_auc_test"] for r in runs]
    base = [r["baseline_tenure_lr_auc_test"] for r in runs]
    result = {
        "bench": "ai_churn",
        "data": "IBM Telco customer churn, 7,043 customers, 70/30 stratified split",
        "database": "postgresql" if args.db else "sqlite",
        "target_auc": TARGET,
        "roc_auc_test_mean": round(sum(aucs) / len(aucs), 4),
        "baseline_tenure_lr_auc_test_mean": round(sum(base) / len(base), 4),
        "roc_auc_test_min": min(aucs),
        "meets_target": {
            "mean": sum(aucs) / len(aucs) >= TARGET,
            "every_split": min(aucs) >= TARGET,
        },
        "runs": runs,
        "rerun": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
