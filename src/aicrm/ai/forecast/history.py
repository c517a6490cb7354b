"""Deal histories for the forecast, rebuilt from the audit log.

The audit log keeps every deal's creation snapshot and the before/after of every change, so the
stage a deal was in, its amount and its expected close date at any past instant can be read
back without a table of its own. (Outbox events say the same about stages but are pruned after
JOB_RETENTION_DAYS; the audit log is kept.)

The deal row stays the authority on when the deal was created and closed: audit times are
clamped to the deal's life, and the change that closed it is placed at `closed_at`.

Deals without audit history (demo data, rows written before the audit log existed) get the
best guess: an open deal has been in its current stage since it was created; a closed one went
from its pipeline's first open stage straight to its outcome; amount and expected close date
are their current values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from aicrm.ai.forecast.model import CATEGORIES, StageInfo, Track

CATEGORY_FIELD = "forecast_category"
_MISSING: Any = object()


class AuditEntry:
    __slots__ = ("action", "after", "at", "before")

    def __init__(
        self, action: str, at: datetime, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        self.action = action
        self.at = at
        self.before = before or {}
        self.after = after or {}


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _category(custom: Any) -> str | None:
    if not isinstance(custom, dict):
        return None
    raw = custom.get(CATEGORY_FIELD)
    if not isinstance(raw, str):
        return None
    key = raw.strip().lower().replace(" ", "_").replace("-", "_")
    return key if key in CATEGORIES else None


def first_open_stages(stages: Mapping[int, StageInfo]) -> dict[int, int]:
    """Each pipeline's first open stage (by position)."""
    out: dict[int, tuple[int, int]] = {}
    for s in stages.values():
        if s.is_open and (s.pipeline_id not in out or s.position < out[s.pipeline_id][0]):
            out[s.pipeline_id] = (s.position, s.id)
    return {p: sid for p, (_, sid) in out.items()}


def build_track(
    row: Mapping[str, Any],
    entries: Sequence[AuditEntry],
    stages: Mapping[int, StageInfo],
    first_open: Mapping[int, int],
) -> Track:
    created: datetime = row["created_at"]
    closed: datetime | None = row["closed_at"] if row["status"] != "open" else None
    initial: dict[str, Any] = {
        "stage_id": _MISSING,
        "amount": _MISSING,
        "expected_close_date": _MISSING,
    }
    series: dict[str, list[tuple[datetime, Any]]] = {k: [] for k in initial}
    for e in entries:
        at = max(e.at, created)
        if e.action == "create":
            for key in initial:
                if key in e.after:
                    initial[key] = e.after[key]
            continue
        for key, points in series.items():
            if key not in e.after:
                continue
            if initial[key] is _MISSING and key in e.before:
                initial[key] = e.before[key]
            points.append((at, e.after[key]))

    track = Track(
        id=row["id"],
        name=row["name"],
        pipeline_id=row["pipeline_id"],
        owner_id=row["owner_id"],
        currency=row["currency"],
        status=row["status"],
        created_at=created,
        closed_at=closed,
        amount=float(row["amount"] or 0),
        stage_id=row["stage_id"],
        expected_close_date=row["expected_close_date"],
        category=_category(row.get("custom")),
    )

    # stages
    start = initial["stage_id"]
    if start is _MISSING or start not in stages:
        start = row["stage_id"] if closed is None else first_open.get(row["pipeline_id"])
    path: list[tuple[datetime, int]] = [(created, start)] if start is not None else []
    path += [(at, sid) for at, sid in series["stage_id"] if isinstance(sid, int)]
    if closed is not None:
        path = _place_close(path, closed, row["stage_id"], stages)
    track.stages = _dedupe(sorted(path, key=lambda p: p[0]))

    # amounts
    first_amount = initial["amount"]
    if first_amount is _MISSING:
        track.amounts = [(created, track.amount)]
    else:
        points = [(created, float(first_amount or 0))]
        points += [(at, float(v or 0)) for at, v in series["amount"]]
        track.amounts = points

    # expected close dates
    first_date = initial["expected_close_date"]
    if first_date is _MISSING and not series["expected_close_date"]:
        track.close_dates = [(created, row["expected_close_date"])]
    else:
        first = None if first_date is _MISSING else _date(first_date)
        track.close_dates = [(created, first)] + [
            (at, _date(v)) for at, v in series["expected_close_date"]
        ]
    return track


def _place_close(
    path: list[tuple[datetime, int]],
    closed: datetime,
    final_stage: int,
    stages: Mapping[int, StageInfo],
) -> list[tuple[datetime, int]]:
    """The last move into a won/lost stage happens at `closed_at` (the deal row is the
    authority on it); without one in the history, the deal moves to its current stage then."""
    for i in range(len(path) - 1, -1, -1):
        info = stages.get(path[i][1])
        if info is not None and not info.is_open:
            path[i] = (closed, path[i][1])
            # moves recorded after the close would precede it now: they belong before
            return [
                (min(at, closed), sid) if j < i else (at, sid) for j, (at, sid) in enumerate(path)
            ]
    return [*((min(at, closed), sid) for at, sid in path), (closed, final_stage)]


def _dedupe(path: list[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    out: list[tuple[datetime, int]] = []
    for at, sid in path:
        if out and out[-1][1] == sid:
            continue
        out.append((at, sid))
    return out


def build_tracks(
    rows: Iterable[Mapping[str, Any]],
    audit: Mapping[int, Sequence[AuditEntry]],
    stages: Mapping[int, StageInfo],
) -> list[Track]:
    first_open = first_open_stages(stages)
    return [build_track(r, audit.get(r["id"], ()), stages, first_open) for r in rows]
