"""AI insights in the web UI: the insights page (open findings and predictions across the
organization) and the card actions (done / dismiss) used wherever cards are shown."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from aicrm.ai import insights, service
from aicrm.kit.principal import Permission
from aicrm.web.core import WebCtx, WebRoute, page, partial, toast

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 30
GROUPS = {
    "findings": "bottleneck,anomaly,workload,deadline_conflict",
    "customers": "churn_risk,lifetime_value,next_best_action,best_time",
    "sales": "lead_score,win_probability,forecast",
}


@router.get("/insights")
async def insights_page(
    ctx: WebCtx, group: str = "findings", show: str = "open", cursor: str | None = None
) -> HTMLResponse:
    kinds = GROUPS.get(group, GROUPS["findings"])
    rows, next_cursor = await service.list_insights(
        ctx.session,
        ctx.principal,
        kind=kinds,
        entity_type=None,
        entity_id=None,
        status="open" if show == "open" else None,
        current=True,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    context: dict[str, Any] = {
        "insights": [insights.to_dict(r) for r in rows],
        "next_cursor": next_cursor,
        "group": group if group in GROUPS else "findings",
        "show": "open" if show == "open" else "all",
    }
    if ctx.htmx and cursor:
        return await partial(ctx, "ai/_insight_cards.html", **context)
    return await page(ctx, "insights/page.html", active="insights", **context)


@router.get("/insights/cards")
async def insight_cards(ctx: WebCtx, entity_type: str, entity_id: int) -> HTMLResponse:
    """The current insights of one record, for pages that load them lazily or refresh them
    when an `ai_insight` message arrives."""
    rows = await insights.current_for(ctx.session, ctx.principal, entity_type, entity_id)
    shown = [insights.to_dict(r) for r in rows if r.status != "dismissed"]
    return await partial(ctx, "ai/_insight_cards.html", insights=shown)


async def _resolve(ctx: WebCtx, insight_id: int, status: str, message: str) -> HTMLResponse:
    ctx.require(Permission.write)
    row = await insights.resolve(ctx.session, ctx.principal, insight_id, status)
    response = await partial(ctx, "ai/_insight_card.html", i=insights.to_dict(row), can_act=True)
    return toast(response, message)  # type: ignore[return-value]


@router.post("/insights/{insight_id}/act")
async def act(ctx: WebCtx, insight_id: int) -> HTMLResponse:
    return await _resolve(ctx, insight_id, "acted", "Marked as done")


@router.post("/insights/{insight_id}/dismiss")
async def dismiss(ctx: WebCtx, insight_id: int) -> HTMLResponse:
    return await _resolve(ctx, insight_id, "dismissed", "Insight dismissed")
