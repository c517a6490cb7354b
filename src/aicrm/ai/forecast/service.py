"""Sales forecast by month with commit / best case / pipeline categories, and its backtest.

See `aicrm.ai.forecast.model` for the method. This module loads the organization's deals and
their audit history, runs the model for the requested scope, backtests it on the months before,
and stores the result as a `forecast` insight when asked (POST and the daily job; never on a
plain read, and only when the numbers moved materially or the stored one is a day old).
"""

from __future__ import annotations

import threading
import time as clock
from collections import Counter, OrderedDict
from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai import insights
from aicrm.ai.forecast import model as m
from aicrm.ai.forecast.history import build_tracks
from aicrm.ai.forecast.repository import ForecastRepo
from aicrm.ai.forecast.schemas import (
    Backtest,
    BacktestMonth,
    DealContribution,
    ForecastMonth,
    ForecastOptions,
    ForecastOut,
    StageForecast,
    Totals,
    WonToDate,
)
from aicrm.errors import Invalid
from aicrm.kit.principal import Principal
from aicrm.models import AIInsight, Pipeline, utcnow
from aicrm.orgs import service as org_service

MODEL = "stage_conversion_forecast"
MODEL_VERSION = "1.0"
MATERIAL_CHANGE = 0.05  # store a new insight when the forecast moved by more than this share
STORE_EVERY = timedelta(days=1)
CACHE_SECONDS = 300.0  # a computed forecast is reused while no deal or stage changed
CACHE_SIZE = 64
TOP_DEALS = 10
BEYOND = 12  # months computed past the horizon, so timing shifts have somewhere to go

METHOD = (
    "Per pipeline stage, the share of deals that entered the stage and were won, and when, "
    "learned from the organization's deal history (stages, amounts and expected close dates "
    "rebuilt from the audit log) with the Aalen-Johansen estimator, so deals still open count "
    "as censored; smoothed toward the stage's configured probability when data is thin. Each "
    "open deal is judged against the deals that were still open at its age in its stage, and "
    "its expected value is spread over the months when it would be won (by its expected close "
    "date moved by the organization's historical slip, when it has one). Revenue from deals "
    "not created yet is the recent same-offset average."
)
BACKTEST_METHOD = (
    "For each past month, the model is fitted only on what was known at the month's start "
    "(deals created before it, their stage, amount and expected close date then) and its "
    "forecast for that month is compared with the revenue actually won in it. Baselines: the "
    "previous month's won revenue, and the mean of the three previous months."
)


# -- a small per-process cache: a page view must not refit the model every time ---------------

_CACHE: OrderedDict[tuple[Any, ...], tuple[float, ForecastOut]] = OrderedDict()
_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...]) -> ForecastOut | None:
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is None or clock.monotonic() - hit[0] > CACHE_SECONDS:
            return None
        return hit[1].model_copy(deep=True)


def _remember(key: tuple[Any, ...], out: ForecastOut) -> None:
    with _LOCK:
        _CACHE[key] = (clock.monotonic(), out.model_copy(deep=True))
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)


# -- calendar in the organization's time zone ------------------------------------------------


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _month_start(t: datetime, tz: tzinfo) -> datetime:
    local = t.astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz)


def _shift(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=start.tzinfo)


def _label(start: datetime) -> str:
    return f"{start.year:04d}-{start.month:02d}"


# -- the forecast ------------------------------------------------------------------------------


async def forecast(
    session: AsyncSession,
    principal: Principal,
    options: ForecastOptions,
    *,
    store: bool = False,
    force_store: bool = False,
) -> ForecastOut:
    """The forecast by month for the requested scope, with its backtest; with `store`, also
    kept as a `forecast` insight if it moved materially (or always, with `force_store`)."""
    started = clock.perf_counter()
    repo = ForecastRepo.from_session(session, principal)
    if options.pipeline_id is not None:
        await repo.exists_in_org(Pipeline, options.pipeline_id, field="pipeline_id")
    if options.owner_id is not None:
        await org_service.ensure_member(session, principal, options.owner_id, field="owner_id")
    org = await repo.organization()
    tz = _zone(org.timezone if org else None)
    currency = options.currency or (org.default_currency if org else "USD")
    now = utcnow()
    if options.as_of is not None:
        as_of = datetime.combine(options.as_of, time.min, tz)
        if as_of > now:
            raise Invalid("as_of must be today or a past day", field="as_of")
    else:
        as_of = now

    key = (principal.organization_id, options.model_dump_json(), currency, await repo.stamp())
    out = _cached(key)
    if out is None:
        out = await _compute(session, principal, repo, options, currency, tz, as_of)
        _remember(key, out)
    live = options.as_of is None
    fingerprint = _fingerprint(options, currency)
    if store and live:
        stored = await _store(session, principal, out, options, fingerprint, force=force_store)
        out.insight_id = stored.id if stored else None
    else:
        current = await repo.current_insight(fingerprint)
        out.insight_id = current.id if current else None
    out.elapsed_ms = round((clock.perf_counter() - started) * 1000, 1)
    return out


