"""What rules do: each action is checked when the rule is saved, previewed by dry runs, and
executed through the domain services (so the API's own validation, audit and events apply).

Every handler computes its plan first — rendered texts, the resolved assignee, the changes — and
only writes when `apply` is true; a dry run is the same code with `apply=False`. An action with
nothing to do (the field already holds the value, the tag is already there) writes nothing, so
it emits no event that could wake other rules for no reason.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.automation import templating
from aicrm.automation.entities import EntityKind
from aicrm.automation.repository import RuleRepo
from aicrm.automation.schemas import ACTION_MODELS, Strategy, TeamScope
from aicrm.customfields import service as custom_fields
from aicrm.errors import Invalid, NotFound
from aicrm.jobs import enqueue, registry
from aicrm.jobs.queue import UnknownJob
from aicrm.kit.principal import Principal
from aicrm.kit.schemas import Email
from aicrm.leads import service as lead_service
from aicrm.notifications import email as email_service
from aicrm.notifications import service as notification_service
from aicrm.orgs import service as org_service
from aicrm.orgs.schemas import TeamOut
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskCreate

MAX_ACTIONS = 20
NOTIFY_TYPE = "automation.notify"
# Actions backed by capabilities other areas bring: available when their job is registered.
OPTIONAL_JOBS = {
    "call_webhook": "webhooks.post",
    "start_followup_sequence": "followups.start",
    "request_ai_scoring": "ai.score_lead",
}
TEMPLATE_FIELDS = ("title", "description", "body", "subject")
USER_FIELDS = {"assignee_id", "owner_id"}
_email = TypeAdapter(Email)


@dataclass
class RunContext:
    """One evaluation of a rule on one record."""

    session: AsyncSession
    principal: Principal
    rule_id: int | None
    rule_name: str
    run_number: int
    kind: EntityKind | None
    entity_id: int | None
    record: dict[str, Any]
    event_type: str | None
    payload: dict[str, Any]
    now: datetime
    _names: dict[int, str] | None = field(default=None, repr=False)

    def template_context(self) -> dict[str, Any]:
        link = self.kind.link_for(self.entity_id) if self.kind and self.entity_id else ""
        return {
            "record": self.record,
            "event": {"type": self.event_type, **(self.payload or {})},
            "rule": {"id": self.rule_id, "name": self.rule_name},
            "link": link,
        }

    def render(self, source: str, limit: int) -> str:
        return templating.render(source, self.template_context(), limit=limit).strip()

    async def who(self, user_ids: list[int]) -> str:
        """People by name, for the log and dry runs ("Rita Rules, user 7")."""
        if self._names is None:
            members = await org_service.list_members(self.session, self.principal)
            self._names = {m.user_id: m.full_name or m.email for m in members}
        return ", ".join(self._names.get(u, f"user {u}") for u in user_ids) or "nobody"


@dataclass
class Outcome:
    would: str
    details: dict[str, Any]
    changed: bool = True


def available(action_type: str) -> bool:
    job = OPTIONAL_JOBS.get(action_type)
    if job is None:
        return True
    registry.load_job_modules()
    return job in registry.JOBS


# -- validation (write time) -----------------------------------------------------------------


async def check(
    session: AsyncSession,
    principal: Principal,
    actions: list[Any],
    kind: EntityKind | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(normalised actions, errors naming `actions[i].field`)."""
    errors: list[dict[str, str]] = []
    out: list[dict[str, Any]] = []
    if not actions:
        errors.append({"field": "actions", "message": "a rule needs at least one action"})
    if len(actions) > MAX_ACTIONS:
        errors.append({"field": "actions", "message": f"at most {MAX_ACTIONS} actions"})
    for i, raw in enumerate(actions[:MAX_ACTIONS]):
        path = f"actions[{i}]"
        if not isinstance(raw, dict):
            errors.append({"field": path, "message": "must be an object with a type"})
            continue
        type_ = raw.get("type")
        model = ACTION_MODELS.get(type_) if isinstance(type_, str) else None
        if model is None:
            errors.append(
                {"field": f"{path}.type", "message": f"must be one of {sorted(ACTION_MODELS)}"}
            )
            continue
        if not available(type_):
            errors.append(
                {
                    "field": f"{path}.type",
                    "message": f"{type_} is not available in this build "
                    f"(no {OPTIONAL_JOBS[type_]!r} job is installed)",
                }
            )
            continue
        try:
            action = model.model_validate(raw).model_dump(mode="json")
        except ValidationError as exc:
            for err in exc.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
                errors.append({"field": f"{path}{loc}", "message": message})
            continue
        found = await _check_one(session, principal, action, kind, path)
        errors.extend(found)
        out.append(action)
    return out, errors


