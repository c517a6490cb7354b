"""Look-ups several pages share: names for ids, select options, related records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aicrm.companies.repository import CompanyRepo
from aicrm.contacts.repository import ContactRepo
from aicrm.kit.principal import Permission
from aicrm.models import Company, Contact
from aicrm.web import optional
from aicrm.web.core import Ctx


async def company_names(ctx: Ctx, ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await CompanyRepo.from_session(ctx.session, ctx.principal).get_many(wanted)
    return {c.id: c.name for c in rows}


async def contact_names(ctx: Ctx, ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await ContactRepo.from_session(ctx.session, ctx.principal).get_many(wanted)
    return {c.id: c.name for c in rows}


async def company_options(ctx: Ctx, limit: int = 300) -> list[str]:
    """Names for the company field's autocomplete (a datalist, so any new name still works)."""
    repo = CompanyRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.scoped(select(Company.name), Company).where(Company.deleted_at.is_(None))
    stmt = stmt.order_by(Company.name_key).limit(limit)
    return [r[0] for r in (await ctx.session.execute(stmt)).all()]


async def contact_options(ctx: Ctx, limit: int = 300) -> list[tuple[int, str]]:
    repo = ContactRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.scoped(select(Contact.id, Contact.name), Contact).where(
        Contact.deleted_at.is_(None)
    )
    stmt = stmt.order_by(Contact.name_key).limit(limit)
    return [(r[0], r[1]) for r in (await ctx.session.execute(stmt)).all()]


async def member_options(ctx: Ctx) -> list[tuple[int, str]]:
    members = await ctx.members()
    return [(m.user_id, m.full_name or m.email) for m in members.values()]


async def related_tasks(ctx: Ctx, **filters: Any) -> list[Any]:
    if optional.tasks is None:
        return []
    params = {k: str(v) for k, v in filters.items()}
    items, _ = await optional.tasks.list_tasks(
        ctx.session, ctx.principal, params, sort="due_at", cursor=None, limit=20
    )
    return list(items)


def can_write(ctx: Ctx) -> bool:
    return ctx.can(Permission.write)


async def record_insights(ctx: Ctx, entity_type: str, entity_id: int) -> list[dict[str, Any]]:
    """A record's current AI insights (dismissed ones hidden), for its insight cards."""
    from aicrm.ai import insights

    rows = await insights.current_for(ctx.session, ctx.principal, entity_type, entity_id)
    return [insights.to_dict(r) for r in rows if r.status != "dismissed"]
