"""Auto-assignment as a linear assignment problem (no database here: plain data in, plan out).

Rows are tasks; columns are *slots*: each person gets as many columns as tasks they can still
take (capacity minus open tasks, capped by `max_per_person`). The cost of giving task t to
slot k of person p is

    − skill match (category / title words vs the person's skills)
    + a penalty when the task needs a skill others have and this person lacks
    + load after taking the slot (open + k + 1) / capacity — rising with k, so work spreads
    + historical speed: log(person's typical completion days / team's) for the category
    + deadline risk: work queued before the due date (earliest-due-first) beyond working hours
    + urgency × the person's queued hours (urgent work goes to short queues)
    − keeping the current assignee (scope "open": reassign only when it pays)
    − urgency (a per-row constant: when slots are scarce, urgent tasks are planned first)

and `scipy.optimize.linear_sum_assignment` finds the cheapest plan. Since a person's slots
differ only by the rising load term, the solver fills each person's cheap slots first, and no
person can be given more tasks than they have slots: capacity is a hard limit. The deadline
risk of a task depends on what else its assignee gets in the same plan, which one linear
assignment cannot see, so further passes (up to SOLVER_PASSES, while they help) re-solve with
the previous pass's tasks in each queue, and the pass with the fewest planned tasks predicted
late is kept.

Deadline conflicts are then checked person by person: their queue (kept open tasks + planned
ones) is worked earliest-due-first at WORK_HOURS_PER_DAY hours per weekday (UTC); a task whose
cumulative work exceeds the working hours until its due date is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from aicrm.ai.workload import skills as sk

MODEL = "workload.assign"
MODEL_VERSION = "1"

WORK_HOURS_PER_DAY = 8.0
DEFAULT_TASK_HOURS = 2.0
DEFAULT_CAPACITY = 10
PRIORITY = {"low": 0.0, "medium": 0.35, "high": 0.7, "urgent": 1.0}

# Cost weights (units: one "point" ≈ a perfect skill match).
W_SKILL = 1.0
W_MISSING = 0.4
W_LOAD = 1.0
W_SPEED = 0.5
W_RISK = 0.6
W_QUEUE = 0.4
W_KEEP = 0.3
W_URGENCY = 2.0
SOLVER_PASSES = 2
WEIGHTS = {
    "skill": W_SKILL,
    "missing_skill": W_MISSING,
    "load": W_LOAD,
    "speed": W_SPEED,
    "deadline_risk": W_RISK,
    "queue": W_QUEUE,
    "keep": W_KEEP,
    "urgency": W_URGENCY,
}
BIG = 1e6

_EPOCH = np.datetime64("1970-01-01", "D")


# -- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedTask:
    """An open task a person keeps (not part of this plan)."""

    id: int
    title: str
    due: datetime | None
    hours: float


@dataclass
class Person:
    user_id: int
    name: str
    capacity: int = DEFAULT_CAPACITY
    skills: tuple[str, ...] = ()
    team_ids: frozenset[int] = frozenset()
    queue: list[QueuedTask] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return len(self.queue)


@dataclass
class PlanTask:
    id: int
    title: str
    category: str | None = None
    priority: str = "medium"
    due: datetime | None = None
    estimate_hours: float | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    status: str = "todo"


@dataclass
class History:
    """What the organization's past work says: completion speed and typical effort."""

    by_person_cat: dict[tuple[int, str], tuple[float, int]] = field(default_factory=dict)
    by_cat: dict[str, tuple[float, int]] = field(default_factory=dict)
    by_person: dict[int, tuple[float, int]] = field(default_factory=dict)
    overall: tuple[float, int] | None = None
    hours_by_cat: dict[str, float] = field(default_factory=dict)
    default_hours: float = DEFAULT_TASK_HOURS
    guesser: sk.CategoryGuesser | None = None

    @classmethod
    def build(
        cls,
        completed: Iterable[tuple[int, str | None, float]],
        estimates: Iterable[tuple[str | None, float]] = (),
        labelled: Sequence[tuple[str, str]] = (),
    ) -> History:
        """`completed`: (assignee id, category, days from creation to completion);
        `estimates`: (category, estimate hours) of any tasks; `labelled`: (title, category)."""
        pc: dict[tuple[int, str], list[float]] = {}
        cat: dict[str, list[float]] = {}
        per: dict[int, list[float]] = {}
        every: list[float] = []
        for user_id, category, days in completed:
            d = max(float(days), 0.05)  # a task closed at once still took some time
            key = sk.normalise(category)
            pc.setdefault((user_id, key), []).append(d)
            cat.setdefault(key, []).append(d)
            per.setdefault(user_id, []).append(d)
            every.append(d)
        hours: dict[str, list[float]] = {}
        all_hours: list[float] = []
        for category, h in estimates:
            if h is None or h <= 0:
                continue
            hours.setdefault(sk.normalise(category), []).append(float(h))
            all_hours.append(float(h))
        guesser = sk.CategoryGuesser(labelled) if labelled else None
        return cls(
            by_person_cat={k: (median(v), len(v)) for k, v in pc.items()},
            by_cat={k: (median(v), len(v)) for k, v in cat.items()},
            by_person={k: (median(v), len(v)) for k, v in per.items()},
            overall=(median(every), len(every)) if every else None,
            hours_by_cat={k: median(v) for k, v in hours.items() if len(v) >= 3},
            default_hours=median(all_hours) if len(all_hours) >= 3 else DEFAULT_TASK_HOURS,
            guesser=guesser if guesser is not None and guesser.ready else None,
        )

    def hours_for(self, category_key: str) -> float:
        return self.hours_by_cat.get(category_key, self.default_hours)

    def speed(
        self, user_id: int, category_key: str, label: str | None = None
    ) -> tuple[float, str | None]:
        """(shrunk log ratio of this person's typical days to the team's — negative is faster,
        the reason text) for tasks of this category."""
        mine = self.by_person_cat.get((user_id, category_key))
        team = self.by_cat.get(category_key)
        if category_key and mine and team and mine[1] >= 2 and team[1] > mine[1]:
            ratio = math.log(mine[0] / team[0]) * mine[1] / (mine[1] + 3)
            label = f"{label or category_key} tasks"
            return _clip(ratio), (
                f"finishes {label} in {mine[0]:.1f} d on average vs team {team[0]:.1f} d"
            )
        mine = self.by_person.get(user_id)
        if mine and self.overall and mine[1] >= 3 and self.overall[1] > mine[1]:
            ratio = 0.5 * math.log(mine[0] / self.overall[0]) * mine[1] / (mine[1] + 5)
            return _clip(ratio), (
                f"finishes tasks in {mine[0]:.1f} d on average vs team {self.overall[0]:.1f} d"
            )
        return 0.0, None


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