async def _check_one(
    session: AsyncSession,
    principal: Principal,
    a: dict[str, Any],
    kind: EntityKind | None,
    path: str,
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []

    def err(field: str, message: str) -> None:
        errors.append({"field": f"{path}.{field}", "message": message})

    for name in TEMPLATE_FIELDS:
        if isinstance(a.get(name), str) and a[name]:
            problem = templating.problem(a[name])
            if problem:
                err(name, problem)

    async def member(user_id: int | None, field: str) -> None:
        if user_id is None:
            return
        try:
            await org_service.ensure_member(session, principal, user_id, field=field)
        except Invalid as exc:
            err(field, exc.message)

    async def team(team_id: int | None, field: str = "team_id") -> None:
        if team_id is None:
            return
        try:
            await org_service.get_team(session, principal, team_id)
        except NotFound:
            err(field, f"team {team_id} does not exist")

    t = a["type"]
    if t == "set_field":
        await _check_set_field(session, principal, a, kind, err)
    elif t == "assign_owner":
        if (a.get("user_id") is None) == (a.get("team_id") is None):
            err("user_id", "give either user_id or team_id")
        await member(a.get("user_id"), "user_id")
        await team(a.get("team_id"))
    elif t == "create_task":
        if a.get("user_id") is not None and a.get("team_id") is not None:
            err("user_id", "give user_id or team_id, not both")
        await member(a.get("user_id"), "user_id")
        await team(a.get("team_id"))
    elif t == "add_tag":
        if kind is not None and not kind.has_tags:
            err("type", f"{kind.name}s have no tags")
    elif t == "notify":
        if not a.get("user_ids") and a.get("team_id") is None and not a.get("owner"):
            err("user_ids", "name who to notify: user_ids, team_id or owner")
        for j, user_id in enumerate(a.get("user_ids") or []):
            await member(user_id, f"user_ids[{j}]")
        await team(a.get("team_id"))
    elif t == "send_email":
        if a["to"] != "record":
            try:
                a["to"] = _email.validate_python(a["to"])
            except ValidationError:
                err("to", "`record` or a valid email address")
    elif t == "request_ai_scoring":
        if kind is not None and kind.name != "lead":
            err("type", "AI scoring works on leads")
    return errors


async def _check_set_field(
    session: AsyncSession,
    principal: Principal,
    a: dict[str, Any],
    kind: EntityKind | None,
    err: Callable[[str, str], None],
) -> None:
    if kind is None:
        err("field", "set_field needs a trigger on one record type (e.g. lead.*), not several")
        return
    name = str(a["field"])
    value = a.get("value")
    if name.startswith("custom."):
        key = name[7:]
        try:
            await custom_fields.validate(session, principal, kind.name, {key: value}, existing={})
        except Invalid as exc:
            mine = [e for e in exc.errors if e.get("field") == name]
            if mine:
                field = "field" if "no custom field" in str(mine[0]["message"]) else "value"
                err(field, str(mine[0]["message"]))
        return
    target = kind.resolve(name)
    if target not in kind.settable and name not in kind.settable:
        err("field", f"{kind.name}s cannot set {name!r}; one of {sorted(kind.settable)}")
        return
    try:
        kind.update_schema.model_validate({target: value})
    except ValidationError as exc:
        first = exc.errors()[0]
        err("value", str(first.get("msg", "invalid value")).removeprefix("Value error, "))
        return
    if kind.name == "lead" and target == "status" and isinstance(value, str):
        try:
            await lead_service.status_by_name(session, principal, value)
        except Invalid as exc:
            err("value", exc.message)
    if target in USER_FIELDS and value is not None:
        try:
            await org_service.ensure_member(session, principal, value, field="value")
        except Invalid as exc:
            err("value", exc.message)


# -- planning and execution ------------------------------------------------------------------


async def run(action: dict[str, Any], rc: RunContext, *, apply: bool) -> Outcome:
    """Plan one action and, with `apply`, do it. Errors are AICRMError (the data is wrong: no
    retry helps) or anything else (retried by the job)."""
    handler = HANDLERS[action["type"]]
    try:
        return await handler(action, rc, apply)
    except ValidationError as exc:
        # a value the domain's schema refuses (a custom field redefined since the rule was
        # saved, a rendered text too long): the data is wrong, not the moment
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": str(e.get("msg"))}
            for e in exc.errors()
        ]
        raise Invalid("a value was refused", errors=errors) from exc