async def _compute(
    session: AsyncSession,
    principal: Principal,
    repo: ForecastRepo,
    options: ForecastOptions,
    currency: str,
    tz: tzinfo,
    as_of: datetime,
) -> ForecastOut:
    stages = await repo.stages()
    pipelines = await repo.pipeline_names()
    tracks = build_tracks(await repo.deals(), await repo.audit(), stages)
    scope = [
        t
        for t in tracks
        if (options.pipeline_id is None or t.pipeline_id == options.pipeline_id)
        and (options.owner_id is None or t.owner_id == options.owner_id)
    ]
    chosen = [t for t in scope if t.currency == currency]
    excluded = Counter(t.currency for t in scope if t.currency != currency and t.is_open_at(as_of))
    n = options.months
    opts = m.Options(
        commit_threshold=options.commit_threshold,
        best_case_threshold=options.best_case_threshold,
        use_close_dates=options.use_close_dates,
    )

    current = _month_start(as_of, tz)
    back = options.backtest_months + n + m.RUN_RATE_MONTHS + 2
    month_starts = [_shift(current, k) for k in range(-back, n + BEYOND + 1)]
    i0 = back  # index of the month under way

    # every deal teaches the model, whatever the scope: stages belong to one pipeline anyway
    fitted = m.fit(tracks, stages, as_of)
    scores = None
    if options.as_of is None:
        scores = await _scores(session, principal, [t.id for t in chosen if t.is_open_at(as_of)])
    bounds = [as_of, *month_starts[i0 + 1 : i0 + 1 + n + BEYOND]]
    season = _season(tracks, as_of, month_starts, month_starts[i0 : i0 + n + BEYOND])
    deals = m.forecast_deals(
        fitted, chosen, stages, bounds, months=n, options=opts, scores=scores, season=season
    )
    rows = m.month_rows(deals, n)
    new_business = (
        m.run_rate(chosen, as_of, month_starts, n) if options.include_new_business else [0.0] * n
    )
    won_month, won_month_n = m.won_between(chosen, month_starts[i0], as_of)
    q_index = i0 - (current.month - 1) % 3
    won_quarter, won_quarter_n = m.won_between(chosen, month_starts[q_index], as_of)

    months = []
    for i in range(n):
        r = rows[i]
        won = won_month if i == 0 else 0.0
        months.append(
            ForecastMonth(
                month=_label(month_starts[i0 + i]),
                expected=_r(r["expected"]),
                commit=_r(r["commit"]),
                best_case=_r(r["best_case"]),
                pipeline=_r(r["pipeline"]),
                deals=int(r["deals"]),
                new_business=_r(new_business[i]),
                won=_r(won),
                forecast=_r(won + r["expected"] + new_business[i]),
            )
        )
    later = rows[n]
    totals = Totals(
        expected=_r(sum(x.expected for x in months)),
        commit=_r(sum(x.commit for x in months)),
        best_case=_r(sum(x.best_case for x in months)),
        pipeline=_r(sum(x.pipeline for x in months)),
        deals=sum(x.deals for x in months),
        new_business=_r(sum(x.new_business for x in months)),
        won=_r(won_month),
        forecast=_r(sum(x.forecast for x in months)),
        later_expected=_r(later["expected"]),
        later_pipeline=_r(later["pipeline"]),
        open_deals=len(deals),
        open_amount=_r(sum(d.amount for d in deals)),
    )
    quarter_label = f"{current.year}-Q{(current.month - 1) // 3 + 1}"
    won_to_date = WonToDate(
        month=_label(current),
        month_amount=_r(won_month),
        month_deals=won_month_n,
        quarter=quarter_label,
        quarter_amount=_r(won_quarter),
        quarter_deals=won_quarter_n,
    )
    backtest = (
        _backtest(tracks, chosen, stages, month_starts, i0, options, opts)
        if options.backtest_months
        else None
    )
    closed = [t for t in chosen if t.closed_before(as_of)]
    return ForecastOut(
        months=months,
        totals=totals,
        won_to_date=won_to_date,
        backtest=backtest,
        stages=_stage_rows(fitted, deals, stages, pipelines, {t.pipeline_id for t in chosen}, n),
        top_deals=_top_deals(deals, month_starts[i0 : i0 + n], n),
        method=METHOD,
        model=MODEL,
        model_version=MODEL_VERSION,
        generated_at=utcnow(),
        as_of=as_of,
        currency=currency,
        pipeline_id=options.pipeline_id,
        owner_id=options.owner_id,
        excluded_currencies=dict(excluded),
        history={
            "deals": len(chosen),
            "closed": len(closed),
            "won": sum(1 for t in closed if t.status == "won"),
        },
        scores_used=bool(scores),
        elapsed_ms=0.0,
    )


