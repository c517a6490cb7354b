"""Lifetime value through the product's CLV service on the CDNOW sample (Fader, Hardie & Lee).

The 2,357 sample customers become contacts and their 6,919 purchases won deals (closed_at =
purchase date, amount = dollars) in a fresh SQLite database. The service then builds each
customer's purchase summary from the deals table (same-day purchases merged, weeks) "as of"
1997-09-30 — the end of the paper's 39-week calibration period — and fits BG/NBD +
Gamma-Gamma per organization, as it does for any organization. Checked:

- the fitted BG/NBD parameters against the published r = 0.243, α = 4.414, a = 0.793,
  b = 2.426 (the summary built from deals must match the paper's);
- repeat purchases predicted for the hold-out weeks 40-78 against the actual ones, in total and
  per customer (MAE), beside two baselines: the service's own fallback (historical average,
  used when an organization has too few buyers) and the naive "same rate as so far" (x/T);
- the spend model: predicted mean spend per repeat purchase vs the hold-out actual.

    .venv/bin/python bench/ai_clv.py
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

EVAL = Path(
    os.environ.get("AICRM_EVAL_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "eval")
)
SAMPLE = EVAL / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = datetime(1997, 9, 30, 23, 59, tzinfo=UTC)
HOLDOUT_END = datetime(1998, 6, 30, 23, 59, tzinfo=UTC)
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def read_sample() -> dict[int, list[tuple[date, float]]]:
    out: dict[int, list[tuple[date, float]]] = defaultdict(list)
    for line in SAMPLE.read_text().split("\n"):
        parts = line.split()
        if len(parts) != 5:
            continue
        _master, customer, day, _cds, dollars = parts
        out[int(customer)].append((date(int(day[:4]), int(day[4:6]), int(day[6:])), float(dollars)))
    return out


async def load(url: str, sample: dict[int, list[tuple[date, float]]]) -> int:
    from sqlalchemy import select

    from aicrm.auth import security
    from aicrm.db import Database
    from aicrm.models import Contact, Deal, PipelineStage, User
    from aicrm.orgs import service as org_service

    db = Database(url=url)
    try:
        async with db.sessionmaker() as session, session.begin():
            owner = User(
                email=f"clv-{secrets.token_hex(3)}@bench.example",
                full_name="Bench CLV",
                password_hash=security.hash_password("bench-password"),
            )
            session.add(owner)
            await session.flush()
            org = await org_service.create_organization(session, name="CDNOW", owner=owner)
            won = await session.scalar(
                select(PipelineStage).where(
                    PipelineStage.organization_id == org.id, PipelineStage.is_won.is_(True)
                )
            )
            assert won is not None
            for customer, purchases in sorted(sample.items()):
                contact = Contact(
                    organization_id=org.id,
                    name=f"CDNOW {customer}",
                    name_key=f"cdnow {customer}",
                    status="customer",
                )
                session.add(contact)
                await session.flush()
                for i, (day, dollars) in enumerate(purchases):
                    session.add(
                        Deal(
                            organization_id=org.id,
                            name=f"Order {customer}-{i}",
                            pipeline_id=won.pipeline_id,
                            stage_id=won.id,
                            amount=dollars,
                            status="won",
                            closed_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                            contact_id=contact.id,
                        )
                    )
            return int(org.id)
    finally:
        await db.dispose()


def holdout_actuals(
    sample: dict[int, list[tuple[date, float]]],
) -> tuple[dict[int, int], dict[int, float]]:
    """Repeat purchases (distinct days) in weeks 40-78 and their mean value, per customer."""
    counts: dict[int, int] = {}
    spend: dict[int, float] = {}
    for customer, purchases in sample.items():
        by_day: dict[date, float] = defaultdict(float)
        for day, dollars in purchases:
            if CALIBRATION_END.date() < day <= HOLDOUT_END.date():
                by_day[day] += dollars
        counts[customer] = len(by_day)
        if by_day:
            spend[customer] = sum(by_day.values()) / len(by_day)
    return counts, spend


async def measure(
    url: str, org_id: int, sample: dict[int, list[tuple[date, float]]]
) -> dict[str, Any]:
    import numpy as np

    from aicrm.ai import clv
    from aicrm.ai.customers import lifetime, service
    from aicrm.ai.customers import repository as repo
    from aicrm.db import Database
    from aicrm.kit.principal import system_principal

    principal = system_principal(org_id)
    db = Database(url=url)
    try:
        session = await db.session(write=True)
        try:
            t0 = time.perf_counter()
            row, model = await service.clv_model(session, principal, CALIBRATION_END, refit=True)
            fit_s = time.perf_counter() - t0
            assert model is not None and model.bg is not None
            purchases = await repo.purchases(session, principal, None, before=CALIBRATION_END)
            names = {
                c.id: int(c.name.split()[-1])
                for c in await repo.contacts_page(
                    session, principal, statuses=None, after_id=0, limit=100_000
                )
            }
            await session.commit()
        finally:
            await session.close()
    finally:
        await db.dispose()
    histories = {
        names[cid]: h
        for cid, ps in purchases.items()
        if (h := lifetime.summarize(ps, CALIBRATION_END)) is not None
    }
    ids = sorted(histories)
    x = np.array([histories[i].x for i in ids], dtype=float)
    t_x = np.array([histories[i].t_x for i in ids])
    big_t = np.array([histories[i].T for i in ids])
    weeks = (HOLDOUT_END - CALIBRATION_END).days / 7.0
    predicted = clv.expected_purchases(model.bg, weeks, x, t_x, big_t)
    # the service's fallback, forced (what an organization with few buyers gets)
    fallback = lifetime.CLVModel(
        algorithm=lifetime.FALLBACK_ALGORITHM,
        bg=None,
        gg=None,
        repeat_rate=model.repeat_rate,
        average_purchase=model.average_purchase,
        buyers=model.buyers,
        repeaters=model.repeaters,
        horizon_months=lifetime.HORIZON_MONTHS,
    )
    rate = (x + lifetime.RATE_PRIOR_WEEKS * fallback.repeat_rate) / (
        big_t + lifetime.RATE_PRIOR_WEEKS
    )
    fallback_pred = rate * weeks * np.exp(-(big_t - t_x) * rate / 2.0)
    naive = x / big_t * weeks
    actual_counts, actual_spend = holdout_actuals(sample)
    actual = np.array([actual_counts[i] for i in ids], dtype=float)

    def summary(p: np.ndarray) -> dict[str, float]:
        return {
            "total": round(float(p.sum()), 1),
            "error_pct": round(float((p.sum() - actual.sum()) / actual.sum() * 100), 1),
            "mae_per_customer": round(float(np.abs(p - actual).mean()), 4),
            "corr": round(float(np.corrcoef(p, actual)[0, 1]), 4),
        }

    spend_ids = [i for i in ids if i in actual_spend and histories[i].x > 0]
    gg_spend = (
        clv.expected_average_value(
            model.gg,
            [histories[i].x for i in spend_ids],
            [histories[i].zbar for i in spend_ids],
        )
        if model.gg is not None
        else None
    )
    actual_sp = np.array([actual_spend[i] for i in spend_ids])
    bg = model.bg
    return {
        "customers": len(ids),
        "fit_s": round(fit_s, 3),
        "model_version": row.version if row else None,
        "algorithm": model.algorithm,
        "bgnbd": {
            "r": round(bg.r, 4),
            "alpha": round(bg.alpha, 4),
            "a": round(bg.a, 4),
            "b": round(bg.b, 4),
            "log_likelihood": round(bg.log_likelihood, 2),
        },
        "published": PUBLISHED,
        "max_param_error_pct": round(
            max(abs(getattr(bg, k) - v) / v * 100 for k, v in PUBLISHED.items()), 2
        ),
        "holdout_weeks": round(weeks, 2),
        "holdout_actual_repeat_purchases": int(actual.sum()),
        "predicted_bgnbd": summary(predicted),
        "baseline_fallback_historical_average": summary(fallback_pred),
        "baseline_naive_same_rate": summary(naive),
        "gamma_gamma": {
            "p": round(model.gg.p, 4),
            "q": round(model.gg.q, 4),
            "v": round(model.gg.v, 4),
        }
        if model.gg is not None
        else None,
        "spend_per_purchase_holdout": {
            "customers": len(spend_ids),
            "actual_mean": round(float(actual_sp.mean()), 2),
            "gamma_gamma_mean": round(float(np.mean(gg_spend)), 2)
            if gg_spend is not None
            else None,
            "gamma_gamma_mae": round(float(np.abs(gg_spend - actual_sp).mean()), 2)
            if gg_spend is not None
            else None,
            "own_average_mae": round(
                float(np.abs(np.array([histories[i].zbar for i in spend_ids]) - actual_sp).mean()),
                2,
            ),
        },
        "clv_12_months_percentiles": {k: round(v, 2) for k, v in model.percentiles.items()},
    }


def main() -> None:
    if not SAMPLE.exists():
        raise SystemExit(f"{SAMPLE} is missing (set AICRM_EVAL_DIR)")
    tmp = Path(tempfile.mkdtemp(prefix="aicrm-clv-"))
    os.environ.setdefault("ENVIRONMENT", "test")
    os.environ["DATA_DIR"] = str(tmp)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    from aicrm import migrate

    url = f"sqlite+aiosqlite:///{tmp / 'clv.db'}"
    migrate.upgrade(url)
    sample = read_sample()
    t0 = time.perf_counter()
    org_id = asyncio.run(load(url, sample))
    load_s = time.perf_counter() - t0
    result = {"bench": "ai_clv", "data": "CDNOW 1/10 sample (2,357 customers, 6,919 purchases)"}
    result["load_s"] = round(load_s, 2)
    result.update(asyncio.run(measure(url, org_id, sample)))
    result["rerun"] = " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
