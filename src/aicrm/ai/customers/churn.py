"""Churn risk: a per-organization model once there are enough outcomes, rules before that.

Label: a contact with status "churned" is a churned customer (1), one with status "customer" a
retained one (0). "inactive" contacts are left out of training — they may be dormant or gone,
and guessing would put noise into both classes — but they are scored. Leads and prospects were
never customers: they are neither labelled nor bulk-scored.

Model: logistic regression on standardised features (the `FeatureSpace`, with spline terms for
numbers), regularisation chosen by stratified cross-validation on the training part. It is
validated on a stratified 30% hold-out (ROC-AUC, beside the cold-start rules' AUC on the same
customers), then refitted on every labelled customer for use. Logistic regression was chosen
over gradient boosting because on the Telco churn data it was at least as accurate (see
bench/ai_churn.py) and its log-odds add up exactly per feature, so the reasons shown are the
model's own arithmetic, not an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from aicrm.ai.customers.features import FeatureSpace
from aicrm.ai.customers.signals import FeatureInfo

FloatArray = NDArray[np.float64]

ALGORITHM = "logistic-regression+splines"
RULES_VERSION = "rules-1"
HOLDOUT = 0.3
C_GRID = (0.03, 0.1, 0.3, 1.0)
HIGH, MEDIUM = 0.5, 0.25  # probability thresholds of the labels
MIN_AUC_TO_ACTIVATE = 0.6
TOP_REASONS = 5


def label_for(p: float) -> str:
    return "high" if p >= HIGH else "medium" if p >= MEDIUM else "low"


def _sigmoid(z: FloatArray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def min_per_class(min_outcomes: int) -> int:
    return max(5, min_outcomes // 4)


@dataclass
class Reason:
    feature: str
    text: str
    impact: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "text": self.text, "impact": round(self.impact, 4)}


@dataclass
class ChurnEstimator:
    """What `modelstore` keeps: the fitted feature space, scaler and logistic model."""

    space: FeatureSpace
    scaler: StandardScaler
    model: LogisticRegression
    base_rate: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def _z(self, rows: list[dict[str, Any]]) -> FloatArray:
        return np.asarray(self.scaler.transform(self.space.transform(rows)), dtype=np.float64)

    def predict(self, rows: list[dict[str, Any]]) -> FloatArray:
        if not rows:
            return np.zeros(0)
        return np.asarray(self.model.predict_proba(self._z(rows))[:, 1], dtype=np.float64)

    def explain(
        self, rows: list[dict[str, Any]], infos: dict[str, FeatureInfo], top: int = TOP_REASONS
    ) -> list[tuple[float, list[Reason]]]:
        """(probability, reasons) per row. A reason's impact is how much the probability would
        fall if that feature were at the average customer's value (signed: positive raises the
        risk); the log-odds contributions of a logistic model add up exactly per feature."""
        if not rows:
            return []
        z = self._z(rows)
        coef = self.model.coef_[0]
        logit = z @ coef + self.model.intercept_[0]
        groups = self.space.group_names
        index = {g: i for i, g in enumerate(groups)}
        membership = np.zeros((len(self.space.groups), len(groups)))
        for col, g in enumerate(self.space.groups):
            membership[col, index[g]] = 1.0
        contrib = (z * coef) @ membership  # (rows, groups) log-odds
        out = []
        for r, row in enumerate(rows):
            p = float(_sigmoid(logit[r]))
            impacts = p - _sigmoid(logit[r] - contrib[r])
            order = np.argsort(-np.abs(impacts))[:top]
            reasons = [
                Reason(
                    feature=groups[g],
                    text=self.space.describe(groups[g], row.get(groups[g]), infos.get(groups[g])),
                    impact=float(impacts[g]),
                )
                for g in order
                if abs(impacts[g]) >= 0.005
            ]
            if not reasons:
                reasons = [Reason("model", "Close to the average customer on every signal", 0.0)]
            out.append((p, reasons))
        return out


def _auc(y: NDArray[np.int_], p: FloatArray) -> float | None:
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, p))


def _fit(x: FloatArray, y: NDArray[np.int_], c: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(scaler.transform(x), y)
    return scaler, model


def _choose_c(x: FloatArray, y: NDArray[np.int_], seed: int) -> tuple[float, dict[str, float]]:
    folds = min(3, int(np.bincount(y).min()))
    if folds < 2:
        return 0.1, {}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    for c in C_GRID:
        aucs = []
        for tr, te in cv.split(x, y):
            scaler, model = _fit(x[tr], y[tr], c)
            auc = _auc(y[te], model.predict_proba(scaler.transform(x[te]))[:, 1])
            if auc is not None:
                aucs.append(auc)
        scores[str(c)] = float(np.mean(aucs)) if aucs else 0.0
    best = max(C_GRID, key=lambda c: (scores[str(c)], -c))
    return best, scores


def train(
    rows: list[dict[str, Any]],
    labels: list[int],
    infos: dict[str, FeatureInfo],
    *,
    rule_scores: list[float],
    seed: int = 0,
) -> ChurnEstimator:
    """Fit and validate (30% stratified hold-out); the returned estimator is refitted on all
    rows and carries the hold-out metrics. CPU-bound: run it in a thread."""
    y = np.asarray(labels, dtype=np.int_)
    idx = np.arange(len(rows))
    tr, te = train_test_split(idx, test_size=HOLDOUT, stratify=y, random_state=seed)
    space = FeatureSpace.fit([rows[i] for i in tr], infos)
    if not space.columns:
        raise ValueError("no usable features: every field has the same value for everyone")
    x_tr = space.transform([rows[i] for i in tr])
    x_te = space.transform([rows[i] for i in te])
    c, cv_scores = _choose_c(x_tr, y[tr], seed)
    scaler, model = _fit(x_tr, y[tr], c)
    p_te = model.predict_proba(scaler.transform(x_te))[:, 1]
    rules = np.asarray(rule_scores, dtype=np.float64)
    auc = _auc(y[te], p_te)
    rules_auc = _auc(y[te], rules[te])
    brier = float(np.mean((p_te - y[te]) ** 2))
    metrics: dict[str, Any] = {
        "validation": f"stratified {round(HOLDOUT * 100)}% hold-out",
        "auc": None if auc is None else round(auc, 4),
        "rules_auc": None if rules_auc is None else round(rules_auc, 4),
        "brier": round(brier, 4),
        "n_train": int(len(tr)),
        "n_holdout": int(len(te)),
        "churned": int(y.sum()),
        "retained": int(len(y) - y.sum()),
        "base_rate": round(float(y.mean()), 4),
        "C": c,
        "cv_auc_by_C": {k: round(v, 4) for k, v in cv_scores.items()},
    }
    # the model in use learns from every labelled customer; the metrics above stay honest
    full_space = FeatureSpace.fit(rows, infos)
    x_all = full_space.transform(rows)
    scaler, model = _fit(x_all, y, c)
    est = ChurnEstimator(full_space, scaler, model, base_rate=float(y.mean()), metrics=metrics)
    metrics["features"] = len(full_space.group_names)
    metrics["columns"] = len(full_space.columns)
    metrics["top_features"] = top_features(est)
    return est


def top_features(est: ChurnEstimator, k: int = 10) -> list[dict[str, Any]]:
    """The raw features with the largest weight overall (sum of |coef| of their columns)."""
    weight: dict[str, float] = {}
    for g, w in zip(est.space.groups, np.abs(est.model.coef_[0]), strict=True):
        weight[g] = weight.get(g, 0.0) + float(w)
    ranked = sorted(weight.items(), key=lambda kv: -kv[1])[:k]
    return [{"feature": g, "weight": round(w, 4)} for g, w in ranked]


def should_activate(metrics: dict[str, Any]) -> tuple[bool, str]:
    auc = metrics.get("auc")
    if auc is None:
        return False, "the hold-out has a single class"
    if auc < MIN_AUC_TO_ACTIVATE:
        return False, f"hold-out AUC {auc:.2f} is below {MIN_AUC_TO_ACTIVATE}"
    rules = metrics.get("rules_auc")
    if rules is not None and auc < rules - 0.02:
        return False, f"hold-out AUC {auc:.2f} is below the rules' {rules:.2f}"
    return True, "ok"


def confidence(auc: float | None, p: float) -> float:
    """How far to trust one prediction: the model's hold-out quality, and its certainty."""
    quality = 0.0 if auc is None else max(0.0, min(1.0, (auc - 0.5) * 2))
    certainty = abs(p - 0.5) * 2
    return round(0.3 + 0.5 * quality + 0.2 * certainty, 4)


