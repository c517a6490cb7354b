"""Lead scoring: what a lead's row and history become as features, the cold-start rules, and the
words of reasons and recommendations. Pure functions over `Records` (no database here).

A lead row (see `LeadRow`) is the lead as it was at `asof`: now for an open lead, the moment its
outcome became known for a closed one (the repository rebuilds such a lead's fields from the
audit log, and counts only the activities before that moment), so training sees what scoring
will see.

Won = the lead's status is a won status or it was converted; lost = a lost status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aicrm.ai.scoring.features import NO_TAGS, FloatArray, Records, norm

KIND = "lead_score"
RULES_VERSION = "rules-1"
RULES_MODEL = "lead_score.rules"
MODEL_NAME = "lead_score.logreg"
DAY = 86400.0

# numeric feature → the group its reason is told in
BASE_GROUPS: dict[str, str] = {
    "log_value": "value",
    "log_budget": "budget",
    "has_email": "reachability",
    "has_phone": "reachability",
    "has_company": "company",
    "requirements": "requirements",
    "has_timeline": "timeline",
    "notes": "notes",
    "calls": "engagement",
    "emails": "engagement",
    "meetings": "engagement",
    "notes_logged": "engagement",
    "inbound": "inbound",
    "days_since_contact": "recency",
    "age_days": "age",
    "status_rank": "status",
    "assigned": "assignee",
    "cat:source": "source",
    "cat:assignee": "assignee",
}

# cold-start: points per component (they add up to at most 100) and the "average" points a
# component is compared with when its reason is worded
RULE_MAX = {
    "budget": 20,
    "completeness": 20,
    "engagement": 25,
    "recency": 15,
    "source": 10,
    "progress": 10,
}
RULE_NEUTRAL = {
    "budget": 8,
    "completeness": 10,
    "engagement": 8,
    "recency": 7,
    "source": 5,
    "progress": 3,
}
RULE_HIGH, RULE_LOW = 60, 35
SOURCE_PRIOR = {
    "referral": 9,
    "partner": 8,
    "event": 7,
    "webinar": 7,
    "trade show": 7,
    "website": 6,
    "web": 6,
    "inbound": 6,
    "organic": 6,
    "organic search": 6,
    "form": 6,
    "chat": 6,
    "email": 5,
    "phone": 5,
    "ads": 4,
    "google": 4,
    "social": 4,
    "facebook": 4,
    "cold_call": 2,
    "cold call": 2,
    "cold": 2,
    "outbound": 3,
    "list": 2,
    "purchased": 1,
}
SOURCE_UNKNOWN, SOURCE_MISSING = 5.0, 4.0
SMOOTHING = 5.0


@dataclass
class LeadRow:
    id: int
    created: float  # epoch seconds
    asof: float
    value: float = 0.0
    budget: float | None = None
    source: str | None = None
    has_email: bool = False
    has_phone: bool = False
    company: str | None = None
    requirements_len: int = 0
    notes_len: int = 0
    timeline: str | None = None
    status_id: int | None = None
    assignee_id: int | None = None
    last_contacted: float | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What the organization's settings say about a lead: its status pipeline and names."""

    status_rank: dict[int, float]  # open status id → 0 (first) .. 1 (last open)
    status_names: dict[int, str]
    user_names: dict[int, str] = field(default_factory=dict)
    custom_labels: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"


