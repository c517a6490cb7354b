"""Automation: the list of rules (with an enabled switch), the rule editor (trigger, a condition
builder of AND/OR groups, the action list), a dry-run panel showing the condition trace, and each
rule's execution log.

Every member can read rules, try them and read their log; writing them takes the settings
permission, as in the API. The editor is a small script (static/automation.js) that keeps the
rule as JSON and saves it through the JSON API, so the API's validation (errors naming their
path, e.g. `actions[1].field`) is the one the page shows next to the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from aicrm.automation import actions as action_mod
from aicrm.automation import service
from aicrm.automation.entities import KINDS
from aicrm.automation.schemas import (
    DryRunRule,
    DryRunTarget,
    EntityType,
    Op,
    RuleUpdate,
    RunStatus,
)
from aicrm.automation.triggers import KNOWN_EVENTS, entity_of_pattern
from aicrm.customfields import service as custom_fields
from aicrm.errors import AICRMError, Invalid
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.models import AutomationRule, AutomationRun
from aicrm.orgs import service as org_service
from aicrm.web.core import Ctx, WebCtx, WebRoute, on_error, page, partial, redirect, toast
from aicrm.web.forms import form_data
from aicrm.web.session import set_flash

router = APIRouter(prefix="/automation", route_class=WebRoute, include_in_schema=False)

RUNS_PAGE = 25
OP_LABELS = {
    Op.eq: "is",
    Op.ne: "is not",
    Op.gt: "greater than",
    Op.gte: "at least",
    Op.lt: "less than",
    Op.lte: "at most",
    Op.in_: "is one of",
    Op.not_in: "is none of",
    Op.contains: "contains",
    Op.starts_with: "starts with",
    Op.is_empty: "is empty",
    Op.is_not_empty: "is not empty",
    Op.changed: "changed",
    Op.changed_from: "changed from",
    Op.changed_to: "changed to",
}
ACTION_LABELS = {
    "set_field": "Set a field",
    "assign_owner": "Assign the owner",
    "create_task": "Create a task",
    "add_tag": "Add tags",
    "notify": "Notify people",
    "send_email": "Send an email",
    "call_webhook": "Call a webhook",
    "start_followup_sequence": "Start a follow-up sequence",
    "request_ai_scoring": "Request AI scoring",
}
RUN_BADGES = {
    RunStatus.matched.value: "badge-done",
    RunStatus.skipped.value: "badge-neutral",
    RunStatus.failed.value: "badge-lost",
    RunStatus.stopped.value: "badge-medium",
}


def trigger_text(rule: AutomationRule | dict[str, Any]) -> str:
    """A rule's trigger in words, for lists and summaries."""
    trigger = rule.trigger if isinstance(rule, AutomationRule) else rule.get("trigger", {})
    if trigger.get("type") == "schedule":
        zone = trigger.get("timezone") or "UTC"
        return f"Every “{trigger.get('cron')}” ({zone}) on {trigger.get('entity_type')}s"
    return f"When {trigger.get('event')}"


def action_text(action: dict[str, Any]) -> str:
    label = ACTION_LABELS.get(action.get("type", ""), action.get("type", "?"))
    detail = {
        "set_field": lambda a: f"{a.get('field')} = {a.get('value')!r}",
        "create_task": lambda a: f"“{a.get('title')}”",
        "add_tag": lambda a: ", ".join(a.get("tags") or []),
        "notify": lambda a: f"“{a.get('title')}”",
        "send_email": lambda a: f"to {a.get('to')}",
        "call_webhook": lambda a: str(a.get("url")),
    }.get(action.get("type", ""))
    return f"{label}: {detail(action)}" if detail else label