# -- outputs -------------------------------------------------------------------------------


@dataclass
class Assignment:
    task: PlanTask
    person: Person
    score: int
    reasons: list[dict[str, Any]]
    category: str | None = None
    conflict: bool = False


@dataclass
class Unassignable:
    task: PlanTask
    reason: str


@dataclass
class Conflict:
    task_id: int
    title: str
    person: Person
    due: datetime
    hours_needed: float
    hours_available: float
    planned: bool


@dataclass
class Load:
    person: Person
    open_before: int
    assigned: int
    open_after: int
    queued_hours_after: float
    late_before: int
    late_after: int


@dataclass
class Plan:
    assignments: list[Assignment]
    unassignable: list[Unassignable]
    loads: list[Load]
    conflicts: list[Conflict]
    digest: str
    stats: dict[str, Any]


# -- working time --------------------------------------------------------------------------


def _weekday_seconds(ts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Seconds of weekday time (Mon–Fri, UTC) from the epoch to each timestamp."""
    days = np.floor(ts / 86400.0)
    d64 = days.astype("int64").astype("datetime64[D]")
    full = np.busday_count(_EPOCH, d64).astype(np.float64)
    part = np.where(np.is_busday(d64), ts - days * 86400.0, 0.0)
    return full * 86400.0 + part


def working_hours(start: float, ends: NDArray[np.float64]) -> NDArray[np.float64]:
    """Working hours from `start` until each of `ends` (inf stays inf; past ends give 0):
    WORK_HOURS_PER_DAY per weekday, spread evenly over the day."""
    ends = np.asarray(ends, dtype=np.float64)
    out = np.full(ends.shape, np.inf)
    finite = np.isfinite(ends)
    if finite.any():
        span = _weekday_seconds(ends[finite]) - _weekday_seconds(np.array([start]))[0]
        out[finite] = np.maximum(span, 0.0) / 3600.0 * (WORK_HOURS_PER_DAY / 24.0)
    return out


def timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else math.inf


def _days_text(hours: float) -> str:
    return f"{hours:.0f} h" if hours < 10 else f"{hours / WORK_HOURS_PER_DAY:.1f} working days"


# -- the plan ------------------------------------------------------------------------------


def digest(pairs: Iterable[tuple[int, int]]) -> str:
    """A short fingerprint of (task, assignee) pairs: a reviewed plan can be executed only if
    it is still the plan."""
    raw = json.dumps(sorted(pairs), separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def plan(
    tasks: Sequence[PlanTask],
    people: Sequence[Person],
    history: History,
    *,
    now: datetime,
    max_per_person: int | None = None,
) -> Plan:
    """Assign `tasks` to `people` (see the module docstring)."""
    started = time.perf_counter()
    n_t, n_p = len(tasks), len(people)
    now_ts = now.timestamp()

    # -- per task: words, category (given or inferred), effort, urgency ---------------------
    title_words = [sk.words(t.title) for t in tasks]
    cat_label: list[str | None] = []
    cat_prob: list[float] = []
    for t, tw in zip(tasks, title_words, strict=True):
        if t.category:
            cat_label.append(t.category)
            cat_prob.append(1.0)
            continue
        guess = history.guesser.guess(tw) if history.guesser else None
        cat_label.append(guess[0] if guess else None)
        cat_prob.append(guess[1] if guess else 0.0)
    cat_key = [sk.normalise(c) for c in cat_label]
    hours = np.array(
        [
            t.estimate_hours
            if t.estimate_hours is not None and t.estimate_hours > 0
            else history.hours_for(k)
            for t, k in zip(tasks, cat_key, strict=True)
        ],
        dtype=np.float64,
    )
    due_ts = np.array([timestamp(t.due) for t in tasks], dtype=np.float64)
    days_left = (due_ts - now_ts) / 86400.0
    due_score = np.where(
        np.isfinite(due_ts), np.where(days_left <= 0, 1.0, np.exp(-days_left / 3.0)), 0.0
    )
    prio = np.array([PRIORITY.get(t.priority, 0.35) for t in tasks], dtype=np.float64)
    urgency = 0.6 * prio + 0.4 * due_score
    avail = working_hours(now_ts, due_ts)

    # -- skills: each distinct skill against each task once ----------------------------------
    all_skills = sorted({s for p in people for s in p.skills if s.strip()})
    skill_match: dict[str, list[sk.Match | None]] = {}
    for s in all_skills:
        row: list[sk.Match | None] = []
        for i in range(n_t):
            m = sk.match(s, cat_label[i], title_words[i])
            if m is not None and cat_prob[i] < 1.0 and m.why == "category":
                # an inferred category counts as much as we believe it
                m = sk.Match(m.skill, m.strength * cat_prob[i], "inferred")
            row.append(m)
        skill_match[s] = row
    strength = np.zeros((n_p, n_t))
    best: list[list[sk.Match | None]] = [[None] * n_t for _ in range(n_p)]
    for pi, p in enumerate(people):
        for s in p.skills:
            for i, m in enumerate(skill_match.get(s, ())):
                if m is not None and m.strength > strength[pi, i]:
                    strength[pi, i] = m.strength
                    best[pi][i] = m
    demanded: list[list[str]] = [[] for _ in range(n_t)]
    for s in all_skills:
        for i, m in enumerate(skill_match[s]):
            if m is not None and m.strength >= 0.5 and s not in demanded[i]:
                demanded[i].append(s)
    needs = np.array([bool(d) for d in demanded], dtype=bool)
    missing = (strength < 0.4) & needs[None, :]

    # -- eligibility, speed, queues ----------------------------------------------------------
    eligible = np.ones((n_p, n_t), dtype=bool)
    for i, t in enumerate(tasks):
        if t.team_id is not None:
            eligible[:, i] = [t.team_id in p.team_ids for p in people]
    keys = sorted(set(cat_key))
    key_index = {k: j for j, k in enumerate(keys)}
    key_label = {k: (c or "").lower() for k, c in zip(cat_key, cat_label, strict=True)}
    speed_pk = np.zeros((n_p, len(keys)))
    speed_text: dict[tuple[int, int], str] = {}
    for pi, p in enumerate(people):
        for j, k in enumerate(keys):
            value, text = history.speed(p.user_id, k, key_label.get(k))
            speed_pk[pi, j] = value
            if text:
                speed_text[(pi, j)] = text
    col_of_task = np.array([key_index[k] for k in cat_key], dtype=np.int64)
    speed = speed_pk[:, col_of_task] if n_t else np.zeros((n_p, 0))

    ahead = np.zeros((n_p, n_t))
    queued = np.zeros(n_p)
    for pi, p in enumerate(people):
        if not p.queue:
            continue
        q_due = np.array([timestamp(q.due) for q in p.queue])
        q_hours = np.array([q.hours for q in p.queue])
        order = np.argsort(q_due, kind="stable")
        q_due, cum = q_due[order], np.cumsum(q_hours[order])
        idx = np.searchsorted(q_due, due_ts, side="right")
        ahead[pi] = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
        queued[pi] = cum[-1]
    finite_due = np.isfinite(due_ts)
    queue_term = urgency[None, :] * np.minimum(queued[:, None] / (5 * WORK_HOURS_PER_DAY), 2.0)
    person_index = {p.user_id: pi for pi, p in enumerate(people)}
    keep = np.zeros((n_p, n_t))
    currently = np.zeros(n_p, dtype=np.int64)
    for i, t in enumerate(tasks):
        pi_now = person_index.get(t.assignee_id) if t.assignee_id is not None else None
        if pi_now is not None:
            keep[pi_now, i] = 2.0 if t.status == "in_progress" else 1.0
            currently[pi_now] += 1
    static = (
        -W_SKILL * strength
        + W_MISSING * missing
        + W_SPEED * speed
        + W_QUEUE * queue_term
        - W_KEEP * keep
    )

    # -- slots ------------------------------------------------------------------------------
    cap = np.array([max(p.capacity, 0) for p in people], dtype=np.int64)
    kept = np.array([p.kept for p in people], dtype=np.int64)
    remaining = np.maximum(cap - kept, 0)
    slots = np.minimum(remaining, n_t)
    if max_per_person is not None:
        slots = np.minimum(slots, max(max_per_person, 0))
    col_person = np.repeat(np.arange(n_p), slots)
    col_k = np.concatenate([np.arange(s) for s in slots]) if n_p else np.zeros(0, np.int64)
    col_k = col_k.astype(np.int64)
    load_cost = W_LOAD * (kept[col_person] + col_k + 1) / np.maximum(cap[col_person], 1)

    has_slot = slots > 0
    feasible = (eligible & has_slot[:, None]).any(axis=0) if n_p else np.zeros(n_t, bool)
    rows = np.flatnonzero(feasible)
    unassignable: list[Unassignable] = []
    for i in np.flatnonzero(~feasible):
        t = tasks[i]
        if not n_p:
            why = "nobody can be assigned: no active members who may work on tasks"
        elif not eligible[:, i].any():
            why = f"nobody in team {t.team_id} can be assigned"
        elif max_per_person == 0:
            why = "max_per_person is 0"
        else:
            why = "everyone who could take it is at capacity"
        unassignable.append(Unassignable(t, why))

    # -- the solve --------------------------------------------------------------------------
    # Deadline risk depends on what else a person gets in this same plan, which the linear
    # assignment cannot see. So solve, add each person's planned work to their queue, and solve
    # again; keep the pass with the fewest planned tasks predicted late (then the cheapest).
    solve_started = time.perf_counter()
    extra = np.zeros((n_p, n_t))
    best_pass: tuple[tuple[int, float], list[tuple[int, int]], NDArray[np.float64]] | None = None
    for _ in range(SOLVER_PASSES if len(rows) and len(col_person) else 0):
        total_ahead = ahead + extra
        over = np.where(finite_due[None, :], total_ahead + hours[None, :] - avail[None, :], 0.0)
        risk = np.clip(over / WORK_HOURS_PER_DAY, 0.0, 3.0)
        base = np.where(eligible, static + W_RISK * risk, BIG)
        cost = (
            base.T[np.ix_(rows, col_person)]
            + load_cost[None, :]
            - W_URGENCY * urgency[rows][:, None]
        )
        r_idx, c_idx = linear_sum_assignment(cost)
        pairs = [
            (int(rows[r]), int(c))
            for r, c in zip(r_idx, c_idx, strict=True)
            if base[int(col_person[c]), int(rows[r])] < BIG / 2
        ]
        late = _planned_late(pairs, col_person, people, due_ts, hours, now_ts)
        key = (late, float(sum(cost[np.searchsorted(rows, i), c] for i, c in pairs)))
        if best_pass is not None and key >= best_pass[0]:
            break  # no better than the last pass: stop
        best_pass = (key, pairs, total_ahead)
        if late == 0:
            break
        extra = _planned_ahead(pairs, col_person, n_p, due_ts, hours)
    chosen = best_pass[1] if best_pass else []
    ahead = best_pass[2] if best_pass else ahead
    over = np.where(finite_due[None, :], ahead + hours[None, :] - avail[None, :], 0.0)
    risk = np.clip(over / WORK_HOURS_PER_DAY, 0.0, 3.0)
    base = np.where(eligible, static + W_RISK * risk, BIG)
    solve_seconds = time.perf_counter() - solve_started
    planned = {i for i, _ in chosen}
    for i in rows:
        if int(i) not in planned:
            unassignable.append(
                Unassignable(tasks[i], "no capacity left: the free slots went to more urgent tasks")
            )

    # -- reasons ------------------------------------------------------------------------------
    new_per_person = np.zeros(n_p, dtype=np.int64)
    for _, c in chosen:
        new_per_person[int(col_person[c])] += 1
    assignments: list[Assignment] = []
    for i, c in sorted(chosen, key=lambda x: x[0]):
        pi = int(col_person[c])
        p, t = people[pi], tasks[i]
        after = int(kept[pi] + new_per_person[pi])
        reasons: list[dict[str, Any]] = []
        m = best[pi][i]
        if m is not None and strength[pi, i] > 0:
            if m.why == "category":
                how = "task category"
            elif m.why == "inferred":
                how = f"looks like a {cat_label[i]} task ({cat_prob[i]:.0%})"
            elif m.why == "title":
                how = "title"
            else:
                how = f"“{sk.originals(t.title).get(m.why, m.why)}”"
            reasons.append(
                {
                    "feature": "skills",
                    "text": f"skills: {m.skill} ({how})",
                    "impact": round(W_SKILL * strength[pi, i], 3),
                }
            )
        if missing[pi, i]:
            reasons.append(
                {
                    "feature": "missing_skill",
                    "text": f"lacks {', '.join(demanded[i][:2])}, but has room",
                    "impact": -W_MISSING,
                }
            )
        reasons.append(
            {
                "feature": "capacity",
                "text": f"{int(kept[pi])} of {int(cap[pi])} slots used"
                + (f", {after} with this plan" if after > kept[pi] + 1 else ""),
                # positive while the plan leaves them at most half full
                "impact": round(W_LOAD * (0.5 - after / max(int(cap[pi]), 1)), 3),
            }
        )
        text = speed_text.get((pi, int(col_of_task[i])))
        if text and abs(speed[pi, i]) > 0.02:
            reasons.append(
                {"feature": "speed", "text": text, "impact": round(-W_SPEED * speed[pi, i], 3)}
            )
        if finite_due[i]:
            need = ahead[pi, i] + hours[i]
            if risk[pi, i] > 0:
                reasons.append(
                    {
                        "feature": "deadline",
                        "text": f"due date at risk: {_days_text(need)} of work before it, "
                        f"{_days_text(float(avail[i]))} left",
                        "impact": round(-W_RISK * risk[pi, i], 3),
                    }
                )
            else:
                reasons.append(
                    {
                        "feature": "deadline",
                        "text": f"due in {max(days_left[i], 0):.1f} d with "
                        f"{ahead[pi, i]:.0f} h queued before it",
                        "impact": 0.0,
                    }
                )
        if keep[pi, i]:
            reasons.append(
                {
                    "feature": "keep",
                    "text": "already assigned to them",
                    "impact": round(W_KEEP * keep[pi, i], 3),
                }
            )
        reasons.sort(key=lambda r: -abs(r["impact"]))
        c_total = float(base[pi, i] + load_cost[c])
        score = round(100.0 / (1.0 + math.exp(2.0 * (c_total - 0.3))))
        assignments.append(
            Assignment(t, p, score, reasons[:5], category=cat_label[i] if cat_label[i] else None)
        )

    # -- deadline conflicts per person, earliest due first -------------------------------------
    by_person: dict[int, list[int]] = {}
    for a_idx, a in enumerate(assignments):
        by_person.setdefault(a.person.user_id, []).append(a_idx)
    task_index = {t.id: i for i, t in enumerate(tasks)}
    conflicts: list[Conflict] = []
    loads: list[Load] = []
    conflict_tasks: set[int] = set()
    for pi, p in enumerate(people):
        items = [(timestamp(q.due), q.hours, q.id, q.title, False) for q in p.queue]
        late_before = late_tasks(items, now_ts)
        for a_idx in by_person.get(p.user_id, []):
            t = assignments[a_idx].task
            i = task_index[t.id]
            items.append((due_ts[i], float(hours[i]), t.id, t.title, True))
        late_after = late_tasks(items, now_ts) if len(items) > len(p.queue) else late_before
        for tid, (need, have, title, is_new, due) in late_after.items():
            if is_new or tid not in late_before:
                conflicts.append(
                    Conflict(
                        tid,
                        title,
                        p,
                        datetime.fromtimestamp(due, tz=now.tzinfo),
                        round(need, 1),
                        round(have, 1),
                        is_new,
                    )
                )
                if is_new:
                    conflict_tasks.add(tid)
        loads.append(
            Load(
                person=p,
                open_before=int(kept[pi] + currently[pi]),
                assigned=int(new_per_person[pi]),
                open_after=int(kept[pi] + new_per_person[pi]),
                queued_hours_after=round(float(sum(h for _, h, _, _, _ in items)), 1),
                late_before=len(late_before),
                late_after=len(late_after),
            )
        )
    for a in assignments:
        a.conflict = a.task.id in conflict_tasks
    conflicts.sort(key=lambda c: (c.due, c.task_id))

    return Plan(
        assignments=assignments,
        unassignable=sorted(unassignable, key=lambda u: u.task.id),
        loads=loads,
        conflicts=conflicts,
        digest=digest((a.task.id, a.person.user_id) for a in assignments),
        stats={
            "tasks": n_t,
            "people": n_p,
            "slots": len(col_person),
            "solver_seconds": round(solve_seconds, 4),
            "seconds": round(time.perf_counter() - started, 4),
        },
    )


def _planned_ahead(
    pairs: Sequence[tuple[int, int]],
    col_person: NDArray[np.int64],
    n_p: int,
    due_ts: NDArray[np.float64],
    hours: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Hours of planned work due no later than each task, per person (a task's own hours
    excluded)."""
    extra = np.zeros((n_p, len(due_ts)))
    by_person: dict[int, list[int]] = {}
    for i, c in pairs:
        by_person.setdefault(int(col_person[c]), []).append(i)
    for pi, idx in by_person.items():
        mine = np.array(sorted(idx, key=lambda i: due_ts[i]))
        cum = np.cumsum(hours[mine])
        pos = np.searchsorted(due_ts[mine], due_ts, side="right")
        extra[pi] = np.where(pos > 0, cum[np.maximum(pos - 1, 0)], 0.0)
        extra[pi, mine] -= hours[mine]
    return extra


def _planned_late(
    pairs: Sequence[tuple[int, int]],
    col_person: NDArray[np.int64],
    people: Sequence[Person],
    due_ts: NDArray[np.float64],
    hours: NDArray[np.float64],
    now_ts: float,
) -> int:
    """How many planned tasks their assignee's queue (kept + planned) finishes late."""
    by_person: dict[int, list[int]] = {}
    for i, c in pairs:
        by_person.setdefault(int(col_person[c]), []).append(i)
    late = 0
    for pi, idx in by_person.items():
        items = [
            (timestamp(q.due), q.hours, -1 - j, q.title, False)
            for j, q in enumerate(people[pi].queue)
        ]
        items += [(float(due_ts[i]), float(hours[i]), i, "", True) for i in idx]
        late += sum(1 for v in late_tasks(items, now_ts).values() if v[3])
    return late


def late_tasks(
    items: list[tuple[float, float, int, str, bool]], now_ts: float
) -> dict[int, tuple[float, float, str, bool, float]]:
    """Tasks of one queue worked earliest-due-first that finish after their due date: task id →
    (hours of work up to and including it, working hours until due, title, new, due)."""
    if not items:
        return {}
    ordered = sorted(items, key=lambda x: (x[0], x[4], x[2]))
    due = np.array([x[0] for x in ordered])
    cum = np.cumsum([x[1] for x in ordered])
    have = working_hours(now_ts, due)
    out: dict[int, tuple[float, float, str, bool, float]] = {}
    for j, x in enumerate(ordered):
        if math.isfinite(x[0]) and cum[j] > have[j] + 1e-6:
            out[x[2]] = (float(cum[j]), float(have[j]), x[3], x[4], x[0])
    return out
