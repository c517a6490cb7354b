"""SQL for scoring: leads and deals as rows the feature code reads, their activity counts and,
for closed records, their fields as they were when the outcome became known (rebuilt by undoing
the audit log's later changes). Every query filters by the caller's organization."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.scoring.deals import DealRow
from aicrm.ai.scoring.features import FloatArray
from aicrm.ai.scoring.leads import LeadRow
from aicrm.models import (
    Activity,
    AIModel,
    AuditLog,
    CustomField,
    Deal,
    Lead,
    LeadStatus,
    Membership,
    Organization,
    Pipeline,
    PipelineStage,
    Tag,
    Tagging,
    User,
)

CHUNK = 900  # ids per IN list (SQLite allows 32766 parameters; keep statements small)
# an edit a moment before the outcome belongs to it (conversion writes in several steps)
TOLERANCE_S = 1.0


def ts(value: datetime | date | str | None) -> float | None:
    """Epoch seconds (dates at midnight UTC); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# -- organization context -------------------------------------------------------------------


async def currency(session: AsyncSession, org_id: int) -> str:
    org = await session.get(Organization, org_id)
    return org.default_currency if org is not None else "USD"


async def lead_statuses(session: AsyncSession, org_id: int) -> list[LeadStatus]:
    stmt = (
        select(LeadStatus)
        .where(LeadStatus.organization_id == org_id)
        .order_by(LeadStatus.position, LeadStatus.id)
    )
    return list((await session.execute(stmt)).scalars())


async def stages(session: AsyncSession, org_id: int) -> list[tuple[PipelineStage, str]]:
    stmt = (
        select(PipelineStage, Pipeline.name)
        .join(Pipeline, Pipeline.id == PipelineStage.pipeline_id)
        .where(PipelineStage.organization_id == org_id)
        .order_by(PipelineStage.pipeline_id, PipelineStage.position, PipelineStage.id)
    )
    return [(s, name) for s, name in (await session.execute(stmt)).all()]


async def user_names(session: AsyncSession, org_id: int) -> dict[int, str]:
    stmt = (
        select(User.id, User.full_name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == org_id)
    )
    return {
        uid: (name or email or "").split(" ")[0] or "a teammate"
        for uid, name, email in (await session.execute(stmt)).all()
    }


async def custom_labels(session: AsyncSession, org_id: int, entity_type: str) -> dict[str, str]:
    stmt = select(CustomField.key, CustomField.label).where(
        CustomField.organization_id == org_id, CustomField.entity_type == entity_type
    )
    return {k: label for k, label in (await session.execute(stmt)).all()}


async def tags(
    session: AsyncSession, org_id: int, entity_type: str, ids: Sequence[int] | None
) -> dict[int, list[str]]:
    """Tag names per record (`ids` None: every record of that type in the organization)."""
    base = (
        select(Tagging.entity_id, Tag.name)
        .join(Tag, Tag.id == Tagging.tag_id)
        .where(Tagging.organization_id == org_id, Tagging.entity_type == entity_type)
    )
    out: dict[int, list[str]] = defaultdict(list)
    batches = (
        [base] if ids is None else [base.where(Tagging.entity_id.in_(c)) for c in _chunks(ids)]
    )
    for stmt in batches:
        for entity_id, name in (await session.execute(stmt)).all():
            out[entity_id].append(name)
    return out


# -- activities -----------------------------------------------------------------------------


