"""Customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend per purchase.

References (equation numbers refer to these papers):

- [FHL05] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
  to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.
- [FHL05b] Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", *Journal of Marketing Research* 42(4), 415-430.
- [FH13] Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (technical note).

Notation follows the papers: for each customer ``x`` (``frequency``) is the number of repeat
purchases in the calibration period, ``t_x`` (``recency``) the time of the last purchase and
``T`` the time since the first purchase, all measured from that first purchase in one time unit
(e.g. weeks); ``zbar`` (``monetary_value``) is the mean value of the ``x`` repeat purchases.

Everything here is pure numpy/scipy on arrays: no database, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

__all__ = [
    "BGNBDParams",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "customer_lifetime_value",
    "expected_average_value",
    "expected_purchases",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "probability_alive",
]


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    """Fitted BG/NBD parameters [FHL05].

    ``r``, ``alpha``: gamma heterogeneity of the purchase rate λ (shape, scale);
    ``a``, ``b``: beta heterogeneity of the dropout probability p.
    ``log_likelihood`` is the maximised total log-likelihood over ``n`` customers.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n: int


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters [FHL05b, FH13].

    Each transaction value is gamma(``p``, ν) and ν across customers is gamma(``q``, ``v``)
    (``v`` is the papers' γ). ``n`` counts the customers with at least one repeat purchase.
    """

    p: float
    q: float
    v: float
    log_likelihood: float
    n: int

    @property
    def population_mean(self) -> float:
        """E[Z] = p·γ/(q−1), the mean spend per transaction across customers (needs q > 1)."""
        if self.q <= 1:
            return float("inf")
        return self.p * self.v / (self.q - 1)


# -- input validation ------------------------------------------------------------------------


def _as_array(name: str, values: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _same_length(**arrays: FloatArray) -> None:
    sizes = {name: arr.size for name, arr in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"inputs differ in length: {sizes}")


def _rft(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, T): x whole and ≥ 0, 0 ≤ t_x ≤ T, T > 0, t_x = 0 when x = 0."""
    x = _as_array("frequency", frequency)
    t_x = _as_array("recency", recency)
    big_t = _as_array("T", T)
    _same_length(frequency=x, recency=t_x, T=big_t)
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must be whole numbers ≥ 0 (repeat purchases)")
    if np.any(t_x < 0):
        raise ValueError("recency must be ≥ 0")
    if np.any(big_t <= 0):
        raise ValueError("T must be > 0")
    if np.any(t_x > big_t):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers with frequency 0")
    return x, t_x, big_t


def _monetary(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = _as_array("frequency", frequency)
    m = _as_array("monetary_value", monetary_value)
    _same_length(frequency=x, monetary_value=m)
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must be whole numbers ≥ 0 (repeat purchases)")
    if np.any(m < 0):
        raise ValueError("monetary_value must be ≥ 0")
    if np.any((x > 0) & (m <= 0)):
        raise ValueError("monetary_value must be > 0 for customers with frequency > 0")
    return x, m


def _check_bgnbd(params: BGNBDParams) -> None:
    if min(params.r, params.alpha, params.a, params.b) <= 0:
        raise ValueError("BG/NBD parameters must all be > 0")


# -- BG/NBD ------------------------------------------------------------------------------------


def _bgnbd_ll_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Per-customer log of [FHL05] eq. 6, L = A1·(A2 + δ(x>0)·A3) in the usual notation.

    ln A1 = lnΓ(r+x) − lnΓ(r) + r·ln α
    ln A2 = ln B(a, b+x) − ln B(a, b) − (r+x)·ln(α+T)
    ln A3 = ln B(a+1, b+x−1) − ln B(a, b) − (r+x)·ln(α+t_x)      (only when x > 0)

    The sum A2 + A3 is taken in log space (log-sum-exp) so that large x or T do not underflow.
    """
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_beta_ab = betaln(a, b)
    ln_a2 = betaln(a, b + x) - ln_beta_ab - (r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # For x = 0 the second term is absent; give betaln a valid argument and mask it out.
    ln_a3 = np.where(
        repeat,
        betaln(a + 1, np.where(repeat, b + x - 1, b)) - ln_beta_ab - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return ln_a1 + np.logaddexp(ln_a2, ln_a3)


def bgnbd_log_likelihood(
    params: BGNBDParams | tuple[float, float, float, float],
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> float:
    """Total BG/NBD log-likelihood ([FHL05] eq. 6 summed over customers)."""
    r, alpha, a, b = (
        (params.r, params.alpha, params.a, params.b) if isinstance(params, BGNBDParams) else params
    )
    x, t_x, big_t = _rft(frequency, recency, T)
    return float(np.sum(_bgnbd_ll_terms(r, alpha, a, b, x, t_x, big_t)))


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBDParams:
    """Fit (r, α, a, b) by maximum likelihood on [FHL05] eq. 6.

    The search runs over log-parameters (so all four stay positive) with L-BFGS-B, then a
    Nelder-Mead polish; customers with identical (x, t_x, T) are collapsed and weighted.
    Raises ``ValueError`` on invalid input, on data without any repeat purchase (the dropout
    process is then unidentified) and if the optimiser fails.
    """
    x, t_x, big_t = _rft(frequency, recency, T)
    if not np.any(x > 0):
        raise ValueError("cannot fit BG/NBD: no customer has a repeat purchase")
    rows, counts = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
    ux, ut_x, ut = rows[:, 0], rows[:, 1], rows[:, 2]
    weights = counts.astype(np.float64)

    def neg_ll(log_params: FloatArray) -> float:
        r, alpha, a, b = np.exp(log_params)
        value = -float(np.dot(weights, _bgnbd_ll_terms(r, alpha, a, b, ux, ut_x, ut)))
        return value if np.isfinite(value) else 1e300

    # Start: r = 1 and α = mean T make the implied purchase rate about one per calibration
    # period; a = b = 1 is a uniform prior on the dropout probability.
    start = np.log(np.array([1.0, float(np.mean(big_t)), 1.0, 1.0]))
    first = minimize(neg_ll, start, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-9})
    polished = minimize(
        neg_ll, first.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}
    )
    best = polished if polished.fun <= first.fun else first
    if not np.isfinite(best.fun) or best.fun >= 1e299:
        raise ValueError(f"BG/NBD fit did not converge: {best.message}")
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=-float(best.fun), n=x.size)


def _alive_odds_term(
    params: BGNBDParams, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x), the denominator term of [FHL05] eqs. 10-11."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    safe = np.where(repeat, b + x - 1, 1.0)
    log_term = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    return np.where(repeat, np.exp(np.minimum(log_term, 700.0)), 0.0)


def probability_alive(
    params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still active at T | x, t_x, T) ([FHL05] eq. 11; Fader-Hardie note on P(alive)).

    1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x)); exactly 1 for x = 0, since under BG/NBD a
    customer can only drop out right after a repeat purchase.
    """
    _check_bgnbd(params)
    x, t_x, big_t = _rft(frequency, recency, T)
    return 1.0 / (1.0 + _alive_odds_term(params, x, t_x, big_t))


def expected_purchases(
    params: BGNBDParams,
    t: float | ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` periods ([FHL05] eq. 10).

    E = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
        / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x))

    ``t`` is a scalar or an array broadcast against the customers. The formula is singular at
    a = 1; there ``a`` is nudged by 1e-9, which changes the result by far less than its
    sampling error.
    """
    _check_bgnbd(params)
    x, t_x, big_t = _rft(frequency, recency, T)
    horizon = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(horizon)) or np.any(horizon < 0):
        raise ValueError("t must be finite and ≥ 0")
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a if abs(params.a - 1.0) > 1e-9 else 1.0 + 1e-9
    z = horizon / (alpha + big_t + horizon)
    ratio = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
    hyper = hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1.0 - ratio * hyper)
    result = numerator / (1.0 + _alive_odds_term(params, x, t_x, big_t))
    # t = 0 is exactly 0; guard against round-off giving tiny negatives.
    return np.maximum(np.asarray(result, dtype=np.float64), 0.0)


# -- Gamma-Gamma -------------------------------------------------------------------------------


def _gg_ll_terms(p: float, q: float, v: float, x: FloatArray, zbar: FloatArray) -> FloatArray:
    """Per-customer log of the marginal density of zbar ([FHL05b] eq. 3; [FH13] eq. 5).

    f(zbar | p, q, γ; x) = Γ(px+q)/(Γ(px)Γ(q)) · γ^q · x^(px) · zbar^(px−1) / (γ + x·zbar)^(px+q)
    """
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + px * np.log(x)
        + (px - 1) * np.log(zbar)
        - (px + q) * np.log(v + x * zbar)
    )


def gamma_gamma_log_likelihood(
    params: GammaGammaParams | tuple[float, float, float],
    frequency: ArrayLike,
    monetary_value: ArrayLike,
) -> float:
    """Total Gamma-Gamma log-likelihood over the customers with frequency > 0."""
    p, q, v = (params.p, params.q, params.v) if isinstance(params, GammaGammaParams) else params
    x, m = _monetary(frequency, monetary_value)
    keep = x > 0
    return float(np.sum(_gg_ll_terms(p, q, v, x[keep], m[keep])))


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParams:
    """Fit (p, q, γ) by maximum likelihood; only customers with frequency > 0 are used.

    ``monetary_value`` is each customer's mean value per repeat purchase (zbar). The model
    assumes spend is independent of purchase frequency; check that before relying on it.
    """
    x, m = _monetary(frequency, monetary_value)
    keep = x > 0
    if np.count_nonzero(keep) < 2:
        raise ValueError("cannot fit Gamma-Gamma: need at least two customers with frequency > 0")
    x, m = x[keep], m[keep]

    def neg_ll(log_params: FloatArray) -> float:
        p, q, v = np.exp(log_params)
        value = -float(np.sum(_gg_ll_terms(p, q, v, x, m)))
        return value if np.isfinite(value) else 1e300

    # Start: p = q = 2 and γ chosen so that the implied mean p·γ/(q−1) is the sample mean.
    start = np.log(np.array([2.0, 2.0, max(float(np.mean(m)) / 2.0, 1e-6)]))
    first = minimize(neg_ll, start, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-9})
    polished = minimize(
        neg_ll, first.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}
    )
    best = polished if polished.fun <= first.fun else first
    if not np.isfinite(best.fun) or best.fun >= 1e299:
        raise ValueError(f"Gamma-Gamma fit did not converge: {best.message}")
    p, q, v = (float(val) for val in np.exp(best.x))
    return GammaGammaParams(p=p, q=q, v=v, log_likelihood=-float(best.fun), n=x.size)


def expected_average_value(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """E[M | p, q, γ, x, zbar] = p·(γ + x·zbar)/(p·x + q − 1) ([FHL05b] eq. 5; [FH13] eq. 6).

    A weighted mean of the population mean p·γ/(q−1) and the customer's own zbar, with weight
    p·x/(p·x + q − 1) on zbar; for x = 0 it is the population mean. Requires q > 1.
    """
    if min(params.p, params.q, params.v) <= 0:
        raise ValueError("Gamma-Gamma parameters must all be > 0")
    if params.q <= 1:
        raise ValueError("expected average value needs q > 1 (the population mean is infinite)")
    x, m = _monetary(frequency, monetary_value)
    return params.p * (params.v + x * m) / (params.p * x + params.q - 1)


# -- CLV ---------------------------------------------------------------------------------------


def customer_lifetime_value(
    bg: BGNBDParams,
    gg: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    periods: int,
    discount_rate_per_period: float,
    period_length: float = 1.0,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next ``periods`` periods.

    CLV ≈ Σ_{k=1..periods} (E[Y(k·L)] − E[Y((k−1)·L)]) · E[M] / (1 + d)^k

    where E[Y(·)] is [FHL05] eq. 10, E[M] the Gamma-Gamma expected spend per purchase,
    L = ``period_length`` (in the time unit of ``T``; e.g. 52/12 to sum months on weekly data)
    and d = ``discount_rate_per_period``. The approximation: all purchases within a period are
    discounted as if made at its end (the discrete version of [FHL05b]'s continuous DERT), and
    spend is taken as independent of the purchase process, as the Gamma-Gamma model assumes.
    """
    if periods < 0 or int(periods) != periods:
        raise ValueError("periods must be a whole number ≥ 0")
    if not np.isfinite(discount_rate_per_period) or discount_rate_per_period <= -1:
        raise ValueError("discount_rate_per_period must be > -1")
    if not np.isfinite(period_length) or period_length <= 0:
        raise ValueError("period_length must be > 0")
    x, t_x, big_t = _rft(frequency, recency, T)
    _, m = _monetary(x, monetary_value)
    spend = expected_average_value(gg, x, m)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, int(periods) + 1):
        cumulative = expected_purchases(bg, k * period_length, x, t_x, big_t)
        total += (cumulative - previous) / (1.0 + discount_rate_per_period) ** k
        previous = cumulative
    return total * spend
