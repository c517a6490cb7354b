"""Leads: the kanban board (cards move through the JSON API), the new-lead dialog, the lead page
and conversion into a deal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.errors import AICRMError, Invalid, NotFound
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.leads.repository import LeadRepo
from aicrm.leads.schemas import KanbanColumn, LeadCreate, LeadMove, LeadUpdate, Priority
from aicrm.web import optional, timeline
from aicrm.web.common import member_options, record_insights, related_tasks
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

router = APIRouter(prefix="/leads", route_class=WebRoute, include_in_schema=False)
scoring = optional.service("ai.scoring")

PRIORITIES = [(p.value, p.value.title()) for p in Priority]
EDITABLE = (
    "name",
    "company",
    "email",
    "phone",
    "value",
    "priority",
    "assignee_id",
    "source",
    "timeline",
    "budget",
    "requirements",
    "notes",
)


async def _form_context(ctx: Ctx) -> dict[str, Any]:
    statuses = await lead_service.statuses(ctx.session, ctx.principal)
    return {
        "status_options": [(s.name, s.name) for s in statuses],
        "owner_options": await member_options(ctx),
        "priorities": PRIORITIES,
    }


def _fields(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data = pick(form, EDITABLE, blank_as_none=not creating)
    if "assignee_id" in data:
        data["assignee_id"] = int_or_none(data["assignee_id"], field="assignee_id")
    if "tags" in form:
        data["tags"] = split_tags(form["tags"])
    return data


@router.get("")
async def board_page(ctx: WebCtx) -> HTMLResponse:
    board = await lead_service.kanban(ctx.session, ctx.principal, per_column=200)
    open_cols = [c for c in board.columns if not c.is_won and not c.is_lost]
    return await page(
        ctx,
        "leads/page.html",
        active="leads",
        board=board,
        members=await ctx.members(),
        open_count=sum(c.count for c in open_cols),
        open_value=sum(c.total_value for c in open_cols),
        form_values={
            "status": board.columns[0].status if board.columns else "",
            "priority": "medium",
        },
        form_errors={},
        **await _form_context(ctx),
    )


async def _column(ctx: Ctx, status_id: int) -> KanbanColumn:
    stats = await LeadRepo.from_session(ctx.session, ctx.principal).column_stats()
    status = next(
        s for s in await lead_service.statuses(ctx.session, ctx.principal) if s.id == status_id
    )
    n, total = stats.get(status_id, (0, 0.0))
    return KanbanColumn(
        status=status.name,
        status_id=status.id,
        color=status.color,
        is_won=status.is_won,
        is_lost=status.is_lost,
        count=n,
        total_value=total,
        leads=[],
    )


@router.post("")
async def create_lead(ctx: WebCtx) -> Response:
    """Create from the board's dialog: the answer is a fresh form, plus the card and the column
    header swapped into the board out of band."""
    form = await form_data(ctx.request)
    form_ctx = await _form_context(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "leads/_form.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            **form_ctx,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _fields(form, creating=True)
    if form.get("status"):
        data["status"] = form["status"]
    lead = await lead_service.create(ctx.session, ctx.principal, build(LeadCreate, data))
    out = (await lead_service.to_out(ctx.session, ctx.principal, [lead]))[0]
    if form.get("from") != "board":
        response = redirect(ctx.request, f"/leads/{lead.id}")
        set_flash(response, f"Lead {lead.name} created.")
        return response
    response = await partial(
        ctx,
        "leads/_created.html",
        lead=out,
        col=await _column(ctx, lead.status_id),
        members=await ctx.members(),
        form_values={"status": out.status, "priority": "medium"},
        form_errors={},
        **form_ctx,
    )
    trigger(response, closeDialog=True)
    return toast(response, f"Lead {lead.name} added to {out.status}")


async def _summary(ctx: Ctx, lead_id: int) -> dict[str, Any]:
    lead = await lead_service.get(ctx.session, ctx.principal, lead_id)
    out = (await lead_service.to_out(ctx.session, ctx.principal, [lead]))[0]
    statuses = await lead_service.statuses(ctx.session, ctx.principal)
    members = await ctx.members()
    status_row = next((s for s in statuses if s.id == out.status_id), None)
    closed = out.converted_at is not None or bool(
        status_row and (status_row.is_won or status_row.is_lost)
    )
    return {
        "lead": out,
        "status_row": status_row,
        "statuses": statuses,
        "assignee": members.get(out.assignee_id) if out.assignee_id else None,
        "members": members,
        "can_convert": optional.deals is not None and out.converted_at is None,
        "can_score": scoring is not None and not closed,
    }


async def _convert_context(ctx: Ctx, lead: Any) -> dict[str, Any]:
    if optional.deals is None:
        return {}
    pipelines = await optional.deals.list_pipelines(ctx.session, ctx.principal)
    default = next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None)
    stages = [s for s in (default.stages if default else []) if not s.is_won and not s.is_lost]
    return {
        "stage_options": [(s.name, s.name) for s in stages],
        "convert_values": {
            "deal_name": lead.name if not lead.company else f"{lead.company}: {lead.name}",
            "amount": lead.value,
            "stage": stages[0].name if stages else "",
        },
    }


@router.get("/{lead_id}")
async def lead_page(ctx: WebCtx, lead_id: int) -> HTMLResponse:
    context = await _summary(ctx, lead_id)
    lead = context["lead"]
    return await page(
        ctx,
        "leads/detail.html",
        active="leads",
        tasks=await related_tasks(ctx, lead_id=lead_id),
        timeline=await timeline.load(ctx, "lead", lead_id),
        insights=await record_insights(ctx, "lead", lead_id),
        convert_errors={},
        **await _convert_context(ctx, lead),
        **context,
    )


@router.get("/{lead_id}/summary")
async def lead_summary(ctx: WebCtx, lead_id: int) -> HTMLResponse:
    return await partial(ctx, "leads/_summary.html", **await _summary(ctx, lead_id))


@router.get("/{lead_id}/edit")
async def lead_edit(ctx: WebCtx, lead_id: int) -> HTMLResponse:
    context = await _summary(ctx, lead_id)
    lead = context["lead"]
    values = {k: getattr(lead, k) for k in EDITABLE}
    values["tags"] = ", ".join(lead.tags)
    values["version"] = lead.version
    return await partial(
        ctx,
        "leads/_edit.html",
        form_values=values,
        form_errors={},
        **await _form_context(ctx),
        **context,
    )


@router.post("/{lead_id}")
async def update_lead(ctx: WebCtx, lead_id: int) -> Response:
    form = await form_data(ctx.request)
    context = await _summary(ctx, lead_id)
    form_ctx = await _form_context(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "leads/_edit.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            **form_ctx,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _fields(form, creating=False)
    if data.get("name") is None:
        raise Invalid("A lead needs a name", field="name")
    for required in ("value", "priority"):
        if data.get(required) is None:
            data.pop(required, None)
    data["version"] = int_or_none(form.get("version"), field="version")
    await lead_service.update(ctx.session, ctx.principal, lead_id, build(LeadUpdate, data))
    response = await partial(ctx, "leads/_summary.html", **await _summary(ctx, lead_id))
    return toast(response, "Lead saved")


@router.post("/{lead_id}/status")
async def change_status(ctx: WebCtx, lead_id: int) -> Response:
    """The status picker on the lead page: the card goes to the end of that column."""
    ctx.require(Permission.write)
    form = await form_data(ctx.request)
    move = build(LeadMove, {"status": form.get("status", "")})
    await lead_service.move(ctx.session, ctx.principal, lead_id, move)
    response = await partial(ctx, "leads/_summary.html", **await _summary(ctx, lead_id))
    return toast(response, f"Moved to {move.status}")


@router.post("/{lead_id}/score")
async def score_lead(ctx: WebCtx, lead_id: int) -> Response:
    """The "Score now" button: score the lead, answer with its fresh insight cards (and the
    summary, whose score badge changed, out of band)."""
    ctx.require(Permission.write)
    if scoring is None:
        raise NotFound("AI scoring is not installed")
    result = await scoring.qualify(ctx.session, ctx.principal, lead_id)
    response = await partial(
        ctx,
        "leads/_scored.html",
        insights=await record_insights(ctx, "lead", lead_id),
        **await _summary(ctx, lead_id),
    )
    return toast(response, f"Scored {result.score}/100, {result.priority} priority")


@router.post("/{lead_id}/delete")
async def delete_lead(ctx: WebCtx, lead_id: int) -> Response:
    ctx.require(Permission.delete)
    lead = await lead_service.get(ctx.session, ctx.principal, lead_id)
    name = lead.name
    await lead_service.delete(ctx.session, ctx.principal, lead_id)
    response = redirect(ctx.request, "/leads")
    set_flash(response, f"Lead {name} was deleted.", "info")
    return response


@router.post("/{lead_id}/activities")
async def add_activity(ctx: WebCtx, lead_id: int) -> Response:
    return await timeline.add(ctx, "lead", lead_id)


if optional.deals is not None:
    from aicrm.deals.schemas import LeadConvert

    @router.post("/{lead_id}/convert")
    async def convert_lead(ctx: WebCtx, lead_id: int) -> Response:
        """Lead → contact (+ company) + deal, in one transaction."""
        assert optional.deals is not None
        form = await form_data(ctx.request)
        context = await _summary(ctx, lead_id)
        convert_ctx = await _convert_context(ctx, context["lead"])

        async def failed(exc: AICRMError) -> Response:
            convert_ctx["convert_values"] = form
            return await partial(
                ctx,
                "leads/_convert.html",
                status=422,
                convert_errors=field_errors(exc),
                convert_error=exc.message,
                **convert_ctx,
                **context,
            )

        on_error(ctx.request, failed)
        ctx.require(Permission.write)
        data: dict[str, Any] = {"create_deal": form.get("create_deal", "1") == "1"}
        data.update(pick(form, ("deal_name", "amount", "stage"), blank_as_none=False))
        result = await optional.deals.convert_lead(
            ctx.session, ctx.principal, lead_id, build(LeadConvert, data)
        )
        if result.deal is not None:
            target = f"/deals/{result.deal.id}"
            message = f"Converted: deal {result.deal.name} created"
        else:
            target = f"/contacts/{result.contact.id}"
            message = f"Converted: {result.contact.name} is now a contact"
        response = redirect(ctx.request, target)
        set_flash(response, message)
        return response
