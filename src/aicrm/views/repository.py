from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.repository import Repo
from aicrm.models import SavedView

SORTABLE: dict[str, Any] = {
    "name": SavedView.name,
    "created_at": SavedView.created_at,
    "updated_at": SavedView.updated_at,
    "id": SavedView.id,
}


class SavedViewRepo(Repo[SavedView]):
    model = SavedView
    entity = "view"

    def select(self) -> Select[Any]:
        """Shared views plus the caller's own private ones: another user's private view is not
        found (404), exactly like another tenant's records."""
        visible: ColumnElement[bool] = SavedView.shared.is_(True)
        if self.principal.user_id is not None:
            visible = or_(visible, SavedView.owner_id == self.principal.user_id)
        return super().select().where(visible)

    async def name_taken(self, entity_type: str, name: str, *, exclude_id: int | None) -> bool:
        # Across every view of the organization, private ones included: the unique constraint
        # is per organization and entity type.
        stmt = self.scoped(select(SavedView.id)).where(
            SavedView.entity_type == entity_type, func.lower(SavedView.name) == name.lower()
        )
        if exclude_id is not None:
            stmt = stmt.where(SavedView.id != exclude_id)
        return (await self.session.execute(stmt.limit(1))).first() is not None


async def count_many(session: AsyncSession, stmts: list[Select[Any]]) -> list[int]:
    """Row counts of several statements in one round trip (one scalar subquery each)."""
    if not stmts:
        return []
    columns = [
        select(func.count()).select_from(s.order_by(None).subquery()).scalar_subquery()
        for s in stmts
    ]
    row = (await session.execute(select(*columns))).one()
    return [int(v) for v in row]
