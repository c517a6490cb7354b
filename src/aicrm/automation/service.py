"""Automation rules: trigger → conditions → ordered actions, per organization.

Writing a rule validates all of it against the organization (fields, statuses, members, teams,
templates) so mistakes are 422s naming their path instead of runs that fail later. Events reach
rules through the `automation` outbox consumer (jobs.py): one `automation.run` job per (rule,
event), which reads the record fresh, evaluates the conditions and runs the actions in the job's
own transaction, writing one AutomationRun to the execution log.

Failure policy: the actions of a run are all-or-nothing (a savepoint). When one fails because of
the data (a validation error, a missing team member — an AICRMError), the run is logged `failed`
with the action's error and is not retried: a retry would fail the same way. Any other error
(database busy, deadlock) is raised so the job retries with backoff; on its last attempt the
failure is logged the same way instead.

Loop protection: changes made by a rule carry its id in their events' `origin`; an event whose
origin contains a rule does not run that rule again, and chains longer than
AUTOMATION_MAX_CHAIN rules stop (both logged as `stopped`). A per-rule, per-record cap
(AUTOMATION_RATE_PER_MINUTE runs a minute) is the safety net for anything else.

Dry runs write nothing at all (no run row either): any member may try a rule on any record they
can read, and the execution log only shows what really happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.automation import actions as action_mod
from aicrm.automation import engine, triggers
from aicrm.automation.entities import KINDS, EntityKind, kind
from aicrm.automation.repository import (
    SORTABLE,
    RuleRepo,
    RunRepo,
    claim_schedule,
    due_schedule_rules,
    schedule_of,
)
from aicrm.automation.schemas import (
    ActionPreview,
    DryRunOut,
    DryRunTarget,
    EventTrigger,
    RuleCreate,
    RuleUpdate,
    RunStatus,
    ScheduleTrigger,
)
from aicrm.customfields import service as custom_fields
from aicrm.errors import AICRMError, Invalid, PreconditionFailed
from aicrm.jobs import backend, enqueue
from aicrm.kit.principal import Principal, system_principal
from aicrm.kit.snapshot import diff, jsonable, snapshot
from aicrm.models import AutomationRule, AutomationRun, OutboxEvent

AUDIT_ENTITY = "automation_rule"
RUN_JOB = "automation.run"
SCHEDULED_JOB = "automation.scheduled"


def _setting(name: str, default: int) -> int:
    return int(getattr(backend.settings(), name, default))


def max_chain() -> int:
    return _setting("AUTOMATION_MAX_CHAIN", 5)


def rate_per_minute() -> int:
    return _setting("AUTOMATION_RATE_PER_MINUTE", 10)


def schedule_batch() -> int:
    return _setting("AUTOMATION_SCHEDULE_BATCH", 200)


def schedule_scan() -> int:
    return _setting("AUTOMATION_SCHEDULE_SCAN", 1000)


def _now() -> datetime:
    return datetime.now(UTC)


# -- validation ----------------------------------------------------------------------------


@dataclass
class Checked:
    trigger: dict[str, Any]
    event_type: str | None
    schedule: str | None
    timezone: str
    kind: EntityKind | None
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]


def _pydantic_errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        out.append({"field": f"{prefix}{loc}", "message": message})
    return out


async def _check_trigger(
    session: AsyncSession, principal: Principal, raw: Any, errors: list[dict[str, str]]
) -> tuple[dict[str, Any], EntityKind | None] | None:
    if not isinstance(raw, dict):
        errors.append({"field": "trigger", "message": "must be an object with a type"})
        return None
    type_ = raw.get("type")
    if type_ == "event":
        try:
            t = EventTrigger.model_validate(raw)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(exc, "trigger"))
            return None
        problem = triggers.event_problem(t.event)
        if problem:
            errors.append({"field": "trigger.event", "message": problem})
            return None
        return t.model_dump(mode="json"), kind(triggers.entity_of_pattern(t.event))
    if type_ == "schedule":
        try:
            s = ScheduleTrigger.model_validate(raw)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(exc, "trigger"))
            return None
        before = len(errors)
        for field, problem in (
            ("cron", triggers.cron_problem(s.cron)),
            ("timezone", triggers.zone_problem(s.timezone)),
        ):
            if problem:
                errors.append({"field": f"trigger.{field}", "message": problem})
        found = KINDS[s.entity_type.value]
        try:
            await found.page(session, principal, dict(s.filter), cursor=None, limit=1)
        except Invalid as exc:
            for e in exc.errors or [{"field": "", "message": exc.message}]:
                name = str(e.get("field") or "")
                errors.append(
                    {
                        "field": "trigger.filter" + (f".{name}" if name else ""),
                        "message": str(e.get("message")),
                    }
                )
        if len(errors) > before:
            return None
        return s.model_dump(mode="json"), found
    errors.append({"field": "trigger.type", "message": "must be event or schedule"})
    return None


async def _fields(
    session: AsyncSession, principal: Principal, found: EntityKind | None
) -> engine.Fields:
    if found is None:
        return engine.Fields(names=None, custom_keys=None, aliases={})
    defs = await custom_fields.list_fields(session, principal, found.name)
    return engine.Fields(
        names=found.fields, custom_keys=frozenset(d.key for d in defs), aliases=found.aliases
    )


async def check_rule(
    session: AsyncSession,
    principal: Principal,
    *,
    trigger: Any,
    conditions: Any,
    actions: Any,
) -> Checked:
    """The rule normalised, or Invalid listing every problem with its path."""
    errors: list[dict[str, str]] = []
    checked_trigger = await _check_trigger(session, principal, trigger, errors)
    found = checked_trigger[1] if checked_trigger else None
    # without a valid trigger the record type is unknown: check conditions and actions loosely
    # rather than reporting errors that are only consequences of the trigger's
    conds = conditions or {}
    errors.extend(engine.check(conds, await _fields(session, principal, found)))
    if not isinstance(actions, list):
        errors.append({"field": "actions", "message": "must be a list"})
        normalised: list[dict[str, Any]] = []
    else:
        normalised, found_errors = await action_mod.check(session, principal, actions, found)
        if checked_trigger is None:
            found_errors = [
                e for e in found_errors if "needs a trigger on one record type" not in e["message"]
            ]
        errors.extend(found_errors)
    if errors or checked_trigger is None:
        raise Invalid("The rule is invalid", errors=errors)
    t = checked_trigger[0]
    return Checked(
        trigger=t,
        event_type=t["event"] if t["type"] == "event" else None,
        schedule=t["cron"] if t["type"] == "schedule" else None,
        timezone=t.get("timezone") or "UTC",
        kind=found,
        conditions=conds,
        actions=normalised,
    )


SECRET = "********"


def redact_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actions with webhook signing secrets masked: members who may read rules but not manage
    them (and the audit log) see that a secret is set, never the secret."""
    return [
        {**a, "secret": SECRET} if isinstance(a, dict) and a.get("secret") else a for a in actions
    ]


