"""Customer lifetime value from purchase histories (won deals today; invoices and payments
later).

Per organization, each customer's purchases become the BG/NBD summary in weeks: same-day
purchases merged, x = purchase days − 1 (repeat purchases), t_x = weeks from the first to the
last purchase, T = weeks from the first purchase to now, zbar = mean value of the repeat
purchases. With enough buyers (`MIN_BUYERS`, of whom `MIN_REPEATERS` bought again) BG/NBD and
Gamma-Gamma are fitted by maximum likelihood (aicrm.ai.clv); the prediction is the discounted
value of the expected purchases over the horizon (12 months by default) and the probability the
customer is still active. Below that, a fallback with lower confidence: the customer's own
repeat rate shrunk towards the organization's, damped by how overdue the next purchase is,
times their average purchase shrunk towards the organization's.

Everything here is pure (no database): `service` loads the purchases and stores the results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from aicrm.ai import clv
from aicrm.ai.customers.repository import Purchase

HORIZON_MONTHS = 12
WEEKS_PER_MONTH = 52.0 / 12.0
MONTHLY_DISCOUNT = 0.01
MIN_BUYERS = 20
MIN_REPEATERS = 5
MIN_BUYERS_TO_RANK = 5
# fallback when nobody in the organization has bought twice yet: one purchase a year
DEFAULT_REPEAT_RATE = 1.0 / 52.0
RATE_PRIOR_WEEKS = 26.0  # fallback: the organization's rate counts as this many weeks of history
SPEND_PRIOR_PURCHASES = 2.0  # fallback: the organization's average counts as this many purchases
MODEL_ALGORITHM = "bgnbd+gamma-gamma"
FALLBACK_ALGORITHM = "historical-average"


@dataclass(frozen=True)
class History:
    """One customer's purchases as the BG/NBD summary (weeks), plus plain totals."""

    x: int
    t_x: float
    T: float
    zbar: float
    purchases: int
    total: float
    first_at: datetime
    last_at: datetime


def summarize(purchases: Sequence[Purchase], now: datetime) -> History | None:
    """The summary of one customer's purchases up to `now` (None without any)."""
    by_day: dict[Any, float] = {}
    first_at = last_at = None
    for p in purchases:
        if p.at > now:
            continue
        day = p.at.date()
        by_day[day] = by_day.get(day, 0.0) + max(0.0, p.amount)
        first_at = p.at if first_at is None or p.at < first_at else first_at
        last_at = p.at if last_at is None or p.at > last_at else last_at
    if not by_day or first_at is None or last_at is None:
        return None
    days = sorted(by_day)
    first, last = days[0], days[-1]
    big_t = max((now.date() - first).days / 7.0, 1.0 / 7.0)
    x = len(days) - 1
    t_x = min((last - first).days / 7.0, big_t) if x else 0.0
    repeat = [by_day[d] for d in days[1:]]
    zbar = max(float(np.mean(repeat)), 0.01) if repeat else 0.0
    return History(
        x=x,
        t_x=t_x,
        T=big_t,
        zbar=zbar,
        purchases=len(days),
        total=float(sum(by_day.values())),
        first_at=first_at,
        last_at=last_at,
    )


@dataclass
class CLVModel:
    """What `modelstore` keeps for an organization (kind "clv")."""

    algorithm: str
    bg: clv.BGNBDParams | None
    gg: clv.GammaGammaParams | None
    repeat_rate: float  # repeat purchases per customer-week, all buyers
    average_purchase: float
    buyers: int
    repeaters: int
    horizon_months: int = HORIZON_MONTHS
    percentiles: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "buyers": self.buyers,
            "repeat_buyers": self.repeaters,
            "repeat_rate_per_week": round(self.repeat_rate, 6),
            "average_purchase": round(self.average_purchase, 2),
            "horizon_months": self.horizon_months,
            "clv_percentiles": {k: round(v, 2) for k, v in self.percentiles.items()},
        }
        if self.bg is not None:
            out["bgnbd"] = {
                "r": round(self.bg.r, 4),
                "alpha": round(self.bg.alpha, 4),
                "a": round(self.bg.a, 4),
                "b": round(self.bg.b, 4),
                "log_likelihood": round(self.bg.log_likelihood, 2),
            }
        if self.gg is not None:
            out["gamma_gamma"] = {
                "p": round(self.gg.p, 4),
                "q": round(self.gg.q, 4),
                "v": round(self.gg.v, 4),
            }
        return out


