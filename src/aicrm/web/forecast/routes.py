"""The forecast page: the next months by category with the expected line, the backtest
(forecast vs actual per past month), and the tables behind both charts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from aicrm.ai.forecast import service
from aicrm.ai.forecast.schemas import ForecastOptions, ForecastOut
from aicrm.errors import Invalid
from aicrm.web.core import WebCtx, WebRoute, page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MONTH_CHOICES = (3, 6, 9, 12)


def _chart_data(out: ForecastOut) -> dict[str, Any]:
    """What forecast.js draws; the same numbers are in the page's tables."""
    return {
        "currency": out.currency,
        "months": [m.month for m in out.months],
        "commit": [m.commit for m in out.months],
        "best_case": [round(m.best_case - m.commit, 2) for m in out.months],
        "pipeline": [round(m.pipeline - m.best_case, 2) for m in out.months],
        "expected": [m.expected for m in out.months],
        "forecast": [m.forecast for m in out.months],
        "backtest": {
            "months": [b.month for b in out.backtest.months],
            "forecast": [b.forecast for b in out.backtest.months],
            "actual": [b.actual for b in out.backtest.months],
            "baseline": [b.baseline for b in out.backtest.months],
        }
        if out.backtest
        else None,
    }


def _optional_int(value: str | None, field: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{field} must be a number", field=field) from None


@router.get("/forecast")
async def forecast_page(
    ctx: WebCtx,
    pipeline_id: str | None = None,
    owner_id: str | None = None,
    months: int = 6,
) -> HTMLResponse:
    try:
        options = ForecastOptions(
            months=months if months in MONTH_CHOICES else 6,
            pipeline_id=_optional_int(pipeline_id, "pipeline_id"),
            owner_id=_optional_int(owner_id, "owner_id"),
        )
    except ValidationError as exc:
        raise Invalid("Those forecast options are not valid") from exc
    out = await service.forecast(ctx.session, ctx.principal, options)
    pipelines = await service.pipeline_names(ctx.session, ctx.principal)
    return await page(
        ctx,
        "forecast/page.html",
        active="forecast",
        forecast=out,
        chart=_chart_data(out),
        pipelines=sorted(pipelines.items(), key=lambda p: p[1].lower()),
        members=await ctx.members(),
        options=options,
        month_choices=MONTH_CHOICES,
    )