async def _config(ctx: Ctx) -> dict[str, Any]:
    """What the editor offers: events, fields per record type, operators, people, teams."""
    fields = await custom_fields.list_fields(ctx.session, ctx.principal, None)
    custom: dict[str, list[dict[str, str]]] = {}
    for f in fields:
        custom.setdefault(str(f.entity_type), []).append(
            {"key": f"custom.{f.key}", "label": f"{f.label} (custom)"}
        )
    entities = {}
    for name, kind in KINDS.items():
        readable = sorted(kind.fields - {"custom", "version"})
        entities[name] = {
            "fields": readable + [c["key"] for c in custom.get(name, [])],
            "settable": sorted(kind.settable) + [c["key"] for c in custom.get(name, [])],
            "has_tags": kind.has_tags,
        }
    members = await ctx.members()
    teams = await org_service.list_teams(ctx.session, ctx.principal)
    statuses = [s.name for s in await lead_service.statuses(ctx.session, ctx.principal)]
    return {
        "events": list(KNOWN_EVENTS),
        "event_entities": {e: entity_of_pattern(e) for e in KNOWN_EVENTS},
        "entities": entities,
        "ops": [
            {
                "value": op.value,
                "label": OP_LABELS[op],
                "value_kind": "none"
                if op in (Op.is_empty, Op.is_not_empty, Op.changed)
                else "list"
                if op in (Op.in_, Op.not_in)
                else "one",
            }
            for op in Op
        ],
        "members": [{"id": m.user_id, "name": m.full_name or m.email} for m in members.values()],
        "teams": [
            {"id": t.id, "name": t.name, "managers": sum(1 for m in t.members if m.is_manager)}
            for t in teams
        ],
        "statuses": statuses,
        "actions": [
            {"type": t, "label": label}
            for t, label in ACTION_LABELS.items()
            if action_mod.available(t)
        ],
        "entity_types": [e.value for e in EntityType],
    }


def _rule_json(rule: AutomationRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "description": "",
            "enabled": True,
            "trigger": {"type": "event", "event": "lead.status_changed"},
            "conditions": {"all": []},
            "actions": [],
        }
    return {
        "id": rule.id,
        "version": rule.version,
        "name": rule.name,
        "description": rule.description,
        "enabled": rule.enabled,
        "trigger": rule.trigger,
        "conditions": rule.conditions or {"all": []},
        "actions": rule.actions,
    }


async def _runs_context(ctx: Ctx, rule_id: int, cursor: str | None) -> dict[str, Any]:
    rows, nxt = await service.list_runs(
        ctx.session, ctx.principal, rule_id, status=None, cursor=cursor, limit=RUNS_PAGE
    )
    return {"runs": [_run_view(r) for r in rows], "next_cursor": nxt, "rule_id": rule_id}


def _run_view(run: AutomationRun) -> dict[str, Any]:
    steps = run.log or []
    trace = next((s.get("trace") for s in steps if s.get("step") == "conditions"), None)
    acts = [s for s in steps if s.get("step") == "action"]
    trigger = next((s for s in steps if s.get("step") == "trigger"), {})
    kind = KINDS.get(run.entity_type or "")
    return {
        "run": run,
        "badge": RUN_BADGES.get(run.status, "badge-neutral"),
        "trace": trace,
        "actions": acts,
        "origin": trigger.get("origin") or [],
        "link": kind.link_for(run.entity_id) if kind and run.entity_id else None,
    }


# -- pages ---------------------------------------------------------------------------------


@router.get("")
async def rules_page(ctx: WebCtx) -> HTMLResponse:
    rows, _ = await service.list_rules(
        ctx.session, ctx.principal, enabled=None, sort="name", cursor=None, limit=500
    )
    return await page(
        ctx,
        "automation/page.html",
        active="automation",
        rules=rows,
        trigger_text=trigger_text,
        action_text=action_text,
    )


@router.get("/new")
async def new_rule(ctx: WebCtx) -> HTMLResponse:
    ctx.require(Permission.settings)
    return await page(
        ctx,
        "automation/rule.html",
        active="automation",
        rule=None,
        rule_json=_rule_json(None),
        config=await _config(ctx),
        editable=True,
        runs=[],
        next_cursor=None,
        trigger_text=trigger_text,
        action_text=action_text,
    )