# -- cold-start rules ------------------------------------------------------------------------


def rules(row: dict[str, Any], status: str | None = None) -> tuple[float, list[Reason], float]:
    """(probability, reasons, confidence) from engagement alone: long silence, no purchase for
    long, falling contact frequency, unanswered calls, no open business. A logistic scorecard,
    so each rule's effect on the probability is shown the same way as the model's."""
    terms: list[tuple[str, float, str]] = []
    since = row.get("activity.days_since_contact")
    tenure = row.get("profile.tenure_days") or 0.0
    if since is None:
        if tenure > 60:
            terms.append(("activity.days_since_contact", 1.0, "Never contacted"))
        else:
            terms.append(("activity.days_since_contact", 0.0, "Not contacted yet (new customer)"))
    elif since > 180:
        terms.append(("activity.days_since_contact", 1.6, f"No contact in {int(since)} days"))
    elif since > 90:
        terms.append(("activity.days_since_contact", 1.1, f"No contact in {int(since)} days"))
    elif since > 45:
        terms.append(("activity.days_since_contact", 0.5, f"No contact in {int(since)} days"))
    elif since >= 14:
        terms.append(("activity.days_since_contact", 0.0, f"Last contact {int(since)} days ago"))
    else:
        terms.append(
            ("activity.days_since_contact", -0.8, f"In touch {int(since)} days ago")
            if since >= 1
            else ("activity.days_since_contact", -0.8, "In touch today")
        )
    trend = row.get("activity.trend")
    if trend is not None and trend < 0.5:
        terms.append(("activity.trend", 0.6, f"Contact frequency down {round((1 - trend) * 100)}%"))
    elif trend is not None and trend > 1.5:
        terms.append(("activity.trend", -0.3, f"Contact frequency up {round((trend - 1) * 100)}%"))
    inbound = row.get("activity.inbound_90d") or 0
    if inbound:
        terms.append(
            ("activity.inbound_90d", -0.6, f"Reached out to us {int(inbound)}× in 90 days")
        )
    answer = row.get("activity.answer_rate")
    if answer is not None and answer < 0.3:
        terms.append(
            (
                "activity.answer_rate",
                0.5,
                f"Answers only {round(answer * 100)}% of our calls"
                if answer
                else "Has not answered our calls",
            )
        )
    purchases = row.get("purchases.count") or 0
    last_purchase = row.get("purchases.days_since_last")
    if purchases and last_purchase is not None:
        if last_purchase > 365:
            terms.append(
                ("purchases.days_since_last", 0.9, f"No purchase in {int(last_purchase)} days")
            )
        elif last_purchase < 90:
            terms.append(
                (
                    "purchases.days_since_last",
                    -0.6,
                    f"Bought {int(last_purchase)} days ago"
                    if last_purchase >= 1
                    else "Bought today",
                )
            )
    if (row.get("pipeline.open_deals") or 0) > 0:
        terms.append(("pipeline.open_deals", -0.4, "Has an open deal"))
    if (row.get("tasks.overdue") or 0) > 0:
        terms.append(("tasks.overdue", 0.2, "A task for them is overdue"))
    if status == "inactive":
        terms.append(("profile.status", 1.0, "Marked inactive"))
    if not terms:
        terms.append(("history", 0.0, "Too little history to tell: the usual risk of a customer"))
    base = -1.5
    logit = base + sum(w for _, w, _ in terms)
    p = float(_sigmoid(logit))
    reasons = [
        Reason(feature=f, text=t, impact=float(p - _sigmoid(logit - w))) for f, w, t in terms
    ]
    reasons.sort(key=lambda r: -abs(r.impact))
    evidence = (row.get("activity.contacts_365d") or 0) + 2 * purchases
    conf = round(0.25 + 0.25 * (1 - math.exp(-evidence / 10)), 4)
    return p, reasons[:TOP_REASONS], conf


