"""Automation rules: trigger → conditions → actions, their execution log and dry runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from aicrm.auth.deps import Reader, Session, require
from aicrm.automation import service
from aicrm.automation.schemas import (
    DryRunOut,
    DryRunRule,
    DryRunTarget,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    RunOut,
    RunStatus,
)
from aicrm.db import TxRoute
from aicrm.kit.http import parse_if_match
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page
from aicrm.models import AutomationRule


def _out(rule: AutomationRule, principal: Principal) -> RuleOut:
    """Webhook signing secrets are shown to those who manage rules only."""
    out = RuleOut.model_validate(rule)
    if not principal.can(Permission.settings):
        out.actions = service.redact_actions(out.actions)
    return out


router = APIRouter(prefix="/api/v1/automation", tags=["automation"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]


@router.get("/rules", response_model=Page[RuleOut])
async def list_rules(
    principal: Reader,
    session: Session,
    enabled: bool | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[RuleOut]:
    """The organization's automation rules (`sort`: name, created_at, updated_at, id)."""
    rows, nxt = await service.list_rules(
        session, principal, enabled=enabled, sort=sort, cursor=cursor, limit=limit
    )
    return Page[RuleOut](items=[_out(r, principal) for r in rows], next_cursor=nxt)


@router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(data: RuleCreate, principal: Admin, session: Session) -> RuleOut:
    """Create a rule. Trigger, conditions and actions are validated against the organization;
    each error names its path (`trigger.cron`, `conditions.all[1].op`, `actions[0].team_id`)."""
    return _out(await service.create(session, principal, data), principal)


@router.post("/rules/dry-run", response_model=DryRunOut)
async def dry_run_unsaved(data: DryRunRule, principal: Reader, session: Session) -> DryRunOut:
    """Try an unsaved rule (`rule`) on a record (`entity_type` + `entity_id`) or a sample
    `record`: whether the conditions hold, with a trace, and what each action would do.
    Nothing is written."""
    target = DryRunTarget.model_validate(data.model_dump(exclude={"rule"}))
    return await service.dry_run_unsaved(session, principal, data.rule, target)


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(
    rule_id: int, principal: Reader, session: Session, response: Response
) -> RuleOut:
    """One rule (ETag carries its version)."""
    rule = await service.get(session, principal, rule_id)
    response.headers["ETag"] = f'"{rule.version}"'
    return _out(rule, principal)


@router.patch("/rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: int,
    data: RuleUpdate,
    principal: Admin,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> RuleOut:
    """Change a rule (`version` or If-Match: a stale one answers 412)."""
    rule = await service.update(
        session, principal, rule_id, data, if_match=parse_if_match(if_match)
    )
    return _out(rule, principal)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: int, principal: Admin, session: Session) -> Response:
    """Delete a rule with its execution log."""
    await service.delete(session, principal, rule_id)
    return Response(status_code=204)


@router.get("/rules/{rule_id}/runs", response_model=Page[RunOut])
async def list_runs(
    rule_id: int,
    principal: Reader,
    session: Session,
    status: RunStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RunOut]:
    """The rule's execution log, newest first: each run's status (matched, skipped, failed,
    stopped), the condition trace and what every action did."""
    rows, nxt = await service.list_runs(
        session, principal, rule_id, status=status, cursor=cursor, limit=limit
    )
    return Page[RunOut](items=[RunOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.post("/rules/{rule_id}/dry-run", response_model=DryRunOut)
async def dry_run(
    rule_id: int, data: DryRunTarget, principal: Reader, session: Session
) -> DryRunOut:
    """Try a saved rule on a record (`{"entity_type": "lead", "entity_id": 5}`) or a sample
    `record`, optionally with the `event` to pretend: whether the conditions hold, with a
    per-condition trace, and what each action would do. Nothing is written."""
    return await service.dry_run_saved(session, principal, rule_id, data)


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: int, principal: Reader, session: Session) -> RunOut:
    """One entry of an execution log."""
    return RunOut.model_validate(await service.get_run(session, principal, run_id))