def _redacted(snap: dict[str, Any]) -> dict[str, Any]:
    return {**snap, "actions": redact_actions(list(snap.get("actions") or []))}


def _keep_secrets(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An editor that got masked secrets back sends the mask: keep the stored secret of the
    webhook action with the same URL."""
    stored = {a.get("url"): a.get("secret") for a in old if a.get("type") == "call_webhook"}
    out = []
    for a in new:
        if isinstance(a, dict) and a.get("secret") == SECRET:
            a = {**a, "secret": stored.get(a.get("url"))}
        out.append(a)
    return out


def _apply_checked(rule: AutomationRule, c: Checked) -> None:
    rule.trigger = c.trigger
    rule.event_type = c.event_type
    rule.schedule = c.schedule
    rule.conditions = c.conditions
    rule.actions = c.actions


def _reschedule(rule: AutomationRule, timezone: str, now: datetime) -> None:
    if rule.schedule and rule.enabled:
        rule.next_run_at = triggers.next_run(rule.schedule, timezone, now)
    else:
        rule.next_run_at = None


# -- rules ---------------------------------------------------------------------------------


async def list_rules(
    session: AsyncSession,
    principal: Principal,
    *,
    enabled: bool | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[AutomationRule], str | None]:
    """The organization's rules."""
    repo = RuleRepo.from_session(session, principal)
    stmt = repo.select()
    if enabled is not None:
        stmt = stmt.where(AutomationRule.enabled.is_(enabled))
    return await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)


