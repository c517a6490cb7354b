"""Companies: the list, the create dialog and the company page with its people."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.companies import service as company_service
from aicrm.companies.repository import FILTERS, CompanyRepo
from aicrm.companies.schemas import CompanyCreate, CompanyUpdate
from aicrm.contacts import service as contact_service
from aicrm.errors import AICRMError
from aicrm.kit import filtering
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.web import optional, timeline
from aicrm.web.common import member_options
from aicrm.web.core import (
    Ctx,
    WebCtx,
    WebRoute,
    field_errors,
    on_error,
    page,
    partial,
    redirect,
    toast,
)
from aicrm.web.forms import build, form_data, int_or_none, pick, split_tags
from aicrm.web.session import set_flash

router = APIRouter(prefix="/companies", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
EDITABLE = (
    "name",
    "domain",
    "website",
    "industry",
    "size",
    "annual_revenue",
    "phone",
    "city",
    "country",
    "owner_id",
    "description",
)
SIZES = [(s, s) for s in ("1-10", "11-50", "51-200", "201-1000", "1000+")]


def _params(q: str, industry: str, owner: str, ctx: Ctx) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if q:
        params["q"] = q
    if industry:
        params["industry"] = industry
    if owner == "me":
        params["owner_id"] = str(ctx.user_id)
    elif owner:
        params["owner_id"] = owner
    return params


@router.get("")
async def companies_page(
    ctx: WebCtx,
    q: str = "",
    industry: str = "",
    owner: str = "",
    cursor: str | None = None,
    fragment: str = "",
) -> Response:
    params = _params(q.strip(), industry, owner, ctx)
    rows, next_cursor = await company_service.list_companies(
        ctx.session, ctx.principal, params, sort="name", cursor=cursor, limit=PAGE_SIZE
    )
    repo = CompanyRepo.from_session(ctx.session, ctx.principal)
    counts = await repo.contact_counts([c.id for c in rows])
    query = {k: v for k, v in {"q": q, "industry": industry, "owner": owner}.items() if v}
    context: dict[str, Any] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "counts": counts,
        "members": await ctx.members(),
        "query": query,
    }
    if ctx.htmx and fragment == "rows":
        return await partial(ctx, "companies/_rows.html", **context)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, ctx.principal.organization_id))
    )
    context["total"] = await repo.count(stmt)
    context["filtered"] = bool(params)
    if ctx.htmx and ctx.request.headers.get("hx-target") == "company-list":
        # the address bar gets the filters without the empty ones
        clean = urlencode(query)
        return await partial(
            ctx,
            "companies/_list.html",
            headers={"HX-Push-Url": "/companies" + (f"?{clean}" if clean else "")},
            **context,
        )
    return await page(
        ctx,
        "companies/page.html",
        active="companies",
        owner_options=await member_options(ctx),
        sizes=SIZES,
        form_values={"owner_id": ctx.user_id},
        form_errors={},
        **context,
    )


def _fields(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data = pick(form, EDITABLE, blank_as_none=not creating)
    if "owner_id" in data:
        data["owner_id"] = int_or_none(data["owner_id"], field="owner_id")
    if "tags" in form:
        data["tags"] = split_tags(form["tags"])
    return data


@router.post("")
async def create_company(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)
    owners = await member_options(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "companies/_form.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            owner_options=owners,
            sizes=SIZES,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    company = await company_service.create(
        ctx.session, ctx.principal, build(CompanyCreate, _fields(form, creating=True))
    )
    response = redirect(ctx.request, f"/companies/{company.id}")
    set_flash(response, f"{company.name} was added.")
    return response


async def _summary(ctx: Ctx, company_id: int) -> dict[str, Any]:
    company = await company_service.get(ctx.session, ctx.principal, company_id)
    out = (await company_service.to_out(ctx.session, ctx.principal, [company], counts=True))[0]
    members = await ctx.members()
    return {
        "company": out,
        "owner": members.get(out.owner_id) if out.owner_id else None,
        "members": members,
    }


@router.get("/{company_id}")
async def company_page(ctx: WebCtx, company_id: int) -> HTMLResponse:
    context = await _summary(ctx, company_id)
    people, more = await contact_service.list_contacts(
        ctx.session,
        ctx.principal,
        {"company_id": str(company_id)},
        sort="name",
        cursor=None,
        limit=50,
    )
    leads, _ = await lead_service.list_leads(
        ctx.session,
        ctx.principal,
        {"company_id": str(company_id)},
        sort="-created_at",
        cursor=None,
        limit=20,
    )
    deals: list[Any] = []
    if optional.deals is not None:
        deals = await timeline.deals_for(ctx, company_id=company_id)
    return await page(
        ctx,
        "companies/detail.html",
        active="companies",
        people=people,
        more_people=more is not None,
        leads=leads,
        deals=deals,
        timeline=await timeline.load(ctx, "company", company_id),
        **context,
    )


@router.get("/{company_id}/summary")
async def company_summary(ctx: WebCtx, company_id: int) -> HTMLResponse:
    return await partial(ctx, "companies/_summary.html", **await _summary(ctx, company_id))


@router.get("/{company_id}/edit")
async def company_edit(ctx: WebCtx, company_id: int) -> HTMLResponse:
    context = await _summary(ctx, company_id)
    c = context["company"]
    values = {k: getattr(c, k) for k in EDITABLE}
    values["tags"] = ", ".join(c.tags)
    values["version"] = c.version
    return await partial(
        ctx,
        "companies/_edit.html",
        form_values=values,
        form_errors={},
        owner_options=await member_options(ctx),
        sizes=SIZES,
        **context,
    )


@router.post("/{company_id}")
async def update_company(ctx: WebCtx, company_id: int) -> Response:
    form = await form_data(ctx.request)
    context = await _summary(ctx, company_id)
    owners = await member_options(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "companies/_edit.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            owner_options=owners,
            sizes=SIZES,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _fields(form, creating=False)
    if data.get("name") is None:
        data.pop("name", None)
    data["version"] = int_or_none(form.get("version"), field="version")
    await company_service.update(ctx.session, ctx.principal, company_id, build(CompanyUpdate, data))
    response = await partial(ctx, "companies/_summary.html", **await _summary(ctx, company_id))
    return toast(response, "Company saved")


@router.post("/{company_id}/delete")
async def delete_company(ctx: WebCtx, company_id: int) -> Response:
    ctx.require(Permission.delete)
    company = await company_service.get(ctx.session, ctx.principal, company_id)
    name = company.name
    await company_service.delete(ctx.session, ctx.principal, company_id)
    response = redirect(ctx.request, "/companies")
    set_flash(response, f"{name} was deleted.", "info")
    return response


@router.post("/{company_id}/activities")
async def add_activity(ctx: WebCtx, company_id: int) -> Response:
    return await timeline.add(ctx, "company", company_id)