@dataclass(frozen=True)
class Prediction:
    value: float  # discounted value of the purchases expected over the horizon
    expected_purchases: float
    probability_alive: float
    average_purchase: float
    method: str
    confidence: float


def fit(histories: Sequence[History]) -> CLVModel | None:
    """Fit the organization's model (None when nobody bought anything). CPU-bound."""
    if not histories:
        return None
    x = np.array([h.x for h in histories], dtype=np.float64)
    t_x = np.array([h.t_x for h in histories], dtype=np.float64)
    big_t = np.array([h.T for h in histories], dtype=np.float64)
    zbar = np.array([h.zbar for h in histories], dtype=np.float64)
    total_purchases = sum(h.purchases for h in histories)
    model = CLVModel(
        algorithm=FALLBACK_ALGORITHM,
        bg=None,
        gg=None,
        repeat_rate=float(x.sum() / max(big_t.sum(), 1e-9)),
        average_purchase=sum(h.total for h in histories) / max(total_purchases, 1),
        buyers=len(histories),
        repeaters=int((x > 0).sum()),
    )
    if model.buyers >= MIN_BUYERS and model.repeaters >= MIN_REPEATERS:
        try:
            model.bg = clv.fit_bgnbd(x, t_x, big_t)
            model.algorithm = MODEL_ALGORITHM
        except ValueError:
            model.bg = None
        if model.bg is not None and model.repeaters >= 2:
            try:
                gg = clv.fit_gamma_gamma(x, zbar)
                model.gg = gg if gg.q > 1 else None  # q ≤ 1: the mean spend is unbounded
            except ValueError:
                model.gg = None
    values = [p.value for p in predict_many(model, histories)]
    model.percentiles = {f"p{q}": float(np.percentile(values, q)) for q in (20, 40, 50, 60, 80, 95)}
    return model


def _discount_factors(months: int) -> np.ndarray:
    return 1.0 / (1.0 + MONTHLY_DISCOUNT) ** np.arange(1, months + 1)


def predict(model: CLVModel, h: History) -> Prediction:
    return predict_many(model, [h])[0]


def predict_many(model: CLVModel, histories: Sequence[History]) -> list[Prediction]:
    """Predictions for many customers at once (vectorised over customers)."""
    if not histories:
        return []
    months = model.horizon_months
    x = np.array([h.x for h in histories], dtype=np.float64)
    t_x = np.array([h.t_x for h in histories], dtype=np.float64)
    big_t = np.array([h.T for h in histories], dtype=np.float64)
    zbar = np.array([h.zbar for h in histories], dtype=np.float64)
    n = np.array([h.purchases for h in histories], dtype=np.float64)
    total = np.array([h.total for h in histories], dtype=np.float64)
    # spend per purchase: Gamma-Gamma when fitted, else own average shrunk to the organization's
    prior = SPEND_PRIOR_PURCHASES
    if model.gg is not None:
        spend = clv.expected_average_value(model.gg, x, zbar)
    else:
        spend = (total + prior * model.average_purchase) / (n + prior)
    discount = _discount_factors(months)
    if model.bg is not None:
        previous = np.zeros_like(x)
        value = np.zeros_like(x)
        for k in range(1, months + 1):
            cumulative = clv.expected_purchases(model.bg, k * WEEKS_PER_MONTH, x, t_x, big_t)
            value += (cumulative - previous) * discount[k - 1]
            previous = cumulative
        expected = previous
        alive = clv.probability_alive(model.bg, x, t_x, big_t)
        value = value * spend
        conf = 0.45 + 0.25 * min(1.0, model.buyers / 500) + 0.2 * np.minimum(1.0, (x + 1) / 5)
        method = MODEL_ALGORITHM
    else:
        prior_rate = model.repeat_rate if model.repeaters else DEFAULT_REPEAT_RATE
        rate = (x + RATE_PRIOR_WEEKS * prior_rate) / (big_t + RATE_PRIOR_WEEKS)
        gap = big_t - t_x  # weeks since the last purchase
        alive = np.exp(-gap * rate / 2.0)
        expected = rate * months * WEEKS_PER_MONTH * alive
        value = expected * spend * float(np.mean(discount))
        conf = 0.2 + 0.15 * min(1.0, model.buyers / MIN_BUYERS) + 0.1 * np.minimum(1.0, (x + 1) / 5)
        if not model.repeaters:
            conf = conf * 0.5  # the repeat rate is an assumption, not a measurement
        method = FALLBACK_ALGORITHM
    return [
        Prediction(
            value=max(0.0, float(value[i])),
            expected_purchases=max(0.0, float(expected[i])),
            probability_alive=max(0.0, min(1.0, float(alive[i]))),
            average_purchase=float(spend[i]),
            method=method,
            confidence=round(min(float(conf[i]), 0.95), 4),
        )
        for i in range(len(histories))
    ]