async def get(session: AsyncSession, principal: Principal, rule_id: int) -> AutomationRule:
    return await RuleRepo.from_session(session, principal).get(rule_id)


async def create(session: AsyncSession, principal: Principal, data: RuleCreate) -> AutomationRule:
    """Validate and store a rule; a schedule rule gets its first next_run_at."""
    c = await check_rule(
        session, principal, trigger=data.trigger, conditions=data.conditions, actions=data.actions
    )
    rule = AutomationRule(
        name=data.name,
        description=data.description,
        enabled=data.enabled,
        run_count=0,
        created_by_id=principal.user_id,
        version=1,
    )
    _apply_checked(rule, c)
    _reschedule(rule, c.timezone, _now())
    await RuleRepo.from_session(session, principal).add(rule)
    await audit.record(
        session, principal, "create", AUDIT_ENTITY, rule.id, after=_redacted(snapshot(rule))
    )
    return rule


async def update(
    session: AsyncSession,
    principal: Principal,
    rule_id: int,
    data: RuleUpdate,
    *,
    if_match: int | None = None,
) -> AutomationRule:
    """Change a rule; trigger, conditions and actions are re-validated together (the trigger's
    record type decides which fields the others may use). A stale version answers 412."""
    rule = await RuleRepo.from_session(session, principal).get(rule_id, for_update=True)
    expected = data.version if data.version is not None else if_match
    if expected is not None and expected != rule.version:
        raise PreconditionFailed(
            f"rule {rule.id} changed since version {expected} (now {rule.version}); reload",
            current_version=rule.version,
        )
    before = snapshot(rule)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "description", "enabled"):
        if changes.get(key) is not None:
            setattr(rule, key, changes[key])
    timezone = (rule.trigger or {}).get("timezone") or "UTC"
    if {"trigger", "conditions", "actions"} & set(changes):
        c = await check_rule(
            session,
            principal,
            trigger=changes["trigger"] if changes.get("trigger") is not None else rule.trigger,
            conditions=changes["conditions"] if "conditions" in changes else rule.conditions,
            actions=_keep_secrets(changes["actions"], list(rule.actions))
            if changes.get("actions") is not None
            else rule.actions,
        )
        _apply_checked(rule, c)
        timezone = c.timezone
    if (
        rule.trigger != before["trigger"]
        or rule.enabled != before["enabled"]
        or (rule.schedule and rule.enabled and rule.next_run_at is None)
    ):
        _reschedule(rule, timezone, _now())
    rule.version += 1
    await session.flush()
    b, a = diff(_redacted(before), _redacted(snapshot(rule)))
    if b or a:
        await audit.record(session, principal, "update", AUDIT_ENTITY, rule.id, before=b, after=a)
    return rule


async def delete(session: AsyncSession, principal: Principal, rule_id: int) -> None:
    """Delete a rule and its execution log."""
    repo = RuleRepo.from_session(session, principal)
    rule = await repo.get(rule_id, for_update=True)
    await audit.record(
        session, principal, "delete", AUDIT_ENTITY, rule.id, before=_redacted(snapshot(rule))
    )
    await repo.delete(rule)


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    rule_id: int,
    *,
    status: RunStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AutomationRun], str | None]:
    """A rule's execution log, newest first."""
    await RuleRepo.from_session(session, principal).get(rule_id)
    repo = RunRepo.from_session(session, principal)
    return await repo.page(
        repo.of_rule(rule_id, status=status.value if status else None),
        sort="-id",
        sortable={"id": AutomationRun.id},
        cursor=cursor,
        limit=limit,
    )


