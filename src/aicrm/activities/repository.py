from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo
from aicrm.models import Activity, Contact, Deal


def search_clause(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on subject or body."""
    text = q.strip()
    return or_(
        Activity.subject.icontains(text, autoescape=True),
        Activity.body.icontains(text, autoescape=True),
    )


FILTERS = FilterSpec(
    entity_type="activity",
    model=Activity,
    fields={
        "type": Activity.type,
        "direction": Activity.direction,
        "outcome": Activity.outcome,
        "user_id": Activity.user_id,
        "contact_id": Activity.contact_id,
        "company_id": Activity.company_id,
        "lead_id": Activity.lead_id,
        "deal_id": Activity.deal_id,
        "duration_minutes": Activity.duration_minutes,
        "occurred_at": Activity.occurred_at,
        "created_at": Activity.created_at,
        "id": Activity.id,
    },
    search=search_clause,
)

SORTABLE: dict[str, Any] = {
    "occurred_at": Activity.occurred_at,
    "created_at": Activity.created_at,
    "id": Activity.id,
}


class ActivityRepo(Repo[Activity]):
    model = Activity
    entity = "activity"

    def timeline(self, of: str, id_: int) -> Select[Any]:
        """Activities on one record; a company's also gathers those of its contacts and deals."""
        if of == "contact":
            return self.select().where(Activity.contact_id == id_)
        if of == "lead":
            return self.select().where(Activity.lead_id == id_)
        if of == "deal":
            return self.select().where(Activity.deal_id == id_)
        contacts = self.scoped(select(Contact.id), Contact).where(Contact.company_id == id_)
        deals = self.scoped(select(Deal.id), Deal).where(Deal.company_id == id_)
        return self.select().where(
            or_(
                Activity.company_id == id_,
                Activity.contact_id.in_(contacts),
                Activity.deal_id.in_(deals),
            )
        )
