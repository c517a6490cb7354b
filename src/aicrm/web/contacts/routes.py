"""Contacts: the list with filters and "Load more", the create dialog, the contact page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.ai.customers import service as customer_ai
from aicrm.ai.customers.deps import upgrade_for
from aicrm.ai.customers.schemas import TaskFromAction
from aicrm.companies import service as company_service
from aicrm.contacts import service as contact_service
from aicrm.contacts.repository import FILTERS, ContactRepo
from aicrm.contacts.schemas import Channel, ContactCreate, ContactStatus, ContactUpdate
from aicrm.errors import AICRMError, NotFound
from aicrm.kit import filtering
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.tags import service as tag_service
from aicrm.web import optional, timeline
from aicrm.web.common import company_names, company_options, member_options, related_tasks
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
    trigger,
)
from aicrm.web.forms import build, form_data, int_or_none, pick, split_tags
from aicrm.web.session import set_flash

router = APIRouter(prefix="/contacts", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
STATUS_OPTIONS = [(s.value, s.value.title()) for s in ContactStatus]
CHANNEL_OPTIONS = [
    (c.value, c.value.upper() if c.value == "sms" else c.value.title()) for c in Channel
]
EDITABLE = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "status",
    "owner_id",
    "city",
    "country",
    "preferred_channel",
    "notes",
)


def _filters(q: str, status: str, owner: str, tag: str, ctx: Ctx) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if q:
        params["q"] = q
    if status:
        params["status"] = status
    if owner == "me":
        params["owner_id"] = str(ctx.user_id)
    elif owner == "none":
        params["owner_id__isnull"] = "true"
    elif owner:
        params["owner_id"] = owner
    if tag:
        params["tag"] = tag
    return params


async def _count(ctx: Ctx, params: dict[str, Any]) -> int:
    repo = ContactRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, ctx.principal.organization_id))
    )
    return await repo.count(stmt)


async def _saved_view(ctx: Ctx, view_id: int) -> Any:
    if optional.views is None:
        raise NotFound("Saved views are not available")
    view = await optional.views.get(ctx.session, ctx.principal, view_id)
    if view.entity_type != "contact":
        raise NotFound(f"contact view {view_id} not found")
    return view


def _toolbar_values(filters: dict[str, Any], ctx: Ctx) -> dict[str, str]:
    """A saved view's filters shown in the toolbar where the toolbar has a control for them."""
    owner = str(filters.get("owner_id", ""))
    if owner == str(ctx.user_id):
        owner = "me"
    elif filters.get("owner_id__isnull") in ("true", True):
        owner = "none"
    return {
        "q": str(filters.get("q", "")),
        "status": str(filters.get("status", "")),
        "owner": owner,
        "tag": str(filters.get("tag", "")),
    }


@router.get("")
async def contacts_page(
    ctx: WebCtx,
    q: str = "",
    status: str = "",
    owner: str = "",
    tag: str = "",
    view: int | None = None,
    cursor: str | None = None,
    fragment: str = "",
) -> Response:
    active_view = await _saved_view(ctx, view) if view is not None else None
    sort = "name"
    if active_view is not None:
        params = dict(active_view.filters)
        sort = active_view.sort or "name"
        toolbar = _toolbar_values(params, ctx)
        query = {"view": str(active_view.id)}
    else:
        params = _filters(q.strip(), status, owner, tag, ctx)
        toolbar = {"q": q, "status": status, "owner": owner, "tag": tag}
        query = {k: v for k, v in toolbar.items() if v}
    rows, next_cursor = await contact_service.list_contacts(
        ctx.session, ctx.principal, params, sort=sort, cursor=cursor, limit=PAGE_SIZE
    )
    companies = await company_names(ctx, [c.company_id for c in rows])
    members = await ctx.members()
    context: dict[str, Any] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "companies": companies,
        "members": members,
        "query": query,
        "toolbar": toolbar,
        "active_view": active_view,
        "params": params,
    }
    if ctx.htmx and fragment == "rows":
        return await partial(ctx, "contacts/_rows.html", **context)
    context["total"] = await _count(ctx, params)
    context["filtered"] = bool(params)
    if ctx.htmx and ctx.request.headers.get("hx-target") == "contact-list":
        # the address bar gets the filters without the empty ones
        clean = urlencode(query)
        return await partial(
            ctx,
            "contacts/_list.html",
            headers={"HX-Push-Url": "/contacts" + (f"?{clean}" if clean else "")},
            **context,
        )
    tags = await tag_service.list_tags(ctx.session, ctx.principal)
    saved: list[Any] = []
    if optional.views is not None:
        saved, _ = await optional.views.list_views(
            ctx.session, ctx.principal, entity_type="contact", sort="name", cursor=None, limit=50
        )
    return await page(
        ctx,
        "contacts/page.html",
        active="contacts",
        status_options=STATUS_OPTIONS,
        owner_options=await member_options(ctx),
        tag_options=[t.name for t in tags],
        form_values={"status": "lead", "owner_id": ctx.user_id},
        form_errors={},
        company_list=await company_options(ctx),
        channel_options=CHANNEL_OPTIONS,
        saved_views=saved,
        views_enabled=optional.views is not None,
        **context,
    )


