"""The record types rules work on, each reached through its own domain service.

A rule never touches another domain's tables: it reads a record as the API shows it (`to_out`,
so `status` is the status name and `tags` the tag names), lists candidates with the domain's own
filter language, and writes through the domain's `update` — the same validation, audit and
events as a change made through the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.companies import service as company_service
from aicrm.companies.schemas import CompanyOut, CompanyUpdate
from aicrm.contacts import service as contact_service
from aicrm.contacts.schemas import ContactOut, ContactUpdate
from aicrm.deals import service as deal_service
from aicrm.deals.schemas import DealOut, DealUpdate
from aicrm.errors import NotFound
from aicrm.kit.principal import Principal
from aicrm.leads import service as lead_service
from aicrm.leads.schemas import LeadOut, LeadUpdate
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskOut, TaskUpdate

Lister = Callable[..., Awaitable[tuple[list[Any], str | None]]]


@dataclass(frozen=True)
class EntityKind:
    name: str
    out: type[BaseModel]
    update_schema: type[BaseModel]
    service: Any
    lister: str
    owner_field: str
    title_field: str
    link: str
    has_tags: bool = True
    # names people use for the same field (a lead's "amount" is its value)
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    @property
    def fields(self) -> frozenset[str]:
        """Fields conditions may read (besides custom.<key> and event.<key>)."""
        return frozenset(self.out.model_fields) | frozenset(self.aliases)

    @property
    def settable(self) -> frozenset[str]:
        """Fields set_field may write: the domain's update schema, minus the ones with their own
        action (tags → add_tag) or their own syntax (custom → custom.<key>)."""
        names = set(self.update_schema.model_fields) - {"version", "tags", "custom"}
        return frozenset(names | {a for a, t in self.aliases.items() if t in names})

    def link_for(self, entity_id: int) -> str:
        return f"{self.link}/{entity_id}"

    async def load(
        self, session: AsyncSession, principal: Principal, entity_id: int
    ) -> dict[str, Any]:
        """The record fresh from the database, as the API shows it (NotFound when gone)."""
        row = await self.service.get(session, principal, entity_id)
        out = (await self.service.to_out(session, principal, [row]))[0]
        return dict(out.model_dump(mode="json"))

    async def get_or_none(
        self, session: AsyncSession, principal: Principal, entity_id: int
    ) -> dict[str, Any] | None:
        try:
            return await self.load(session, principal, entity_id)
        except NotFound:
            return None

    async def page(
        self,
        session: AsyncSession,
        principal: Principal,
        params: dict[str, Any],
        *,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records matching the domain's list filters, in id order."""
        fn: Lister = getattr(self.service, self.lister)
        rows, nxt = await fn(session, principal, params, sort="id", cursor=cursor, limit=limit)
        return [dict(r.model_dump(mode="json")) for r in rows], nxt

    async def update(
        self, session: AsyncSession, principal: Principal, entity_id: int, changes: dict[str, Any]
    ) -> None:
        data = self.update_schema.model_validate(changes)
        await self.service.update(session, principal, entity_id, data)

    async def email(
        self, session: AsyncSession, principal: Principal, record: dict[str, Any]
    ) -> str | None:
        """Where an email "to the record" goes: its own address, else its contact's, else its
        lead's."""
        if self.name in ("lead", "contact") and record.get("email"):
            return str(record["email"])
        contact_id = record.get("contact_id")
        if contact_id:
            contact = await KINDS["contact"].get_or_none(session, principal, int(contact_id))
            if contact and contact.get("email"):
                return str(contact["email"])
        lead_id = record.get("lead_id")
        if lead_id and self.name != "lead":
            lead = await KINDS["lead"].get_or_none(session, principal, int(lead_id))
            if lead and lead.get("email"):
                return str(lead["email"])
        return None


KINDS: dict[str, EntityKind] = {
    "lead": EntityKind(
        "lead",
        LeadOut,
        LeadUpdate,
        lead_service,
        "list_leads",
        owner_field="assignee_id",
        title_field="name",
        link="/leads",
        aliases={"amount": "value", "owner_id": "assignee_id"},
    ),
    "deal": EntityKind(
        "deal",
        DealOut,
        DealUpdate,
        deal_service,
        "list_deals",
        owner_field="owner_id",
        title_field="name",
        link="/deals",
        aliases={"value": "amount"},
    ),
    "contact": EntityKind(
        "contact",
        ContactOut,
        ContactUpdate,
        contact_service,
        "list_contacts",
        owner_field="owner_id",
        title_field="name",
        link="/contacts",
    ),
    "company": EntityKind(
        "company",
        CompanyOut,
        CompanyUpdate,
        company_service,
        "list_companies",
        owner_field="owner_id",
        title_field="name",
        link="/companies",
    ),
    "task": EntityKind(
        "task",
        TaskOut,
        TaskUpdate,
        task_service,
        "list_tasks",
        owner_field="assignee_id",
        title_field="title",
        link="/tasks",
        has_tags=False,
        aliases={"owner_id": "assignee_id", "name": "title"},
    ),
}


def kind(entity_type: str | None) -> EntityKind | None:
    return KINDS.get(entity_type or "")
