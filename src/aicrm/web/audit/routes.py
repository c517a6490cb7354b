"""The organization's audit log, newest first, with "Load more"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from aicrm.audit.repository import AuditRepo
from aicrm.kit.principal import Permission
from aicrm.models import AuditLog
from aicrm.web.core import WebCtx, WebRoute, page, partial

router = APIRouter(prefix="/audit", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 50
# where an audited record can be opened in the UI
LINKS = {
    "contact": "/contacts/{}",
    "company": "/companies/{}",
    "lead": "/leads/{}",
    "deal": "/deals/{}",
    "task": "/tasks/{}",
}
HIDDEN_KEYS = {
    "id",
    "organization_id",
    "created_at",
    "updated_at",
    "version",
    "name_key",
    "last_name_key",
}


def _changes(entry: AuditLog) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for the fields a person would care about."""
    before = entry.before or {}
    after = entry.after or {}
    keys = [k for k in dict.fromkeys([*after, *before]) if k not in HIDDEN_KEYS]
    out = []
    for k in keys[:6]:
        out.append((k, before.get(k), after.get(k)))
    return out


@router.get("")
async def audit_page(
    ctx: WebCtx, cursor: str | None = None, entity_type: str = "", fragment: str = ""
) -> Response:
    ctx.require(Permission.audit)
    repo = AuditRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.select()
    if entity_type:
        stmt = stmt.where(AuditLog.entity_type == entity_type)
    rows, next_cursor = await repo.page(
        stmt, sort="-id", sortable={"id": AuditLog.id}, cursor=cursor, limit=PAGE_SIZE
    )
    context: dict[str, Any] = {
        "entries": [
            {
                "e": r,
                "changes": _changes(r),
                "link": LINKS[r.entity_type].format(r.entity_id)
                if r.entity_type in LINKS and r.entity_id and r.action != "delete"
                else None,
            }
            for r in rows
        ],
        "next_cursor": next_cursor,
        "members": await ctx.members(),
        "entity_type": entity_type,
    }
    if ctx.htmx and fragment == "rows":
        return await partial(ctx, "audit/_rows.html", **context)
    return await page(
        ctx,
        "audit/page.html",
        active="audit",
        entity_types=[
            "contact",
            "company",
            "lead",
            "deal",
            "task",
            "activity",
            "member",
            "invitation",
            "team",
            "organization",
        ],
        **context,
    )
