from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, union_all

from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo
from aicrm.kit.text import fold, prefix_upper_bound
from aicrm.models import Contact


def search_clause(q: str) -> ColumnElement[bool]:
    """Prefix match on full name, last name or email: three index range scans."""
    key = fold(q)
    hi = prefix_upper_bound(key)
    clauses = [
        and_(Contact.name_key >= key, Contact.name_key < hi),
        and_(Contact.last_name_key >= key, Contact.last_name_key < hi),
    ]
    if "@" in key or "." in key or len(key) >= 3:
        clauses.append(and_(Contact.email >= key, Contact.email < hi))
    return or_(*clauses)


SEARCH_CAP = 1000


def scoped_search_clause(q: str, org_id: int) -> ColumnElement[bool]:
    """The same prefix match as a union of three index range scans, each capped: an OR of the
    ranges made both databases walk the name index and test every row."""
    key = fold(q)
    hi = prefix_upper_bound(key)
    cols = [Contact.name_key, Contact.last_name_key]
    if "@" in key or "." in key or len(key) >= 3:
        cols.append(Contact.email)
    branches = [
        select(
            select(Contact.id)
            .where(
                Contact.organization_id == org_id,
                col >= key,
                col < hi,
                Contact.deleted_at.is_(None),
            )
            .order_by(col)
            .limit(SEARCH_CAP)
            .subquery()
            .c.id
        )
        for col in cols
    ]
    return Contact.id.in_(union_all(*branches))


FILTERS = FilterSpec(
    entity_type="contact",
    model=Contact,
    fields={
        "status": Contact.status,
        "owner_id": Contact.owner_id,
        "company_id": Contact.company_id,
        "country": Contact.country,
        "city": Contact.city,
        "preferred_channel": Contact.preferred_channel,
        "lifetime_value": Contact.lifetime_value,
        "churn_risk": Contact.churn_risk,
        "email": Contact.email,
        "phone": Contact.phone,
        "name": Contact.name,
        "created_at": Contact.created_at,
        "updated_at": Contact.updated_at,
        "last_activity_at": Contact.last_activity_at,
        "id": Contact.id,
    },
    search=search_clause,
    scoped_search=scoped_search_clause,
)

SORTABLE: dict[str, Any] = {
    "name": Contact.name_key,
    "created_at": Contact.created_at,
    "updated_at": Contact.updated_at,
    "lifetime_value": Contact.lifetime_value,
    "id": Contact.id,
}


class ContactRepo(Repo[Contact]):
    model = Contact
    entity = "contact"
    soft_delete = True
