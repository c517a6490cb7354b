"""Board cards for live updates: when an event says a lead or deal changed, the boards open in
other browsers fetch the card as it now is — its column, position, version and HTML — and put it
there (static/realtime.js). The server's current state is the truth, so events that arrive late,
twice or out of order, or that describe a move this browser made itself, change nothing."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aicrm.companies.repository import CompanyRepo
from aicrm.contacts.repository import ContactRepo
from aicrm.deals import service as deal_service
from aicrm.leads import service as lead_service
from aicrm.web.core import WebCtx, WebRoute, render

router = APIRouter(prefix="/realtime/cards", route_class=WebRoute, include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/lead/{lead_id}")
async def lead_card(ctx: WebCtx, lead_id: int) -> JSONResponse:
    """A lead's kanban card (404 when it is gone or belongs to another organization)."""
    lead = await lead_service.get(ctx.session, ctx.principal, lead_id)
    out = (await lead_service.to_out(ctx.session, ctx.principal, [lead]))[0]
    org = await ctx.org()
    html = render(
        "leads/_card.html",
        lead=out,
        members=await ctx.members(),
        currency=org.default_currency,
        ctx=ctx,
    )
    return JSONResponse(
        {
            "id": out.id,
            "column": out.status,
            "card_order": out.card_order,
            "version": out.version,
            "value": float(out.value or 0),
            "html": html,
        },
        headers=NO_STORE,
    )


@router.get("/deal/{deal_id}")
async def deal_card(ctx: WebCtx, deal_id: int) -> JSONResponse:
    """A deal's pipeline card; `pipeline_id` tells a board showing another pipeline to drop it."""
    deal = await deal_service.get(ctx.session, ctx.principal, deal_id)
    out = (await deal_service.to_out(ctx.session, ctx.principal, [deal]))[0]
    org = await ctx.org()
    companies: dict[int, str] = {}
    contacts: dict[int, str] = {}
    if out.company_id:
        company = await CompanyRepo.from_session(ctx.session, ctx.principal).get_or_none(
            out.company_id
        )
        if company is not None:
            companies[company.id] = company.name
    if out.contact_id:
        contact = await ContactRepo.from_session(ctx.session, ctx.principal).get_or_none(
            out.contact_id
        )
        if contact is not None:
            contacts[contact.id] = contact.name
    html = render(
        "deals/_card.html",
        deal=out,
        members=await ctx.members(),
        companies=companies,
        contacts=contacts,
        currency=org.default_currency,
        ctx=ctx,
    )
    return JSONResponse(
        {
            "id": out.id,
            "pipeline_id": out.pipeline_id,
            "column": str(out.stage_id),
            "card_order": out.card_order,
            "version": out.version,
            "value": float(out.amount or 0),
            "html": html,
        },
        headers=NO_STORE,
    )
