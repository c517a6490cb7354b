"""Columnar records in, a standardised feature matrix out — numpy only, so 100,000 records cost
a fraction of a second and one record well under a millisecond.

A domain (leads, deals) turns its rows into `Records`: numeric base features already transformed
(logs, day counts; NaN = unknown), categorical columns as normalised strings ("" = unknown), the
records' custom-field dicts and tags. `Encoder.fit` learns, from the training records only:

- numbers: the median (imputes NaN), the 1st/99th percentiles (clip outliers), a "missing"
  indicator when a feature is sometimes unknown;
- categories, custom fields and tags: custom fields whose values are numbers become numeric
  features, the others categorical; categorical values frequent enough become one-hot columns;
- a leak guard: a custom field, category or tag common among closed records but rare among the
  open ones (typically filled in when the outcome was known, like a loss reason) is left out;
- the mean and standard deviation of every column (constant columns are dropped).

Every output column belongs to a *group* (e.g. "source" for all its one-hot columns), the unit in
which reasons are told.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

TOP_K = 12  # one-hot columns per categorical field at most
MIN_SHARE = 0.01  # a value needs this share of the training records (and MIN_COUNT) …
MIN_COUNT = 5
LEAK_RATIO = 5.0  # … and is dropped when this many times rarer among open records
LEAK_MIN_SHARE = 0.05
LEAK_MIN_OPEN = 20
MAX_CUSTOM_KEYS = 40
NO_TAGS: list[str] = []  # shared by every untagged record; never mutated


@dataclass
class Records:
    """n records as columns (see the module docstring). `info` holds per-record values used
    to word reasons and recommendations, never as features."""

    ids: NDArray[np.int64]
    num: dict[str, FloatArray]
    cat: dict[str, NDArray[np.object_]]
    custom: list[dict[str, Any]]
    tags: list[list[str]]
    info: dict[str, NDArray[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: NDArray[np.int64] | Sequence[int]) -> Records:
        idx = np.asarray(idx, dtype=np.int64)
        return Records(
            ids=self.ids[idx],
            num={k: v[idx] for k, v in self.num.items()},
            cat={k: v[idx] for k, v in self.cat.items()},
            custom=[self.custom[i] for i in idx],
            tags=[self.tags[i] for i in idx],
            info={k: v[idx] for k, v in self.info.items()},
        )


def norm(value: Any) -> str:
    """A categorical value as compared: trimmed, lower-cased ("" when unknown)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    return "" if text in ("select", "none", "null", "n/a", "nan") else text[:80]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Column:
    name: str  # "log_value", "log_budget:missing", "source=referral", "custom.industry=saas"
    group: str  # "value", "budget", "source", "custom.industry"


@dataclass
class _Categorical:
    key: str  # "cat:source", "custom:industry", "tags"
    group: str
    vocab: list[str]
    offset: int = 0

    def values(self, records: Records) -> list[Any]:
        kind, _, name = self.key.partition(":")
        if kind == "cat":
            return list(records.cat[name])
        if kind == "custom":
            return [c.get(name) if c else None for c in records.custom]
        return list(records.tags)


_NAN = math.nan


def _custom_numbers(records: Records, key: str) -> FloatArray:
    out = []
    for c in records.custom:
        v = c.get(key) if c else None
        t = type(v)
        out.append(v if t is float or t is int else float(v) if t is bool else _NAN)
    return np.array(out, dtype=float)


def _multi(values: Iterable[Any]) -> list[list[str]]:
    """Every record's normalised categorical values (lists for multi-valued fields)."""
    memo: dict[tuple[type, Any], str] = {}
    out = []
    for v in values:
        if isinstance(v, list | tuple | set):
            out.append([n for n in (norm(x) for x in v) if n])
            continue
        key = (type(v), v)
        n = memo.get(key)
        if n is None:
            n = memo[key] = norm(v)
        out.append([n] if n else [])
    return out


