"""The dashboard: headline numbers, the lead funnel, my tasks and what happened recently."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from aicrm.contacts.repository import ContactRepo
from aicrm.leads import service as lead_service
from aicrm.leads.repository import LeadRepo
from aicrm.models import Deal, Lead, Task
from aicrm.web import optional
from aicrm.web.common import company_names, contact_names
from aicrm.web.core import Ctx, WebCtx, WebRoute, page

router = APIRouter(route_class=WebRoute, include_in_schema=False)


async def _lead_funnel(ctx: Ctx) -> dict[str, Any]:
    statuses = await lead_service.statuses(ctx.session, ctx.principal)
    stats = await LeadRepo.from_session(ctx.session, ctx.principal).column_stats()
    rows = []
    for s in statuses:
        n, total = stats.get(s.id, (0, 0.0))
        rows.append(
            {
                "name": s.name,
                "color": s.color,
                "count": n,
                "value": total,
                "closed": s.is_won or s.is_lost,
            }
        )
    widest = max((r["count"] for r in rows), default=0) or 1
    open_rows = [r for r in rows if not r["closed"]]
    return {
        "rows": rows,
        "widest": widest,
        "open_count": sum(r["count"] for r in open_rows),
        "open_value": sum(r["value"] for r in open_rows),
    }


async def _deal_totals(ctx: Ctx) -> dict[str, Any] | None:
    if optional.deals is None:
        return None
    from aicrm.deals.repository import DealRepo

    repo = DealRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.scoped(select(Deal.status, func.count(), func.coalesce(func.sum(Deal.amount), 0)))
    totals = {
        status: (n, float(amount))
        for status, n, amount in (await ctx.session.execute(stmt.group_by(Deal.status))).all()
    }
    return {
        "open_count": totals.get("open", (0, 0.0))[0],
        "open_value": totals.get("open", (0, 0.0))[1],
        "won_count": totals.get("won", (0, 0.0))[0],
        "won_value": totals.get("won", (0, 0.0))[1],
    }


async def _my_tasks(ctx: Ctx) -> dict[str, Any] | None:
    if optional.tasks is None:
        return None
    from aicrm.tasks.repository import TaskRepo

    items, _ = await optional.tasks.list_tasks(
        ctx.session,
        ctx.principal,
        {"mine": "true", "status__ne": "done"},
        sort="due_at",
        cursor=None,
        limit=8,
    )
    repo = TaskRepo.from_session(ctx.session, ctx.principal)
    end_of_today = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time.min, UTC)
    due = await repo.count(
        repo.select().where(
            Task.assignee_id == ctx.user_id,
            Task.status != "done",
            Task.due_at.is_not(None),
            Task.due_at < end_of_today,
        )
    )
    open_mine = await repo.count(
        repo.select().where(Task.assignee_id == ctx.user_id, Task.status != "done")
    )
    return {"items": items, "due": due, "open": open_mine}


async def _workspace_insights(ctx: Ctx) -> list[dict[str, Any]] | None:
    try:
        from aicrm.ai.workload import service as workload
    except ModuleNotFoundError:  # the AI engine is not part of this build
        return None
    return await workload.workspace_insights(ctx.session, ctx.principal, limit=6)


async def _recent_activity(ctx: Ctx) -> list[dict[str, Any]] | None:
    if optional.activities is None:
        return None
    items, _ = await optional.activities.list_activities(
        ctx.session, ctx.principal, {}, sort="-occurred_at", cursor=None, limit=8
    )
    contacts = await contact_names(ctx, [a.contact_id for a in items])
    companies = await company_names(ctx, [a.company_id for a in items])
    lead_rows = await LeadRepo.from_session(ctx.session, ctx.principal).get_many(
        sorted({a.lead_id for a in items if a.lead_id})
    )
    leads = {r.id: r.name for r in lead_rows}
    deals: dict[int, str] = {}
    if optional.deals is not None:
        from aicrm.deals.repository import DealRepo

        deal_rows = await DealRepo.from_session(ctx.session, ctx.principal).get_many(
            sorted({a.deal_id for a in items if a.deal_id})
        )
        deals = {r.id: r.name for r in deal_rows}
    out = []
    for a in items:
        if a.contact_id and a.contact_id in contacts:
            link = (f"/contacts/{a.contact_id}", contacts[a.contact_id])
        elif a.deal_id and a.deal_id in deals:
            link = (f"/deals/{a.deal_id}", deals[a.deal_id])
        elif a.lead_id and a.lead_id in leads:
            link = (f"/leads/{a.lead_id}", leads[a.lead_id])
        elif a.company_id and a.company_id in companies:
            link = (f"/companies/{a.company_id}", companies[a.company_id])
        else:
            link = None
        out.append({"activity": a, "link": link})
    return out


@router.get("/")
async def dashboard(ctx: WebCtx) -> HTMLResponse:
    contacts_repo = ContactRepo.from_session(ctx.session, ctx.principal)
    contacts = await contacts_repo.count(contacts_repo.select())
    new_contacts = await contacts_repo.count(
        contacts_repo.select().where(
            contacts_repo.model.created_at >= datetime.now(UTC) - timedelta(days=30)  # type: ignore[attr-defined]
        )
    )
    status_names = {s.id: s for s in await lead_service.statuses(ctx.session, ctx.principal)}
    closed = [sid for sid, s in status_names.items() if s.is_won or s.is_lost]
    leads_repo = LeadRepo.from_session(ctx.session, ctx.principal)
    my_leads_stmt = (
        leads_repo.select()
        .where(Lead.assignee_id == ctx.user_id, Lead.status_id.not_in(closed))
        .order_by(Lead.updated_at.desc())
        .limit(5)
    )
    my_leads = list((await ctx.session.execute(my_leads_stmt)).scalars())
    return await page(
        ctx,
        "dashboard/page.html",
        active="dashboard",
        contacts=contacts,
        new_contacts=new_contacts,
        funnel=await _lead_funnel(ctx),
        deals=await _deal_totals(ctx),
        tasks=await _my_tasks(ctx),
        recent=await _recent_activity(ctx),
        my_leads=my_leads,
        workspace_insights=await _workspace_insights(ctx),
        status_names=status_names,
        members=await ctx.members(),
    )