def label_for(model: CLVModel | None, value: float) -> str:
    if model is None or not model.percentiles or model.buyers < MIN_BUYERS_TO_RANK:
        return "unknown"  # high or low compared with whom?
    if value >= model.percentiles.get("p80", math.inf) and value > 0:
        return "high"
    if value >= model.percentiles.get("p40", 0.0) and value > 0:
        return "medium"
    return "low"


def reasons(
    model: CLVModel, h: History, pred: Prediction, now: datetime, money: Any
) -> list[dict[str, Any]]:
    """Why this value, in words (impacts: signed effect on the value, relative)."""
    since = max(0, (now - h.last_at).days)
    out = [
        {
            "feature": "purchases.count",
            "text": f"{h.purchases} purchase{'s' if h.purchases != 1 else ''} since "
            f"{h.first_at:%b %Y}, the last "
            + ("today" if since == 0 else f"{since} day{'s' if since != 1 else ''} ago"),
            "impact": round(
                max(-1.0, min(1.0, (h.x / max(h.T, 1e-9)) / max(model.repeat_rate, 1e-9) - 1)),
                4,
            )
            if model.repeat_rate > 0
            else 0.0,
        },
        {
            "feature": "purchases.average",
            "text": f"Average purchase {money(pred.average_purchase)} "
            f"(organization average {money(model.average_purchase)})",
            "impact": round(
                max(-1.0, min(1.0, pred.average_purchase / max(model.average_purchase, 1e-9) - 1)),
                4,
            ),
        },
        {
            "feature": "purchases.probability_alive",
            "text": (
                f"Probably still buying (P(active) {round(pred.probability_alive * 100)}%)"
                if pred.probability_alive >= 0.5
                else f"May have lapsed (P(active) {round(pred.probability_alive * 100)}%)"
            ),
            "impact": round(pred.probability_alive - 0.5, 4),
        },
        {
            "feature": "purchases.expected",
            "text": f"Expected {pred.expected_purchases:.1f} purchases in the next "
            f"{model.horizon_months} months",
            "impact": 0.0,
        },
    ]
    if pred.method == FALLBACK_ALGORITHM and not model.repeaters:
        out.append(
            {
                "feature": "model",
                "text": "Nobody has bought twice yet: assumes about one purchase a year",
                "impact": 0.0,
            }
        )
    elif pred.method == FALLBACK_ALGORITHM:
        out.append(
            {
                "feature": "model",
                "text": f"Estimated from averages: {model.buyers} buyers, {model.repeaters} "
                f"repeat buyers (BG/NBD needs {MIN_BUYERS} and {MIN_REPEATERS})",
                "impact": 0.0,
            }
        )
    return out
