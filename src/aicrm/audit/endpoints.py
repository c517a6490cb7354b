"""Audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from aicrm.audit.repository import AuditRepo
from aicrm.audit.schemas import AuditOut
from aicrm.auth.deps import Session, require
from aicrm.db import TxRoute
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page
from aicrm.models import AuditLog

router = APIRouter(prefix="/api/v1/audit-log", tags=["audit"], route_class=TxRoute)
Auditor = Annotated[Principal, Depends(require(Permission.audit))]


@router.get("", response_model=Page[AuditOut])
async def audit_log(
    principal: Auditor,
    session: Session,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_user_id: int | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AuditOut]:
    """Who changed what and when, newest first: the whole organization or one record
    (`entity_type=contact&entity_id=42`)."""
    repo = AuditRepo.from_session(session, principal)
    stmt = repo.select()
    if entity_type:
        stmt = stmt.where(AuditLog.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if actor_user_id is not None:
        stmt = stmt.where(AuditLog.actor_user_id == actor_user_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    rows, nxt = await repo.page(
        stmt, sort="-id", sortable={"id": AuditLog.id}, cursor=cursor, limit=limit
    )
    return Page[AuditOut](items=[AuditOut.model_validate(r) for r in rows], next_cursor=nxt)
