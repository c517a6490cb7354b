"""SQL for customer insights: read-only aggregates over contacts, activities, deals and tasks,
always scoped to the caller's organization, plus the one write the models make to a contact
(its `churn_risk` and, when the AI owns it, `lifetime_value`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.contacts.repository import ContactRepo
from aicrm.customfields.repository import CustomFieldRepo
from aicrm.kit.principal import Principal
from aicrm.models import Activity, Contact, CustomField, Deal, PipelineStage, Task

CHUNK = 900  # ids per IN list: below SQLite's old 999-variable limit
LABELLED = ("churned", "customer")
# how far back response history is read for best-time estimates
RESPONSE_WINDOW = timedelta(days=730)
MAX_RESPONSE_ROWS = 200_000

# Call and email outcomes, lower-cased. Free text elsewhere is matched by substring (timing).
POSITIVE_OUTCOMES = (
    "connected",
    "answered",
    "replied",
    "reached",
    "completed",
    "spoke",
    "talked",
    "interested",
    "booked",
    "meeting booked",
    "meeting_booked",
    "callback requested",
)
NEGATIVE_OUTCOMES = (
    "no answer",
    "no_answer",
    "noanswer",
    "voicemail",
    "left voicemail",
    "left message",
    "busy",
    "no reply",
    "no_reply",
    "no response",
    "bounced",
    "missed",
    "unreachable",
    "wrong number",
    "declined",
    "failed",
)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _float(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Decimal):
        return float(value)
    return float(value)


def _count(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


# -- contacts --------------------------------------------------------------------------------


async def get_contact(session: AsyncSession, principal: Principal, contact_id: int) -> Contact:
    """The contact (404 for another organization's or a deleted one)."""
    return await ContactRepo.from_session(session, principal).get(contact_id)


async def contacts_page(
    session: AsyncSession,
    principal: Principal,
    *,
    statuses: Sequence[str] | None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[Contact]:
    """Contacts in id order (keyset pages), optionally of some statuses."""
    repo = ContactRepo.from_session(session, principal)
    stmt = repo.select().where(Contact.id > after_id)
    if statuses:
        stmt = stmt.where(Contact.status.in_(list(statuses)))
    rows = await session.execute(stmt.order_by(Contact.id).limit(limit))
    return list(rows.scalars())


async def count_labels(session: AsyncSession, principal: Principal) -> dict[str, int]:
    """How many contacts are churned and how many are customers."""
    stmt = (
        select(Contact.status, func.count())
        .where(
            Contact.organization_id == principal.organization_id,
            Contact.deleted_at.is_(None),
            Contact.status.in_(LABELLED),
        )
        .group_by(Contact.status)
    )
    counts = {s: 0 for s in LABELLED}
    counts.update({s: int(n) for s, n in (await session.execute(stmt)).all()})
    return counts


async def custom_fields(session: AsyncSession, principal: Principal) -> dict[str, CustomField]:
    rows = await CustomFieldRepo.from_session(session, principal).for_entity("contact")
    return {d.key: d for d in rows}


async def organizations_with_customers(session: AsyncSession) -> list[int]:
    """Every organization with at least one customer or churned contact (for scheduled work;
    runs as the system, not as a tenant)."""
    stmt = (
        select(Contact.organization_id)
        .where(Contact.status.in_(LABELLED + ("inactive",)), Contact.deleted_at.is_(None))
        .distinct()
    )
    return sorted(int(o) for o in (await session.execute(stmt)).scalars())


async def store_scores(
    session: AsyncSession,
    principal: Principal,
    *,
    churn: dict[int, float] | None = None,
    lifetime: dict[int, float] | None = None,
) -> None:
    """Write model outputs onto contacts (one executemany per column). `updated_at` and
    `version` are left as they were: a prediction is not an edit, so it must neither look like
    fresh data to the staleness check nor make a user's open edit form fail its version check."""
    table = Contact.__table__
    for values, column in ((churn or {}, "churn_risk"), (lifetime or {}, "lifetime_value")):
        if not values:
            continue
        stmt = (
            update(table)
            .where(
                table.c.organization_id == bindparam("b_org"),
                table.c.id == bindparam("b_id"),
            )
            .values({column: bindparam("b_value"), "updated_at": table.c.updated_at})
        )
        params = [
            {
                "b_org": principal.organization_id,
                "b_id": contact_id,
                "b_value": round(value, 2) if column == "lifetime_value" else value,
            }
            for contact_id, value in values.items()
        ]
        await session.execute(stmt, params)


# -- activities ------------------------------------------------------------------------------


@dataclass
class ActivityStats:
    total: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_30d: int = 0
    last_90d: int = 0
    prior_90_365d: int = 0
    last_365d: int = 0
    inbound: int = 0
    inbound_90d: int = 0
    outbound: int = 0
    meetings: int = 0
    answered: int = 0
    unanswered: int = 0


async def activity_stats(
    session: AsyncSession, principal: Principal, ids: Sequence[int], now: datetime
) -> dict[int, ActivityStats]:
    """Contact (call, email, meeting) counts per customer; notes are internal and planned
    activities have not happened yet, so neither counts."""
    d30, d90, d365 = (now - timedelta(days=d) for d in (30, 90, 365))
    outcome = func.lower(Activity.outcome)
    out: dict[int, ActivityStats] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(
                Activity.contact_id,
                func.count(),
                func.min(Activity.occurred_at),
                func.max(Activity.occurred_at),
                _count(Activity.occurred_at >= d30),
                _count(Activity.occurred_at >= d90),
                _count(and_(Activity.occurred_at < d90, Activity.occurred_at >= d365)),
                _count(Activity.occurred_at >= d365),
                _count(Activity.direction == "inbound"),
                _count(and_(Activity.direction == "inbound", Activity.occurred_at >= d90)),
                _count(Activity.direction == "outbound"),
                _count(Activity.type == "meeting"),
                _count(and_(Activity.direction == "outbound", outcome.in_(POSITIVE_OUTCOMES))),
                _count(and_(Activity.direction == "outbound", outcome.in_(NEGATIVE_OUTCOMES))),
            )
            .where(
                Activity.organization_id == principal.organization_id,
                Activity.contact_id.in_(chunk),
                Activity.type != "note",
                Activity.occurred_at <= now,
            )
            .group_by(Activity.contact_id)
        )
        for row in (await session.execute(stmt)).all():
            out[int(row[0])] = ActivityStats(
                total=int(row[1]),
                first_at=row[2],
                last_at=row[3],
                last_30d=int(row[4]),
                last_90d=int(row[5]),
                prior_90_365d=int(row[6]),
                last_365d=int(row[7]),
                inbound=int(row[8]),
                inbound_90d=int(row[9]),
                outbound=int(row[10]),
                meetings=int(row[11]),
                answered=int(row[12]),
                unanswered=int(row[13]),
            )
    return out


@dataclass(frozen=True)
class ResponseEvent:
    contact_id: int
    occurred_at: datetime
    type: str
    direction: str | None
    outcome: str | None


async def response_events(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    contact_id: int | None = None,
) -> list[ResponseEvent]:
    """Calls, emails and meetings of the last two years (one contact's, or the organization's
    most recent MAX_RESPONSE_ROWS), for best-time estimates."""
    stmt = select(
        Activity.contact_id,
        Activity.occurred_at,
        Activity.type,
        Activity.direction,
        Activity.outcome,
    ).where(
        Activity.organization_id == principal.organization_id,
        Activity.contact_id.is_not(None),
        Activity.type != "note",
        Activity.occurred_at <= now,
        Activity.occurred_at >= now - RESPONSE_WINDOW,
    )
    if contact_id is not None:
        stmt = stmt.where(Activity.contact_id == contact_id)
    stmt = stmt.order_by(Activity.occurred_at.desc()).limit(MAX_RESPONSE_ROWS)
    return [ResponseEvent(*row) for row in (await session.execute(stmt)).all()]


async def contact_timezones(
    session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        stmt = select(Contact.id, Contact.timezone).where(
            Contact.organization_id == principal.organization_id,
            Contact.id.in_(chunk),
            Contact.timezone.is_not(None),
        )
        out.update({int(i): tz for i, tz in (await session.execute(stmt)).all() if tz})
    return out


# -- deals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    at: datetime
    amount: float
    deal_id: int


async def purchases(
    session: AsyncSession,
    principal: Principal,
    ids: Sequence[int] | None,
    *,
    before: datetime | None = None,
) -> dict[int, list[Purchase]]:
    """Won deals with a close date, per customer, oldest first (all customers when `ids` is
    None). Later, invoices and payments join here."""
    out: dict[int, list[Purchase]] = defaultdict(list)
    base = select(Deal.contact_id, Deal.closed_at, Deal.amount, Deal.id).where(
        Deal.organization_id == principal.organization_id,
        Deal.status == "won",
        Deal.closed_at.is_not(None),
        Deal.contact_id.is_not(None),
    )
    if before is not None:
        base = base.where(Deal.closed_at <= before)
    batches = [base] if ids is None else [base.where(Deal.contact_id.in_(c)) for c in _chunks(ids)]
    for stmt in batches:
        rows = await session.execute(stmt.order_by(Deal.contact_id, Deal.closed_at, Deal.id))
        for contact_id, closed_at, amount, deal_id in rows.all():
            out[int(contact_id)].append(Purchase(closed_at, _float(amount), int(deal_id)))
    return dict(out)


@dataclass(frozen=True)
class OpenDeal:
    id: int
    contact_id: int
    name: str
    amount: float
    currency: str
    stage: str
    expected_close_date: Any
    updated_at: datetime
    last_activity_at: datetime | None


async def open_deals(
    session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, list[OpenDeal]]:
    org = principal.organization_id
    out: dict[int, list[OpenDeal]] = defaultdict(list)
    for chunk in _chunks(ids):
        last = (
            select(Activity.deal_id, func.max(Activity.occurred_at).label("last_at"))
            .where(Activity.organization_id == org, Activity.deal_id.is_not(None))
            .group_by(Activity.deal_id)
            .subquery()
        )
        stmt = (
            select(
                Deal.id,
                Deal.contact_id,
                Deal.name,
                Deal.amount,
                Deal.currency,
                PipelineStage.name,
                Deal.expected_close_date,
                Deal.updated_at,
                last.c.last_at,
            )
            .join(PipelineStage, PipelineStage.id == Deal.stage_id)
            .outerjoin(last, last.c.deal_id == Deal.id)
            .where(Deal.organization_id == org, Deal.status == "open", Deal.contact_id.in_(chunk))
            .order_by(Deal.id)
        )
        for row in (await session.execute(stmt)).all():
            out[int(row[1])].append(
                OpenDeal(
                    id=int(row[0]),
                    contact_id=int(row[1]),
                    name=row[2],
                    amount=_float(row[3]),
                    currency=row[4],
                    stage=row[5],
                    expected_close_date=row[6],
                    updated_at=row[7],
                    last_activity_at=row[8],
                )
            )
    return dict(out)


async def lost_deal_counts(
    session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(Deal.contact_id, func.count())
            .where(
                Deal.organization_id == principal.organization_id,
                Deal.status == "lost",
                Deal.contact_id.in_(chunk),
            )
            .group_by(Deal.contact_id)
        )
        out.update({int(c): int(n) for c, n in (await session.execute(stmt)).all()})
    return out


# -- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTask:
    id: int
    contact_id: int
    title: str
    due_at: datetime | None
    priority: str
    deal_id: int | None


async def open_tasks(
    session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, list[OpenTask]]:
    out: dict[int, list[OpenTask]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(Task.id, Task.contact_id, Task.title, Task.due_at, Task.priority, Task.deal_id)
            .where(
                Task.organization_id == principal.organization_id,
                Task.status != "done",
                Task.contact_id.in_(chunk),
            )
            .order_by(Task.due_at, Task.id)
        )
        for row in (await session.execute(stmt)).all():
            out[int(row[1])].append(
                OpenTask(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5])
            )
    return dict(out)


# -- what changed ----------------------------------------------------------------------------


async def stamps(session: AsyncSession, principal: Principal, contact_id: int) -> list[Any]:
    """Cheap markers that change whenever anything the insights read about one customer
    changes: the contact row, and count + latest id + latest edit of its activities, deals and
    tasks."""
    org = principal.organization_id
    out: list[Any] = []
    for model in (Activity, Deal, Task):
        row = (
            await session.execute(
                select(func.count(), func.max(model.id), func.max(model.updated_at)).where(
                    model.organization_id == org,
                    model.contact_id == contact_id,  # type: ignore[attr-defined]
                )
            )
        ).one()
        out.append([int(row[0]), row[1], row[2].isoformat() if row[2] else None])
    return out
