"""Workload manager (auto-assignment plans) and pattern insights (scans, optimize).

Who can be assigned: the active members of the organization whose role may write records
(owner, admin, manager, agent — a viewer cannot even mark a task done) and who belong to a team;
their capacity is their TeamMember.capacity (the largest, if in several teams) and their skills
are every skill they have in any team. An organization without any team members falls back to
every active member who may write, with a capacity of DEFAULT_CAPACITY open tasks each. A task
routed to a team (task.team_id) only goes to that team's members.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai import insights
from aicrm.ai.workload import patterns, planner
from aicrm.ai.workload import skills as sk
from aicrm.ai.workload.repository import WorkloadRepo
from aicrm.ai.workload.schemas import (
    AssignmentOut,
    AutoAssignIn,
    ConflictOut,
    FindingOut,
    OptimizeIn,
    OptimizeOut,
    PersonLoadOut,
    PlanOut,
    PlanSummary,
    Reason,
    RecommendationOut,
    Scope,
    SkippedOut,
    UnassignableOut,
)
from aicrm.errors import Conflict, Invalid, NotFound, PermissionDenied
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.snapshot import jsonable
from aicrm.models import AIInsight
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskUpdate

MAX_PLAN_TASKS = 5000
HISTORY_DAYS = 180
TRANSITION_DAYS = 365
# a finding that was dismissed or acted on is not raised again for this long
SNOOZE_DAYS = 7
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}
PANEL_KINDS = ("bottleneck", "anomaly", "workload", "deadline_conflict")
CHECKS = (
    "deal_stage",
    "lead_status",
    "overdue_tasks",
    "inbound_drop",
    "negative_sentiment",
    "win_rate",
    "imbalance",
    "deadline",
)


def _now() -> datetime:
    return datetime.now(UTC)


def check_workspace(principal: Principal, workspace_id: int) -> None:
    """A workspace is the caller's organization; any other id is not found (like every
    tenant check)."""
    if workspace_id != principal.organization_id:
        raise NotFound(f"workspace {workspace_id} not found")


# -- people and queues -----------------------------------------------------------------------


async def _people(
    repo: WorkloadRepo, team_id: int | None, history: planner.History, exclude: set[int]
) -> tuple[list[planner.Person], str]:
    """The assignable people with their open-task queues (tasks in `exclude` are being
    re-planned and left out)."""
    if team_id is not None or await repo.uses_teams():
        rows, pool = await repo.team_members(team_id), "teams"
    else:
        rows, pool = await repo.org_members(), "members"
    people = {
        r.user_id: planner.Person(
            user_id=r.user_id,
            name=r.name,
            capacity=r.capacity if r.capacity is not None else planner.DEFAULT_CAPACITY,
            skills=tuple(r.skills),
            team_ids=frozenset(r.team_ids),
        )
        for r in rows
    }
    for tid, assignee, title, due, estimate, category in await repo.open_tasks_of(list(people)):
        if tid in exclude:
            continue
        hours = (
            float(estimate)
            if estimate is not None and estimate > 0
            else history.hours_for(sk.normalise(category))
        )
        people[assignee].queue.append(planner.QueuedTask(tid, title, due, hours))
    return list(people.values()), pool


async def _history(repo: WorkloadRepo, now: datetime) -> planner.History:
    completed = [
        (assignee, category, (done - created).total_seconds() / 86400)
        for assignee, category, created, done in await repo.completed_since(
            now - timedelta(days=HISTORY_DAYS)
        )
    ]
    return planner.History.build(completed, await repo.estimates(), await repo.labelled_titles())


# -- auto-assign -------------------------------------------------------------------------------


def _plan_out(
    principal: Principal,
    data: AutoAssignIn,
    result: planner.Plan,
    pool: str,
    truncated: bool,
) -> PlanOut:
    return PlanOut(
        workspace_id=principal.organization_id,
        scope=data.scope,
        executed=False,
        digest=result.digest,
        pool=pool,
        assignments=[
            AssignmentOut(
                task_id=a.task.id,
                title=a.task.title,
                category=a.category,
                priority=a.task.priority,
                due_at=a.task.due,
                assignee_id=a.person.user_id,
                assignee_name=a.person.name,
                score=a.score,
                reasons=[Reason(**r) for r in a.reasons],
                previous_assignee_id=a.task.assignee_id,
                deadline_conflict=a.conflict,
            )
            for a in result.assignments
        ],
        unassignable=[
            UnassignableOut(task_id=u.task.id, title=u.task.title, reason=u.reason)
            for u in result.unassignable
        ],
        people=[
            PersonLoadOut(
                user_id=load.person.user_id,
                name=load.person.name,
                skills=list(load.person.skills),
                capacity=load.person.capacity,
                open_before=load.open_before,
                assigned=load.assigned,
                open_after=load.open_after,
                load_before=round(load.open_before / max(load.person.capacity, 1), 3),
                load_after=round(load.open_after / max(load.person.capacity, 1), 3),
                queued_hours_after=load.queued_hours_after,
                late_before=load.late_before,
                late_after=load.late_after,
            )
            for load in result.loads
        ],
        conflicts=[
            ConflictOut(
                task_id=c.task_id,
                title=c.title,
                assignee_id=c.person.user_id,
                assignee_name=c.person.name,
                due_at=c.due,
                hours_needed=c.hours_needed,
                hours_available=c.hours_available,
                planned=c.planned,
            )
            for c in result.conflicts
        ],
        summary=PlanSummary(
            tasks_considered=result.stats["tasks"],
            assigned=len(result.assignments),
            unassignable=len(result.unassignable),
            conflicts=len(result.conflicts),
            people=len(result.loads),
            truncated=truncated,
        ),
        model=planner.MODEL,
        model_version=planner.MODEL_VERSION,
        stats=result.stats,
    )


async def build_plan(
    session: AsyncSession,
    principal: Principal,
    data: AutoAssignIn,
    *,
    now: datetime | None = None,
) -> tuple[PlanOut, planner.Plan]:
    """The assignment plan for `data` (nothing changes)."""
    now = now or _now()
    repo = WorkloadRepo(session, principal)
    if data.team_id is not None and not await repo.team_exists(data.team_id):
        raise Invalid(f"team_id {data.team_id} does not exist", field="team_id")
    task_ids = sorted(set(data.task_ids)) if data.task_ids is not None else None
    if task_ids:
        missing = sorted(set(task_ids) - await repo.existing_task_ids(task_ids))
        if missing:
            raise Invalid(
                f"task_ids {missing[:10]} do not exist", field="task_ids", missing=missing[:100]
            )
    rows = await repo.tasks_in_scope(
        unassigned_only=data.scope == Scope.unassigned,
        team_id=data.team_id,
        task_ids=task_ids,
        limit=MAX_PLAN_TASKS + 1,
    )
    truncated = len(rows) > MAX_PLAN_TASKS
    rows = rows[:MAX_PLAN_TASKS]
    history = await _history(repo, now)
    people, pool = await _people(repo, data.team_id, history, {t.id for t in rows})
    tasks = [
        planner.PlanTask(
            id=t.id,
            title=t.title,
            category=t.category,
            priority=t.priority,
            due=t.due_at,
            estimate_hours=t.estimate_hours,
            team_id=t.team_id,
            assignee_id=t.assignee_id,
            status=t.status,
        )
        for t in rows
    ]
    result = planner.plan(tasks, people, history, now=now, max_per_person=data.max_per_person)
    return _plan_out(principal, data, result, pool, truncated), result


async def auto_assign(
    session: AsyncSession,
    principal: Principal,
    workspace_id: int,
    data: AutoAssignIn,
    *,
    now: datetime | None = None,
) -> PlanOut:
    """Plan who should do which open task; with `execute`, assign them through the tasks
    service (events, notifications and audit as for a manual assignment) and store the plan
    as a `workload` insight."""
    check_workspace(principal, workspace_id)
    if data.execute and not principal.can(Permission.write):
        raise PermissionDenied(
            f"Your role ({principal.role}) may not assign tasks ({Permission.write.value}); "
            "you can still preview the plan with execute=false"
        )
    out, result = await build_plan(session, principal, data, now=now)
    if not data.execute:
        return out
    if data.digest is not None and data.digest != out.digest:
        raise Conflict(
            "The plan changed since you reviewed it (tasks or people changed); review the new "
            "plan and execute it with its digest",
            errors=[{"field": "digest", "message": "stale plan"}],
            plan=jsonable(out.model_dump(mode="json")),
        )
    changed = 0
    for a in result.assignments:
        if a.task.assignee_id == a.person.user_id:
            continue
        await task_service.update(
            session, principal, a.task.id, TaskUpdate(assignee_id=a.person.user_id)
        )
        changed += 1
    scores = [a.score for a in result.assignments]
    insight = await insights.record(
        session,
        principal,
        kind="workload",
        model=planner.MODEL,
        model_version=planner.MODEL_VERSION,
        value=float(changed),
        label="plan_applied",
        confidence=(sum(scores) / len(scores) / 100) if scores else None,
        title=f"Auto-assign applied: {changed} task{'s' if changed != 1 else ''} assigned"
        + (f", {len(result.conflicts)} deadline conflicts" if result.conflicts else ""),
        reasons=[
            {
                "feature": "assigned",
                "text": f"{changed} of {out.summary.tasks_considered} tasks assigned",
                "impact": float(changed),
            },
            {
                "feature": "unassignable",
                "text": f"{len(result.unassignable)} could not be assigned",
                "impact": -float(len(result.unassignable)),
            },
        ],
        data={
            "digest": out.digest,
            "scope": data.scope.value,
            "pool": out.pool,
            "summary": out.summary.model_dump(),
            "assignments": [
                {
                    "task_id": a.task.id,
                    "assignee_id": a.person.user_id,
                    "previous_assignee_id": a.task.assignee_id,
                    "score": a.score,
                }
                for a in result.assignments[:1000]
            ],
            "unassignable": [
                {"task_id": u.task.id, "reason": u.reason} for u in result.unassignable[:200]
            ],
            "conflicts": [c.model_dump(mode="json") for c in out.conflicts[:200]],
            "people": [
                {"user_id": p.user_id, "before": p.open_before, "after": p.open_after}
                for p in out.people
            ],
        },
        inputs={
            "scope": data.scope.value,
            "team_id": data.team_id,
            "task_ids": len(data.task_ids) if data.task_ids is not None else None,
            "max_per_person": data.max_per_person,
            "weights": planner.WEIGHTS,
            "people": len(result.loads),
            "tasks": out.summary.tasks_considered,
        },
        severity="medium" if result.conflicts else "info",
    )
    return out.model_copy(update={"executed": True, "insight_id": insight.id})


# -- pattern scans -----------------------------------------------------------------------------


async def detect(
    session: AsyncSession,
    principal: Principal,
    *,
    now: datetime | None = None,
    checks: Sequence[str] | None = None,
) -> tuple[list[patterns.Finding], list[patterns.Skipped]]:
    """Run the pattern checks on the organization's data (read-only)."""
    now = now or _now()
    wanted = set(checks or CHECKS)
    repo = WorkloadRepo(session, principal)
    findings: list[patterns.Finding] = []
    skipped: list[patterns.Skipped] = []
    since = now - timedelta(days=TRANSITION_DAYS)
    names_needed: set[int] = set()
    deals = stages = leads = statuses = overdue = closed = None
    if "deal_stage" in wanted:
        deals = await repo.open_deals()
        stages = await repo.stages()
        names_needed |= {d[3] for d in deals if d[3]}
    if "lead_status" in wanted:
        leads = await repo.open_leads()
        statuses = await repo.lead_statuses()
        names_needed |= {r[3] for r in leads if r[3]}
    if "overdue_tasks" in wanted:
        overdue = await repo.overdue_tasks(now - timedelta(days=patterns.OVERDUE_DAYS))
        names_needed |= {r[2] for r in overdue if r[2]}
    if "win_rate" in wanted:
        closed = await repo.closed_deals(since)
        names_needed |= {r[0] for r in closed if r[0]}
    names = await repo.names(sorted(names_needed))

    if deals is not None and stages is not None:
        stage_map = {
            sid: patterns.Stage(sid, name, pname, bool(won or lost))
            for sid, name, _pid, pname, _pos, won, lost in stages
        }
        if len({s.group for s in stage_map.values()}) <= 1:
            stage_map = {
                k: patterns.Stage(v.id, v.name, "", v.terminal) for k, v in stage_map.items()
            }
        findings += patterns.stage_dwell(
            "deal",
            [patterns.OpenRecord(i, n, s, o, float(a or 0), c) for i, n, s, o, a, c in deals],
            stage_map,
            await repo.transitions("deal", "stage_id", since),
            now=now,
            names=names,
        )
    if leads is not None and statuses is not None:
        status_map = {
            sid: patterns.Stage(sid, name, "", bool(won or lost))
            for sid, name, _pos, won, lost in statuses
        }
        findings += patterns.stage_dwell(
            "lead",
            [patterns.OpenRecord(i, n, s, o, float(v or 0), c) for i, n, s, o, v, c in leads],
            status_map,
            await repo.transitions("lead", "status_id", since),
            now=now,
            names=names,
        )
    if overdue is not None:
        findings += patterns.ageing_tasks(overdue, now=now, names=names)
    if "inbound_drop" in wanted:
        result = patterns.inbound_drop(await repo.inbound_times(now - timedelta(days=58)), now=now)
        _collect(result, findings, skipped)
    if "negative_sentiment" in wanted:
        result = patterns.sentiment_spike(
            await repo.sentiment_scores(now - timedelta(days=29)), now=now
        )
        _collect(result, findings, skipped)
    if closed is not None:
        findings += patterns.win_rate_drop(closed, now=now, names=names)
    if "imbalance" in wanted or "deadline" in wanted:
        # only the typical effort per category matters here (queued hours)
        history = planner.History.build([], await repo.estimates())
        people, _pool = await _people(repo, None, history, set())
        if "imbalance" in wanted:
            findings += patterns.imbalance(
                [patterns.PersonLoad(p.user_id, p.name, p.kept, p.capacity) for p in people]
            )
        if "deadline" in wanted:
            findings += patterns.deadline_conflicts(people, now=now)
    return findings, skipped