if optional.views is not None:
    from aicrm.views.schemas import ViewCreate

    @router.post("/views")
    async def save_view(ctx: WebCtx) -> Response:
        """Save the list's current filters as a named, optionally private, view."""
        assert optional.views is not None
        form = await form_data(ctx.request)

        async def failed(exc: AICRMError) -> Response:
            return await partial(
                ctx,
                "contacts/_view_form.html",
                status=422,
                view_values=form,
                view_errors=field_errors(exc),
                view_error=exc.message,
            )

        on_error(ctx.request, failed)
        ctx.require(Permission.write)
        filters = _filters(
            form.get("q", ""),
            form.get("status", ""),
            form.get("owner", ""),
            form.get("tag", ""),
            ctx,
        )
        view = await optional.views.create(
            ctx.session,
            ctx.principal,
            build(
                ViewCreate,
                {
                    "name": form.get("name", ""),
                    "entity_type": "contact",
                    "filters": filters,
                    "shared": form.get("shared") == "1",
                },
            ),
        )
        response = redirect(ctx.request, f"/contacts?view={view.id}")
        set_flash(response, f"View “{view.name}” saved.")
        return response


def _contact_fields(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data = pick(form, EDITABLE, blank_as_none=not creating)
    if "owner_id" in data:
        data["owner_id"] = int_or_none(data["owner_id"], field="owner_id")
    if "tags" in form:
        data["tags"] = split_tags(form["tags"])
    return data


async def _form_context(ctx: Ctx) -> dict[str, Any]:
    return {
        "status_options": STATUS_OPTIONS,
        "owner_options": await member_options(ctx),
        "company_list": await company_options(ctx),
        "channel_options": CHANNEL_OPTIONS,
    }


@router.post("")
async def create_contact(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)
    form_ctx = await _form_context(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "contacts/_form.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            duplicates=exc.extra.get("duplicates") or [],
            **form_ctx,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _contact_fields(form, creating=True)
    if form.get("company_name"):
        data["company_name"] = form["company_name"]
    contact = await contact_service.create(
        ctx.session,
        ctx.principal,
        build(ContactCreate, data),
        allow_duplicate=form.get("allow_duplicate") == "1",
    )
    response = redirect(ctx.request, f"/contacts/{contact.id}")
    set_flash(response, f"{contact.name} was added to your contacts.")
    return response


async def _summary_context(ctx: Ctx, contact_id: int) -> dict[str, Any]:
    contact = await contact_service.get(ctx.session, ctx.principal, contact_id)
    out = (await contact_service.to_out(ctx.session, ctx.principal, [contact]))[0]
    company = (
        await company_service.get(ctx.session, ctx.principal, contact.company_id)
        if contact.company_id
        else None
    )
    members = await ctx.members()
    return {
        "contact": out,
        "company": company,
        "owner": members.get(out.owner_id) if out.owner_id else None,
        "members": members,
    }


@router.get("/{contact_id}")
async def contact_page(ctx: WebCtx, contact_id: int) -> HTMLResponse:
    context = await _summary_context(ctx, contact_id)
    leads, _ = await lead_service.list_leads(
        ctx.session,
        ctx.principal,
        {"contact_id": str(contact_id)},
        sort="-created_at",
        cursor=None,
        limit=20,
    )
    deals: list[Any] = []
    if optional.deals is not None:
        deals = await timeline.deals_for(ctx, contact_id=contact_id)
    return await page(
        ctx,
        "contacts/detail.html",
        active="contacts",
        leads=leads,
        deals=deals,
        tasks=await related_tasks(ctx, contact_id=contact_id),
        timeline=await timeline.load(ctx, "contact", contact_id),
        **context,
    )


@router.get("/{contact_id}/summary")
async def contact_summary(ctx: WebCtx, contact_id: int) -> HTMLResponse:
    return await partial(ctx, "contacts/_summary.html", **await _summary_context(ctx, contact_id))


@router.get("/{contact_id}/edit")
async def contact_edit(ctx: WebCtx, contact_id: int) -> HTMLResponse:
    context = await _summary_context(ctx, contact_id)
    c = context["contact"]
    values = {k: getattr(c, k) for k in EDITABLE}
    values["company_name"] = context["company"].name if context["company"] else ""
    values["tags"] = ", ".join(c.tags)
    values["version"] = c.version
    return await partial(
        ctx,
        "contacts/_edit.html",
        form_values=values,
        form_errors={},
        **await _form_context(ctx),
        **context,
    )


@router.post("/{contact_id}")
async def update_contact(ctx: WebCtx, contact_id: int) -> Response:
    form = await form_data(ctx.request)
    form_ctx = await _form_context(ctx)
    context = await _summary_context(ctx, contact_id)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "contacts/_edit.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            **form_ctx,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _contact_fields(form, creating=False)
    company_name = form.get("company_name", "")
    current = context["company"].name if context["company"] else ""
    if company_name != current:
        if company_name:
            data["company_name"] = company_name
        else:
            data["company_id"] = None
    data["version"] = int_or_none(form.get("version"), field="version")
    await contact_service.update(ctx.session, ctx.principal, contact_id, build(ContactUpdate, data))
    response = await partial(
        ctx, "contacts/_summary.html", **await _summary_context(ctx, contact_id)
    )
    return toast(response, "Contact saved")


@router.post("/{contact_id}/delete")
async def delete_contact(ctx: WebCtx, contact_id: int) -> Response:
    ctx.require(Permission.delete)
    contact = await contact_service.get(ctx.session, ctx.principal, contact_id)
    name = contact.name
    await contact_service.delete(ctx.session, ctx.principal, contact_id)
    response = redirect(ctx.request, "/contacts")
    set_flash(response, f"{name} was deleted.", "info")
    return response


@router.post("/{contact_id}/activities")
async def add_activity(ctx: WebCtx, contact_id: int) -> Response:
    return await timeline.add(ctx, "contact", contact_id)


async def _insights_card(ctx: Ctx, contact_id: int, *, refresh: bool = False) -> HTMLResponse:
    ins = await customer_ai.customer_insights(
        ctx.session,
        ctx.principal,
        contact_id,
        refresh=refresh,
        upgrade=upgrade_for(ctx.request, ctx.session),
    )
    response = await partial(ctx, "ai/_customer_card.html", ins=ins, contact_id=contact_id)
    # new scores land on the contact (churn risk, lifetime value): the summary reloads
    return trigger(response, **{"ai-scored": contact_id}) if ins.refreshed else response


@router.get("/{contact_id}/insights")
async def contact_insights(ctx: WebCtx, contact_id: int, refresh: bool = False) -> HTMLResponse:
    """The AI insights card (loaded after the page; computed when stale)."""
    return await _insights_card(ctx, contact_id, refresh=refresh)


@router.post("/{contact_id}/insights/task")
async def task_from_insight(ctx: WebCtx, contact_id: int) -> Response:
    """Create the task the next best action (or an alternative) suggests."""
    ctx.require(Permission.write)
    form = await form_data(ctx.request)
    option = int_or_none(form.get("option"), field="option") or 0
    task = await customer_ai.task_from_action(
        ctx.session, ctx.principal, contact_id, build(TaskFromAction, {"option": option})
    )
    response = await _insights_card(ctx, contact_id)
    return toast(response, f"Task created: {task.title}")
