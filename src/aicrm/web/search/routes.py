"""Quick search across contacts, companies and leads (the top bar's dropdown and its page)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from aicrm.companies import service as company_service
from aicrm.contacts import service as contact_service
from aicrm.leads import service as lead_service
from aicrm.web.common import company_names
from aicrm.web.core import WebCtx, WebRoute, page, partial

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/search")
async def search(ctx: WebCtx, q: str = "") -> HTMLResponse:
    q = q.strip()[:100]
    dropdown = ctx.htmx
    limit = 5 if dropdown else 25
    contacts, companies, leads = [], [], []
    if q:
        contacts, _ = await contact_service.list_contacts(
            ctx.session, ctx.principal, {"q": q}, sort="name", cursor=None, limit=limit
        )
        companies, _ = await company_service.list_companies(
            ctx.session, ctx.principal, {"q": q}, sort="name", cursor=None, limit=limit
        )
        leads, _ = await lead_service.list_leads(
            ctx.session, ctx.principal, {"q": q}, sort="-created_at", cursor=None, limit=limit
        )
    context = {
        "q": q,
        "contacts": contacts,
        "companies": companies,
        "leads": leads,
        "company_names": await company_names(ctx, [c.company_id for c in contacts]),
    }
    if dropdown:
        return await partial(ctx, "search/_results.html", **context)
    return await page(ctx, "search/page.html", q_global=q, **context)