def _needs_record(rc: RunContext) -> tuple[EntityKind, int]:
    if rc.kind is None or rc.entity_id is None:
        raise Invalid("this action needs a stored record (pick one by entity_type and entity_id)")
    return rc.kind, rc.entity_id


async def _set_field(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    name = str(a["field"])
    value = a.get("value")
    if name.startswith("custom."):
        key = name[7:]
        current = (rc.record.get("custom") or {}).get(key)
        changes: dict[str, Any] = {"custom": {key: value}}
    else:
        if rc.kind is None:
            raise Invalid("set_field needs a record type")
        target = rc.kind.resolve(name)
        current = rc.record.get(target)
        changes = {target: value}
    details = {"field": name, "from": current, "to": value}
    if _same(current, value):
        return Outcome(f"nothing to do: {name} is already {value!r}", details, changed=False)
    if apply:
        kind, entity_id = _needs_record(rc)
        await kind.update(rc.session, rc.principal, entity_id, changes)
    return Outcome(f"set {name} from {current!r} to {value!r}", details)


def _same(current: Any, value: Any) -> bool:
    if isinstance(current, int | float) and not isinstance(current, bool):
        try:
            return float(current) == float(value)
        except (TypeError, ValueError):
            return False
    if isinstance(current, str) and isinstance(value, str):
        return current == value
    return bool(current == value)


async def pick_member(rc: RunContext, team_id: int, strategy: str) -> tuple[int, str, TeamOut]:
    """One member of the team: the least loaded (fewest unfinished tasks for their capacity) or
    the next in turn (round-robin over members by id, counted by this rule's runs)."""
    team = await org_service.get_team(rc.session, rc.principal, team_id)
    members = sorted(team.members, key=lambda m: m.user_id)
    if not members:
        raise Invalid(f"team {team.name!r} has no members to assign to", field="team_id")
    if strategy == Strategy.round_robin.value:
        chosen = members[(max(rc.run_number, 1) - 1) % len(members)]
        return chosen.user_id, f"round-robin turn {rc.run_number} in team {team.name}", team
    loads = await RuleRepo.from_session(rc.session, rc.principal).open_task_counts(
        [m.user_id for m in members]
    )

    def weight(m: Any) -> tuple[float, int, int]:
        load = loads.get(m.user_id, 0)
        ratio = load / m.capacity if m.capacity > 0 else math.inf
        return ratio, load, m.user_id

    chosen = min(members, key=weight)
    load = loads.get(chosen.user_id, 0)
    return chosen.user_id, f"least loaded in team {team.name} ({load} open tasks)", team


async def _assign_owner(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    if rc.kind is None:
        raise Invalid("assign_owner needs a record")
    field = rc.kind.owner_field
    if a.get("team_id") is not None:
        user_id, why, _ = await pick_member(rc, int(a["team_id"]), str(a["strategy"]))
    else:
        user_id, why = int(a["user_id"]), "named in the rule"
    current = rc.record.get(field)
    details = {"field": field, "from": current, "to": user_id, "why": why}
    name = await rc.who([user_id])
    if current == user_id:
        return Outcome(f"nothing to do: {name} already owns it", details, changed=False)
    if apply:
        kind, entity_id = _needs_record(rc)
        await kind.update(rc.session, rc.principal, entity_id, {field: user_id})
    return Outcome(f"assign to {name} ({why})", details)


async def _create_task(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    title = rc.render(str(a["title"]), 300) or f"Follow up ({rc.rule_name})"[:300]
    description = rc.render(str(a.get("description") or ""), 20000)
    team_id = a.get("team_id")
    why = ""
    if a.get("user_id") is not None:
        assignee: int | None = int(a["user_id"])
        why = "named in the rule"
    elif team_id is not None:
        assignee, why, _ = await pick_member(rc, int(team_id), str(a["strategy"]))
    else:
        owner_field = rc.kind.owner_field if rc.kind else None
        assignee = rc.record.get(owner_field) if owner_field else None
        why = "the record's owner" if assignee else "nobody (the record has no owner)"
    due_at = None
    if a.get("due_in_days") is not None:
        due_at = rc.now + timedelta(days=int(a["due_in_days"]))
    links: dict[str, Any] = {}
    if rc.kind is not None and rc.entity_id is not None:
        if rc.kind.name in ("lead", "deal", "contact"):
            links[f"{rc.kind.name}_id"] = rc.entity_id
        if rc.kind.name in ("deal", "task", "lead"):
            for key in ("contact_id", "lead_id", "deal_id"):
                if rc.record.get(key) and key not in links:
                    links[key] = rc.record[key]
    data = TaskCreate(
        title=title,
        description=description,
        priority=a.get("priority") or "medium",
        assignee_id=assignee,
        team_id=team_id,
        due_at=due_at,
        **links,
    )
    details: dict[str, Any] = {
        "title": title,
        "assignee_id": assignee,
        "why": why,
        "team_id": team_id,
        "due_at": due_at.isoformat() if due_at else None,
        **links,
    }
    if apply:
        task = await task_service.create(rc.session, rc.principal, data)
        details["task_id"] = task.id
    who = await rc.who([assignee]) if assignee else "nobody"
    return Outcome(f"create task {title!r} for {who} ({why})", details)


async def _add_tag(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    if rc.kind is not None and not rc.kind.has_tags:
        raise Invalid(f"{rc.kind.name}s have no tags")
    current = list(rc.record.get("tags") or [])
    missing = [t for t in a["tags"] if t not in current]
    details = {"added": missing, "tags": current + missing}
    if not missing:
        return Outcome("nothing to do: every tag is already there", details, changed=False)
    if apply:
        kind, entity_id = _needs_record(rc)
        await kind.update(rc.session, rc.principal, entity_id, {"tags": current + missing})
    return Outcome(f"add tags {missing}", details)


async def _notify(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    users: set[int] = {int(u) for u in a.get("user_ids") or []}
    notes: list[str] = []
    if a.get("team_id") is not None:
        team = await org_service.get_team(rc.session, rc.principal, int(a["team_id"]))
        scope = a.get("team_scope") or TeamScope.managers.value
        chosen = [m.user_id for m in team.members if scope == "members" or m.is_manager]
        if not chosen:
            notes.append(
                f"team {team.name} has no {'members' if scope == 'members' else 'manager'}"
            )
        users.update(chosen)
    if a.get("owner"):
        owner = rc.record.get(rc.kind.owner_field) if rc.kind else None
        if owner:
            users.add(int(owner))
        else:
            notes.append("the record has no owner")
    title = rc.render(str(a["title"]), 200) or rc.rule_name[:200]
    body = rc.render(str(a.get("body") or ""), 2000)
    details: dict[str, Any] = {"user_ids": sorted(users), "title": title}
    if notes:
        details["notes"] = notes
    if not users:
        return Outcome("nobody to notify: " + "; ".join(notes), details, changed=False)
    if apply:
        created = await notification_service.notify(
            rc.session,
            rc.principal,
            user_ids=sorted(users),
            type_=NOTIFY_TYPE,
            title=title,
            body=body,
            link=rc.kind.link_for(rc.entity_id) if rc.kind and rc.entity_id else None,
            entity_type=rc.kind.name if rc.kind else None,
            entity_id=rc.entity_id,
            data={"rule_id": rc.rule_id},
        )
        details["notified"] = sorted(n.user_id for n in created)
    return Outcome(f"notify {await rc.who(sorted(users))}: {title!r}", details)


async def _send_email(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    to = str(a["to"])
    if to == "record":
        found = None
        if rc.kind is not None:
            found = await rc.kind.email(rc.session, rc.principal, rc.record)
        if not found:
            return Outcome(
                "nothing to send: the record has no email address", {"to": None}, changed=False
            )
        to = found
    subject = rc.render(str(a["subject"]), 300)
    body = rc.render(str(a["body"]), 20000)
    details: dict[str, Any] = {"to": to, "subject": subject}
    if apply:
        # the outbox row and its email.send job commit with the run (SMTP when configured)
        row = await email_service.queue_email(
            rc.session,
            to_email=to,
            subject=subject,
            body=body,
            kind="automation",
            organization_id=rc.principal.organization_id,
        )
        details["email_id"] = row.id
    return Outcome(f"email {to}: {subject!r}", details)


def _event_body(rc: RunContext) -> dict[str, Any]:
    return {
        "rule": {"id": rc.rule_id, "name": rc.rule_name},
        "event": {"type": rc.event_type, "payload": rc.payload},
        "entity_type": rc.kind.name if rc.kind else None,
        "entity_id": rc.entity_id,
        "record": rc.record,
    }


async def _queue(rc: RunContext, name: str, args: dict[str, Any]) -> int | None:
    try:
        job = await enqueue(rc.session, name, args, organization_id=rc.principal.organization_id)
    except UnknownJob as exc:
        raise Invalid(f"{name} is not available in this build") from exc
    if job is None:
        return None
    await rc.session.flush()
    return job.id


async def _call_webhook(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    args: dict[str, Any] = {
        "url": a["url"],
        "payload": _event_body(rc),
        # the envelope's type says who sends it; the triggering event is inside the payload
        "event_type": f"automation.{rc.event_type or 'schedule'}"[:60],
    }
    if a.get("secret"):
        args["secret"] = a["secret"]
    details: dict[str, Any] = {"url": a["url"], "event_type": args["event_type"]}
    if apply:
        details["job_id"] = await _queue(rc, OPTIONAL_JOBS["call_webhook"], args)
    return Outcome(f"POST the record to {a['url']}", details)


async def _start_followup(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    kind, entity_id = _needs_record(rc)
    args = {"sequence_id": a["sequence_id"], "entity_type": kind.name, "entity_id": entity_id}
    details: dict[str, Any] = dict(args)
    if apply:
        details["job_id"] = await _queue(rc, OPTIONAL_JOBS["start_followup_sequence"], args)
    return Outcome(f"start follow-up sequence {a['sequence_id']}", details)


async def _request_scoring(a: dict[str, Any], rc: RunContext, apply: bool) -> Outcome:
    kind, entity_id = _needs_record(rc)
    if kind.name != "lead":
        raise Invalid("AI scoring works on leads")
    details: dict[str, Any] = {"lead_id": entity_id}
    if apply:
        details["job_id"] = await _queue(
            rc, OPTIONAL_JOBS["request_ai_scoring"], {"lead_id": entity_id}
        )
    return Outcome("request AI scoring of the lead", details)


Handler = Callable[[dict[str, Any], RunContext, bool], Awaitable[Outcome]]
HANDLERS: dict[str, Handler] = {
    "set_field": _set_field,
    "assign_owner": _assign_owner,
    "create_task": _create_task,
    "add_tag": _add_tag,
    "notify": _notify,
    "send_email": _send_email,
    "call_webhook": _call_webhook,
    "start_followup_sequence": _start_followup,
    "request_ai_scoring": _request_scoring,
}