def build(
    rows: Sequence[LeadRow],
    activities: dict[str, FloatArray],
    ctx: Context,
) -> Records:
    """Records for `rows`; `activities` holds per-row counts (calls, emails, meetings, notes,
    inbound) and `last` (epoch seconds of the latest activity before asof, NaN if none)."""
    n = len(rows)
    nan = math.nan
    # one pass over the rows into a float matrix, then columns (numpy does the rest)
    m = np.array(
        [
            (
                r.asof,
                r.created,
                r.value or 0.0,
                nan if r.budget is None else r.budget,
                nan if r.last_contacted is None else r.last_contacted,
                r.has_email,
                r.has_phone,
                bool(r.company),
                r.requirements_len,
                r.notes_len,
                bool(r.timeline),
                ctx.status_rank.get(r.status_id, nan) if r.status_id else nan,
                r.assignee_id is not None,
                r.status_id or 0,
                r.assignee_id or 0,
            )
            for r in rows
        ],
        dtype=float,
    ).reshape(n, 15)
    asof, created = m[:, 0], m[:, 1]
    value, budget = np.maximum(m[:, 2], 0.0), np.maximum(m[:, 3], 0.0)
    contacted = m[:, 4]
    last = activities.get("last", np.full(n, nan))
    # the latest touch before asof: the lead's own mark or a logged activity
    contacted = np.where(contacted > asof, nan, contacted)
    touch = np.fmax(contacted, last)
    days_contact = np.maximum((asof - touch) / DAY, 0.0)
    age = np.maximum((asof - created) / DAY, 0.0)
    counts = {k: activities.get(k, np.zeros(n)) for k in ("calls", "emails", "meetings", "notes")}
    inbound = activities.get("inbound", np.zeros(n))
    rank = m[:, 11]
    num = {
        "log_value": np.log1p(value),
        "log_budget": np.log1p(budget),
        "has_email": m[:, 5],
        "has_phone": m[:, 6],
        "has_company": m[:, 7],
        "requirements": np.log1p(m[:, 8]),
        "has_timeline": m[:, 10],
        "notes": np.log1p(m[:, 9]),
        "calls": np.log1p(counts["calls"]),
        "emails": np.log1p(counts["emails"]),
        "meetings": np.log1p(counts["meetings"]),
        "notes_logged": np.log1p(counts["notes"]),
        "inbound": np.log1p(inbound),
        "days_since_contact": np.log1p(days_contact),
        "age_days": np.log1p(age),
        "status_rank": rank,
        "assigned": m[:, 12],
    }
    memo: dict[str | None, str] = {}
    source = np.array(
        [
            memo[r.source] if r.source in memo else memo.setdefault(r.source, norm(r.source))
            for r in rows
        ],
        dtype=object,
    )
    assignee = np.array(
        [str(r.assignee_id) if r.assignee_id is not None else "" for r in rows], dtype=object
    )
    info: dict[str, NDArray[Any]] = {
        "value": value,
        "budget": budget,
        "calls": counts["calls"],
        "emails": counts["emails"],
        "meetings": counts["meetings"],
        "notes_logged": counts["notes"],
        "inbound": inbound,
        "days_contact": days_contact,
        "age": age,
        "rank": rank,
        "has_email": num["has_email"],
        "has_phone": num["has_phone"],
        "has_company": num["has_company"],
        "requirements_len": m[:, 8],
        "notes_len": m[:, 9],
        "timeline": np.array([r.timeline or "" for r in rows], dtype=object),
        "status_id": m[:, 13].astype(np.int64),
        "assignee_id": m[:, 14].astype(np.int64),
        "source": np.array([r.source or "" for r in rows], dtype=object),
    }
    return Records(
        ids=np.array([r.id for r in rows], dtype=np.int64),
        num=num,
        cat={"source": source, "assignee": assignee},
        custom=[r.custom or {} for r in rows],
        tags=[[norm(t) for t in r.tags] if r.tags else NO_TAGS for r in rows],
        info=info,
    )


# -- cold-start rules ----------------------------------------------------------------------


@dataclass
class RulesContext:
    """What the rules learn from the organization's few outcomes: the typical lead value and
    how each source has converted so far (smoothed toward the fixed table)."""

    median_value: float = 0.0
    base_rate: float = 0.0
    sources: dict[str, tuple[float, float]] = field(default_factory=dict)  # (won, closed)

    @classmethod
    def fit(cls, records: Records | None, y: NDArray[np.int64] | None) -> RulesContext:
        if records is None or len(records) == 0:
            return cls()
        value = records.info["value"]
        positive = value[value > 0]
        ctx = cls(median_value=float(np.median(positive)) if len(positive) else 0.0)
        if y is not None and len(y):
            ctx.base_rate = float(np.mean(y))
            for s, won in zip(records.cat["source"], y, strict=True):
                w, n = ctx.sources.get(s, (0.0, 0.0))
                ctx.sources[s] = (w + float(won), n + 1.0)
        return ctx

    def with_values(self, records: Records) -> RulesContext:
        """The same context, with the typical value taken from `records` when it has none."""
        if self.median_value > 0 or len(records) == 0:
            return self
        value = records.info["value"]
        positive = value[value > 0]
        median = float(np.median(positive)) if len(positive) else 0.0
        return RulesContext(median, self.base_rate, dict(self.sources))

    def source_points(self, source: str) -> float:
        prior = SOURCE_PRIOR.get(source, SOURCE_UNKNOWN if source else SOURCE_MISSING)
        won, n = self.sources.get(source, (0.0, 0.0))
        if n == 0 or self.base_rate <= 0:
            return float(prior)
        rate = (won + SMOOTHING * self.base_rate) / (n + SMOOTHING)
        learned = min(max(5.0 + 5.0 * (rate / self.base_rate - 1.0), 0.0), 10.0)
        w = n / (n + SMOOTHING)
        return w * learned + (1 - w) * prior


