from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo
from aicrm.kit.text import fold, prefix_upper_bound
from aicrm.models import Company, Contact


def search_clause(q: str) -> ColumnElement[bool]:
    key = fold(q)
    hi = prefix_upper_bound(key)
    return or_(
        and_(Company.name_key >= key, Company.name_key < hi),
        and_(Company.domain >= key, Company.domain < hi),
    )


FILTERS = FilterSpec(
    entity_type="company",
    model=Company,
    fields={
        "name": Company.name,
        "domain": Company.domain,
        "industry": Company.industry,
        "size": Company.size,
        "country": Company.country,
        "city": Company.city,
        "owner_id": Company.owner_id,
        "annual_revenue": Company.annual_revenue,
        "created_at": Company.created_at,
        "updated_at": Company.updated_at,
        "id": Company.id,
    },
    search=search_clause,
)

SORTABLE: dict[str, Any] = {
    "name": Company.name_key,
    "created_at": Company.created_at,
    "updated_at": Company.updated_at,
    "id": Company.id,
}


class CompanyRepo(Repo[Company]):
    model = Company
    entity = "company"
    soft_delete = True

    async def by_name_key(self, key: str) -> Company | None:
        stmt = self.select().where(Company.name_key == key).order_by(Company.id).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def contact_counts(self, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        stmt = (
            select(Contact.company_id, func.count())
            .where(
                Contact.organization_id == self.org_id,
                Contact.company_id.in_(ids),
                Contact.deleted_at.is_(None),
            )
            .group_by(Contact.company_id)
        )
        return {cid: n for cid, n in (await self.session.execute(stmt)).all()}
