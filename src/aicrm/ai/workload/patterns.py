"""Pattern detectors behind the scheduled scans (plain data in, findings out; no database).

- bottlenecks: deal stages / lead statuses where open records dwell much longer than the
  organization's typical time (stage entry times come from the audit log's record of moves),
  and tasks left overdue;
- anomalies: a drop in inbound volume (robust z-score of the day against the same weekday in
  the previous 8 weeks, and of the week against the previous 7), a spike of negative sentiment
  (when sentiment is stored), a rep's win rate falling against their own history;
- workload imbalance: open tasks per person against capacity (coefficient of variation of
  utilisation, Gini of open counts) with concrete moves;
- deadline conflicts in today's queues (earliest-due-first at 8 working hours a weekday).

Each finding carries a stable `fingerprint`, so a scan does not store it again while the same
finding is still open.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

import numpy as np
from scipy.stats import norm

from aicrm.ai.workload import planner

MODEL = "workload.patterns"
MODEL_VERSION = "1"

# bottlenecks
DWELL_RATIO = 2.0  # stuck = in the stage at least this many times the typical time …
DWELL_MIN_DAYS = 7.0  # … and at least this long
MIN_STUCK = 3
OVERDUE_DAYS = 3.0
MIN_OVERDUE = 3
# anomalies
DROP_Z = -3.0
DROP_SHARE = 0.6  # and at most this share of the usual volume
MIN_DAILY_VOLUME = 5.0
NEGATIVE = -0.25
SPIKE_Z = 3.0
MIN_SENTIMENT_BASELINE = 30
WIN_RECENT_DAYS = 90
MIN_RECENT_CLOSED = 8
MIN_PRIOR_CLOSED = 12
WIN_DROP = 0.15
# imbalance
IMBALANCE_CV = 0.6
MAX_DEADLINE_FINDINGS = 20

CATEGORIES = (
    "bottleneck_resolution",
    "resource_reallocation",
    "process_improvement",
    "performance",
)


@dataclass
class Finding:
    kind: str  # bottleneck | anomaly | workload | deadline_conflict
    check: str
    title: str
    fingerprint: str
    severity: str
    confidence: float
    data: dict[str, Any]
    reasons: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    entity_type: str | None = None
    entity_id: int | None = None
    value: float | None = None  # the numbers live in `data`; cards show no bare value
    label: str | None = None


@dataclass
class Skipped:
    check: str
    reason: str


def _rec(category: str, action: str, text: str, **extra: Any) -> dict[str, Any]:
    assert category in CATEGORIES
    return {"category": category, "action": action, "text": text, **extra}


def _days(value: float) -> str:
    return "under a day" if value < 1 else f"{value:.1f} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# -- stage dwell -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    id: int
    name: str
    group: str  # pipeline name (deals) or "" (lead statuses)
    terminal: bool


@dataclass(frozen=True)
class OpenRecord:
    id: int
    name: str
    stage_id: int
    owner_id: int | None
    amount: float
    created_at: datetime


def stage_dwell(
    entity: str,
    records: Sequence[OpenRecord],
    stages: dict[int, Stage],
    transitions: Iterable[tuple[int, datetime, int]],
    *,
    now: datetime,
    names: dict[int, str] | None = None,
) -> list[Finding]:
    """Stages where open `entity` records ("deal", "lead") dwell far longer than typical.

    `transitions` are (record id, when, stage entered) oldest first per record. A stage's
    typical time is the median of finished stays in it (≥ 5), else of finished stays in any
    stage (≥ 5), else the median current dwell of open records in the other stages."""
    names = names or {}
    moves: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for rid, when, stage in transitions:
        seq = moves[rid]
        if not seq or seq[-1][1] != stage:
            seq.append((when, stage))
    finished: dict[int, list[float]] = defaultdict(list)
    for seq in moves.values():
        for (t0, s0), (t1, _) in zip(seq, seq[1:], strict=False):
            if s0 in stages and not stages[s0].terminal:
                finished[s0].append(max((t1 - t0).total_seconds(), 0.0) / 86400)
    all_finished = [d for v in finished.values() for d in v]
    dwell: dict[int, list[tuple[float, OpenRecord]]] = defaultdict(list)
    for r in records:
        stage = stages.get(r.stage_id)
        if stage is None or stage.terminal:
            continue
        entered = r.created_at
        seq = moves.get(r.id)
        if seq and seq[-1][1] == r.stage_id:
            entered = seq[-1][0]
        dwell[r.stage_id].append((max((now - entered).total_seconds(), 0.0) / 86400, r))

    out: list[Finding] = []
    for stage_id, items in dwell.items():
        if len(items) < MIN_STUCK:
            continue
        stage = stages[stage_id]
        if len(finished[stage_id]) >= 5:
            baseline, source = median(finished[stage_id]), "finished stays in this stage"
            boost = 0.2
        elif len(all_finished) >= 5:
            baseline, source = median(all_finished), "finished stays in all stages"
            boost = 0.15
        else:
            others = [d for s, v in dwell.items() if s != stage_id for d, _ in v]
            if len(others) < 3:
                continue
            baseline, source = median(others), "open records in the other stages"
            boost = 0.05
        baseline = max(baseline, 0.5)
        threshold = max(DWELL_RATIO * baseline, DWELL_MIN_DAYS)
        days = [d for d, _ in items]
        typical_now = median(days)
        stuck = sorted(((d, r) for d, r in items if d >= threshold), key=lambda x: -x[0])
        if typical_now < threshold or len(stuck) < MIN_STUCK:
            continue
        ratio = typical_now / baseline
        severity = (
            "high"
            if ratio >= 4 and len(stuck) >= 5
            else "medium"
            if ratio >= 3 or len(stuck) >= 5
            else "low"
        )
        where = f"{stage.name}" + (f" ({stage.group})" if stage.group else "")
        noun = _plural(len(stuck), entity)
        at_stake = round(sum(float(r.amount or 0) for _, r in stuck), 2)
        owners = Counter(r.owner_id for _, r in stuck if r.owner_id)
        recs = [
            _rec(
                "bottleneck_resolution",
                f"review_{entity}s",
                f"Review the {noun} idle in {where}, oldest first ({stuck[0][0]:.0f} days): "
                f"agree a next step for each or close it.",
                entity_type=entity,
                entity_ids=[r.id for _, r in stuck[:20]],
            ),
            _rec(
                "process_improvement",
                "automation_rule",
                f"Add an automation rule: when a {entity} stays in {stage.name} longer than "
                f"{math.ceil(threshold)} days, create a follow-up task for its owner.",
            ),
        ]
        if owners:
            owner, count = owners.most_common(1)[0]
            if count >= max(3, math.ceil(0.6 * len(stuck))):
                recs.append(
                    _rec(
                        "resource_reallocation",
                        "share_out",
                        f"{names.get(owner, f'User {owner}')} owns {count} of them: share some "
                        f"out or give them time to work the backlog.",
                        user_id=owner,
                    )
                )
        out.append(
            Finding(
                kind="bottleneck",
                check=f"{entity}_stage",
                title=f"{noun.capitalize()} stuck in {where}: {typical_now:.0f} days there "
                f"vs {_days(baseline)} typical",
                fingerprint=f"bottleneck:{entity}_stage:{stage_id}",
                severity=severity,
                confidence=min(0.95, 0.45 + 0.05 * min(len(stuck), 6) + boost),
                label=stage.name[:60],
                data={
                    "entity": entity,
                    "stage_id": stage_id,
                    "stage": stage.name,
                    "group": stage.group,
                    "open_in_stage": len(items),
                    "stuck": len(stuck),
                    "median_days": round(typical_now, 1),
                    "typical_days": round(baseline, 1),
                    "typical_from": source,
                    "threshold_days": round(threshold, 1),
                    "oldest_days": round(stuck[0][0], 1),
                    "amount_at_stake": at_stake,
                    "records": [
                        {"id": r.id, "name": r.name, "days": round(d, 1), "owner_id": r.owner_id}
                        for d, r in stuck[:10]
                    ],
                },
                reasons=[
                    {
                        "feature": "dwell_days",
                        "text": f"{typical_now:.0f} days in {stage.name} (median of "
                        f"{len(items)} open) vs {_days(baseline)} typical ({source})",
                        "impact": round(ratio, 2),
                    },
                    {
                        "feature": "stuck",
                        "text": f"{noun} past {math.ceil(threshold)} days",
                        "impact": float(len(stuck)),
                    },
                ]
                + (
                    [
                        {
                            "feature": "amount",
                            "text": f"{at_stake:,.0f} in value waiting",
                            "impact": at_stake,
                        }
                    ]
                    if at_stake
                    else []
                ),
                recommendations=recs,
            )
        )
    return out


# -- overdue tasks -----------------------------------------------------------------------------


def ageing_tasks(
    rows: Sequence[tuple[int, str, int | None, datetime, str | None]],
    *,
    now: datetime,
    names: dict[int, str] | None = None,
) -> list[Finding]:
    """People (and the unassigned pile) with several tasks overdue by more than OVERDUE_DAYS."""
    names = names or {}
    groups: dict[int | None, list[tuple[float, int, str]]] = defaultdict(list)
    for task_id, title, assignee, due, _category in rows:
        late = (now - due).total_seconds() / 86400
        if late >= OVERDUE_DAYS:
            groups[assignee].append((late, task_id, title))
    out: list[Finding] = []
    for assignee, items in groups.items():
        if len(items) < MIN_OVERDUE:
            continue
        items.sort(key=lambda x: -x[0])
        who = names.get(assignee, f"User {assignee}") if assignee else "nobody"
        n, oldest = len(items), items[0][0]
        severity = "high" if n >= 10 or oldest >= 14 else "medium" if n >= 5 else "low"
        if assignee:
            recs = [
                _rec(
                    "resource_reallocation",
                    "auto_assign",
                    f"Move some of {who}'s {n} overdue tasks to people with room: run "
                    f"auto-assign on open tasks, or agree new due dates.",
                    scope="open",
                    task_ids=[i for _, i, _ in items[:50]],
                )
            ]
        else:
            recs = [
                _rec(
                    "resource_reallocation",
                    "auto_assign",
                    f"{n} overdue tasks have no owner: run auto-assign.",
                    scope="unassigned",
                    task_ids=[i for _, i, _ in items[:50]],
                )
            ]
        out.append(
            Finding(
                kind="bottleneck",
                check="overdue_tasks",
                title=f"{_plural(n, 'task')} overdue by more than {OVERDUE_DAYS:.0f} days "
                f"({'assigned to ' + who if assignee else 'unassigned'})",
                fingerprint=f"bottleneck:overdue_tasks:{assignee or 'unassigned'}",
                severity=severity,
                confidence=0.9,
                entity_type="user" if assignee else None,
                entity_id=assignee,
                data={
                    "assignee_id": assignee,
                    "overdue": n,
                    "oldest_days": round(oldest, 1),
                    "tasks": [
                        {"id": i, "title": t, "days_overdue": round(d, 1)} for d, i, t in items[:10]
                    ],
                },
                reasons=[
                    {
                        "feature": "overdue",
                        "text": f"{n} open tasks past due by {OVERDUE_DAYS:.0f}+ days; the oldest "
                        f"by {oldest:.0f} days",
                        "impact": float(n),
                    }
                ],
                recommendations=recs,
            )
        )
    return out


# -- inbound volume ------------------------------------------------------------------------------


def _robust_z(x: float, baseline: Sequence[float]) -> tuple[float, float, float]:
    """(z, median, scale): MAD-based z-score, the scale floored at √median (Poisson noise)."""
    arr = np.asarray(baseline, dtype=np.float64)
    med = float(np.median(arr))
    mad = float(np.median(np.abs(arr - med)))
    scale = max(1.4826 * mad, math.sqrt(max(med, 0.0)), 1.0)
    return (x - med) / scale, med, scale


def inbound_drop(times: Sequence[datetime], *, now: datetime) -> list[Finding] | Skipped:
    """Inbound activity of the last full day against the same weekday of the previous 8 weeks,
    and of the last 7 days against the 7 weeks before."""
    today = now.date()
    first = today - timedelta(days=57)
    counts = np.zeros(57, dtype=np.float64)  # index 0 = 57 days ago … 56 = yesterday
    for t in times:
        i = (t.date() - first).days
        if 0 <= i < 57:
            counts[i] += 1
    if not times or min(times).date() > today - timedelta(days=28):
        return Skipped("inbound_drop", "less than 4 weeks of inbound history")
    out: list[Finding] = []
    day = today - timedelta(days=1)
    x = float(counts[56])
    same_weekday = [float(counts[56 - 7 * k]) for k in range(1, 9)]
    z, med, _ = _robust_z(x, same_weekday)
    basis = f"{day:%A}s"
    if med < MIN_DAILY_VOLUME:
        z, med, _ = _robust_z(x, list(counts[:56]))
        basis = "days"
    if med >= MIN_DAILY_VOLUME and z <= DROP_Z and x <= DROP_SHARE * med:
        out.append(_drop_finding("day", day, x, med, z, basis))
    weeks = [float(counts[56 - 7 * (k + 1) + 1 : 56 - 7 * k + 1].sum()) for k in range(8)]
    xw, prior = weeks[0], weeks[1:]
    zw, medw, _ = _robust_z(xw, prior)
    if medw >= 7 * MIN_DAILY_VOLUME and zw <= DROP_Z and xw <= DROP_SHARE * medw:
        out.append(_drop_finding("week", day, xw, medw, zw, "weeks"))
    return out


def _drop_finding(span: str, day: date, x: float, med: float, z: float, basis: str) -> Finding:
    share = x / med if med else 0.0
    severity = "high" if share <= 0.25 else "medium" if share <= 0.45 else "low"
    when = f"on {day:%a %b %d}" if span == "day" else f"in the 7 days to {day:%b %d}"
    return Finding(
        kind="anomaly",
        check="inbound_drop",
        title=f"Inbound volume fell {when}: {x:.0f} vs {med:.0f} usual",
        fingerprint=f"anomaly:inbound_drop:{span}:{day.isoformat()}",
        severity=severity,
        confidence=round(min(0.95, 0.5 + 0.07 * abs(z)), 3),
        data={
            "span": span,
            "date": day.isoformat(),
            "count": int(x),
            "usual": round(med, 1),
            "share_of_usual": round(share, 2),
            "robust_z": round(z, 2),
            "baseline": f"median of the previous {basis}",
        },
        reasons=[
            {
                "feature": "inbound_count",
                "text": f"{x:.0f} inbound {when} vs a median of {med:.0f} on previous {basis} "
                f"(robust z {z:.1f})",
                "impact": round(z, 2),
            }
        ],
        recommendations=[
            _rec(
                "process_improvement",
                "check_channels",
                "Check the inbound channels (mailbox connection, web forms, phone lines, "
                "chat widget) for an outage or a broken integration.",
            ),
            _rec(
                "performance",
                "outbound_push",
                "If demand really dropped, shift the freed time to outbound follow-ups on "
                "open deals and ageing leads.",
            ),
        ],
    )


# -- negative sentiment ----------------------------------------------------------------------------


def sentiment_spike(
    scores: Sequence[tuple[datetime, float]], *, now: datetime
) -> list[Finding] | Skipped:
    """Share of negative messages (score ≤ NEGATIVE) in the last 24 hours against the previous
    28 days (binomial z-test); skipped while fewer than 30 scored messages exist."""
    cut = now - timedelta(days=1)
    recent = [v for t, v in scores if t >= cut]
    base = [v for t, v in scores if now - timedelta(days=29) <= t < cut]
    if len(base) < MIN_SENTIMENT_BASELINE:
        return Skipped("negative_sentiment", "not enough scored messages yet")
    if len(recent) < 5:
        return []
    p0 = max(sum(v <= NEGATIVE for v in base) / len(base), 0.02)
    neg = sum(v <= NEGATIVE for v in recent)
    p = neg / len(recent)
    z = (p - p0) / math.sqrt(p0 * (1 - p0) / len(recent))
    if z < SPIKE_Z or p < p0 + 0.15:
        return []
    return [
        Finding(
            kind="anomaly",
            check="negative_sentiment",
            title=f"Negative messages spiked: {p:.0%} in the last day vs {p0:.0%} usual",
            fingerprint=f"anomaly:negative_sentiment:{now.date().isoformat()}",
            severity="high" if p >= 3 * p0 and neg >= 10 else "medium",
            confidence=round(min(0.95, float(norm.cdf(z - 1))), 3),
            data={"negative": neg, "messages": len(recent), "share": p, "usual_share": p0},
            reasons=[
                {
                    "feature": "negative_share",
                    "text": f"{neg} of {len(recent)} messages negative (usual {p0:.0%})",
                    "impact": round(z, 2),
                }
            ],
            recommendations=[
                _rec(
                    "process_improvement",
                    "review_messages",
                    "Read the negative messages of the last day for a shared cause (an outage, "
                    "a billing run, a release) and reply with one clear update.",
                )
            ],
        )
    ]


# -- win rate ------------------------------------------------------------------------------------


def win_rate_drop(
    closed: Sequence[tuple[int, str, datetime]],
    *,
    now: datetime,
    names: dict[int, str] | None = None,
) -> list[Finding]:
    """Reps whose win rate in the last 90 days fell well below their own earlier record
    (one-sided two-proportion z-test, z ≤ −2 and at least 15 points)."""
    names = names or {}
    cut = now - timedelta(days=WIN_RECENT_DAYS)
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # rw, rn, pw, pn
    for owner, status, closed_at in closed:
        t = tally[owner]
        won = 1 if status == "won" else 0
        if closed_at >= cut:
            t[0] += won
            t[1] += 1
        else:
            t[2] += won
            t[3] += 1
    rates = {o: (t[0] + t[2]) / (t[1] + t[3]) for o, t in tally.items() if t[1] + t[3] >= 10}
    out: list[Finding] = []
    for owner, (rw, rn, pw, pn) in tally.items():
        if rn < MIN_RECENT_CLOSED or pn < MIN_PRIOR_CLOSED:
            continue
        pr, pp = rw / rn, pw / pn
        pooled = (rw + pw) / (rn + pn)
        if pooled in (0.0, 1.0):
            continue
        z = (pr - pp) / math.sqrt(pooled * (1 - pooled) * (1 / rn + 1 / pn))
        if z > -2 or pp - pr < WIN_DROP:
            continue
        who = names.get(owner, f"User {owner}")
        recs = [
            _rec(
                "performance",
                "review_losses",
                f"Go through {who}'s recent lost deals with them: loss reasons, stage lost at, "
                f"deal size.",
                user_id=owner,
            )
        ]
        best = max((o for o in rates if o != owner), key=lambda o: rates[o], default=None)
        if best is not None and rates[best] > pp:
            recs.append(
                _rec(
                    "performance",
                    "pair_up",
                    f"Pair {who} with {names.get(best, f'User {best}')} "
                    f"({rates[best]:.0%} win rate) on the next few proposals.",
                    user_id=owner,
                    mentor_id=best,
                )
            )
        out.append(
            Finding(
                kind="anomaly",
                check="win_rate",
                title=f"{who}'s win rate fell to {pr:.0%} (last {WIN_RECENT_DAYS} days) "
                f"from {pp:.0%}",
                fingerprint=f"anomaly:win_rate:user:{owner}",
                severity="high" if pp - pr >= 0.3 else "medium",
                confidence=round(min(0.95, float(norm.cdf(-z))), 3),
                entity_type="user",
                entity_id=owner,
                data={
                    "user_id": owner,
                    "recent": {"won": rw, "closed": rn, "rate": round(pr, 3)},
                    "before": {"won": pw, "closed": pn, "rate": round(pp, 3)},
                    "z": round(z, 2),
                },
                reasons=[
                    {
                        "feature": "win_rate",
                        "text": f"won {rw} of {rn} in the last {WIN_RECENT_DAYS} days vs "
                        f"{pw} of {pn} before",
                        "impact": round(pr - pp, 3),
                    }
                ],
                recommendations=recs,
            )
        )
    return out


# -- workload imbalance --------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonLoad:
    user_id: int
    name: str
    open: int
    capacity: int


def gini(values: Sequence[float]) -> float:
    arr = np.sort(np.asarray(values, dtype=np.float64))
    n = len(arr)
    if n == 0 or arr.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * arr).sum()) / (n * arr.sum()) - (n + 1) / n)


def imbalance(loads: Sequence[PersonLoad]) -> list[Finding]:
    """Open tasks per person against capacity: someone over capacity while someone else is
    under half, or a coefficient of variation of utilisation ≥ 0.6 with a real gap."""
    people = [p for p in loads if p.capacity > 0]
    total = sum(p.open for p in people)
    if len(people) < 2 or total < 4:
        return []
    util = np.array([p.open / p.capacity for p in people])
    mean = float(util.mean())
    cv = float(util.std() / mean) if mean > 0 else 0.0
    g = gini([p.open for p in people])
    over = [p for p, u in zip(people, util, strict=True) if u > 1.0]
    under = [p for p, u in zip(people, util, strict=True) if u < 0.5]
    gap = max(p.open for p in people) - min(p.open for p in people)
    if not ((over and under) or (cv >= IMBALANCE_CV and gap >= 4)):
        return []
    target = total / sum(p.capacity for p in people)
    excess = {
        p.user_id: p.open - math.ceil(target * p.capacity)
        for p in people
        if p.open > math.ceil(target * p.capacity)
    }
    room = {
        p.user_id: math.floor(target * p.capacity) - p.open
        for p in people
        if p.open < math.floor(target * p.capacity)
    }
    by_id = {p.user_id: p for p in people}
    moves: list[dict[str, Any]] = []
    for giver in sorted(excess, key=lambda u: -excess[u]):
        for taker in sorted(room, key=lambda u: -room[u]):
            n = min(excess[giver], room[taker])
            if n <= 0:
                continue
            moves.append({"from_user_id": giver, "to_user_id": taker, "tasks": n})
            excess[giver] -= n
            room[taker] -= n
            if excess[giver] <= 0:
                break
    top = max(people, key=lambda p: p.open / p.capacity)
    low = min(people, key=lambda p: p.open / p.capacity)
    severity = "high" if util.max() >= 1.5 or cv >= 1.0 else "medium" if over else "low"
    recs = [
        _rec(
            "resource_reallocation",
            "move_tasks",
            f"Move {m['tasks']} open task{'s' if m['tasks'] > 1 else ''} from "
            f"{by_id[m['from_user_id']].name} ({by_id[m['from_user_id']].open}/"
            f"{by_id[m['from_user_id']].capacity}) to {by_id[m['to_user_id']].name} "
            f"({by_id[m['to_user_id']].open}/{by_id[m['to_user_id']].capacity}).",
            **m,
        )
        for m in moves[:3]
    ]
    recs.append(
        _rec(
            "resource_reallocation",
            "auto_assign",
            "Run auto-assign on all open tasks to rebalance by skills and capacity.",
            scope="open",
        )
    )
    key = ",".join(str(p.user_id) for p in sorted(over or [top], key=lambda p: p.user_id))
    return [
        Finding(
            kind="workload",
            check="imbalance",
            title=f"Workload is uneven: {top.name} has {top.open}/{top.capacity} open tasks, "
            f"{low.name} {low.open}/{low.capacity}",
            fingerprint=f"workload:imbalance:{key}",
            severity=severity,
            confidence=round(min(0.95, 0.6 + 0.05 * len(people)), 3),
            data={
                "coefficient_of_variation": round(cv, 3),
                "gini": round(g, 3),
                "target_utilisation": round(target, 3),
                "people": [
                    {
                        "user_id": p.user_id,
                        "name": p.name,
                        "open": p.open,
                        "capacity": p.capacity,
                        "utilisation": round(p.open / p.capacity, 3),
                    }
                    for p in sorted(people, key=lambda p: -p.open / p.capacity)
                ],
                "over_capacity": [p.user_id for p in over],
                "moves": moves,
            },
            reasons=[
                {
                    "feature": "utilisation_cv",
                    "text": f"utilisation varies by {cv:.0%} of its mean (Gini of open tasks "
                    f"{g:.2f})",
                    "impact": round(cv, 3),
                }
            ]
            + (
                [
                    {
                        "feature": "over_capacity",
                        "text": f"{_plural(len(over), 'person')} over capacity while "
                        f"{len(under)} {'is' if len(under) == 1 else 'are'} under half",
                        "impact": float(len(over)),
                    }
                ]
                if over
                else []
            ),
            recommendations=recs,
        )
    ]


# -- deadline conflicts ----------------------------------------------------------------------------


def deadline_conflicts(
    people: Sequence[planner.Person],
    *,
    now: datetime,
    estimated: set[int] | None = None,
    priorities: dict[int, str] | None = None,
) -> list[Finding]:
    """Open tasks not yet due that their assignee's queue cannot reach in time."""
    estimated = estimated or set()
    priorities = priorities or {}
    out: list[Finding] = []
    now_ts = now.timestamp()
    for p in people:
        items = [(planner.timestamp(q.due), q.hours, q.id, q.title, False) for q in p.queue]
        for tid, (need, have, title, _new, due_ts) in planner.late_tasks(items, now_ts).items():
            if due_ts <= now_ts:
                continue  # already overdue: the ageing check covers it
            due = datetime.fromtimestamp(due_ts, tz=now.tzinfo)
            urgent = priorities.get(tid) in ("high", "urgent")
            out.append(
                Finding(
                    kind="deadline_conflict",
                    check="deadline",
                    title=f"“{title}” will miss its due date ({due:%b %d %H:%M}): {p.name} has "
                    f"{need:.0f} h of work before it, {have:.0f} h left",
                    fingerprint=f"deadline:task:{tid}:{due.date().isoformat()}",
                    severity="high" if urgent else "medium",
                    confidence=0.75 if tid in estimated else 0.55,
                    entity_type="task",
                    entity_id=tid,
                    data={
                        "task_id": tid,
                        "assignee_id": p.user_id,
                        "due_at": due.isoformat(),
                        "hours_needed": round(need, 1),
                        "hours_available": round(have, 1),
                    },
                    reasons=[
                        {
                            "feature": "queue_hours",
                            "text": f"{need:.0f} h of {p.name}'s work is due by then, "
                            f"{have:.0f} working hours remain",
                            "impact": round(have - need, 1),
                        }
                    ],
                    recommendations=[
                        _rec(
                            "resource_reallocation",
                            "reassign_or_reschedule",
                            f"Move “{title}” to someone with a shorter queue, or agree a new "
                            f"due date.",
                            task_id=tid,
                        )
                    ],
                )
            )
    out.sort(key=lambda f: f.data["due_at"])
    return out[:MAX_DEADLINE_FINDINGS]