async def get_run(session: AsyncSession, principal: Principal, run_id: int) -> AutomationRun:
    return await RunRepo.from_session(session, principal).get(run_id)


# -- dry runs ------------------------------------------------------------------------------


def _sample_event(event_type: str | None, record: dict[str, Any]) -> dict[str, Any]:
    """For a dry run without an event: what the trigger's event would carry had the record just
    arrived where it is (a lead just moved to its current status, …)."""
    if event_type == "lead.status_changed":
        return {"from": None, "to": record.get("status")}
    if event_type == "deal.stage_changed":
        return {"from": None, "to": record.get("stage"), "to_stage_id": record.get("stage_id")}
    if event_type == "task.assigned":
        return {"assignee_id": record.get("assignee_id"), "previous_assignee_id": None}
    return {}


async def dry_run_saved(
    session: AsyncSession, principal: Principal, rule_id: int, target: DryRunTarget
) -> DryRunOut:
    """Evaluate a stored rule against a record; nothing is written."""
    rule = await RuleRepo.from_session(session, principal).get(rule_id)
    found = kind(
        rule.trigger.get("entity_type")
        if rule.schedule
        else triggers.entity_of_pattern(rule.event_type or "")
    )
    return await _dry_run(
        session,
        principal,
        rule_id=rule.id,
        name=rule.name,
        run_number=rule.run_count + 1,
        trigger=rule.trigger,
        conditions=rule.conditions,
        actions=rule.actions,
        rule_kind=found,
        target=target,
    )


async def dry_run_unsaved(
    session: AsyncSession, principal: Principal, data: RuleCreate, target: DryRunTarget
) -> DryRunOut:
    """Validate a rule body (422 like saving it) and evaluate it; nothing is written."""
    c = await check_rule(
        session, principal, trigger=data.trigger, conditions=data.conditions, actions=data.actions
    )
    return await _dry_run(
        session,
        principal,
        rule_id=None,
        name=data.name,
        run_number=1,
        trigger=c.trigger,
        conditions=c.conditions,
        actions=c.actions,
        rule_kind=c.kind,
        target=target,
    )


async def _dry_run(
    session: AsyncSession,
    principal: Principal,
    *,
    rule_id: int | None,
    name: str,
    run_number: int,
    trigger: dict[str, Any],
    conditions: dict[str, Any],
    actions: list[dict[str, Any]],
    rule_kind: EntityKind | None,
    target: DryRunTarget,
) -> DryRunOut:
    wanted = target.entity_type.value if target.entity_type else None
    if rule_kind is not None and wanted and wanted != rule_kind.name:
        raise Invalid(f"this rule works on {rule_kind.name}s", field="entity_type")
    found = kind(wanted) or rule_kind
    entity_id: int | None = None
    if target.entity_id is not None:
        if found is None:
            raise Invalid("name the record type of entity_id", field="entity_type")
        record = await found.load(session, principal, target.entity_id)
        entity_id = target.entity_id
    elif target.record is not None:
        record = jsonable(dict(target.record))
    else:
        raise Invalid(
            "pick a record (entity_type and entity_id) or give a sample record", field="entity_id"
        )
    event_type = trigger.get("event") if trigger.get("type") == "event" else None
    if target.event is not None:
        event_type, payload = target.event.type, dict(target.event.payload)
    elif event_type and any(ch in event_type for ch in "*?["):
        event_type, payload = None, {}
    else:
        payload = _sample_event(event_type, record)
    now = _now()
    matched, trace = engine.evaluate(
        conditions,
        engine.Subject(
            record, event_type, payload, aliases=found.aliases if found else {}, now=now
        ),
    )
    rc = action_mod.RunContext(
        session=session,
        principal=principal,
        rule_id=rule_id,
        rule_name=name,
        run_number=run_number,
        kind=found,
        entity_id=entity_id,
        record=record,
        event_type=event_type,
        payload=payload,
        now=now,
    )
    previews = []
    for i, a in enumerate(actions):
        try:
            outcome = await action_mod.run(a, rc, apply=False)
            previews.append(
                ActionPreview(
                    index=i,
                    type=a["type"],
                    would=outcome.would,
                    details=jsonable(outcome.details),
                    changes_something=outcome.changed,
                )
            )
        except AICRMError as exc:
            previews.append(ActionPreview(index=i, type=a["type"], would="fail", error=exc.message))
    return DryRunOut(
        matched=matched,
        trace=trace,
        actions=previews,
        record=record,
        event={"type": event_type, "payload": payload},
        entity_type=found.name if found else None,
        entity_id=entity_id,
    )