def _season(
    tracks: Sequence[m.Track],
    as_of: datetime,
    month_starts: Sequence[datetime],
    months: Sequence[datetime],
) -> list[float]:
    """The quarter-end weight of each of `months`, learned from the wins before `as_of`."""
    by_position = m.quarter_season(tracks, as_of, month_starts)
    return [float(by_position[(x.month - 1) % 3]) for x in months]


def _r(value: float) -> float:
    return round(float(value), 2)


async def _scores(
    session: AsyncSession, principal: Principal, deal_ids: list[int]
) -> dict[int, float] | None:
    """Win probabilities from the deal scoring model, when that module is installed."""
    if not deal_ids:
        return None
    try:
        from aicrm.ai.scoring.service import win_probabilities  # type: ignore[import-not-found]
    except ImportError:
        return None
    found = await win_probabilities(session, principal, deal_ids)
    return {int(k): float(v) for k, v in (found or {}).items() if v is not None}


def _backtest(
    tracks: Sequence[m.Track],
    chosen: Sequence[m.Track],
    stages: dict[int, m.StageInfo],
    month_starts: Sequence[datetime],
    i0: int,
    options: ForecastOptions,
    opts: m.Options,
) -> Backtest:
    first_created = min((t.created_at for t in chosen), default=None)
    out: list[BacktestMonth] = []
    for idx in range(i0 - options.backtest_months, i0):
        lo, hi = month_starts[idx], month_starts[idx + 1]
        if first_created is None or first_created >= hi:
            continue  # nothing existed yet: no forecast to judge
        fitted = m.fit(tracks, stages, lo)
        ahead = month_starts[idx : idx + 1 + BEYOND]
        season = _season(tracks, lo, month_starts, ahead)
        deals = m.forecast_deals(
            fitted,
            chosen,
            stages,
            [lo, *month_starts[idx + 1 : idx + 2 + BEYOND]],
            months=1,
            options=opts,
            season=season,
        )
        expected = float(sum(d.amount * d.probability * d.shares[0] for d in deals))
        new = m.run_rate(chosen, lo, month_starts, 1)[0] if options.include_new_business else 0.0
        actual = m.won_between(chosen, lo, hi)[0]
        previous = [
            m.won_between(chosen, month_starts[j], month_starts[j + 1])[0]
            for j in range(max(idx - 3, 0), idx)
        ]
        out.append(
            BacktestMonth(
                month=_label(lo),
                forecast=_r(expected + new),
                expected=_r(expected),
                new_business=_r(new),
                actual=_r(actual),
                baseline=_r(previous[-1] if previous else 0.0),
                baseline_3m=_r(float(np.mean(previous)) if previous else 0.0),
                open_deals=len(deals),
            )
        )
    actual = [x.actual for x in out]
    main = m.errors([x.forecast for x in out], actual)
    base = m.errors([x.baseline for x in out], actual)
    return Backtest(
        months=out,
        wape=main["wape"],
        mape=main["mape"],
        bias=main["bias"],
        pipeline_only_wape=m.errors([x.expected for x in out], actual)["wape"],
        baseline_wape=base["wape"],
        baseline_mape=base["mape"],
        baseline_bias=base["bias"],
        baseline_3m_wape=m.errors([x.baseline_3m for x in out], actual)["wape"],
        method=BACKTEST_METHOD,
    )


def _stage_rows(
    fitted: m.Fitted,
    deals: Sequence[m.DealForecast],
    stages: dict[int, m.StageInfo],
    pipelines: dict[int, str],
    in_scope: set[int],
    n: int,
) -> list[StageForecast]:
    """Learned conversion per stage of the pipelines that have deals in scope."""
    open_by_stage: dict[int, list[m.DealForecast]] = {}
    for d in deals:
        open_by_stage.setdefault(d.stage.id, []).append(d)
    rows = []
    for sid, curve in fitted.curves.items():
        info = stages[sid]
        if info.pipeline_id not in in_scope:
            continue
        group = open_by_stage.get(sid, [])
        rows.append(
            StageForecast(
                stage_id=sid,
                pipeline_id=info.pipeline_id,
                pipeline=pipelines.get(info.pipeline_id, ""),
                name=info.name,
                configured_probability=info.probability,
                conversion=round(curve.conversion, 4),
                closed=curve.n_closed,
                won=curve.n_won,
                median_days_to_win=curve.median_days_to_win,
                open_deals=len(group),
                open_amount=_r(sum(d.amount for d in group)),
                expected=_r(sum(d.amount * d.probability * d.shares[:n].sum() for d in group)),
            )
        )
    rows.sort(key=lambda r: (pipelines.get(r.pipeline_id, ""), stages[r.stage_id].position))
    return rows


