from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from aicrm.kit.schemas import InputSchema, Schema

CATEGORY_DEFINITIONS = {
    "expected": "Sum over open deals of amount x P(won) x the share of the win expected in "
    "the month: the probability-weighted forecast.",
    "commit": "Unweighted amount (timed the same way) of open deals with P(won) >= "
    "commit_threshold, or marked commit in the deal custom field forecast_category.",
    "best_case": "commit plus the open deals with P(won) >= best_case_threshold (or marked "
    "best_case).",
    "pipeline": "Every open deal's amount, unweighted (deals marked omit are left out).",
    "new_business": "Revenue expected from deals not created yet: the recent average won in "
    "the same month offset by deals created after the month start.",
    "won": "Revenue already won in the month (the month under way only).",
    "forecast": "won + expected + new_business: where the month is expected to land.",
    "deals": "Open deals whose most likely win month (median of its timing) is this month.",
}


class ForecastOptions(InputSchema):
    months: int = Field(default=6, ge=1, le=24, description="Months ahead, this one included")
    pipeline_id: int | None = Field(default=None, description="Only this pipeline's deals")
    owner_id: int | None = Field(default=None, description="Only this member's deals")
    currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description="Forecast deals in this currency (the organization's if omitted); "
        "amounts are never converted",
    )
    as_of: date | None = Field(
        default=None,
        description="Forecast as it would have been made at the start of this day (history "
        "rebuilt from the audit log); today if omitted",
    )
    backtest_months: int = Field(default=6, ge=0, le=24, description="Past months to backtest")
    commit_threshold: float = Field(default=0.7, gt=0, le=1)
    best_case_threshold: float = Field(default=0.3, gt=0, le=1)
    include_new_business: bool = Field(
        default=True, description="Add revenue expected from deals not created yet"
    )
    use_close_dates: bool = Field(
        default=True, description="Time deals with an expected close date by that date"
    )

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("best_case_threshold")
    @classmethod
    def _below_commit(cls, value: float, info: ValidationInfo) -> float:
        commit = info.data.get("commit_threshold")
        if commit is not None and value > commit:
            raise ValueError("must not be above commit_threshold")
        return value


class ForecastMonth(Schema):
    month: str = Field(description="YYYY-MM in the organization's time zone")
    expected: float
    commit: float
    best_case: float
    pipeline: float
    deals: int
    new_business: float
    won: float
    forecast: float


class Totals(Schema):
    expected: float
    commit: float
    best_case: float
    pipeline: float
    deals: int
    new_business: float
    won: float
    forecast: float
    later_expected: float = Field(description="Weighted value expected after the horizon")
    later_pipeline: float
    open_deals: int
    open_amount: float


class WonToDate(Schema):
    month: str
    month_amount: float
    month_deals: int
    quarter: str
    quarter_amount: float
    quarter_deals: int


class BacktestMonth(Schema):
    month: str
    forecast: float = Field(description="expected + new_business, made at the month's start")
    expected: float = Field(description="From the deals open at the month's start only")
    new_business: float
    actual: float
    baseline: float = Field(description="Naive: the previous month's won revenue")
    baseline_3m: float = Field(description="The mean of the three previous months")
    open_deals: int


class Backtest(Schema):
    months: list[BacktestMonth]
    wape: float | None = Field(description="sum |forecast - actual| / sum actual")
    mape: float | None = Field(description="mean |forecast - actual| / actual")
    bias: float | None = Field(description="sum (forecast - actual) / sum actual")
    pipeline_only_wape: float | None
    baseline_wape: float | None
    baseline_mape: float | None
    baseline_bias: float | None
    baseline_3m_wape: float | None
    method: str


class StageForecast(Schema):
    stage_id: int
    pipeline_id: int
    pipeline: str
    name: str
    configured_probability: float
    conversion: float = Field(description="Learned P(won | entered the stage), smoothed")
    closed: int = Field(description="Closed deals that went through the stage")
    won: int
    median_days_to_win: float | None
    open_deals: int
    open_amount: float
    expected: float


class DealContribution(Schema):
    deal_id: int
    name: str
    stage: str
    amount: float
    probability: float
    expected: float = Field(description="Weighted value expected within the horizon")
    category: str
    month: str = Field(description="Most likely win month, or 'later'")
    source: str = Field(description="stage, close_date, score or score+close_date")


class ForecastOut(Schema):
    months: list[ForecastMonth]
    totals: Totals
    won_to_date: WonToDate
    backtest: Backtest | None
    stages: list[StageForecast]
    top_deals: list[DealContribution]
    categories: dict[str, str] = Field(default_factory=lambda: dict(CATEGORY_DEFINITIONS))
    method: str
    model: str
    model_version: str
    generated_at: datetime
    as_of: datetime
    currency: str
    pipeline_id: int | None
    owner_id: int | None
    excluded_currencies: dict[str, int] = Field(
        description="Open deals left out because they are priced in another currency"
    )
    history: dict[str, int]
    scores_used: bool
    insight_id: int | None = None
    elapsed_ms: float


class ForecastQuery(ForecastOptions):
    """The same options as query parameters (unknown parameters are ignored on a GET)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