def rule_points(records: Records, ctx: RulesContext) -> dict[str, FloatArray]:
    """Points per component (see RULE_MAX), vectorised."""
    i = records.info
    median = ctx.median_value if ctx.median_value > 0 else 10_000.0
    value, budget = i["value"], i["budget"]
    with np.errstate(divide="ignore", invalid="ignore"):
        b_ratio = np.log10(np.maximum(budget, 1.0) / median)
        v_ratio = np.log10(np.maximum(value, 1.0) / median)
    budget_pts = np.where(
        ~np.isnan(budget),
        np.clip(12 + 4 * np.nan_to_num(b_ratio), 8, 20),
        np.where(value > 0, np.clip(6 + 3 * np.nan_to_num(v_ratio), 2, 10), 0.0),
    )
    completeness = (
        6 * i["has_email"]
        + 6 * i["has_phone"]
        + 3 * i["has_company"]
        + 3 * (i["requirements_len"] > 0)
        + 2 * np.array([bool(t) for t in i["timeline"]], dtype=float)
    )
    engagement = np.clip(
        4 * i["calls"] + 6 * i["meetings"] + 2 * i["emails"] + 4 * i["inbound"] + i["notes_logged"],
        0,
        25,
    )
    d, age = i["days_contact"], i["age"]
    never = np.isnan(d)
    dd = np.nan_to_num(d, nan=1e9)
    recent = np.select([dd <= 2, dd <= 7, dd <= 14, dd <= 30], [15.0, 12.0, 8.0, 4.0], 0.0)
    fresh = np.where(age <= 2, 8.0, np.clip(6 - age / 5, 0, 6))
    recency = np.where(never, fresh, recent)
    uniq, inv = np.unique(records.cat["source"].astype(str), return_inverse=True)
    source = np.array([ctx.source_points(s) for s in uniq])[inv]
    progress = np.nan_to_num(i["rank"], nan=0.0) * RULE_MAX["progress"]
    return {
        "budget": budget_pts,
        "completeness": completeness,
        "engagement": engagement,
        "recency": recency,
        "source": source,
        "progress": progress,
    }


def rule_scores(records: Records, ctx: RulesContext) -> FloatArray:
    points = rule_points(records, ctx)
    return np.clip(sum(points.values()), 0, 100)  # type: ignore[return-value]


def rules_for_validation(train: Records, y_train: NDArray[np.int64], val: Records) -> FloatArray:
    """The rules as they would have scored `val` knowing only the `train` outcomes."""
    return rule_scores(val, RulesContext.fit(train, y_train))


def rule_confidence(records: Records) -> FloatArray:
    i = records.info
    known = (
        np.maximum(i["has_email"], i["has_phone"])
        + ((i["value"] > 0) | ~np.isnan(i["budget"]))
        + ((i["calls"] + i["emails"] + i["meetings"] + i["inbound"]) > 0)
        + (records.cat["source"] != "")
    ) / 4.0
    return 0.35 + 0.25 * known


def priority(score: float, *, high: float = RULE_HIGH, low: float = RULE_LOW) -> str:
    return "high" if score >= high else "low" if score < low else "medium"


# -- words ---------------------------------------------------------------------------------


def money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.0f}"


def _count(n: float, word: str) -> str:
    n = int(round(n))
    return f"{n} {word}{'' if n == 1 else 's'}"


