"""Raw customer features → a numeric matrix, fitted per organization.

`FeatureSpace.fit` looks at one organization's customers and decides for each raw feature how
to encode it: numbers as is (median-imputed, with a missing flag when some are missing, and a
natural-cubic-like spline basis when there are enough distinct values, so a logistic model can
bend), booleans and Yes/No-like text as 1/0, other text one-hot over its frequent values (so
identifiers and free text fall away), lists one column per frequent item. Constant columns are
dropped. Every output column remembers the raw feature ("group") it came from, which is what
explanations add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.preprocessing import SplineTransformer

from aicrm.ai.customers.signals import FeatureInfo, fmt_number

FloatArray = NDArray[np.float64]

TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0"})
MIN_LEVEL_COUNT = 5  # a category value needs this many customers to get a column
MIN_LEVEL_SHARE = 0.005
MAX_LEVELS = 30
SPLINE_MIN_UNIQUE = 10
SPLINE_MIN_ROWS = 100
SPLINE_KNOTS = 5


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == "" or v == []


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        try:
            f = float(v.strip().replace(",", ""))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _truth(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in TRUE_WORDS:
            return True
        if s in FALSE_WORDS:
            return False
    return None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


@dataclass
class Encoder:
    """How one raw feature becomes columns."""

    group: str
    kind: str  # numeric | binary | categorical | multi
    fill: float = 0.0
    missing_flag: bool = False
    levels: list[str] = field(default_factory=list)
    other: bool = False
    none_level: bool = False
    log: bool = False
    spline: SplineTransformer | None = None
    quantiles: list[float] = field(default_factory=list)

    def width(self) -> int:
        if self.kind in ("numeric", "binary"):
            return 1 + int(self.missing_flag) + (self.n_spline if self.spline is not None else 0)
        return len(self.levels) + int(self.other) + int(self.none_level)

    @property
    def n_spline(self) -> int:
        assert self.spline is not None
        return int(self.spline.n_features_out_)

    def names(self) -> list[str]:
        if self.kind in ("numeric", "binary"):
            out = [self.group]
            if self.missing_flag:
                out.append(f"{self.group}=missing")
            if self.spline is not None:
                out += [f"{self.group}~s{i}" for i in range(self.n_spline)]
            return out
        out = [f"{self.group}={lv}" for lv in self.levels]
        if self.other:
            out.append(f"{self.group}=(other)")
        if self.none_level:
            out.append(f"{self.group}=(none)")
        return out

    def scalar(self, v: Any) -> float | None:
        if _is_missing(v):
            return None
        if self.kind == "binary":
            t = _truth(v)
            return None if t is None else float(t)
        x = _number(v)
        if x is None:
            return None
        return math.copysign(math.log1p(abs(x)), x) if self.log else x

    def encode(self, values: list[Any]) -> FloatArray:
        n = len(values)
        out = np.zeros((n, self.width()), dtype=np.float64)
        if self.kind in ("numeric", "binary"):
            col = np.array(
                [s if (s := self.scalar(v)) is not None else np.nan for v in values],
                dtype=np.float64,
            )
            missing = np.isnan(col)
            col[missing] = self.fill
            out[:, 0] = col
            k = 1
            if self.missing_flag:
                out[:, 1] = missing
                k = 2
            if self.spline is not None:
                out[:, k:] = self.spline.transform(col.reshape(-1, 1))
            return out
        index = {lv: i for i, lv in enumerate(self.levels)}
        other_col = len(self.levels) if self.other else None
        none_col = len(self.levels) + int(self.other) if self.none_level else None
        for r, v in enumerate(values):
            if _is_missing(v):
                if none_col is not None:
                    out[r, none_col] = 1.0
                continue
            items = v if self.kind == "multi" and isinstance(v, list | tuple) else [v]
            for item in items:
                i = index.get(_text(item))
                if i is not None:
                    out[r, i] = 1.0
                elif other_col is not None:
                    out[r, other_col] = 1.0
        return out

    def percentile(self, v: Any) -> float | None:
        """Where a value sits among the training customers (0..1), numbers only."""
        x = self.scalar(v)
        if x is None or not self.quantiles or self.kind != "numeric":
            return None
        return float(np.searchsorted(np.array(self.quantiles), x, side="right")) / len(
            self.quantiles
        )


def _infer_kind(values: list[Any], hint: str | None) -> str:
    present = [v for v in values if not _is_missing(v)]
    if hint in ("numeric", "binary", "categorical", "multi"):
        return hint
    if any(isinstance(v, list | tuple) for v in present):
        return "multi"
    if present and all(_truth(v) is not None for v in present):
        return "binary"
    if present:
        parsed = sum(_number(v) is not None for v in present)
        if parsed >= 0.95 * len(present):
            return "numeric"
    return "categorical"


def _fit_encoder(group: str, values: list[Any], hint: str | None) -> Encoder | None:
    n = len(values)
    kind = _infer_kind(values, hint)
    enc = Encoder(group=group, kind=kind)
    if kind in ("numeric", "binary"):
        xs = [enc.scalar(v) for v in values]
        present = np.array([x for x in xs if x is not None], dtype=np.float64)
        if present.size == 0:
            return None
        if kind == "numeric" and present.min() >= 0:
            p50, p99 = np.percentile(present, [50, 99])
            if p99 > 20 * (p50 + 1):
                enc.log = True  # heavy tail (amounts, counts): compare orders of magnitude
                xs = [enc.scalar(v) for v in values]
                present = np.array([x for x in xs if x is not None], dtype=np.float64)
        enc.fill = float(np.median(present)) if kind == "numeric" else float(present.mean())
        n_missing = n - present.size
        enc.missing_flag = MIN_LEVEL_COUNT <= n_missing <= n - MIN_LEVEL_COUNT
        if np.unique(present).size < 2 and not enc.missing_flag:
            return None
        if kind == "numeric":
            enc.quantiles = [float(q) for q in np.percentile(present, np.linspace(1, 100, 100))]
            if np.unique(present).size >= SPLINE_MIN_UNIQUE and n >= SPLINE_MIN_ROWS:
                spline = SplineTransformer(
                    n_knots=SPLINE_KNOTS,
                    degree=3,
                    knots="quantile",
                    extrapolation="constant",
                    include_bias=False,
                )
                filled = np.where(
                    np.array([x is None for x in xs]),
                    enc.fill,
                    np.array([x if x is not None else 0.0 for x in xs], dtype=np.float64),
                )
                try:
                    spline.fit(filled.reshape(-1, 1))
                    enc.spline = spline
                except ValueError:
                    enc.spline = None  # too few distinct quantiles for the knots
        return enc
    counts: dict[str, int] = {}
    n_none = 0
    for v in values:
        if _is_missing(v):
            n_none += 1
            continue
        for item in v if kind == "multi" and isinstance(v, list | tuple) else [v]:
            t = _text(item)
            counts[t] = counts.get(t, 0) + 1
    floor = max(MIN_LEVEL_COUNT, math.ceil(MIN_LEVEL_SHARE * n))
    kept = sorted((c, lv) for lv, c in counts.items() if c >= floor)
    kept = kept[::-1][:MAX_LEVELS]
    enc.levels = sorted(lv for _, lv in kept)
    rest = sum(counts.values()) - sum(c for c, _ in kept)
    enc.other = rest >= MIN_LEVEL_COUNT
    enc.none_level = MIN_LEVEL_COUNT <= n_none <= n - MIN_LEVEL_COUNT
    if enc.width() < 2 and not (kind == "multi" and enc.width() == 1):
        return None  # one value for (nearly) everyone says nothing
    return enc


@dataclass
class FeatureSpace:
    encoders: list[Encoder] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    keep: NDArray[np.bool_] | None = None

    @classmethod
    def fit(cls, rows: list[dict[str, Any]], infos: dict[str, FeatureInfo]) -> FeatureSpace:
        keys = sorted({k for row in rows for k in row})
        space = cls()
        for key in keys:
            info = infos.get(key)
            enc = _fit_encoder(key, [row.get(key) for row in rows], info.kind if info else None)
            if enc is not None:
                space.encoders.append(enc)
        matrix = space._raw(rows)
        space.keep = matrix.std(axis=0) > 1e-12 if len(rows) > 1 else np.ones(matrix.shape[1], bool)
        names = [name for enc in space.encoders for name in enc.names()]
        groups = [enc.group for enc in space.encoders for _ in range(enc.width())]
        space.columns = [c for c, k in zip(names, space.keep, strict=True) if k]
        space.groups = [g for g, k in zip(groups, space.keep, strict=True) if k]
        return space

    def _raw(self, rows: list[dict[str, Any]]) -> FloatArray:
        if not self.encoders:
            return np.zeros((len(rows), 0), dtype=np.float64)
        return np.hstack(
            [enc.encode([row.get(enc.group) for row in rows]) for enc in self.encoders]
        )

    def transform(self, rows: list[dict[str, Any]]) -> FloatArray:
        matrix = self._raw(rows)
        return matrix if self.keep is None else matrix[:, self.keep]

    @property
    def group_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for g in self.groups:
            seen.setdefault(g, None)
        return list(seen)

    def encoder(self, group: str) -> Encoder | None:
        return next((e for e in self.encoders if e.group == group), None)

    def describe(self, group: str, value: Any, info: FeatureInfo | None) -> str:
        """One customer's value of a raw feature, as a person reads it."""
        label = info.label if info else group.split(".", 1)[-1].replace("_", " ").capitalize()
        if info is not None and info.describe is not None:
            return info.text(value)
        enc = self.encoder(group)
        if _is_missing(value):
            return f"{label}: not set"
        if enc is not None and enc.kind == "numeric":
            pct = enc.percentile(value)
            text = f"{label}: {fmt_number(_number(value) if _number(value) is not None else value)}"
            if pct is not None and pct >= 0.75:
                return f"{text} (higher than {round(min(pct, 0.99) * 100)}% of customers)"
            if pct is not None and pct <= 0.25:
                return f"{text} (lower than {round(min(1 - pct, 0.99) * 100)}% of customers)"
            return text
        if enc is not None and enc.kind == "binary":
            t = _truth(value)
            return f"{label}: {'Yes' if t else 'No'}" if t is not None else f"{label}: {value}"
        if isinstance(value, list | tuple):
            return f"{label}: {', '.join(_text(v) for v in value)}"
        return f"{label}: {_text(value)}"