def _codes(values: Iterable[Any], index: dict[str, int]) -> tuple[list[int], list[int]]:
    """(row, column) of every value found in `index`, normalising each distinct value once."""
    memo: dict[tuple[type, Any], int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for r, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, list | tuple | set):
            for x in v:
                j = index.get(norm(x), -1)
                if j >= 0:
                    rows.append(r)
                    cols.append(j)
            continue
        key = (type(v), v)
        j = memo.get(key)
        if j is None:
            j = memo[key] = index.get(norm(v), -1)
        if j >= 0:
            rows.append(r)
            cols.append(j)
    return rows, cols


def _frequent(rows: list[list[str]], n: int) -> list[tuple[str, int]]:
    counts = Counter(v for row in rows for v in set(row))
    floor = max(MIN_COUNT, math.ceil(MIN_SHARE * n))
    return [(v, c) for v, c in counts.most_common(TOP_K) if c >= floor]


def _leaky(share_closed: float, share_open: float | None) -> bool:
    if share_open is None:
        return False
    return share_closed >= LEAK_MIN_SHARE and share_open * LEAK_RATIO < share_closed


@dataclass
class Encoder:
    """Fitted transformation; see the module docstring."""

    base_groups: dict[str, str]
    num_names: list[str] = field(default_factory=list)
    num_groups: list[str] = field(default_factory=list)
    median: FloatArray = field(default_factory=lambda: np.zeros(0))
    lo: FloatArray = field(default_factory=lambda: np.zeros(0))
    hi: FloatArray = field(default_factory=lambda: np.zeros(0))
    missing: list[int] = field(default_factory=list)  # indices into num_names
    cats: list[_Categorical] = field(default_factory=list)
    keep: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.zeros(0))
    columns: list[Column] = field(default_factory=list)
    custom_numeric: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # left out by the leak guard

    # -- fitting -------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        records: Records,
        base_groups: dict[str, str],
        *,
        reference: Records | None = None,
    ) -> Encoder:
        """Learn the encoding from training `records`; `reference` (open records) feeds the
        leak guard."""
        enc = cls(base_groups=dict(base_groups))
        n = max(len(records), 1)
        ref_n = len(reference) if reference is not None else 0
        use_ref = reference is not None and ref_n >= LEAK_MIN_OPEN

        num_names = [k for k in base_groups if k in records.num]
        num_cols = [records.num[k] for k in num_names]
        num_groups = [base_groups[k] for k in num_names]

        # custom fields: numbers or categories, by what the training records hold
        keys = Counter(k for c in records.custom if c for k, v in c.items() if v not in (None, ""))
        cats: list[_Categorical] = []
        for key, filled in keys.most_common(MAX_CUSTOM_KEYS):
            if filled < max(MIN_COUNT, MIN_SHARE * n):
                continue
            ref_filled = None
            if use_ref and reference is not None:
                ref_filled = (
                    sum(1 for c in reference.custom if c and c.get(key) not in (None, "")) / ref_n
                )
            if _leaky(filled / n, ref_filled):
                enc.excluded.append(f"custom.{key}")
                continue
            values = [c.get(key) for c in records.custom if c and c.get(key) not in (None, "")]
            numeric = sum(1 for v in values if _is_number(v) or isinstance(v, bool))
            group = f"custom.{key}"
            if numeric >= 0.9 * len(values):
                enc.custom_numeric.append(key)
                num_names.append(f"custom.{key}")
                num_cols.append(_custom_numbers(records, key))
                num_groups.append(group)
            else:
                cats.append(_Categorical(f"custom:{key}", group, []))
        cat_keys = [
            _Categorical(f"cat:{k}", base_groups.get(f"cat:{k}", k), []) for k in records.cat
        ]
        cats = cat_keys + cats + [_Categorical("tags", "tags", [])]
        for c in cats:
            rows = _multi(c.values(records))
            ref_rows = _multi(c.values(reference)) if use_ref and reference is not None else None
            ref_counts = Counter(v for row in ref_rows for v in set(row)) if ref_rows else None
            for value, count in _frequent(rows, n):
                share_open = (ref_counts.get(value, 0) / ref_n) if ref_counts is not None else None
                if _leaky(count / n, share_open):
                    enc.excluded.append(f"{c.group}={value}")
                    continue
                c.vocab.append(value)
        enc.cats = [c for c in cats if c.vocab]

        matrix = np.column_stack(num_cols) if num_cols else np.zeros((len(records), 0))
        median = np.zeros(len(num_names))
        known = ~np.isnan(matrix)
        for j in np.flatnonzero(known.any(axis=0)):  # an all-unknown column keeps median 0
            median[j] = float(np.median(matrix[known[:, j], j]))
        filled = np.where(np.isnan(matrix), median, matrix)
        lo = np.percentile(filled, 1, axis=0) if len(records) else median
        hi = np.percentile(filled, 99, axis=0) if len(records) else median
        enc.num_names, enc.num_groups = num_names, num_groups
        enc.median, enc.lo, enc.hi = median, lo, hi
        share_missing = np.isnan(matrix).mean(axis=0) if len(records) else np.zeros(len(num_names))
        enc.missing = [i for i, s in enumerate(share_missing) if 0.01 <= s <= 0.99]

        columns = [Column(name, group) for name, group in zip(num_names, num_groups, strict=True)]
        columns += [Column(f"{num_names[i]}:missing", num_groups[i]) for i in enc.missing]
        offset = len(columns)
        for c in enc.cats:
            c.offset = offset
            columns += [Column(f"{c.group}={v}", c.group) for v in c.vocab]
            offset += len(c.vocab)
        enc.columns = columns
        enc.keep = np.arange(len(columns), dtype=np.int64)
        raw = enc._raw(records)
        mean = raw.mean(axis=0) if len(records) else np.zeros(len(columns))
        std = raw.std(axis=0) if len(records) else np.ones(len(columns))
        keep = np.flatnonzero(std > 1e-9)
        enc.keep = keep
        enc.mean, enc.std = mean[keep], std[keep]
        enc.columns = [columns[i] for i in keep]
        return enc

    # -- transforming --------------------------------------------------------------------

    def _raw(self, records: Records) -> FloatArray:
        n = len(records)
        width = len(self.num_names) + len(self.missing) + sum(len(c.vocab) for c in self.cats)
        out = np.zeros((n, width))
        if n == 0:
            return out
        cols = []
        for name in self.num_names:
            if name.startswith("custom.") and name[7:] in self.custom_numeric:
                cols.append(_custom_numbers(records, name[7:]))
            else:
                cols.append(records.num.get(name, np.full(n, math.nan)))
        if cols:
            m = np.column_stack(cols)
            nan = np.isnan(m)
            m = np.where(nan, self.median, m)
            m = np.clip(m, self.lo, self.hi)
            k = len(self.num_names)
            out[:, :k] = m
            if self.missing:
                out[:, k : k + len(self.missing)] = nan[:, self.missing]
        for c in self.cats:
            index = {v: i for i, v in enumerate(c.vocab)}
            kind = c.key.partition(":")[0]
            if kind == "cat":
                arr = np.asarray(c.values(records), dtype=object)
                uniq, inv = np.unique(arr.astype(str), return_inverse=True)
                pos = np.array([index.get(u, -1) for u in uniq], dtype=np.int64)[inv]
                hit = np.flatnonzero(pos >= 0)
                out[hit, c.offset + pos[hit]] = 1.0
            else:
                rows, cols = _codes(c.values(records), index)
                if rows:
                    out[np.array(rows), c.offset + np.array(cols)] = 1.0
        return out

    def transform(self, records: Records) -> FloatArray:
        """Standardised features, (n, len(columns))."""
        raw = self._raw(records)[:, self.keep]
        return (raw - self.mean) / self.std

    def group_matrix(self) -> tuple[list[str], FloatArray]:
        """Groups in first-seen order and the (columns × groups) 0/1 matrix summing columns."""
        groups: list[str] = []
        for c in self.columns:
            if c.group not in groups:
                groups.append(c.group)
        at = {g: i for i, g in enumerate(groups)}
        m = np.zeros((len(self.columns), len(groups)))
        for j, c in enumerate(self.columns):
            m[j, at[c.group]] = 1.0
        return groups, m