def _days(d: float) -> str:
    d = int(d)
    return "today" if d < 1 else "yesterday" if d < 2 else f"{d} days ago"


def describe(group: str, r: Records, k: int, ctx: Context, rules: RulesContext) -> str:
    """One sentence about the lead's value of a feature group."""
    i = r.info
    cur = ctx.currency
    if group in ("value",):
        v = float(i["value"][k])
        if v <= 0:
            return "No deal value estimated"
        typical = rules.median_value
        if typical > 0 and v >= 2 * typical:
            return f"Value {money(v, cur)}, well above the typical {money(typical, cur)}"
        if typical > 0 and v * 2 <= typical:
            return f"Value {money(v, cur)}, below the typical {money(typical, cur)}"
        return f"Value {money(v, cur)}"
    if group in ("budget",):
        b = float(i["budget"][k])
        if math.isnan(b):
            v = float(i["value"][k])
            return f"Value {money(v, cur)}, no budget stated" if v > 0 else "No budget stated"
        return f"Budget stated: {money(b, cur)}"
    if group == "reachability":
        e, p = bool(i["has_email"][k]), bool(i["has_phone"][k])
        if e and p:
            return "Email and phone on file"
        if e or p:
            return f"{'Email' if e else 'Phone'} on file, no {'phone' if e else 'email'}"
        return "No email or phone on file"
    if group == "company":
        return "Company named" if i["has_company"][k] else "No company named"
    if group == "completeness":
        missing = [
            name
            for name, ok in (
                ("email", i["has_email"][k]),
                ("phone", i["has_phone"][k]),
                ("company", i["has_company"][k]),
                ("requirements", i["requirements_len"][k] > 0),
                ("timeline", bool(i["timeline"][k])),
            )
            if not ok
        ]
        if not missing:
            return "Contact details, requirements and timeline all filled in"
        if len(missing) == 5:
            return "No email, phone, company, requirements or timeline yet"
        have = [
            n for n in ("email", "phone", "company", "requirements", "timeline") if n not in missing
        ]
        return f"Has {', '.join(have)}; missing {', '.join(missing)}"
    if group == "requirements":
        return (
            "Requirements written down"
            if i["requirements_len"][k] > 0
            else ("No requirements captured")
        )
    if group == "timeline":
        t = str(i["timeline"][k])
        return f"Timeline: {t}" if t else "No timeline given"
    if group == "notes":
        return (
            "Detailed notes"
            if i["notes_len"][k] >= 80
            else ("Short notes" if i["notes_len"][k] > 0 else "No notes")
        )
    if group == "engagement":
        parts = [
            _count(i[key][k], word)
            for key, word in (("calls", "call"), ("meetings", "meeting"), ("emails", "email"))
            if i[key][k] > 0
        ]
        if i["inbound"][k] > 0:
            parts.append(f"{_count(i['inbound'][k], 'inbound touch')}")
        return (", ".join(parts) + " logged") if parts else "No calls, emails or meetings yet"
    if group == "inbound":
        n = i["inbound"][k]
        return f"They reached out {_count(n, 'time')}" if n > 0 else "They have not reached out"
    if group == "recency":
        d = float(i["days_contact"][k])
        if math.isnan(d):
            age = float(i["age"][k])
            return (
                "New lead, not contacted yet"
                if age < 2
                else (f"Never contacted, created {_days(age)}")
            )
        return f"Last contact {_days(d)}" if d < 14 else f"No contact in {int(d)} days"
    if group == "age":
        return f"Created {_days(float(i['age'][k]))}"
    if group in ("status", "progress"):
        name = ctx.status_names.get(int(i["status_id"][k]), "")
        return f"At status {name}" if name else "Status unknown"
    if group == "assignee":
        uid = int(i["assignee_id"][k])
        if not uid:
            return "No owner assigned"
        return f"Owned by {ctx.user_names.get(uid, 'a teammate')}"
    if group == "source":
        s = str(i["source"][k])
        if not s:
            return "Source unknown"
        won, n = rules.sources.get(norm(s), (0.0, 0.0))
        if n >= 5 and rules.base_rate > 0:
            rate = won / n
            if rate >= 1.3 * rules.base_rate:
                return f"Source: {s} (converts above average)"
            if rate <= 0.7 * rules.base_rate:
                return f"Source: {s} (converts below average)"
        return f"Source: {s}"
    if group == "tags":
        tags = [t for t in r.tags[k] if t]
        return ("Tagged " + ", ".join(tags[:3])) if tags else "No tags"
    if group.startswith("custom."):
        key = group[7:]
        label = ctx.custom_labels.get(key, key.replace("_", " ").capitalize())
        v = r.custom[k].get(key) if r.custom[k] else None
        if v is None or v == "" or v == []:
            return f"{label} not filled in"
        if isinstance(v, bool):
            return f"{label}: {'yes' if v else 'no'}"
        if isinstance(v, float):
            return f"{label}: {v:,.4g}"
        if isinstance(v, list):
            return f"{label}: {', '.join(str(x) for x in v[:3])}"
        return f"{label}: {v}"
    return group.replace("_", " ").capitalize()