async def activity_counts(
    session: AsyncSession,
    org_id: int,
    column: str,
    ids: Sequence[int],
    asof: FloatArray,
    *,
    whole_org: bool = False,
) -> dict[str, FloatArray]:
    """Per record (in `ids` order): calls, emails, meetings, notes, inbound, and `last` (epoch
    seconds of the latest activity), counting only activities before the record's `asof`."""
    n = len(ids)
    out = {k: np.zeros(n) for k in ("calls", "emails", "meetings", "notes", "inbound")}
    out["last"] = np.full(n, math.nan)
    if n == 0:
        return out
    col = getattr(Activity, column)
    base = select(col, Activity.type, Activity.direction, Activity.occurred_at).where(
        Activity.organization_id == org_id
    )
    if whole_org:
        stmts = [base.where(col.is_not(None))]
    else:
        stmts = [base.where(col.in_(c)) for c in _chunks(ids)]
    rows: list[tuple[int, str, str | None, float]] = []
    for stmt in stmts:
        for rid, type_, direction, at in (await session.execute(stmt)).all():
            rows.append((rid, type_, direction, ts(at) or 0.0))
    if not rows:
        return out
    position = {rid: k for k, rid in enumerate(ids)}
    idx = np.array([position.get(r[0], -1) for r in rows], dtype=np.int64)
    at = np.array([r[3] for r in rows])
    keep = idx >= 0
    keep[keep] &= at[keep] < asof[idx[keep]]
    idx, at = idx[keep], at[keep]
    types = np.array([r[1] for r in rows], dtype=object)[keep]
    inbound = np.array([r[2] == "inbound" for r in rows], dtype=bool)[keep]
    for name, type_ in (("calls", "call"), ("emails", "email"), ("meetings", "meeting")):
        out[name] = np.bincount(idx[types == type_], minlength=n).astype(float)
    out["notes"] = np.bincount(idx[types == "note"], minlength=n).astype(float)
    out["inbound"] = np.bincount(idx[inbound], minlength=n).astype(float)
    last = np.full(n, -np.inf)
    np.maximum.at(last, idx, at)
    out["last"] = np.where(np.isinf(last), math.nan, last)
    return out


# -- audit replay ---------------------------------------------------------------------------