def _collect(
    result: list[patterns.Finding] | patterns.Skipped,
    findings: list[patterns.Finding],
    skipped: list[patterns.Skipped],
) -> None:
    if isinstance(result, patterns.Skipped):
        skipped.append(result)
    else:
        findings.extend(result)


async def store(
    session: AsyncSession,
    principal: Principal,
    findings: Sequence[patterns.Finding],
    *,
    now: datetime | None = None,
) -> list[tuple[patterns.Finding, AIInsight, bool]]:
    """Store findings as insights, skipping any still open (or dismissed / acted on within
    SNOOZE_DAYS) unless it got more severe. Returns (finding, insight, stored now)."""
    now = now or _now()
    repo = WorkloadRepo(session, principal)
    if not findings:
        return []
    await repo.lock_findings()
    known = await repo.current_by_fingerprint([f.fingerprint for f in findings])
    out: list[tuple[patterns.Finding, AIInsight, bool]] = []
    for f in findings:
        existing = known.get(f.fingerprint)
        if existing is not None:
            resolved = existing.resolved_at
            quiet = existing.status == "open" or (
                resolved is not None and resolved >= now - timedelta(days=SNOOZE_DAYS)
            )
            worse = SEVERITY_RANK.get(f.severity, 0) > SEVERITY_RANK.get(existing.severity, 0)
            if quiet and not worse:
                out.append((f, existing, False))
                continue
        insight = await insights.record(
            session,
            principal,
            kind=f.kind,
            model=patterns.MODEL,
            model_version=patterns.MODEL_VERSION,
            entity_type=f.entity_type,
            entity_id=f.entity_id,
            value=f.value,
            label=f.label,
            confidence=f.confidence,
            title=f.title,
            reasons=f.reasons,
            recommendations=f.recommendations,
            data={**f.data, "check": f.check},
            inputs={"check": f.check, "fingerprint": f.fingerprint, **_thresholds(f.check)},
            severity=f.severity,
            fingerprint=f.fingerprint,
        )
        known[f.fingerprint] = insight
        out.append((f, insight, True))
    return out


