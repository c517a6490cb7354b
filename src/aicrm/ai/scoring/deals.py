"""Win probability of a deal: features, cold-start rules and words. Pure functions over
`Records`, like leads.py.

A deal row is the deal as it was at `asof` (now when open; just before it was closed otherwise:
the repository rebuilds the stage, amount and dates from the audit log), so a closed deal is
learnt from the stage it was lost or won *from*, not from "Closed Won".

Cold start: the stage's configured probability, lowered when the deal has gone quiet or its
expected close date has passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aicrm.ai.scoring.features import NO_TAGS, FloatArray, Records, norm
from aicrm.ai.scoring.leads import DAY, money

KIND = "win_probability"
RULES_VERSION = "rules-1"
RULES_MODEL = "win_probability.rules"
MODEL_NAME = "win_probability.logreg"
OWNER_SMOOTHING = 5.0

BASE_GROUPS: dict[str, str] = {
    "stage_prob": "stage",
    "stage_rank": "stage",
    "log_amount": "amount",
    "age_days": "age",
    "days_in_stage": "stage_time",
    "days_to_close": "close_date",
    "overdue_days": "close_date",
    "calls": "engagement",
    "emails": "engagement",
    "meetings": "engagement",
    "notes_logged": "engagement",
    "inbound": "engagement",
    "days_since_activity": "recency",
    "owner_rate": "owner",
    "has_contact": "people",
    "has_company": "people",
    "from_lead": "origin",
    "cat:pipeline": "pipeline",
}


@dataclass
class DealRow:
    id: int
    created: float
    asof: float
    stage_id: int | None
    stage_since: float | None  # when it entered that stage (epoch seconds)
    amount: float = 0.0
    expected_close: float | None = None  # epoch seconds (midnight UTC of the date)
    owner_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    pipeline_id: int | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass
class Stage:
    name: str
    probability: float
    rank: float  # 0 first open stage .. 1 last open stage
    pipeline: str


@dataclass
class Context:
    stages: dict[int, Stage]
    first_probability: dict[int, float]  # pipeline id → probability of its first open stage
    user_names: dict[int, str] = field(default_factory=dict)
    custom_labels: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    median_amount: float = 0.0


def owner_rates(
    history: Sequence[tuple[int | None, float, int]], rows: Sequence[DealRow]
) -> FloatArray:
    """Each row's owner's smoothed win rate from the deals that owner closed before the row's
    asof. `history`: (owner_id, closed_at epoch, won 0/1) of every closed deal."""
    n = len(rows)
    if not history:
        return np.full(n, math.nan)
    closed = np.array([h[1] for h in history], dtype=float)
    won = np.array([h[2] for h in history], dtype=float)
    owners = np.array([h[0] or 0 for h in history], dtype=np.int64)
    order = np.argsort(closed, kind="stable")
    closed, won, owners = closed[order], won[order], owners[order]
    cum_won, cum_n = np.cumsum(won), np.arange(1, len(won) + 1, dtype=float)
    out = np.full(n, math.nan)
    by_owner: dict[int, NDArray[np.int64]] = {}
    for o in np.unique(owners):
        by_owner[int(o)] = np.flatnonzero(owners == o)
    for k, row in enumerate(rows):
        j = int(np.searchsorted(closed, row.asof, side="left"))  # deals closed strictly before
        if j == 0:
            continue
        base = cum_won[j - 1] / cum_n[j - 1]
        idx = by_owner.get(row.owner_id or 0)
        if idx is None:
            out[k] = base
            continue
        m = int(np.searchsorted(idx, j, side="left"))
        w = float(won[idx[:m]].sum())
        out[k] = (w + OWNER_SMOOTHING * base) / (m + OWNER_SMOOTHING)
    return out


def build(
    rows: Sequence[DealRow],
    activities: dict[str, FloatArray],
    ctx: Context,
    owner_rate: FloatArray,
) -> Records:
    n = len(rows)
    f = np.fromiter
    asof = f((r.asof for r in rows), float, n)
    created = f((r.created for r in rows), float, n)
    amount = f((max(r.amount or 0.0, 0.0) for r in rows), float, n)
    stage = [ctx.stages.get(r.stage_id) if r.stage_id else None for r in rows]
    prob = f((s.probability if s else math.nan for s in stage), float, n)
    rank = f((s.rank if s else math.nan for s in stage), float, n)
    since = f((math.nan if r.stage_since is None else r.stage_since for r in rows), float, n)
    in_stage = np.maximum((asof - np.where(np.isnan(since), created, since)) / DAY, 0.0)
    close = f((math.nan if r.expected_close is None else r.expected_close for r in rows), float, n)
    to_close = np.clip((close - asof) / DAY, -365, 365)
    overdue = np.where(np.isnan(to_close), 0.0, np.maximum(-to_close, 0.0))
    last = activities.get("last", np.full(n, math.nan))
    since_activity = np.maximum((asof - last) / DAY, 0.0)
    age = np.maximum((asof - created) / DAY, 0.0)
    counts = {
        k: activities.get(k, np.zeros(n))
        for k in ("calls", "emails", "meetings", "notes", "inbound")
    }
    num = {
        "stage_prob": prob,
        "stage_rank": rank,
        "log_amount": np.log1p(amount),
        "age_days": np.log1p(age),
        "days_in_stage": np.log1p(in_stage),
        "days_to_close": to_close,
        "overdue_days": np.log1p(overdue),
        "calls": np.log1p(counts["calls"]),
        "emails": np.log1p(counts["emails"]),
        "meetings": np.log1p(counts["meetings"]),
        "notes_logged": np.log1p(counts["notes"]),
        "inbound": np.log1p(counts["inbound"]),
        "days_since_activity": np.log1p(since_activity),
        "owner_rate": owner_rate,
        "has_contact": f((r.contact_id is not None for r in rows), float, n),
        "has_company": f((r.company_id is not None for r in rows), float, n),
        "from_lead": f((r.lead_id is not None for r in rows), float, n),
    }
    info: dict[str, NDArray[Any]] = {
        "amount": amount,
        "stage_prob": prob,
        "stage_name": np.array([s.name if s else "" for s in stage], dtype=object),
        "first_prob": f(
            (ctx.first_probability.get(r.pipeline_id or 0, 0.1) for r in rows), float, n
        ),
        "in_stage": in_stage,
        "to_close": to_close,
        "since_activity": since_activity,
        "age": age,
        "activities": sum(counts.values()),  # type: ignore[dict-item]
        "owner_rate": owner_rate,
        "owner_id": np.array([r.owner_id or 0 for r in rows], dtype=np.int64),
        "has_contact": num["has_contact"],
        "has_company": num["has_company"],
        "from_lead": num["from_lead"],
    }
    return Records(
        ids=np.array([r.id for r in rows], dtype=np.int64),
        num=num,
        cat={"pipeline": np.array([norm(s.pipeline) if s else "" for s in stage], dtype=object)},
        custom=[r.custom or {} for r in rows],
        tags=[[norm(t) for t in r.tags] if r.tags else NO_TAGS for r in rows],
        info=info,
    )


# -- cold-start rules ----------------------------------------------------------------------


def rule_parts(records: Records) -> dict[str, FloatArray]:
    """The stage probability and the factors that adjust it, vectorised."""
    i = records.info
    base = np.where(np.isnan(i["stage_prob"]), i["first_prob"], i["stage_prob"])
    quiet = np.where(np.isnan(i["since_activity"]), i["in_stage"], i["since_activity"])
    recency = np.select([quiet <= 7, quiet <= 30, quiet <= 60], [1.1, 1.0, 0.85], 0.7)
    od = np.nan_to_num(-i["to_close"], nan=0.0)
    overdue = np.select([od >= 60, od >= 14], [0.6, 0.8], 1.0)
    return {"stage": base, "recency": recency, "close_date": overdue}


def rule_probability(records: Records) -> FloatArray:
    p = rule_parts(records)
    return np.clip(p["stage"] * p["recency"] * p["close_date"], 0.01, 0.99)


def rules_for_validation(train: Records, y_train: NDArray[np.int64], val: Records) -> FloatArray:
    del train, y_train  # the stage rules learn nothing from outcomes
    return rule_probability(val)


def rule_confidence(records: Records) -> FloatArray:
    i = records.info
    known = (
        (~np.isnan(i["stage_prob"])).astype(float)
        + (i["activities"] > 0)
        + (~np.isnan(i["to_close"]))
    ) / 3.0
    return 0.35 + 0.25 * known


# -- words ---------------------------------------------------------------------------------


def describe(group: str, r: Records, k: int, ctx: Context) -> str:
    i = r.info
    if group == "stage":
        name, p = str(i["stage_name"][k]), float(i["stage_prob"][k])
        if not name:
            return "Stage unknown"
        return f"Stage {name} ({p:.0%} by the pipeline's settings)"
    if group == "stage_time":
        return f"{int(i['in_stage'][k])} days in this stage"
    if group == "amount":
        a, typical = float(i["amount"][k]), ctx.median_amount
        if a <= 0:
            return "No amount set"
        if typical > 0 and a >= 2 * typical:
            return (
                f"Amount {money(a, ctx.currency)}, above the typical {money(typical, ctx.currency)}"
            )
        if typical > 0 and a * 2 <= typical:
            return (
                f"Amount {money(a, ctx.currency)}, below the typical {money(typical, ctx.currency)}"
            )
        return f"Amount {money(a, ctx.currency)}"
    if group == "age":
        return f"Open for {int(i['age'][k])} days"
    if group == "close_date":
        d = float(i["to_close"][k])
        if math.isnan(d):
            return "No expected close date"
        if d < 0:
            return f"Expected close date passed {int(-d)} days ago"
        return f"Expected to close in {int(d)} days"
    if group in ("engagement",):
        n = int(i["activities"][k])
        return f"{n} activit{'y' if n == 1 else 'ies'} logged" if n else "No activities logged"
    if group == "recency":
        d = float(i["since_activity"][k])
        if math.isnan(d):
            return f"No activity logged; {int(i['in_stage'][k])} days in this stage"
        return f"Last activity {int(d)} days ago" if d >= 2 else "Active in the last 2 days"
    if group == "owner":
        rate, uid = float(i["owner_rate"][k]), int(i["owner_id"][k])
        who = ctx.user_names.get(uid, "The owner") if uid else "Unowned deals"
        if math.isnan(rate):
            return f"{who}: no closed deals yet"
        return f"{who} wins about {rate:.0%} of deals"
    if group == "people":
        c, co = bool(i["has_contact"][k]), bool(i["has_company"][k])
        if c and co:
            return "Contact and company linked"
        if c or co:
            return f"{'Contact' if c else 'Company'} linked, no {'company' if c else 'contact'}"
        return "No contact or company linked"
    if group == "origin":
        return "Converted from a lead" if i["from_lead"][k] else "Not from a lead"
    if group == "pipeline":
        return f"Pipeline {r.cat['pipeline'][k]}"
    if group == "tags":
        tags = [t for t in r.tags[k] if t]
        return ("Tagged " + ", ".join(tags[:3])) if tags else "No tags"
    if group.startswith("custom."):
        key = group[7:]
        label = ctx.custom_labels.get(key, key.replace("_", " ").capitalize())
        v = r.custom[k].get(key) if r.custom[k] else None
        if v is None or v == "" or v == []:
            return f"{label} not filled in"
        if isinstance(v, float):
            return f"{label}: {v:,.4g}"
        return f"{label}: {v}"
    return group.replace("_", " ").capitalize()


def rule_reasons(r: Records, k: int, ctx: Context) -> list[dict[str, Any]]:
    parts = rule_parts(r)
    base = float(parts["stage"][k])
    p = float(rule_probability(r)[k])
    # the stage's probability is the starting point the other reasons adjust (impact 0)
    out = [{"feature": "stage", "text": describe("stage", r, k, ctx), "impact": 0.0, "base": base}]
    rec = float(parts["recency"][k])
    if rec != 1.0:
        out.append(
            {
                "feature": "recency",
                "text": describe("recency", r, k, ctx),
                "impact": round(base * (rec - 1.0), 3),
            }
        )
    od = float(parts["close_date"][k])
    if od != 1.0:
        out.append(
            {
                "feature": "close_date",
                "text": describe("close_date", r, k, ctx),
                "impact": round(base * rec * (od - 1.0), 3),
            }
        )
    del p
    return out


def recommendations(r: Records, k: int, p: float) -> list[dict[str, Any]]:
    i = r.info
    out: list[dict[str, Any]] = []
    quiet = float(i["since_activity"][k])
    quiet = float(i["in_stage"][k]) if math.isnan(quiet) else quiet
    d = float(i["to_close"][k])
    if not math.isnan(d) and d < 0:
        out.append(
            {
                "action": "update_close_date",
                "text": f"Expected close passed {int(-d)} days ago: update it or close the deal",
            }
        )
    if quiet > 14:
        out.append(
            {
                "action": "follow_up",
                "text": f"Schedule a follow-up: no activity in {int(quiet)} days",
            }
        )
    if math.isnan(d):
        out.append({"action": "set_close_date", "text": "Set an expected close date"})
    if not i["has_contact"][k]:
        out.append({"action": "add_contact", "text": "Link the decision maker as a contact"})
    if p >= 0.7:
        out.append({"action": "close", "text": "Confirm next steps and send the contract"})
    elif p < 0.2 and float(i["age"][k]) > 90:
        out.append({"action": "requalify", "text": "Re-qualify the deal or close it as lost"})
    return out[:3]


def features_of(r: Records, k: int) -> dict[str, Any]:
    i = r.info

    def num(x: Any) -> float | None:
        x = float(x)
        return None if math.isnan(x) else round(x, 3)

    return {
        "stage": str(i["stage_name"][k]) or None,
        "stage_probability": num(i["stage_prob"][k]),
        "amount": num(i["amount"][k]),
        "days_in_stage": num(i["in_stage"][k]),
        "days_to_close": num(i["to_close"][k]),
        "days_since_activity": num(i["since_activity"][k]),
        "age_days": num(i["age"][k]),
        "activities": int(i["activities"][k]),
        "owner_win_rate": num(i["owner_rate"][k]),
        "has_contact": bool(i["has_contact"][k]),
        "has_company": bool(i["has_company"][k]),
        "from_lead": bool(i["from_lead"][k]),
        "custom": r.custom[k],
        "tags": r.tags[k],
    }