@router.get("/records")
async def record_options(ctx: WebCtx, entity_type: str = "lead", q: str = "") -> HTMLResponse:
    """Options for the dry-run record picker: the first records of a type matching `q`."""
    kind = KINDS.get(entity_type)
    if kind is None:
        raise Invalid("unknown record type", field="entity_type")
    params = {"q": q.strip()} if q.strip() else {}
    fn = getattr(kind.service, kind.lister)
    items, _ = await fn(ctx.session, ctx.principal, params, sort="-id", cursor=None, limit=20)
    options = [(i.id, getattr(i, kind.title_field, "") or f"#{i.id}") for i in items]
    return await partial(ctx, "automation/_record_options.html", options=options)


@router.post("/dry-run")
async def dry_run(ctx: WebCtx) -> HTMLResponse:
    """The editor's dry run: the rule as it is on screen (unsaved), or a saved rule by id."""
    try:
        body = await ctx.request.json()
    except ValueError as exc:
        raise Invalid("send the rule as JSON") from exc

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx, "automation/_dry_run.html", status=422, result=None, error=exc, errors=exc.errors
        )

    on_error(ctx.request, failed)
    if not isinstance(body, dict):
        raise Invalid("send the rule as a JSON object")
    rule_id = body.pop("rule_id", None)
    try:
        if body.get("rule") is not None:
            data = DryRunRule.model_validate(body)
            target = DryRunTarget.model_validate(data.model_dump(exclude={"rule"}))
            result = await service.dry_run_unsaved(ctx.session, ctx.principal, data.rule, target)
        else:
            body.pop("rule", None)
            target = DryRunTarget.model_validate(body)
            if not isinstance(rule_id, int):
                raise Invalid("name the rule to try", field="rule_id")
            result = await service.dry_run_saved(ctx.session, ctx.principal, rule_id, target)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "message": str(e.get("msg", "invalid")),
            }
            for e in exc.errors()
        ]
        raise Invalid("The dry run request is invalid", errors=errors) from exc
    return await partial(ctx, "automation/_dry_run.html", result=result, error=None, errors=[])


@router.get("/{rule_id}")
async def rule_page(ctx: WebCtx, rule_id: int) -> HTMLResponse:
    rule = await service.get(ctx.session, ctx.principal, rule_id)
    return await page(
        ctx,
        "automation/rule.html",
        active="automation",
        rule=rule,
        rule_json=_rule_json(rule),
        config=await _config(ctx),
        editable=ctx.can(Permission.settings),
        trigger_text=trigger_text,
        action_text=action_text,
        run_badges=RUN_BADGES,
        **await _runs_context(ctx, rule_id, None),
    )


@router.get("/{rule_id}/runs")
async def runs_rows(ctx: WebCtx, rule_id: int, cursor: str | None = None) -> HTMLResponse:
    """More of the execution log (the "Load more" row), or all of it refreshed."""
    return await partial(ctx, "automation/_runs.html", **await _runs_context(ctx, rule_id, cursor))


@router.post("/{rule_id}/toggle")
async def toggle(ctx: WebCtx, rule_id: int) -> Response:
    ctx.require(Permission.settings)
    form = await form_data(ctx.request)
    enabled = form.get("enabled") == "true"
    rule = await service.update(ctx.session, ctx.principal, rule_id, RuleUpdate(enabled=enabled))
    response = await partial(
        ctx,
        "automation/_row.html",
        r=rule,
        trigger_text=trigger_text,
        action_text=action_text,
    )
    return toast(response, f"“{rule.name}” {'enabled' if rule.enabled else 'paused'}")


@router.post("/{rule_id}/delete")
async def delete_rule(ctx: WebCtx, rule_id: int) -> Response:
    ctx.require(Permission.settings)
    rule = await service.get(ctx.session, ctx.principal, rule_id)
    name = rule.name
    await service.delete(ctx.session, ctx.principal, rule_id)
    response = redirect(ctx.request, "/automation")
    set_flash(response, f"Rule “{name}” was deleted.", "info")
    return response
