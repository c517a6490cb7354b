"""What is known about each customer, gathered by signal sources.

A source loads its facts for a batch of customers (one query per batch, not per customer) and
turns one customer's facts into named raw features (numbers, booleans, strings or lists; None
when unknown), each described by a `FeatureInfo` so a reason can be worded for a person.
`features.FeatureSpace` decides per organization how each raw feature is encoded.

Sources today: the contact's standard fields, its custom fields, activities (recency, frequency,
trend, inbound share, call outcomes), purchases (won deals), the open pipeline and open tasks.
Tickets, message sentiment and payments join by adding a `Source` to `SOURCES` once their tables
exist; nothing else changes (the feature space and the explanations pick them up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.customers import repository as repo
from aicrm.kit.principal import Principal
from aicrm.models import Contact, CustomField

DAY = 86400.0
STALLED_DAYS = 14


def days_between(later: datetime, earlier: datetime | None) -> float | None:
    if earlier is None:
        return None
    if earlier.tzinfo is None:
        earlier = earlier.replace(tzinfo=UTC)
    return max(0.0, (later - earlier).total_seconds() / DAY)


def fmt_number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        v = float(value)
        if v.is_integer():
            return f"{int(v):,}"
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def _plural(n: float, word: str) -> str:
    k = int(round(n))
    return f"{k:,} {word}" + ("" if k == 1 else "s")


@dataclass(frozen=True)
class FeatureInfo:
    """How a person reads one raw feature: its label, an optional encoding hint and an optional
    sentence for a value ("No contact in 94 days")."""

    label: str
    kind: str | None = None  # numeric | binary | categorical | multi; None: inferred from values
    describe: Callable[[Any], str] | None = None

    def text(self, value: Any) -> str:
        if self.describe is not None:
            try:
                return self.describe(value)
            except (TypeError, ValueError):
                pass
        if value is None or value == "" or value == []:
            return f"{self.label}: not set"
        if isinstance(value, list | tuple):
            return f"{self.label}: {', '.join(str(v) for v in value)}"
        return f"{self.label}: {fmt_number(value)}"


@dataclass
class Customer:
    """One customer and the facts every source loaded for it."""

    contact: Contact
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.contact.id

    @property
    def activity(self) -> repo.ActivityStats:
        return self.facts.get("activity") or repo.ActivityStats()

    @property
    def purchases(self) -> list[repo.Purchase]:
        return list((self.facts.get("purchases") or {}).get("won", []))

    @property
    def open_deals(self) -> list[repo.OpenDeal]:
        return list(self.facts.get("pipeline") or [])

    @property
    def open_tasks(self) -> list[repo.OpenTask]:
        return list(self.facts.get("tasks") or [])


class Source:
    """A signal source: `load` facts for a batch, `featurize` one customer."""

    name: ClassVar[str]
    infos: ClassVar[dict[str, FeatureInfo]] = {}

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        return {}

    def feature_infos(self) -> dict[str, FeatureInfo]:
        return {f"{self.name}.{k}": v for k, v in self.infos.items()}

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        raise NotImplementedError


class ProfileSource(Source):
    """The contact's standard fields. Its status is the label, and churn_risk the output, so
    neither is a feature."""

    name = "profile"
    infos: ClassVar[dict[str, FeatureInfo]] = {
        "tenure_days": FeatureInfo(
            "Customer for", "numeric", lambda v: f"In the CRM for {_plural(v, 'day')}"
        ),
        "lifetime_value": FeatureInfo("Recorded lifetime value", "numeric"),
        "has_owner": FeatureInfo(
            "Has an owner", "binary", lambda v: "Has an owner" if v else "No owner assigned"
        ),
        "has_company": FeatureInfo(
            "Linked to a company", "binary", lambda v: "Linked to a company" if v else "No company"
        ),
        "reachable": FeatureInfo(
            "Email and phone on file",
            "numeric",
            lambda v: {0: "No email or phone on file", 1: "Only one of email or phone on file"}.get(
                int(v), "Email and phone on file"
            ),
        ),
        "country": FeatureInfo("Country", "categorical"),
        "preferred_channel": FeatureInfo("Preferred channel", "categorical"),
    }

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        c = customer.contact
        return {
            # whole days: records imported together must not differ by seconds
            "profile.tenure_days": float(int(days_between(now, c.created_at) or 0)),
            "profile.lifetime_value": float(c.lifetime_value or 0),
            "profile.has_owner": c.owner_id is not None,
            "profile.has_company": c.company_id is not None,
            "profile.reachable": float(bool(c.email)) + float(bool(c.phone)),
            "profile.country": (c.country or "").upper() or None,
            "profile.preferred_channel": c.preferred_channel or None,
        }


# custom field types → encoding hints; contact details are identifiers, not signals
_CUSTOM_KINDS = {
    "number": "numeric",
    "boolean": "binary",
    "select": "categorical",
    "multiselect": "multi",
    "date": "numeric",
    "text": None,
}


class CustomFieldSource(Source):
    """The organization's custom fields: numbers as is, dates as days since, booleans and
    Yes/No text as 1/0, choices and other text one-hot (the feature space keeps frequent
    values only, so free text and identifiers fall away)."""

    name = "custom"

    def __init__(self) -> None:
        self.defs: dict[str, CustomField] = {}

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        self.defs = await repo.custom_fields(session, principal)
        return {}

    def feature_infos(self) -> dict[str, FeatureInfo]:
        out = {}
        for key, d in self.defs.items():
            if d.field_type not in _CUSTOM_KINDS:
                continue
            if d.field_type == "date":
                label = d.label
                out[f"custom.{key}"] = FeatureInfo(
                    label,
                    "numeric",
                    lambda v, label=label: f"{label}: {_plural(v, 'day')} ago",
                )
            else:
                out[f"custom.{key}"] = FeatureInfo(d.label, _CUSTOM_KINDS[d.field_type])
        return out

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        values = customer.contact.custom or {}
        out: dict[str, Any] = {}
        for key, d in self.defs.items():
            if d.field_type not in _CUSTOM_KINDS:
                continue
            value = values.get(key)
            if d.field_type == "date" and value:
                try:
                    value = (now.date() - date.fromisoformat(str(value)[:10])).days
                except ValueError:
                    value = None
            out[f"custom.{key}"] = value
        return out


def _since_contact(v: Any) -> str:
    if v is None:
        return "Never contacted"
    if v < 1:
        return "Contacted today"
    return (
        f"No contact in {_plural(v, 'day')}" if v >= 14 else f"Last contact {_plural(v, 'day')} ago"
    )


def _trend(v: Any) -> str:
    if v is None:
        return "No earlier contact to compare with"
    if v < 0.8:
        return f"Contact frequency down {round((1 - v) * 100)}% on the previous 9 months"
    if v > 1.25:
        return f"Contact frequency up {round((v - 1) * 100)}% on the previous 9 months"
    return "Contact frequency steady"


class ActivitySource(Source):
    """Calls, emails and meetings: recency, frequency, trend, who reaches out, call outcomes."""

    name = "activity"
    infos: ClassVar[dict[str, FeatureInfo]] = {
        "days_since_contact": FeatureInfo("Days since last contact", "numeric", _since_contact),
        "contacts_30d": FeatureInfo(
            "Contacts in the last 30 days",
            "numeric",
            lambda v: f"{_plural(v, 'contact')} in the last 30 days",
        ),
        "contacts_90d": FeatureInfo(
            "Contacts in the last 90 days",
            "numeric",
            lambda v: f"{_plural(v, 'contact')} in the last 90 days",
        ),
        "contacts_365d": FeatureInfo(
            "Contacts in the last year",
            "numeric",
            lambda v: f"{_plural(v, 'contact')} in the last year",
        ),
        "trend": FeatureInfo("Contact frequency trend", "numeric", _trend),
        "inbound_share": FeatureInfo(
            "Share of contacts they started",
            "numeric",
            lambda v: f"They started {round(v * 100)}% of conversations",
        ),
        "inbound_90d": FeatureInfo(
            "Times they reached out (90 days)",
            "numeric",
            lambda v: (
                f"Reached out {_plural(v, 'time')} in the last 90 days"
                if v
                else "Has not reached out in 90 days"
            ),
        ),
        "answer_rate": FeatureInfo(
            "Calls answered",
            "numeric",
            lambda v: f"Answers {round(v * 100)}% of our calls",
        ),
        "meetings": FeatureInfo(
            "Meetings held", "numeric", lambda v: f"{_plural(v, 'meeting')} held"
        ),
    }

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        return dict(await repo.activity_stats(session, principal, [c.id for c in contacts], now))

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        a = customer.activity
        prior_per_90 = a.prior_90_365d / 3.0
        directed = a.inbound + a.outbound
        calls = a.answered + a.unanswered
        return {
            "activity.days_since_contact": days_between(now, a.last_at),
            "activity.contacts_30d": float(a.last_30d),
            "activity.contacts_90d": float(a.last_90d),
            "activity.contacts_365d": float(a.last_365d),
            "activity.trend": (
                min(5.0, a.last_90d / prior_per_90) if a.prior_90_365d >= 2 else None
            ),
            "activity.inbound_share": a.inbound / directed if directed else None,
            "activity.inbound_90d": float(a.inbound_90d),
            "activity.answer_rate": a.answered / calls if calls else None,
            "activity.meetings": float(a.meetings),
        }


def _since_purchase(v: Any) -> str:
    if v is None:
        return "No purchase yet"
    return f"Last purchase {_plural(v, 'day')} ago"


class PurchaseSource(Source):
    """Purchases: won deals with their close dates and amounts (invoices and payments later)."""

    name = "purchases"
    infos: ClassVar[dict[str, FeatureInfo]] = {
        "count": FeatureInfo("Purchases", "numeric", lambda v: f"{_plural(v, 'purchase')} so far"),
        "count_365d": FeatureInfo(
            "Purchases in the last year",
            "numeric",
            lambda v: f"{_plural(v, 'purchase')} in the last year",
        ),
        "days_since_last": FeatureInfo("Days since last purchase", "numeric", _since_purchase),
        "total": FeatureInfo("Total spent", "numeric"),
        "average": FeatureInfo("Average purchase", "numeric"),
        "lost_deals": FeatureInfo("Lost deals", "numeric", lambda v: f"{_plural(v, 'lost deal')}"),
    }

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        ids = [c.id for c in contacts]
        won = await repo.purchases(session, principal, ids, before=now)
        lost = await repo.lost_deal_counts(session, principal, ids)
        return {i: {"won": won.get(i, []), "lost": lost.get(i, 0)} for i in set(won) | set(lost)}

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        won = customer.purchases
        total = sum(p.amount for p in won)
        last = won[-1].at if won else None
        recent = [p for p in won if (days_between(now, p.at) or 0) <= 365]
        return {
            "purchases.count": float(len(won)),
            "purchases.count_365d": float(len(recent)),
            "purchases.days_since_last": days_between(now, last),
            "purchases.total": total,
            "purchases.average": total / len(won) if won else None,
            "purchases.lost_deals": float((customer.facts.get("purchases") or {}).get("lost", 0)),
        }


def stalled(deal: repo.OpenDeal, now: datetime) -> bool:
    touched = max(d for d in (deal.updated_at, deal.last_activity_at) if d is not None)
    overdue = deal.expected_close_date is not None and deal.expected_close_date < now.date()
    return overdue or (days_between(now, touched) or 0) >= STALLED_DAYS


class PipelineSource(Source):
    name = "pipeline"
    infos: ClassVar[dict[str, FeatureInfo]] = {
        "open_deals": FeatureInfo("Open deals", "numeric", lambda v: f"{_plural(v, 'open deal')}"),
        "open_amount": FeatureInfo("Open pipeline", "numeric"),
        "stalled": FeatureInfo(
            "Stalled deals", "numeric", lambda v: f"{_plural(v, 'stalled deal')}"
        ),
    }

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        return dict(await repo.open_deals(session, principal, [c.id for c in contacts]))

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        deals = customer.open_deals
        return {
            "pipeline.open_deals": float(len(deals)),
            "pipeline.open_amount": sum(d.amount for d in deals),
            "pipeline.stalled": float(sum(stalled(d, now) for d in deals)),
        }


class TaskSource(Source):
    name = "tasks"
    infos: ClassVar[dict[str, FeatureInfo]] = {
        "open": FeatureInfo("Open tasks", "numeric", lambda v: f"{_plural(v, 'open task')}"),
        "overdue": FeatureInfo(
            "Overdue tasks", "numeric", lambda v: f"{_plural(v, 'overdue task')}"
        ),
    }

    async def load(
        self,
        session: AsyncSession,
        principal: Principal,
        contacts: Sequence[Contact],
        now: datetime,
    ) -> dict[int, Any]:
        return dict(await repo.open_tasks(session, principal, [c.id for c in contacts]))

    def featurize(self, customer: Customer, now: datetime) -> dict[str, Any]:
        tasks = customer.open_tasks
        overdue = [t for t in tasks if t.due_at is not None and t.due_at < now]
        return {"tasks.open": float(len(tasks)), "tasks.overdue": float(len(overdue))}


def default_sources() -> list[Source]:
    """The sources in use (a fresh list: CustomFieldSource keeps the definitions it loaded)."""
    return [
        ProfileSource(),
        CustomFieldSource(),
        ActivitySource(),
        PurchaseSource(),
        PipelineSource(),
        TaskSource(),
    ]


@dataclass
class Batch:
    customers: list[Customer]
    infos: dict[str, FeatureInfo]
    sources: list[Source]
    now: datetime

    def rows(self) -> list[dict[str, Any]]:
        """Raw features of each customer, in order."""
        out = []
        for customer in self.customers:
            row: dict[str, Any] = {}
            for source in self.sources:
                row.update(source.featurize(customer, self.now))
            out.append(row)
        return out


async def gather(
    session: AsyncSession,
    principal: Principal,
    contacts: Sequence[Contact],
    now: datetime,
    sources: list[Source] | None = None,
) -> Batch:
    """Every source's facts for these contacts (one query per source, not per contact)."""
    sources = sources if sources is not None else default_sources()
    customers = [Customer(contact=c) for c in contacts]
    for source in sources:
        facts = await source.load(session, principal, contacts, now)
        for customer in customers:
            if customer.id in facts:
                customer.facts[source.name] = facts[customer.id]
    infos: dict[str, FeatureInfo] = {}
    for source in sources:
        infos.update(source.feature_infos())
    return Batch(customers=customers, infos=infos, sources=sources, now=now)
