from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from aicrm.kit.board import BoardRepo
from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo
from aicrm.models import Lead, LeadStatus


def search_clause(q: str) -> ColumnElement[bool]:
    """Substring search over name, company and email (case-insensitive)."""
    pattern = f"%{q.strip()}%"
    return or_(Lead.name.ilike(pattern), Lead.company.ilike(pattern), Lead.email.ilike(pattern))


FILTERS = FilterSpec(
    entity_type="lead",
    model=Lead,
    fields={
        "status_id": Lead.status_id,
        "source": Lead.source,
        "priority": Lead.priority,
        "assignee_id": Lead.assignee_id,
        "contact_id": Lead.contact_id,
        "company_id": Lead.company_id,
        "value": Lead.value,
        "quality_score": Lead.quality_score,
        "email": Lead.email,
        "company": Lead.company,
        "name": Lead.name,
        "created_at": Lead.created_at,
        "updated_at": Lead.updated_at,
        "last_contacted_at": Lead.last_contacted_at,
        "converted_at": Lead.converted_at,
        "id": Lead.id,
    },
    search=search_clause,
)

SORTABLE: dict[str, Any] = {
    "created_at": Lead.created_at,
    "updated_at": Lead.updated_at,
    "value": Lead.value,
    "name": Lead.name,
    "card_order": Lead.card_order,
    "id": Lead.id,
}


class LeadStatusRepo(Repo[LeadStatus]):
    model = LeadStatus
    entity = "lead status"

    async def ordered(self) -> list[LeadStatus]:
        stmt = self.select().order_by(LeadStatus.position, LeadStatus.id)
        return list((await self.session.execute(stmt)).scalars())

    async def lock_board(self) -> None:
        """Serialise card moves within one organization (row locks on PostgreSQL; SQLite
        transactions that write already hold the database's single write lock)."""
        stmt = self.scoped(select(LeadStatus.id)).order_by(LeadStatus.id).with_for_update()
        await self.session.execute(stmt)

    async def by_name(self, name: str) -> LeadStatus | None:
        stmt = self.select().where(func.lower(LeadStatus.name) == name.strip().lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()


class LeadRepo(BoardRepo[Lead]):
    model = Lead
    entity = "lead"
    column_attr = "status_id"

    async def column_stats(self) -> dict[int, tuple[int, float]]:
        stmt = self.scoped(
            select(Lead.status_id, func.count(), func.coalesce(func.sum(Lead.value), 0))
        ).group_by(Lead.status_id)
        return {
            sid: (n, float(total)) for sid, n, total in (await self.session.execute(stmt)).all()
        }