# -- execution -----------------------------------------------------------------------------


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A SAVEPOINT around a run's actions: a failing action undoes the actions before it (and
    the events/jobs they queued: aicrm.jobs.backend trims them on a savepoint rollback)."""
    async with session.begin_nested():
        yield


async def _log_run(
    session: AsyncSession,
    org_id: int,
    *,
    rule_id: int,
    status: RunStatus,
    matched: bool,
    log: list[dict[str, Any]],
    error: str | None = None,
    event_id: int | None = None,
    event_type: str | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
) -> AutomationRun:
    run = AutomationRun(
        rule_id=rule_id,
        event_id=event_id,
        event_type=event_type,
        entity_type=entity_type,
        entity_id=entity_id,
        dry_run=False,
        status=status.value,
        matched=matched,
        log=jsonable(log),
        error=error[:4000] if error else None,
    )
    return await RunRepo.from_session(session, system_principal(org_id)).add(run)


async def execute(
    session: AsyncSession,
    org_id: int,
    *,
    rule_id: int,
    entity_type: str,
    entity_id: int,
    event_id: int | None,
    event_type: str | None,
    payload: dict[str, Any],
    last_attempt: bool,
) -> dict[str, Any]:
    """Run one rule on one record for one event (or schedule firing), in `session`."""
    principal = system_principal(org_id)
    rule = await RuleRepo.from_session(session, principal).get_or_none(rule_id)
    if rule is None or not rule.enabled:
        return {"skipped": "the rule was deleted or disabled"}
    name, conditions, actions = rule.name, rule.conditions, list(rule.actions)
    origin = tuple(int(x) for x in (payload.get("origin") or []))
    where = {
        "rule_id": rule_id,
        "event_id": event_id,
        "event_type": event_type,
        "entity_type": entity_type,
        "entity_id": entity_id,
    }
    trigger_log: dict[str, Any] = {"step": "trigger", "event_type": event_type}
    if origin:
        trigger_log["origin"] = list(origin)
    stop = loop_stop(rule_id, origin)
    if stop:
        await _log_run(
            session,
            org_id,
            status=RunStatus.stopped,
            matched=False,
            log=[trigger_log],
            error=stop,
            **where,
        )
        return {"status": "stopped"}
    found = kind(entity_type)
    if found is None:
        return {"skipped": f"rules do not act on {entity_type!r} records"}
    now = _now()
    record = await found.get_or_none(session, principal, entity_id)
    if record is None:
        await _log_run(
            session,
            org_id,
            status=RunStatus.skipped,
            matched=False,
            log=[trigger_log],
            error="the record no longer exists",
            **where,
        )
        return {"status": "skipped"}
    matched, trace = engine.evaluate(
        conditions, engine.Subject(record, event_type, payload, aliases=found.aliases, now=now)
    )
    log: list[dict[str, Any]] = [
        trigger_log,
        {"step": "conditions", "matched": matched, "trace": trace},
    ]
    if not matched:
        await _log_run(session, org_id, status=RunStatus.skipped, matched=False, log=log, **where)
        return {"status": "skipped"}
    rules = RuleRepo.from_session(session, principal)
    # runs of one rule take turns from here on (row lock until commit), so the rate cap counts
    # the runs before this one and round-robin turns are not handed out twice
    await rules.lock(rule_id)
    recent = await RunRepo.from_session(session, principal).recent_runs(
        rule_id, entity_type, entity_id, now - timedelta(minutes=1)
    )
    if recent >= rate_per_minute():
        error = (
            f"rate limit: this rule already ran {recent} times on this record in the last "
            f"minute (at most {rate_per_minute()})"
        )
        await _log_run(
            session, org_id, status=RunStatus.stopped, matched=True, log=log, error=error, **where
        )
        return {"status": "stopped"}
    run_number = await rules.count_runs(rule_id, now)
    rc = action_mod.RunContext(
        session=session,
        principal=system_principal(org_id, origin=(*origin, rule_id)),
        rule_id=rule_id,
        rule_name=name,
        run_number=run_number,
        kind=found,
        entity_id=entity_id,
        record=record,
        event_type=event_type,
        payload=payload,
        now=now,
    )
    steps: list[dict[str, Any]] = []
    failure: str | None = None
    try:
        async with savepoint(session):
            for i, a in enumerate(actions):
                step: dict[str, Any] = {"step": "action", "index": i, "type": a["type"]}
                steps.append(step)
                outcome = await action_mod.run(a, rc, apply=True)
                step.update(
                    status="ok" if outcome.changed else "nothing to do",
                    result=outcome.would,
                    details=outcome.details,
                )
                if outcome.changed and a["type"] in ("set_field", "assign_owner", "add_tag"):
                    # later actions (templates, conditions of the next step) see the change
                    rc.record = await found.load(session, rc.principal, entity_id)
    except AICRMError as exc:
        failure = _describe(exc)
    except Exception as exc:
        if not last_attempt:
            raise
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        if steps:
            steps[-1].update(status="failed", error=failure)
        for step in steps[:-1]:
            step["status"] = "rolled back"
        await _log_run(
            session,
            org_id,
            status=RunStatus.failed,
            matched=True,
            log=log + steps,
            error=failure,
            **where,
        )
        return {"status": "failed", "error": failure}
    await _log_run(
        session, org_id, status=RunStatus.matched, matched=True, log=log + steps, **where
    )
    return {"status": "matched", "actions": len(steps)}


def _describe(exc: AICRMError) -> str:
    if exc.errors:
        parts = [f"{e.get('field')}: {e.get('message')}" for e in exc.errors if e.get("field")]
        if parts:
            return f"{exc.message} ({'; '.join(parts)})"
    return exc.message


def loop_stop(rule_id: int, origin: tuple[int, ...]) -> str | None:
    """Why an event must not run this rule (loop protection), or None."""
    if rule_id in origin:
        return (
            "loop stopped: this event was caused by this rule's own actions "
            f"(chain of rules {list(origin)})"
        )
    if len(origin) >= max_chain():
        return (
            f"loop stopped: the event comes from a chain of {len(origin)} rules "
            f"{list(origin)} (at most {max_chain()})"
        )
    return None


# -- the outbox consumer -----------------------------------------------------------------------


async def on_events(session: AsyncSession, events: list[OutboxEvent]) -> int:
    """Queue one run per (enabled rule, matching event); log loop stops right away."""
    by_org: dict[int, list[OutboxEvent]] = {}
    for ev in events:
        if ev.entity_type in KINDS and ev.entity_id is not None:
            by_org.setdefault(ev.organization_id, []).append(ev)
    queued = 0
    for org_id, org_events in by_org.items():
        rules = await RuleRepo.from_session(session, system_principal(org_id)).event_rules()
        if not rules:
            continue
        for ev in org_events:
            payload = dict(ev.payload or {})
            origin = tuple(int(x) for x in payload.get("origin") or [])
            for rule in rules:
                if not triggers.matches(rule.event_type or "", ev.type):
                    continue
                assert ev.entity_type is not None and ev.entity_id is not None
                stop = loop_stop(rule.id, origin)
                if stop:
                    await _log_run(
                        session,
                        org_id,
                        rule_id=rule.id,
                        status=RunStatus.stopped,
                        matched=False,
                        log=[{"step": "trigger", "event_type": ev.type, "origin": list(origin)}],
                        error=stop,
                        event_id=ev.id,
                        event_type=ev.type,
                        entity_type=ev.entity_type,
                        entity_id=ev.entity_id,
                    )
                    continue
                job = await enqueue(
                    session,
                    RUN_JOB,
                    {
                        "rule_id": rule.id,
                        "event_id": ev.id,
                        "event_type": ev.type,
                        "entity_type": ev.entity_type,
                        "entity_id": ev.entity_id,
                        "payload": payload,
                    },
                    organization_id=org_id,
                    idempotency_key=f"automation:{rule.id}:{ev.id}",
                )
                queued += job is not None
    return queued


# -- schedules -----------------------------------------------------------------------------


async def queue_due(session: AsyncSession, now: datetime, *, limit: int = 100) -> int:
    """Claim the schedule rules that are due and queue one firing each. Claiming moves
    next_run_at on only if nobody else did (conditional update), so any number of processes may
    run this at once; the idempotency key covers a firing queued twice all the same."""
    queued = 0
    for rule_id, org_id, due_at in await due_schedule_rules(session, now, limit):
        found = await schedule_of(session, rule_id)
        if found is None:
            continue
        cron, timezone = found
        nxt = triggers.next_run(cron, timezone, max(now, due_at))
        if not await claim_schedule(session, rule_id, due_at, nxt):
            continue
        job = await enqueue(
            session,
            SCHEDULED_JOB,
            {"rule_id": rule_id, "fire_at": due_at.isoformat()},
            organization_id=org_id,
            idempotency_key=f"automation:{rule_id}:at:{int(due_at.timestamp())}",
        )
        queued += job is not None
    return queued


async def fire_schedule(
    session: AsyncSession, org_id: int, *, rule_id: int, fire_at: str
) -> dict[str, Any]:
    """A schedule rule's firing: its candidates (the trigger's filter, in id order, at most
    AUTOMATION_SCHEDULE_SCAN) are checked against the conditions and the first
    AUTOMATION_SCHEDULE_BATCH that match get a run each. Records that do not match are not
    logged (a schedule would otherwise log every record every time)."""
    principal = system_principal(org_id)
    rule = await RuleRepo.from_session(session, principal).get_or_none(rule_id)
    if rule is None or not rule.enabled or not rule.schedule:
        return {"skipped": "the rule was deleted, disabled or is no longer scheduled"}
    found = kind(rule.trigger.get("entity_type"))
    if found is None:
        return {"skipped": "unknown record type"}
    params = dict(rule.trigger.get("filter") or {})
    payload = {"fire_at": fire_at}
    now = _now()
    scanned = queued = 0
    cursor: str | None = None
    stamp = int(datetime.fromisoformat(fire_at).timestamp())
    while scanned < schedule_scan() and queued < schedule_batch():
        page = min(200, schedule_scan() - scanned)
        records, cursor = await found.page(session, principal, params, cursor=cursor, limit=page)
        for record in records:
            scanned += 1
            matched, _ = engine.evaluate(
                rule.conditions,
                engine.Subject(record, "schedule", payload, aliases=found.aliases, now=now),
            )
            if not matched:
                continue
            job = await enqueue(
                session,
                RUN_JOB,
                {
                    "rule_id": rule.id,
                    "event_id": None,
                    "event_type": "schedule",
                    "entity_type": found.name,
                    "entity_id": int(record["id"]),
                    "payload": payload,
                },
                organization_id=org_id,
                idempotency_key=f"automation:{rule.id}:at:{stamp}:{record['id']}",
            )
            queued += job is not None
            if queued >= schedule_batch():
                break
        if cursor is None:
            break
    return {"scanned": scanned, "queued": queued}