async def _updates(
    session: AsyncSession, org_id: int, entity_type: str, ids: Sequence[int], *, like: str = ""
) -> dict[int, list[tuple[float, dict[str, Any], dict[str, Any]]]]:
    """(at, before, after) of every audited update of the records, oldest first."""
    out: dict[int, list[tuple[float, dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(AuditLog.entity_id, AuditLog.created_at, AuditLog.before, AuditLog.after)
            .where(
                AuditLog.organization_id == org_id,
                AuditLog.entity_type == entity_type,
                AuditLog.action == "update",
                AuditLog.entity_id.in_(chunk),
            )
            .order_by(AuditLog.created_at, AuditLog.id)
        )
        if like:
            stmt = stmt.where(cast(AuditLog.after, Text).like(f"%{like}%"))
        for entity_id, at, before, after in (await session.execute(stmt)).all():
            out[int(entity_id)].append((ts(at) or 0.0, before or {}, after or {}))
    return out


def _undo_after(
    state: dict[str, Any],
    history: list[tuple[float, dict[str, Any], dict[str, Any]]],
    moment: float,
) -> dict[str, Any]:
    """`state` as it was before the changes made at or after `moment`."""
    state = dict(state)
    for at, before, _after in reversed(history):
        if at < moment - TOLERANCE_S:
            break
        state.update(before)
    return state


# -- leads ----------------------------------------------------------------------------------

LEAD_COLUMNS = (
    Lead.id,
    Lead.created_at,
    Lead.value,
    Lead.budget,
    Lead.source,
    Lead.email,
    Lead.phone,
    Lead.company,
    Lead.requirements,
    Lead.notes,
    Lead.timeline,
    Lead.status_id,
    Lead.assignee_id,
    Lead.last_contacted_at,
    Lead.custom,
    Lead.converted_at,
    Lead.updated_at,
    Lead.version,
    Lead.quality_score,
    Lead.priority,
)
FAST_COLUMNS = (
    Lead.id,
    Lead.created_at,
    Lead.value,
    Lead.budget,
    Lead.source,
    Lead.email.is_not(None),
    Lead.phone.is_not(None),
    Lead.company,
    func.length(Lead.requirements),
    func.length(Lead.notes),
    Lead.timeline,
    Lead.status_id,
    Lead.assignee_id,
    Lead.last_contacted_at,
    Lead.custom,
    Lead.version,
    Lead.quality_score,
    Lead.priority,
)


def _lead_row(state: dict[str, Any], asof: float) -> LeadRow:
    return LeadRow(
        id=int(state["id"]),
        created=ts(state["created_at"]) or asof,
        asof=asof,
        value=_f(state.get("value")) or 0.0,
        budget=_f(state.get("budget")),
        source=state.get("source"),
        has_email=bool(state.get("email")),
        has_phone=bool(state.get("phone")),
        company=state.get("company"),
        requirements_len=len(state.get("requirements") or ""),
        notes_len=len(state.get("notes") or ""),
        timeline=state.get("timeline"),
        status_id=state.get("status_id"),
        assignee_id=state.get("assignee_id"),
        last_contacted=ts(state.get("last_contacted_at")),
        custom=state.get("custom") or {},
    )


class LeadMeta:
    """What the writer needs to know about a scored lead."""

    __slots__ = ("priority", "quality_score", "version")

    def __init__(self, version: int, quality_score: int | None, priority: str) -> None:
        self.version, self.quality_score, self.priority = version, quality_score, priority


async def open_leads(
    session: AsyncSession,
    org_id: int,
    closed_status_ids: Sequence[int],
    *,
    now: float,
    ids: Sequence[int] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    lock: bool = False,
) -> tuple[list[LeadRow], dict[int, LeadMeta]]:
    """Open leads (not converted, not in a won/lost status) as of now, by id. `lock` takes
    their row locks (PostgreSQL) so concurrent scorings of a lead run one after the other and
    each sees the other's score."""
    stmt = (
        select(*FAST_COLUMNS)
        .where(Lead.organization_id == org_id, Lead.converted_at.is_(None))
        .order_by(Lead.id)
    )
    if closed_status_ids:
        stmt = stmt.where(Lead.status_id.not_in(list(closed_status_ids)))
    if after_id is not None:
        stmt = stmt.where(Lead.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    if lock:
        stmt = stmt.with_for_update(of=Lead.__table__)
    batches = [stmt] if ids is None else [stmt.where(Lead.id.in_(c)) for c in _chunks(ids)]
    rows: list[LeadRow] = []
    meta: dict[int, LeadMeta] = {}
    for s in batches:
        for r in (await session.execute(s)).all():
            rows.append(
                LeadRow(
                    id=r[0],
                    created=ts(r[1]) or now,
                    asof=now,
                    value=_f(r[2]) or 0.0,
                    budget=_f(r[3]),
                    source=r[4],
                    has_email=bool(r[5]),
                    has_phone=bool(r[6]),
                    company=r[7],
                    requirements_len=int(r[8] or 0),
                    notes_len=int(r[9] or 0),
                    timeline=r[10],
                    status_id=r[11],
                    assignee_id=r[12],
                    last_contacted=ts(r[13]),
                    custom=r[14] or {},
                )
            )
            meta[r[0]] = LeadMeta(r[15], r[16], r[17])
    return rows, meta


async def lead_status_of(
    session: AsyncSession, org_id: int, lead_id: int
) -> tuple[Any, ...] | None:
    """(status_id, converted_at) of one lead of the organization, or None."""
    stmt = select(Lead.status_id, Lead.converted_at).where(
        Lead.organization_id == org_id, Lead.id == lead_id
    )
    row = (await session.execute(stmt)).first()
    return tuple(row) if row is not None else None


async def closed_leads(
    session: AsyncSession, org_id: int, won_status: set[int], lost_status: set[int]
) -> tuple[list[LeadRow], list[int], list[float]]:
    """Every closed lead as it was when its outcome became known: (rows, won 0/1, moments)."""
    closed = won_status | lost_status
    cond = Lead.converted_at.is_not(None)
    if closed:
        cond = cond | Lead.status_id.in_(list(closed))
    stmt = select(*LEAD_COLUMNS).where(Lead.organization_id == org_id, cond).order_by(Lead.id)
    names = [c.key for c in LEAD_COLUMNS]
    current = [dict(zip(names, r, strict=True)) for r in (await session.execute(stmt)).all()]
    history = await _updates(session, org_id, "lead", [r["id"] for r in current])
    rows, labels, moments = [], [], []
    for state in current:
        won = state["converted_at"] is not None or state["status_id"] in won_status
        hist = history.get(state["id"], [])
        moment = ts(state["converted_at"])
        if moment is None:
            entered = [at for at, _b, after in hist if after.get("status_id") in closed]
            moment = entered[-1] if entered else ts(state["created_at"])
        moment = moment or 0.0
        rows.append(_lead_row(_undo_after(state, hist, moment), moment))
        labels.append(int(won))
        moments.append(moment)
    return rows, labels, moments


async def count_lead_outcomes(
    session: AsyncSession, org_id: int, won_status: set[int], lost_status: set[int]
) -> tuple[int, int]:
    won_cond = Lead.converted_at.is_not(None)
    if won_status:
        won_cond = won_cond | Lead.status_id.in_(list(won_status))
    won = await session.scalar(select(func.count()).where(Lead.organization_id == org_id, won_cond))
    lost = 0
    if lost_status:
        lost = await session.scalar(
            select(func.count()).where(
                Lead.organization_id == org_id,
                Lead.converted_at.is_(None),
                Lead.status_id.in_(list(lost_status)),
            )
        )
    return int(won or 0), int(lost or 0)


async def write_scores(
    session: AsyncSession, org_id: int, changes: Sequence[tuple[int, int, str]]
) -> None:
    """Set quality_score and priority. `version` stays: a prediction is not an edit, so it must
    not make a user's open form (or a kanban drag) fail its version check; the live boards
    hear about it through `lead.scored`."""
    table = Lead.__table__
    for lead_id, score, prio in changes:
        await session.execute(
            update(table)
            .where(table.c.id == lead_id, table.c.organization_id == org_id)
            .values(quality_score=score, priority=prio)
        )


async def organizations_with(session: AsyncSession, model: type[Lead] | type[Deal]) -> list[int]:
    stmt = select(model.organization_id).distinct()
    return [int(o) for o in (await session.execute(stmt)).scalars()]


# -- deals ----------------------------------------------------------------------------------

DEAL_COLUMNS = (
    Deal.id,
    Deal.created_at,
    Deal.stage_id,
    Deal.pipeline_id,
    Deal.amount,
    Deal.expected_close_date,
    Deal.owner_id,
    Deal.contact_id,
    Deal.company_id,
    Deal.lead_id,
    Deal.custom,
    Deal.status,
    Deal.closed_at,
    Deal.updated_at,
)


def _deal_row(state: dict[str, Any], asof: float, since: float | None) -> DealRow:
    return DealRow(
        id=int(state["id"]),
        created=ts(state["created_at"]) or asof,
        asof=asof,
        stage_id=state.get("stage_id"),
        stage_since=since,
        amount=_f(state.get("amount")) or 0.0,
        expected_close=ts(state.get("expected_close_date")),
        owner_id=state.get("owner_id"),
        contact_id=state.get("contact_id"),
        company_id=state.get("company_id"),
        lead_id=state.get("lead_id"),
        pipeline_id=state.get("pipeline_id"),
        custom=state.get("custom") or {},
    )


def _stage_since(
    hist: list[tuple[float, dict[str, Any], dict[str, Any]]], stage_id: Any, before: float
) -> float | None:
    """When the deal last entered `stage_id` before `before` (None: since it was created)."""
    found = None
    for at, _b, after in hist:
        if at >= before - TOLERANCE_S:
            break
        if "stage_id" in after:
            found = at if after["stage_id"] == stage_id else None
    return found


async def _deal_states(session: AsyncSession, org_id: int, stmt: Any) -> list[dict[str, Any]]:
    names = [c.key for c in DEAL_COLUMNS]
    return [dict(zip(names, r, strict=True)) for r in (await session.execute(stmt)).all()]


async def open_deals(
    session: AsyncSession,
    org_id: int,
    *,
    now: float,
    ids: Sequence[int] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    lock: bool = False,
) -> list[DealRow]:
    """Open deals as of now, by id (`lock`: as for open_leads)."""
    stmt = (
        select(*DEAL_COLUMNS)
        .where(Deal.organization_id == org_id, Deal.status == "open")
        .order_by(Deal.id)
    )
    if after_id is not None:
        stmt = stmt.where(Deal.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    if lock:
        stmt = stmt.with_for_update(of=Deal.__table__)
    states: list[dict[str, Any]] = []
    if ids is None:
        states = await _deal_states(session, org_id, stmt)
    else:
        for c in _chunks(ids):
            states += await _deal_states(session, org_id, stmt.where(Deal.id.in_(c)))
    history = await _updates(session, org_id, "deal", [s["id"] for s in states], like="stage_id")
    return [
        _deal_row(s, now, _stage_since(history.get(s["id"], []), s["stage_id"], now))
        for s in states
    ]


async def closed_deals(
    session: AsyncSession, org_id: int
) -> tuple[list[DealRow], list[int], list[float]]:
    """Every won or lost deal as it was just before it closed: (rows, won 0/1, moments)."""
    stmt = (
        select(*DEAL_COLUMNS)
        .where(Deal.organization_id == org_id, Deal.status.in_(("won", "lost")))
        .order_by(Deal.id)
    )
    states = await _deal_states(session, org_id, stmt)
    history = await _updates(session, org_id, "deal", [s["id"] for s in states])
    rows, labels, moments = [], [], []
    for s in states:
        moment = ts(s["closed_at"]) or ts(s["updated_at"]) or 0.0
        hist = history.get(s["id"], [])
        before = _undo_after(s, hist, moment)
        since = _stage_since(hist, before.get("stage_id"), moment)
        rows.append(_deal_row(before, moment, since))
        labels.append(int(s["status"] == "won"))
        moments.append(moment)
    return rows, labels, moments


async def owner_history(session: AsyncSession, org_id: int) -> list[tuple[int | None, float, int]]:
    stmt = select(Deal.owner_id, Deal.closed_at, Deal.status).where(
        Deal.organization_id == org_id,
        Deal.status.in_(("won", "lost")),
        Deal.closed_at.is_not(None),
    )
    return [
        (owner, ts(at) or 0.0, int(status == "won"))
        for owner, at, status in (await session.execute(stmt)).all()
    ]


async def count_deal_outcomes(session: AsyncSession, org_id: int) -> tuple[int, int]:
    stmt = (
        select(Deal.status, func.count())
        .where(Deal.organization_id == org_id, Deal.status.in_(("won", "lost")))
        .group_by(Deal.status)
    )
    counts = dict((await session.execute(stmt)).all())
    return int(counts.get("won", 0)), int(counts.get("lost", 0))


async def deal_names(session: AsyncSession, org_id: int, ids: Sequence[int]) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    for c in _chunks(ids):
        stmt = select(Deal.id, Deal.name, Deal.amount, Deal.currency, Deal.stage_id).where(
            Deal.organization_id == org_id, Deal.id.in_(c)
        )
        for r in (await session.execute(stmt)).all():
            out[r[0]] = tuple(r[1:])
    return out


# -- models ---------------------------------------------------------------------------------


async def latest_model(session: AsyncSession, org_id: int, kind: str) -> AIModel | None:
    return await session.scalar(
        select(AIModel)
        .where(AIModel.organization_id == org_id, AIModel.kind == kind)
        .order_by(AIModel.version.desc())
        .limit(1)
    )


async def deactivate(session: AsyncSession, org_id: int, kind: str) -> None:
    """Back to the rules: no version of `kind` is active any more."""
    await session.execute(
        update(AIModel)
        .where(AIModel.organization_id == org_id, AIModel.kind == kind)
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