def recommendations(
    p: float, reasons: list[Reason], first_name: str, channel_verb: str
) -> list[dict[str, Any]]:
    """What to do about it: by level, then one line per top reason that raises the risk."""
    who = first_name or "them"
    out: list[dict[str, Any]] = []
    level = label_for(p)
    if level == "high":
        out.append(
            {"action": "call", "text": f"{channel_verb} {who} this week: retention check-in"}
        )
    elif level == "medium":
        out.append({"action": "check_in", "text": f"Send {who} a check-in and ask how it's going"})
    else:
        out.append({"action": "none", "text": "No action needed: keep the usual cadence"})
    for r in reasons:
        if r.impact <= 0 or len(out) >= 3:
            continue
        if r.feature.startswith("activity."):
            rec = {"action": "reach_out", "text": f"Re-engage: {r.text[:1].lower()}{r.text[1:]}"}
        elif r.feature.startswith("purchases."):
            rec = {"action": "offer", "text": f"Give a reason to come back ({r.text.lower()})"}
        elif r.feature.startswith("tasks."):
            rec = {"action": "complete_task", "text": "Clear the overdue task first"}
        elif r.feature.startswith(("custom.", "profile.")):
            rec = {
                "action": "review",
                "text": f"Review “{r.text}” — it raises this customer's risk",
                "feature": r.feature,
            }
        else:
            continue
        if all(o["action"] != rec["action"] for o in out):
            out.append(rec)
    return out