def _thresholds(check: str) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {
        "deal_stage": {"dwell_ratio": patterns.DWELL_RATIO, "min_days": patterns.DWELL_MIN_DAYS},
        "lead_status": {"dwell_ratio": patterns.DWELL_RATIO, "min_days": patterns.DWELL_MIN_DAYS},
        "overdue_tasks": {"overdue_days": patterns.OVERDUE_DAYS, "min": patterns.MIN_OVERDUE},
        "inbound_drop": {"z": patterns.DROP_Z, "share": patterns.DROP_SHARE},
        "negative_sentiment": {"z": patterns.SPIKE_Z, "negative_at": patterns.NEGATIVE},
        "win_rate": {"recent_days": patterns.WIN_RECENT_DAYS, "drop": patterns.WIN_DROP},
        "imbalance": {"cv": patterns.IMBALANCE_CV},
        "deadline": {"work_hours_per_day": planner.WORK_HOURS_PER_DAY},
    }
    return {"thresholds": table.get(check, {})}


async def optimize(
    session: AsyncSession,
    principal: Principal,
    workspace_id: int,
    data: OptimizeIn | None = None,
    *,
    now: datetime | None = None,
) -> OptimizeOut:
    """Run every pattern check now, store new findings, and return them with their
    recommendations (process improvements, resource reallocation, bottleneck resolution,
    performance)."""
    check_workspace(principal, workspace_id)
    now = now or _now()
    checks = list(data.checks) if data and data.checks else None
    if checks:
        unknown = sorted(set(checks) - set(CHECKS))
        if unknown:
            raise Invalid(f"unknown checks {unknown}; use some of {list(CHECKS)}", field="checks")
    findings, skipped = await detect(session, principal, now=now, checks=checks)
    stored = await store(session, principal, findings, now=now)
    stored.sort(key=lambda x: (-SEVERITY_RANK.get(x[0].severity, 0), -x[0].confidence))
    recs: list[RecommendationOut] = []
    for f, insight, _new in stored:
        for r in f.recommendations:
            details = {k: v for k, v in r.items() if k not in ("category", "action", "text")}
            recs.append(
                RecommendationOut(
                    category=r["category"],
                    action=r["action"],
                    text=r["text"],
                    severity=f.severity,
                    insight_id=insight.id,
                    details=jsonable(details),
                )
            )
    return OptimizeOut(
        workspace_id=workspace_id,
        generated_at=now,
        findings=[
            FindingOut(
                insight_id=insight.id,
                new=new,
                kind=f.kind,
                check=f.check,
                title=f.title,
                severity=f.severity,
                confidence=round(f.confidence, 3),
                entity_type=f.entity_type,
                entity_id=f.entity_id,
                data=jsonable(f.data),
                reasons=[Reason(**r) for r in f.reasons],
                recommendations=jsonable(f.recommendations),
            )
            for f, insight, new in stored
        ],
        recommendations=recs,
        skipped=[SkippedOut(check=s.check, reason=s.reason) for s in skipped],
        model=patterns.MODEL,
        model_version=patterns.MODEL_VERSION,
    )


async def workspace_insights(
    session: AsyncSession, principal: Principal, *, limit: int = 8
) -> list[dict[str, Any]]:
    """Open organization-level findings of the scans (bottlenecks, anomalies, workload,
    deadline conflicts), most severe first — for `ai/_workspace_insights.html`."""
    rows = await WorkloadRepo(session, principal).open_findings(PANEL_KINDS, limit)
    rows.sort(key=lambda i: (-SEVERITY_RANK.get(i.severity, 0), -i.id))
    return [insights.to_dict(i) for i in rows[:limit]]
