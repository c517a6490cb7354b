"""The sales forecast: learned stage-to-won conversion and time-to-close, spread over months.

Everything here is pure Python/numpy on plain records (no database), so the same code serves
the live forecast, a forecast "as of" a past date and the backtest.

**Deal tracks.** Each deal is a `Track`: its creation and close, and the history of its stage,
amount and expected close date (rebuilt from the audit log by the service). `Track.at(t)` tells
where the deal stood at any instant, which is how the backtest rebuilds the pipeline of a past
month without looking at anything that happened later.

**Conversion and timing per stage** (`fit`). For every open stage S the model follows the deals
that ever entered S (clock = days since their first entry into S) until they were won, lost or
the as-of instant (still open: censored). From these it estimates, with the Aalen-Johansen
estimator for competing risks (won vs lost, censoring by still-open deals),

- `F(t)`: the share of deals that entered S and were won within t days, and
- `S(t)`: the share still open after t days.

A deal that has sat in S for `a` days is then won within the next window with probability
`(F(t) - F(a-)) / S(a-)`: old deals are judged against the deals that were still open at their
age, so a deal older than almost every win gets a low probability instead of the stage average.
Beyond the longest follow-up in the data the still-open share closes at the stage's
conversion rate with an exponential delay.

Thin data is smoothed twice: the stage's conversion `p_S = (won + k * configured) / (closed + k)`
pulls toward the stage's configured probability (`PRIOR_DEALS` pseudo-deals), and the whole
curve is blended with that prior, `w = n / (n + PRIOR_AT_RISK)`, where n is the number of
deals in the history that were still open at the deal's age. The prior (and the part beyond
the follow-up) fades for stale deals: past the age by which 90% of the stage's wins happened,
exponentially with the extra days, so a deal forgotten in a stage does not keep the average
stage probability forever.

**Quarter-end push.** Wins of deals already in the pipeline bunch up toward the end of quarters
in many businesses. `quarter_season` learns, from the last complete quarters, how those wins
split between the 1st, 2nd and 3rd month of a quarter (shrunk toward an even split) and shifts
each deal's timing accordingly, month by month, without changing its total.

**Expected close dates.** When a deal has one, its timing follows the organization's slip
instead: the won deals' close date minus the expected date they carried a day before closing.

**New business.** Deals not yet created also close within the horizon. For month offset k the
model takes the average revenue won in month M+k from deals created on or after M, over the last
`RUN_RATE_MONTHS` month starts M whose month M+k is complete.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

DAY = timedelta(days=1)
DAY_SECONDS = 86400.0
PRIOR_DEALS = 5.0  # the configured stage probability weighs like this many closed deals
PRIOR_AT_RISK = 10.0  # the prior curve weighs like this many comparable deals
MIN_TIMING_SAMPLES = 5
DEFAULT_CYCLE_DAYS = 45.0  # mean days to a win when the organization has no won deal yet
MIN_CYCLE_DAYS, MAX_CYCLE_DAYS = 7.0, 365.0
OVERDUE_MEAN_DAYS = 30.0
STALE_FACTOR = 3.0  # without wins to learn from, a deal is stale after 3 mean cycles
RUN_RATE_MONTHS = 3
SEASON_QUARTERS = 4
SEASON_PRIOR_QUARTERS = 1.0
CATEGORIES = ("commit", "best_case", "pipeline", "omit")


# -- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageInfo:
    id: int
    pipeline_id: int
    name: str
    position: int
    probability: float
    is_won: bool
    is_lost: bool

    @property
    def is_open(self) -> bool:
        return not (self.is_won or self.is_lost)


@dataclass(slots=True)
class Track:
    """One deal and how it changed over time (each history sorted by time)."""

    id: int
    name: str
    pipeline_id: int
    owner_id: int | None
    currency: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    amount: float
    stage_id: int
    expected_close_date: date | None
    category: str | None = None  # a manual forecast category, see CATEGORIES
    stages: list[tuple[datetime, int]] = field(default_factory=list)
    amounts: list[tuple[datetime, float]] = field(default_factory=list)
    close_dates: list[tuple[datetime, date | None]] = field(default_factory=list)

    def is_open_at(self, t: datetime) -> bool:
        return self.created_at < t and (self.closed_at is None or self.closed_at >= t)

    def closed_before(self, t: datetime) -> bool:
        return self.closed_at is not None and self.closed_at < t and self.status != "open"

    def stage_at(self, t: datetime) -> int | None:
        return _value_at(self.stages, t, None)

    def amount_at(self, t: datetime) -> float:
        return float(_value_at(self.amounts, t, self.amount))

    def close_date_at(self, t: datetime) -> date | None:
        return _value_at(self.close_dates, t, None) if self.close_dates else None

    def first_entry(self, stage_id: int, before: datetime) -> datetime | None:
        for when, sid in self.stages:
            if when >= before:
                return None
            if sid == stage_id:
                return when
        return None


def _value_at(series: Sequence[tuple[datetime, Any]], t: datetime, default: Any) -> Any:
    """The value set last at or before `t` (the first value for earlier instants)."""
    if not series:
        return default
    i = bisect_right([when for when, _ in series], t)
    return series[max(i - 1, 0)][1]


# -- fitting ---------------------------------------------------------------------------------


@dataclass(slots=True)
class StageCurve:
    """Aalen-Johansen curves of one stage (durations in whole days since entering it)."""

    stage: StageInfo
    conversion: float  # smoothed P(won | entered the stage)
    n_closed: int
    n_won: int
    times: NDArray[np.int64]  # distinct event durations
    cif_won: NDArray[np.float64]  # F(t) at those durations
    survival: NDArray[np.float64]  # S(t) at those durations
    durations: NDArray[np.int64]  # every record's duration (closed or censored), sorted
    follow_up: int  # the longest duration observed
    cycle_days: float  # mean of the exponential delay used by the prior and the tail
    stale_after: float  # days in the stage by which 90% of its wins had happened
    median_days_to_win: float | None

    def staleness(self, age: Any) -> Any:
        """1 until `stale_after`, then decaying with the extra days (mean `cycle_days`)."""
        extra = np.maximum(np.asarray(age, dtype=np.float64) - self.stale_after, 0.0)
        return np.exp(-extra / self.cycle_days)

    def _step(self, values: NDArray[np.float64], t: NDArray[np.int64], start: float) -> Any:
        idx = np.searchsorted(self.times, t, side="right") - 1
        out = np.where(idx >= 0, values[np.clip(idx, 0, None)] if len(values) else start, start)
        return out.astype(np.float64)

    def won_by(self, age: NDArray[np.int64], horizon: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(won with duration <= horizon | still open at `age` days), per deal and horizon.

        `age` has shape (n,), `horizon` (n, h) in days (may be inf); the answer is (n, h)."""
        age = np.asarray(age, dtype=np.int64)
        n_risk = len(self.durations) - np.searchsorted(self.durations, age, side="left")
        weight = (n_risk / (n_risk + PRIOR_AT_RISK))[:, None]
        stale = self.staleness(age)[:, None]
        prior = self.conversion * stale * _exp_cdf(horizon - (age[:, None] - 1), self.cycle_days)
        if len(self.durations) == 0:
            return np.asarray(prior)
        s_left = self._step(self.survival, age - 1, 1.0)[:, None]
        f_left = self._step(self.cif_won, age - 1, 0.0)[:, None]
        tau = self.follow_up
        finite = np.where(np.isfinite(horizon), horizon, tau)
        inside = np.maximum(np.minimum(finite, tau), age[:, None] - 1).astype(np.int64)
        f_in = self._step(self.cif_won, inside.ravel(), 0.0).reshape(inside.shape)
        s_tau = float(self._step(self.survival, np.array([tau]), 1.0)[0])
        beyond = np.maximum(horizon - np.maximum(tau, age[:, None] - 1), 0.0)
        # deals still open after the longest follow-up: the stage's conversion, fading with
        # how far past the usual time to win they already are
        tail_stale = self.staleness(np.maximum(tau, age - 1))[:, None]
        tail = s_tau * self.conversion * tail_stale * _exp_cdf(beyond, self.cycle_days)
        with np.errstate(divide="ignore", invalid="ignore"):
            data = np.where(s_left > 0, (f_in - f_left + tail) / s_left, prior)
        data = np.clip(data, 0.0, 1.0)
        return np.asarray(weight * data + (1 - weight) * prior)


