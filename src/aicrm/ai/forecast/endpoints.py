"""Sales forecast: `/api/v1/ai/forecasting`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aicrm.ai.forecast import service
from aicrm.ai.forecast.schemas import ForecastOptions, ForecastOut, ForecastQuery
from aicrm.auth.deps import Reader, Session
from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1/ai/forecasting", tags=["ai"], route_class=TxRoute)

CATEGORIES_DOC = """
Each month of `months` (the month under way first, in the organization's time zone):

- `expected`: sum over open deals of amount × P(won) × the share of the win expected in that
  month (P(won) from the learned stage conversion at the deal's age in its stage, or from the
  deal scoring model when it is installed);
- `commit`: the unweighted amount, timed the same way, of open deals with P(won) ≥
  `commit_threshold` (0.7) or marked `commit` in the deal custom field `forecast_category`;
- `best_case`: `commit` plus the deals with P(won) ≥ `best_case_threshold` (0.3) or marked
  `best_case`;
- `pipeline`: every open deal, unweighted (deals marked `omit` are left out), so
  commit ≤ best_case ≤ pipeline and expected ≤ pipeline;
- `new_business`: revenue expected from deals not created yet (the recent average won in
  the same month offset by deals created after the month's start);
- `won`: already won this month; `forecast` = won + expected + new_business;
- `deals`: open deals whose most likely win month is this one.

`totals` sums the months (plus `later_*`: value expected after the horizon), `won_to_date`
gives the month and quarter so far, `backtest` the model's error on past months (it is fitted
on what was known at each month's start) beside the naive previous-month baseline, and
`stages` the learned conversion per stage beside its configured probability.
"""


GET_DOC = """Revenue forecast by month with commit / best case / pipeline categories and a backtest
(reading it stores nothing; `insight_id` is the last stored forecast).
"""
POST_DOC = """The same forecast with its options in the body; it is also stored as a `forecast`
insight when it moved materially (more than 5%) since the stored one, or that one is a day old.
"""


@router.get("", response_model=ForecastOut, description=GET_DOC + CATEGORIES_DOC)
async def get_forecast(
    principal: Reader, session: Session, options: Annotated[ForecastQuery, Query()]
) -> ForecastOut:
    """Revenue forecast by month (stores nothing)."""
    return await service.forecast(session, principal, options)


@router.post("", response_model=ForecastOut, description=POST_DOC + CATEGORIES_DOC)
async def post_forecast(
    principal: Reader, session: Session, options: ForecastOptions | None = None
) -> ForecastOut:
    """Revenue forecast by month, stored as an insight when it moved."""
    return await service.forecast(session, principal, options or ForecastOptions(), store=True)