def _top_deals(
    deals: Sequence[m.DealForecast], months: Sequence[datetime], n: int
) -> list[DealContribution]:
    ranked = sorted(deals, key=lambda d: -d.amount * d.probability * d.shares[:n].sum())
    out = []
    for d in ranked[:TOP_DEALS]:
        idx = d.month_index
        out.append(
            DealContribution(
                deal_id=d.track.id,
                name=d.track.name,
                stage=d.stage.name,
                amount=_r(d.amount),
                probability=round(d.probability, 4),
                expected=_r(d.amount * d.probability * d.shares[:n].sum()),
                category=d.category,
                month=_label(months[idx]) if idx < n else "later",
                source=d.source,
            )
        )
    return out


async def pipeline_names(session: AsyncSession, principal: Principal) -> dict[int, str]:
    """The organization's pipelines by id (the forecast page's filter)."""
    return await ForecastRepo.from_session(session, principal).pipeline_names()


# -- storing the forecast as an insight --------------------------------------------------------


def _fingerprint(options: ForecastOptions, currency: str) -> str:
    return (
        f"forecast:pipeline={options.pipeline_id or 'all'}:owner={options.owner_id or 'all'}"
        f":{currency}"
    )


def _material(current: AIInsight, out: ForecastOut) -> bool:
    if utcnow() - current.created_at >= STORE_EVERY:
        return True
    before = float(current.value or 0.0)
    first = (current.data or {}).get("months", [{}])
    if not first or first[0].get("month") != out.months[0].month:
        return True
    return abs(out.totals.forecast - before) > MATERIAL_CHANGE * max(abs(before), 1.0)


async def _store(
    session: AsyncSession,
    principal: Principal,
    out: ForecastOut,
    options: ForecastOptions,
    fingerprint: str,
    *,
    force: bool,
) -> AIInsight | None:
    repo = ForecastRepo.from_session(session, principal)
    current = await repo.current_insight(fingerprint)
    if current is not None and not force and not _material(current, out):
        return current
    bt = out.backtest
    confidence = None
    if bt is not None and bt.wape is not None:
        confidence = min(max(1.0 - bt.wape, 0.0), 1.0)
    total = out.totals.forecast
    reasons = [
        {
            "feature": f"stage:{s.stage_id}",
            "text": f"{s.name}: {s.open_deals} open deals, {s.expected:,.0f} {out.currency} "
            f"expected (converts {s.conversion:.0%})",
            "impact": round(s.expected / total, 4) if total else 0.0,
        }
        for s in sorted(out.stages, key=lambda s: -s.expected)[:3]
        if s.open_deals
    ]
    if out.totals.new_business > 0:
        reasons.append(
            {
                "feature": "new_business",
                "text": f"{out.totals.new_business:,.0f} {out.currency} from deals not created "
                "yet (recent run rate)",
                "impact": round(out.totals.new_business / total, 4) if total else 0.0,
            }
        )
    first = out.months[0]
    return await insights.record(
        session,
        principal,
        kind="forecast",
        model=MODEL,
        model_version=MODEL_VERSION,
        value=total,
        label=f"{len(out.months)} months",
        confidence=confidence,
        title=(
            f"Forecast {total:,.0f} {out.currency} over {len(out.months)} months; "
            f"{first.month}: {first.forecast:,.0f}"
        ),
        reasons=reasons,
        data={
            "months": [x.model_dump(mode="json") for x in out.months],
            "totals": out.totals.model_dump(mode="json"),
            "won_to_date": out.won_to_date.model_dump(mode="json"),
            "backtest": bt.model_dump(mode="json", exclude={"method"}) if bt else None,
            "currency": out.currency,
            "pipeline_id": out.pipeline_id,
            "owner_id": out.owner_id,
            "as_of": out.as_of.isoformat(),
        },
        inputs={
            "options": options.model_dump(mode="json"),
            "history": out.history,
            "scores_used": out.scores_used,
        },
        fingerprint=fingerprint,
    )