def _exp_cdf(x: Any, mean: float) -> Any:
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(x), 1.0, 1.0 - np.exp(-x / mean))


def aalen_johansen(
    durations: NDArray[np.int64], events: NDArray[np.int8]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Event times, cumulative incidence of event 1 (won) and overall survival.

    `events`: 0 still open (censored), 1 won, 2 lost. Ties: events before censoring."""
    if len(durations) == 0:
        empty = np.array([], dtype=np.float64)
        return np.array([], dtype=np.int64), empty, empty
    order = np.argsort(durations, kind="stable")
    d, e = durations[order], events[order]
    times = np.unique(d[e > 0])
    if len(times) == 0:
        empty = np.array([], dtype=np.float64)
        return times, empty, empty
    at_risk = len(d) - np.searchsorted(d, times, side="left")
    won = np.bincount(np.searchsorted(times, d[e == 1]), minlength=len(times))
    lost = np.bincount(np.searchsorted(times, d[e == 2]), minlength=len(times))
    hazard = (won + lost) / at_risk
    survival = np.cumprod(1.0 - hazard)
    before = np.concatenate(([1.0], survival[:-1]))
    cif = np.cumsum(before * won / at_risk)
    return times.astype(np.int64), cif, survival


@dataclass(slots=True)
class Fitted:
    as_of: datetime
    curves: dict[int, StageCurve]
    org_cycle_days: float
    slips: NDArray[np.float64]  # days won deals closed after the date they were expected


def fit(tracks: Iterable[Track], stages: dict[int, StageInfo], as_of: datetime) -> Fitted:
    """Learn each open stage's conversion and timing from what was known at `as_of`."""
    records: dict[int, list[tuple[int, int]]] = {s: [] for s, i in stages.items() if i.is_open}
    closed: dict[int, list[int]] = {s: [0, 0] for s in records}
    won_days: dict[int, list[float]] = {s: [] for s in records}
    org_won_days: list[float] = []
    slips: list[float] = []
    for tr in tracks:
        if tr.created_at >= as_of:
            continue
        done = tr.closed_before(as_of)
        assert not done or tr.closed_at is not None
        end = tr.closed_at if done and tr.closed_at is not None else as_of
        event = (1 if tr.status == "won" else 2) if done else 0
        if event == 1:
            org_won_days.append((end - tr.created_at) / DAY)
            expected = tr.close_date_at(end - DAY)
            if expected is not None:
                slips.append(float((end.date() - expected).days))
        seen: set[int] = set()
        for when, sid in tr.stages:
            if when >= as_of or sid in seen or sid not in records:
                continue
            seen.add(sid)
            days = max(int((end - when) // DAY), 0)
            records[sid].append((days, event))
            if event:
                closed[sid][0] += 1
                closed[sid][1] += event == 1
            if event == 1:
                won_days[sid].append(float(days))
    org_cycle = _cycle(org_won_days, DEFAULT_CYCLE_DAYS)
    org_stale = _p90(org_won_days, STALE_FACTOR * org_cycle)
    curves: dict[int, StageCurve] = {}
    for sid, recs in records.items():
        info = stages[sid]
        n_closed, n_won = closed[sid]
        conversion = (n_won + PRIOR_DEALS * info.probability) / (n_closed + PRIOR_DEALS)
        arr = np.array(recs, dtype=np.int64).reshape(-1, 2)
        durations, events = arr[:, 0], arr[:, 1].astype(np.int8)
        times, cif, survival = aalen_johansen(durations, events)
        wins = won_days[sid]
        curves[sid] = StageCurve(
            stage=info,
            conversion=float(conversion),
            n_closed=n_closed,
            n_won=n_won,
            times=times,
            cif_won=cif,
            survival=survival,
            durations=np.sort(durations),
            follow_up=int(durations.max()) if len(durations) else 0,
            cycle_days=_cycle(wins, org_cycle) if len(wins) >= MIN_TIMING_SAMPLES else org_cycle,
            stale_after=_p90(wins, org_stale),
            median_days_to_win=float(np.median(wins)) if wins else None,
        )
    return Fitted(as_of, curves, org_cycle, np.array(slips, dtype=np.float64))


def _p90(days: Sequence[float], default: float) -> float:
    if len(days) < MIN_TIMING_SAMPLES:
        return default
    return float(np.percentile(days, 90))


def _cycle(days: Sequence[float], default: float) -> float:
    if len(days) < MIN_TIMING_SAMPLES:
        return default
    return float(min(max(float(np.mean(days)), MIN_CYCLE_DAYS), MAX_CYCLE_DAYS))


# -- forecasting -----------------------------------------------------------------------------


@dataclass(slots=True)
class DealForecast:
    track: Track
    stage: StageInfo
    amount: float
    probability: float  # P(won eventually | open now)
    shares: NDArray[np.float64]  # share of the win landing in each month; last item: later
    category: str  # commit, best_case or pipeline
    source: str  # "stage" (learned curve), "close_date" (expected close date), "score"

    @property
    def month_index(self) -> int:
        """The month holding the median of the win's timing (len(months) = later)."""
        return int(np.searchsorted(np.cumsum(self.shares), 0.5 - 1e-9))


@dataclass(slots=True)
class Options:
    commit_threshold: float = 0.7
    best_case_threshold: float = 0.3
    use_close_dates: bool = True


def forecast_deals(
    fitted: Fitted,
    tracks: Iterable[Track],
    stages: dict[int, StageInfo],
    bounds: Sequence[datetime],
    *,
    months: int,
    options: Options,
    scores: dict[int, float] | None = None,
    season: Sequence[float] | None = None,
) -> list[DealForecast]:
    """Every deal open at `fitted.as_of`: its win probability and how its win spreads over the
    first `months` months delimited by `bounds` (as_of, end of month 1, end of month 2, ...;
    give about a year more than `months`) and later.

    `season` (one weight per month of `bounds`) shifts the wins timed by the stage curves
    between months (see `quarter_season`); the months past `months` absorb the shift, which
    is why `bounds` reaches further than the horizon."""
    as_of = fitted.as_of
    by_stage: dict[int, list[tuple[Track, int, datetime]]] = {}
    for tr in tracks:
        if not tr.is_open_at(as_of):
            continue
        sid = tr.stage_at(as_of)
        if sid is None or sid not in fitted.curves:
            continue  # its stage was deleted, or the history is inconsistent
        entry = tr.first_entry(sid, as_of) or tr.created_at
        by_stage.setdefault(sid, []).append((tr, int((as_of - entry) // DAY), entry))
    out: list[DealForecast] = []
    ends = list(bounds[1:])
    end_stamps = np.array([b.timestamp() for b in ends])
    weights = None if season is None else np.append(np.asarray(season, dtype=np.float64), 1.0)
    for sid, group in by_stage.items():
        curve = fitted.curves[sid]
        ages = np.array([age for _, age, _ in group], dtype=np.int64)
        # a win with duration d falls before boundary b iff entry + d days < b
        entries = np.array([entry.timestamp() for _, _, entry in group])
        horizon = np.ceil((end_stamps[None, :] - entries[:, None]) / DAY_SECONDS) - 1
        horizon = np.concatenate((horizon, np.full((len(group), 1), math.inf)), axis=1)
        cum = curve.won_by(ages, horizon)
        for (tr, _age, _), row in zip(group, cum, strict=True):
            eventual = float(row[-1])
            steps = np.maximum(np.diff(np.concatenate(([0.0], row))), 0.0)
            source = "stage"
            if eventual > 1e-9 and steps.sum() > 0:
                if weights is not None:
                    steps = steps * weights[: len(steps)]
                shares = steps / steps.sum()
            else:
                shares = _exp_shares(as_of, ends, curve.cycle_days)
            expected_date = tr.close_date_at(as_of) if options.use_close_dates else None
            if expected_date is not None:
                shares = _close_date_shares(expected_date, as_of, ends, fitted.slips)
                source = "close_date"
            probability = eventual
            if scores is not None and tr.id in scores:
                probability = min(max(float(scores[tr.id]), 0.0), 1.0)
                source = "score" if source == "stage" else "score+close_date"
            category = _category(tr.category, probability, options)
            if category == "omit":
                continue
            out.append(
                DealForecast(
                    track=tr,
                    stage=curve.stage,
                    amount=tr.amount_at(as_of),
                    probability=probability,
                    shares=np.append(shares[:months], shares[months:].sum()),
                    category=category,
                    source=source,
                )
            )
    return out


def _category(manual: str | None, probability: float, options: Options) -> str:
    if manual in CATEGORIES:
        return manual
    if probability >= options.commit_threshold:
        return "commit"
    if probability >= options.best_case_threshold:
        return "best_case"
    return "pipeline"


def _exp_shares(start: datetime, ends: Sequence[datetime], mean: float) -> NDArray[np.float64]:
    days = np.array([(b - start) / DAY for b in ends] + [math.inf])
    cdf = _exp_cdf(days, mean)
    return np.asarray(np.diff(np.concatenate(([0.0], cdf))))


def _close_date_shares(
    expected: date, as_of: datetime, ends: Sequence[datetime], slips: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Timing of a deal with an expected close date: that date moved by the organization's
    historical slips, keeping only the outcomes still possible (not before today)."""
    tz = ends[0].tzinfo if ends else as_of.tzinfo
    samples = np.round(slips) if len(slips) >= MIN_TIMING_SAMPLES else np.zeros(1)
    days = expected.toordinal() + samples
    days = days[days >= as_of.astimezone(tz).date().toordinal()]
    if len(days) == 0:
        # overdue beyond every slip seen: it closes soon or not at all
        return _exp_shares(as_of, ends, OVERDUE_MEAN_DAYS)
    # ends are local midnights: a day falls before one iff its ordinal is smaller
    limits = np.array([b.astimezone(tz).date().toordinal() for b in ends])
    counts = np.bincount(np.searchsorted(limits, days, side="right"), minlength=len(ends) + 1)
    return np.asarray(counts / counts.sum(), dtype=np.float64)


# -- aggregation ----------------------------------------------------------------------------


def quarter_season(
    tracks: Iterable[Track], as_of: datetime, month_starts: Sequence[datetime]
) -> NDArray[np.float64]:
    """How wins of the pipeline already open at a month's start spread over the months of a
    quarter (the quarter-end push): per position in the quarter (1st, 2nd, 3rd month), the ratio
    of those wins to the quarter's monthly mean, averaged over the last `SEASON_QUARTERS`
    complete quarters before `as_of` (counted from the first won deal's month) and shrunk
    toward 1 (`SEASON_PRIOR_QUARTERS` pseudo-quarters of no effect)."""
    starts = list(month_starts)
    wins = [(t.created_at, t.closed_at) for t in tracks if t.status == "won" and t.closed_at]
    wins = [(c, w) for c, w in wins if w < as_of]
    if not wins:
        return np.ones(3)
    first = starts[max(bisect_right(starts, min(w for _, w in wins)) - 1, 0)]
    current = bisect_right(starts, as_of) - 1
    ratios = []
    for end in range(current, 2, -1):  # `end`: index of the month after a quarter
        begin = end - 3
        if starts[begin].month % 3 != 1 or starts[begin] < first:
            continue
        counts = np.array(
            [
                sum(1 for c, w in wins if c < starts[i] and starts[i] <= w < starts[i + 1])
                for i in range(begin, end)
            ],
            dtype=np.float64,
        )
        if counts.sum() > 0:
            ratios.append(counts / counts.mean())
        if len(ratios) == SEASON_QUARTERS:
            break
    if not ratios:
        return np.ones(3)
    n = len(ratios)
    return np.asarray(1.0 + (np.mean(ratios, axis=0) - 1.0) * n / (n + SEASON_PRIOR_QUARTERS))


def month_rows(deals: Sequence[DealForecast], n_months: int) -> list[dict[str, float]]:
    """Per month: expected (weighted), commit, best_case, pipeline (unweighted) and deals."""
    rows = [
        {"expected": 0.0, "commit": 0.0, "best_case": 0.0, "pipeline": 0.0, "deals": 0}
        for _ in range(n_months + 1)
    ]
    for d in deals:
        value = d.amount * d.shares
        for i in range(n_months + 1):
            row = rows[i]
            row["pipeline"] += value[i]
            row["expected"] += value[i] * d.probability
            if d.category in ("commit", "best_case"):
                row["best_case"] += value[i]
            if d.category == "commit":
                row["commit"] += value[i]
        rows[min(d.month_index, n_months)]["deals"] += 1
    return rows


def run_rate(
    tracks: Sequence[Track], as_of: datetime, month_starts: Sequence[datetime], n_months: int
) -> list[float]:
    """Revenue expected from deals created after `as_of` and won in each month of the horizon.

    `month_starts` lists month starts in order (enough history before as_of, then the horizon's
    months and the month after). For month offset k, the average over the last
    RUN_RATE_MONTHS complete references M of revenue won in month M+k by deals created >= M."""
    first_created = min((t.created_at for t in tracks), default=None)
    current = bisect_right(list(month_starts), as_of) - 1
    if current < 0 or first_created is None:
        return [0.0] * n_months
    won = [
        (t.created_at, t.closed_at, t.amount)
        for t in tracks
        if t.status == "won" and t.closed_at is not None
    ]
    out = []
    for k in range(n_months):
        values = []
        for back in range(k + 1, k + 1 + RUN_RATE_MONTHS):
            ref = current - back
            if ref < 0 or ref + k + 1 >= len(month_starts):
                continue
            start = month_starts[ref]
            if start < _month_floor(first_created, month_starts):
                continue
            lo, hi = month_starts[ref + k], month_starts[ref + k + 1]
            values.append(sum(a for c, w, a in won if c >= start and lo <= w < hi))
        out.append(float(np.mean(values)) if values else 0.0)
    # the month under way: only the part still to come
    if n_months and current + 1 < len(month_starts):
        lo, hi = month_starts[current], month_starts[current + 1]
        out[0] *= max((hi - as_of) / (hi - lo), 0.0)
    return out


def _month_floor(t: datetime, month_starts: Sequence[datetime]) -> datetime:
    i = bisect_right(list(month_starts), t) - 1
    return month_starts[max(i, 0)]


def won_between(tracks: Iterable[Track], lo: datetime, hi: datetime) -> tuple[float, int]:
    total, n = 0.0, 0
    for t in tracks:
        if t.status == "won" and t.closed_at is not None and lo <= t.closed_at < hi:
            total += t.amount
            n += 1
    return total, n


def errors(forecast: Sequence[float], actual: Sequence[float]) -> dict[str, float | None]:
    """WAPE (sum |F-A| / sum A), MAPE (mean |F-A|/A over months with A > 0) and bias
    (sum (F-A) / sum A; positive = over-forecast)."""
    f, a = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    total = float(a.sum())
    positive = a > 0
    return {
        "wape": round(float(np.abs(f - a).sum()) / total, 4) if total > 0 else None,
        "mape": round(float(np.mean(np.abs(f - a)[positive] / a[positive])), 4)
        if positive.any()
        else None,
        "bias": round(float((f - a).sum()) / total, 4) if total > 0 else None,
    }
