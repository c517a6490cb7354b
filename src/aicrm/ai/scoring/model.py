"""The per-organization model: logistic regression on the encoded features, validated on a time
split against the cold-start rules.

Why logistic regression: its log-odds add up exactly per feature, so a reason's impact is the
model's own arithmetic (coefficient × standardised value, summed per group) rather than an
approximation, and scoring is one matrix product (millions of records per second). Gradient
boosting was measured beside it in bench/ai_scoring.py: on the X Education leads it reached
0.934 ROC-AUC against 0.918 for this model, a gap judged smaller than the worth of exact reasons.

Validation: the closed records are ordered by the moment their outcome was known; the model is
trained on the oldest (1 - VALIDATION_SHARE) and scored on the newest VALIDATION_SHARE, where the
rules (their context fitted on the same older part) are scored too. The regularisation strength
is picked (by log loss) on an inner time split of the training part. The model is activated only
when its validation ROC-AUC beats the rules'; the activated model is then refitted on every
outcome.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aicrm.ai.scoring.features import Encoder, FloatArray, Records

ALGORITHM = "logistic-regression"
VALIDATION_SHARE = 0.25
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
DEFAULT_C = 0.3
MIN_AUC = 0.55
SPLIT_NOTE = (
    "time split: trained on the oldest 75% of closed records (by when the outcome was known), "
    "validated on the newest 25%"
)

# rules(train_records, train_labels, eval_records) -> a score per eval record (any scale)
RulesFn = Callable[[Records, NDArray[np.int64], Records], FloatArray]


class NotEnoughData(ValueError):
    pass


def auc(y: NDArray[Any], p: NDArray[Any]) -> float | None:
    """ROC-AUC (ties count half); None when only one class is present."""
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(p, dtype=float))
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass
class LinearScorer:
    """A fitted encoder + logistic regression, with priority thresholds on its probability."""

    encoder: Encoder
    coef: FloatArray
    intercept: float
    high: float  # probability at or above which a record is "high"
    low: float  # below which it is "low"
    metrics: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    group_m: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups, self.group_m = self.encoder.group_matrix()

    def features(self, records: Records) -> FloatArray:
        return self.encoder.transform(records)

    def predict_z(self, z: FloatArray) -> FloatArray:
        return sigmoid(z @ self.coef + self.intercept)

    def predict(self, records: Records) -> FloatArray:
        return self.predict_z(self.features(records))

    def contributions(self, z: FloatArray) -> FloatArray:
        """Log-odds each group adds for each record, relative to an average record: (n, groups)."""
        return (z * self.coef) @ self.group_m

    def top_groups(self) -> list[dict[str, Any]]:
        """Groups by the size of their coefficients (what the model leans on most)."""
        weight = np.abs(self.coef) @ self.group_m
        order = np.argsort(-weight)
        return [
            {"feature": self.groups[i], "weight": round(float(weight[i]), 4)} for i in order[:10]
        ]


def _fit_lr(z: FloatArray, y: NDArray[np.int64], c: float) -> tuple[FloatArray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(z, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def _fit(
    records: Records,
    y: NDArray[np.int64],
    base_groups: dict[str, str],
    c: float,
    reference: Records | None,
    encoded: tuple[Encoder, FloatArray] | None = None,
) -> LinearScorer:
    enc, z = encoded or _encode(records, base_groups, reference)
    if z.shape[1] == 0:
        coef, intercept = np.zeros(0), float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
    else:
        coef, intercept = _fit_lr(z, y, c)
    scorer = LinearScorer(enc, coef, intercept, high=1.0, low=0.0)
    p = scorer.predict_z(z)
    # priorities by rank among the training records: top quarter high, bottom 40% low
    scorer.high = float(np.quantile(p, 0.75)) if len(p) else 0.5
    scorer.low = float(np.quantile(p, 0.40)) if len(p) else 0.25
    return scorer


def _encode(
    records: Records, base_groups: dict[str, str], reference: Records | None
) -> tuple[Encoder, FloatArray]:
    enc = Encoder.fit(records, base_groups, reference=reference)
    return enc, enc.transform(records)


def time_split(order: FloatArray, share: float = VALIDATION_SHARE) -> tuple[Any, Any]:
    """Indices of the older and the newer part (by `order`, ties by position)."""
    idx = np.lexsort((np.arange(len(order)), order))
    n_val = max(1, int(round(len(order) * share)))
    return idx[: len(order) - n_val], idx[len(order) - n_val :]


def _pick_c(
    records: Records, y: NDArray[np.int64], order: FloatArray, base_groups: dict[str, str]
) -> float:
    """The regularisation with the lowest log loss on an inner time split of the training part
    (a proper score: it keeps probabilities calibrated, where AUC alone ties)."""
    inner_train, inner_val = time_split(order)
    if len(set(y[inner_train].tolist())) < 2 or len(set(y[inner_val].tolist())) < 2:
        return DEFAULT_C
    best, best_loss = DEFAULT_C, math.inf
    inner = records.take(inner_train)
    encoded = _encode(inner, base_groups, None)  # one encoding for every candidate
    z_val = encoded[0].transform(records.take(inner_val))
    for c in C_GRID:
        scorer = _fit(inner, y[inner_train], base_groups, c, None, encoded)
        p = np.clip(scorer.predict_z(z_val), 1e-6, 1 - 1e-6)
        yv = y[inner_val]
        loss = float(-np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p)))
        if loss < best_loss - 1e-6:
            best, best_loss = c, loss
    return best


def train(
    records: Records,
    y: NDArray[np.int64],
    order: FloatArray,
    *,
    base_groups: dict[str, str],
    rules: RulesFn,
    reference: Records | None = None,
    min_per_class: int = 5,
) -> tuple[LinearScorer, dict[str, Any]]:
    """Fit, validate against the rules, refit on everything. Returns (scorer, metrics); the
    caller activates it when `metrics["beats_rules"]`."""
    y = np.asarray(y, dtype=np.int64)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < min_per_class:
        raise NotEnoughData(
            f"training needs at least {min_per_class} of each outcome "
            f"(has {n_pos} positive, {n_neg} negative)"
        )
    train_idx, val_idx = time_split(order)
    y_tr, y_val = y[train_idx], y[val_idx]
    if len(set(y_tr.tolist())) < 2 or len(set(y_val.tolist())) < 2:
        raise NotEnoughData("the older and the newer outcomes must each include both classes")
    tr, val = records.take(train_idx), records.take(val_idx)
    c = _pick_c(tr, y_tr, order[train_idx], base_groups)
    held = _fit(tr, y_tr, base_groups, c, reference)
    p_val = held.predict(val)
    r_val = rules(tr, y_tr, val)
    auc_model, auc_rules = auc(y_val, p_val), auc(y_val, r_val)
    k = max(1, int(math.ceil(0.2 * len(val_idx))))
    top = np.argsort(-p_val)[:k]
    beats = (
        auc_model is not None
        and auc_model >= MIN_AUC
        and (auc_rules is None or auc_model > auc_rules)
    )
    final = _fit(records, y, base_groups, c, reference)
    metrics: dict[str, Any] = {
        "auc": _r(auc_model),
        "auc_rules": _r(auc_rules),
        "beats_rules": bool(beats),
        "brier": _r(float(np.mean((p_val - y_val) ** 2))),
        "positive_rate_validation": _r(float(y_val.mean())),
        "positive_rate_top20": _r(float(y_val[top].mean())),
        "n_train": len(train_idx),
        "n_validation": len(val_idx),
        "n_outcomes": len(y),
        "positives": n_pos,
        "negatives": n_neg,
        "C": c,
        "n_features": len(final.encoder.columns),
        "split": SPLIT_NOTE,
        "top_features": final.top_groups(),
        "excluded_as_leaky": sorted(set(final.encoder.excluded))[:30],
        "thresholds": {"high": _r(final.high), "low": _r(final.low)},
    }
    final.metrics = metrics
    return final, metrics


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