def rule_reasons(
    points: dict[str, FloatArray], r: Records, k: int, ctx: Context, rules: RulesContext
) -> list[dict[str, Any]]:
    out = []
    for name, pts in points.items():
        impact = float(pts[k]) - RULE_NEUTRAL[name]
        out.append(
            {
                "feature": name,
                "text": describe(name, r, k, ctx, rules),
                "impact": round(impact, 1),
                "points": round(float(pts[k]), 1),
                "max_points": RULE_MAX[name],
            }
        )
    out.sort(key=lambda x: -abs(x["impact"]))
    return out[:5]


def recommendations(r: Records, k: int, level: str) -> list[dict[str, Any]]:
    """Up to three next steps, the most urgent first."""
    i = r.info
    out: list[dict[str, Any]] = []
    d, age = float(i["days_contact"][k]), float(i["age"][k])
    reachable = bool(i["has_email"][k] or i["has_phone"][k])
    if not reachable:
        out.append({"action": "enrich", "text": "Find an email address or phone number"})
    if level == "high" and (math.isnan(d) or d >= 1):
        out.append({"action": "call", "text": "Call within 24 h", "due_in_hours": 24})
    elif math.isnan(d) and level != "low":
        out.append(
            {"action": "call", "text": "Make first contact within 2 days", "due_in_hours": 48}
        )
    elif not math.isnan(d) and d > 14 and level != "low":
        out.append({"action": "follow_up", "text": f"Follow up: no contact in {int(d)} days"})
    if math.isnan(float(i["budget"][k])):
        out.append({"action": "ask_budget", "text": "Ask for budget"})
    if not i["timeline"][k]:
        out.append({"action": "ask_timeline", "text": "Ask about their timeline"})
    if i["requirements_len"][k] <= 0:
        out.append({"action": "qualify", "text": "Capture their requirements"})
    if not i["assignee_id"][k] and level != "low":
        out.append({"action": "assign", "text": "Assign an owner"})
    if level == "low" and age > 60:
        out.append({"action": "disqualify", "text": "Consider closing it as lost"})
    return out[:3]


def features_of(r: Records, k: int) -> dict[str, Any]:
    """The inputs as a person would read them (for the audit log)."""
    i = r.info

    def num(x: Any) -> float | None:
        x = float(x)
        return None if math.isnan(x) else round(x, 2)

    return {
        "value": num(i["value"][k]),
        "budget": num(i["budget"][k]),
        "source": str(i["source"][k]) or None,
        "has_email": bool(i["has_email"][k]),
        "has_phone": bool(i["has_phone"][k]),
        "has_company": bool(i["has_company"][k]),
        "requirements_chars": int(i["requirements_len"][k]),
        "timeline": str(i["timeline"][k]) or None,
        "notes_chars": int(i["notes_len"][k]),
        "calls": int(i["calls"][k]),
        "emails": int(i["emails"][k]),
        "meetings": int(i["meetings"][k]),
        "inbound": int(i["inbound"][k]),
        "days_since_contact": num(i["days_contact"][k]),
        "age_days": num(i["age"][k]),
        "status_id": int(i["status_id"][k]) or None,
        "assignee_id": int(i["assignee_id"][k]) or None,
        "custom": r.custom[k],
        "tags": r.tags[k],
    }
