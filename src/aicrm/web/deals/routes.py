"""Deals: the pipeline board (cards move through the JSON API, won/lost ask for a reason), the
new-deal dialog and the deal page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.ai import insights
from aicrm.contacts import service as contact_service
from aicrm.deals import service as deal_service
from aicrm.deals.repository import DealRepo, StageRepo
from aicrm.deals.schemas import BoardColumn, DealCreate, DealUpdate
from aicrm.errors import AICRMError, Invalid, NotFound
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.web import optional, timeline
from aicrm.web.common import contact_options, member_options, record_insights, related_tasks
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

router = APIRouter(prefix="/deals", route_class=WebRoute, include_in_schema=False)
scoring = optional.service("ai.scoring")

EDITABLE = (
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "owner_id",
    "contact_id",
    "description",
)


async def _company_choices(ctx: Ctx) -> list[tuple[int, str]]:
    from sqlalchemy import select

    from aicrm.companies.repository import CompanyRepo
    from aicrm.models import Company

    repo = CompanyRepo.from_session(ctx.session, ctx.principal)
    stmt = repo.scoped(select(Company.id, Company.name), Company).where(
        Company.deleted_at.is_(None)
    )
    rows = (await ctx.session.execute(stmt.order_by(Company.name_key).limit(500))).all()
    return [(r[0], r[1]) for r in rows]


async def _form_context(ctx: Ctx, pipeline_id: int | None = None) -> dict[str, Any]:
    pipelines = await deal_service.list_pipelines(ctx.session, ctx.principal)
    current = next(
        (p for p in pipelines if p.id == pipeline_id),
        next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None),
    )
    return {
        "pipelines": pipelines,
        "pipeline": current,
        "stage_options": [(s.id, s.name) for s in (current.stages if current else [])],
        "owner_options": await member_options(ctx),
        "contact_choices": await contact_options(ctx, 500),
        "company_choices": await _company_choices(ctx),
    }


def _fields(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data = pick(form, EDITABLE, blank_as_none=not creating)
    for key in ("owner_id", "contact_id", "company_id"):
        if key in form:
            data[key] = int_or_none(form[key], field=key)
    if "tags" in form:
        data["tags"] = split_tags(form["tags"])
    if data.get("currency") is None:
        data.pop("currency", None)
    return data


@router.get("")
async def board_page(ctx: WebCtx, pipeline_id: int | None = None) -> HTMLResponse:
    board = await deal_service.board(ctx.session, ctx.principal, pipeline_id=pipeline_id)
    form_ctx = await _form_context(ctx, board.pipeline_id)
    open_cols = [c for c in board.columns if not c.is_won and not c.is_lost]
    contacts = {cid: name for cid, name in form_ctx["contact_choices"]}
    companies = {cid: name for cid, name in form_ctx["company_choices"]}
    return await page(
        ctx,
        "deals/page.html",
        active="deals",
        board=board,
        members=await ctx.members(),
        contacts=contacts,
        companies=companies,
        open_count=sum(c.count for c in open_cols),
        open_value=sum(c.total_amount for c in open_cols),
        weighted=sum(c.weighted_amount for c in open_cols),
        form_values={
            "stage_id": board.columns[0].stage_id if board.columns else "",
            "pipeline_id": board.pipeline_id,
            "owner_id": ctx.user_id,
        },
        form_errors={},
        **form_ctx,
    )


async def _column(ctx: Ctx, pipeline_id: int, stage_id: int) -> BoardColumn:
    stats = await DealRepo.from_session(ctx.session, ctx.principal).column_stats(pipeline_id)
    stage = await StageRepo.from_session(ctx.session, ctx.principal).get(stage_id)
    n, total = stats.get(stage_id, (0, 0.0))
    return BoardColumn(
        stage_id=stage.id,
        stage=stage.name,
        position=stage.position,
        probability=stage.probability,
        is_won=stage.is_won,
        is_lost=stage.is_lost,
        count=n,
        total_amount=round(total, 2),
        weighted_amount=round(total * stage.probability, 2),
        deals=[],
    )


@router.post("")
async def create_deal(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)
    pipeline_id = int_or_none(form.get("pipeline_id"), field="pipeline_id")
    form_ctx = await _form_context(ctx, pipeline_id)

    async def failed(exc: AICRMError) -> Response:
        errors = field_errors(exc)
        if "won_lost_reason" in errors:
            errors["won_lost_reason"] = "A deal created as lost needs a reason"
        return await partial(
            ctx,
            "deals/_form.html",
            status=422,
            form_values=form,
            form_errors=errors,
            form_error=exc.message,
            **form_ctx,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _fields(form, creating=True)
    data["pipeline_id"] = pipeline_id
    data["stage_id"] = int_or_none(form.get("stage_id"), field="stage_id")
    if form.get("won_lost_reason"):
        data["won_lost_reason"] = form["won_lost_reason"]
    deal = await deal_service.create(ctx.session, ctx.principal, build(DealCreate, data))
    out = (await deal_service.to_out(ctx.session, ctx.principal, [deal]))[0]
    response = await partial(
        ctx,
        "deals/_created.html",
        deal=out,
        col=await _column(ctx, deal.pipeline_id, deal.stage_id),
        members=await ctx.members(),
        contacts={c: n for c, n in form_ctx["contact_choices"]},
        companies={c: n for c, n in form_ctx["company_choices"]},
        form_values={
            "stage_id": deal.stage_id,
            "pipeline_id": deal.pipeline_id,
            "owner_id": ctx.user_id,
        },
        form_errors={},
        **form_ctx,
    )
    trigger(response, closeDialog=True)
    return toast(response, f"Deal {deal.name} added to {out.stage}")


async def _summary(ctx: Ctx, deal_id: int) -> dict[str, Any]:
    deal = await deal_service.get(ctx.session, ctx.principal, deal_id)
    out = (await deal_service.to_out(ctx.session, ctx.principal, [deal]))[0]
    pipeline = await deal_service.get_pipeline(ctx.session, ctx.principal, out.pipeline_id)
    members = await ctx.members()
    contact = (
        await contact_service.get(ctx.session, ctx.principal, out.contact_id)
        if out.contact_id
        else None
    )
    company = None
    if out.company_id:
        from aicrm.companies import service as company_service

        company = await company_service.get(ctx.session, ctx.principal, out.company_id)
    lead = await lead_service.get(ctx.session, ctx.principal, out.lead_id) if out.lead_id else None
    win = (
        await insights.latest_by_entity(
            ctx.session, ctx.principal, "win_probability", "deal", [out.id]
        )
    ).get(out.id)
    return {
        "win": win if win is not None and win.status != "dismissed" else None,
        "can_score": scoring is not None and out.status == "open",
        "deal": out,
        "stages": pipeline.stages,
        "stage": next((s for s in pipeline.stages if s.id == out.stage_id), None),
        "owner": members.get(out.owner_id) if out.owner_id else None,
        "contact": contact,
        "company": company,
        "lead": lead,
        "members": members,
    }


@router.get("/{deal_id}")
async def deal_page(ctx: WebCtx, deal_id: int) -> HTMLResponse:
    context = await _summary(ctx, deal_id)
    return await page(
        ctx,
        "deals/detail.html",
        active="deals",
        tasks=await related_tasks(ctx, deal_id=deal_id),
        timeline=await timeline.load(ctx, "deal", deal_id),
        insights=await record_insights(ctx, "deal", deal_id),
        stage_errors={},
        **context,
    )


@router.get("/{deal_id}/summary")
async def deal_summary(ctx: WebCtx, deal_id: int) -> HTMLResponse:
    return await partial(ctx, "deals/_summary.html", **await _summary(ctx, deal_id))


@router.get("/{deal_id}/edit")
async def deal_edit(ctx: WebCtx, deal_id: int) -> HTMLResponse:
    context = await _summary(ctx, deal_id)
    deal = context["deal"]
    values: dict[str, Any] = {k: getattr(deal, k) for k in EDITABLE}
    values["company_id"] = deal.company_id
    values["tags"] = ", ".join(deal.tags)
    values["version"] = deal.version
    return await partial(
        ctx,
        "deals/_edit.html",
        form_values=values,
        form_errors={},
        **await _form_context(ctx, deal.pipeline_id),
        **context,
    )


@router.post("/{deal_id}")
async def update_deal(ctx: WebCtx, deal_id: int) -> Response:
    form = await form_data(ctx.request)
    context = await _summary(ctx, deal_id)
    form_ctx = await _form_context(ctx, context["deal"].pipeline_id)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "deals/_edit.html",
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
        raise Invalid("A deal needs a name", field="name")
    if data.get("amount") is None:
        data.pop("amount", None)
    data["version"] = int_or_none(form.get("version"), field="version")
    await deal_service.update(ctx.session, ctx.principal, deal_id, build(DealUpdate, data))
    response = await partial(ctx, "deals/_summary.html", **await _summary(ctx, deal_id))
    return toast(response, "Deal saved")


@router.post("/{deal_id}/stage")
async def change_stage(ctx: WebCtx, deal_id: int) -> Response:
    """The stage dialog on the deal page (a lost stage needs a reason)."""
    form = await form_data(ctx.request)
    context = await _summary(ctx, deal_id)

    async def failed(exc: AICRMError) -> Response:
        errors = field_errors(exc)
        if "won_lost_reason" in errors:
            errors["won_lost_reason"] = "A lost deal needs a reason: what happened?"
        return await partial(
            ctx,
            "deals/_stage_form.html",
            status=422,
            stage_errors=errors,
            stage_error=exc.message,
            stage_values=form,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data: dict[str, Any] = {"stage_id": int_or_none(form.get("stage_id"), field="stage_id")}
    if "won_lost_reason" in form:
        data["won_lost_reason"] = form["won_lost_reason"] or None
    data["version"] = int_or_none(form.get("version"), field="version")
    deal = await deal_service.update(ctx.session, ctx.principal, deal_id, build(DealUpdate, data))
    response = redirect(ctx.request, f"/deals/{deal_id}")
    stage = next((s for s in context["stages"] if s.id == deal.stage_id), None)
    set_flash(response, f"Moved to {stage.name if stage else 'the new stage'}")
    return response


@router.post("/{deal_id}/score")
async def score_deal(ctx: WebCtx, deal_id: int) -> Response:
    """The "Score now" button: the deal's win probability now, answered with its fresh insight
    cards (and the summary out of band)."""
    ctx.require(Permission.write)
    if scoring is None:
        raise NotFound("AI scoring is not installed")
    result = await scoring.deal_win_probability(ctx.session, ctx.principal, deal_id)
    response = await partial(
        ctx,
        "deals/_scored.html",
        insights=await record_insights(ctx, "deal", deal_id),
        **await _summary(ctx, deal_id),
    )
    return toast(response, f"Win probability {result.probability:.0%}")


@router.post("/{deal_id}/delete")
async def delete_deal(ctx: WebCtx, deal_id: int) -> Response:
    ctx.require(Permission.delete)
    deal = await deal_service.get(ctx.session, ctx.principal, deal_id)
    name = deal.name
    await deal_service.delete(ctx.session, ctx.principal, deal_id)
    response = redirect(ctx.request, "/deals")
    set_flash(response, f"Deal {name} was deleted.", "info")
    return response


@router.post("/{deal_id}/activities")
async def add_activity(ctx: WebCtx, deal_id: int) -> Response:
    return await timeline.add(ctx, "deal", deal_id)
