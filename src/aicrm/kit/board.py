"""Kanban columns with dense card order (0..n-1): one mechanism for the lead board and the deal
board. Callers hold the board's lock (row locks on the column rows on PostgreSQL; SQLite's write
lock already serialises) so concurrent moves never duplicate or lose a position."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from sqlalchemy import update

from aicrm.kit.repository import Repo
from aicrm.models.base import Base

M = TypeVar("M", bound=Base)


class BoardRepo(Repo[M]):
    """A Repo whose rows are cards: `column_attr` names the column id, `card_order` the place."""

    column_attr: ClassVar[str]

    def _col(self) -> Any:
        return getattr(self.model, self.column_attr)

    async def column_size(self, column_id: int, *, exclude_id: int | None = None) -> int:
        stmt = self.select().where(self._col() == column_id)
        if exclude_id is not None:
            stmt = stmt.where(self.model.id != exclude_id)
        return await self.count(stmt)

    async def shift(
        self, column_id: int, *, from_order: int, delta: int, to_order: int | None = None
    ) -> None:
        """Add `delta` to card_order of the column's cards with from_order <= order [< to_order]."""
        order = self.model.card_order  # type: ignore[attr-defined]
        stmt = (
            update(self.model)
            .where(
                self.model.organization_id == self.org_id,
                self._col() == column_id,
                order >= from_order,
            )  # type: ignore[attr-defined]
            .values(card_order=order + delta)
            .execution_options(synchronize_session=False)
        )
        if to_order is not None:
            stmt = stmt.where(order < to_order)
        await self.session.execute(stmt)

    async def column(self, column_id: int, limit: int) -> list[M]:
        stmt = (
            self.select()
            .where(self._col() == column_id)
            .order_by(self.model.card_order, self.model.id)  # type: ignore[attr-defined]
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())  # type: ignore[arg-type]

    async def place(self, card: M, column_id: int, order: int | None) -> None:
        """Put `card` at `order` (end when None) in `column_id`, within or across columns."""
        old_column, old_order = getattr(card, self.column_attr), card.card_order  # type: ignore[attr-defined]
        if old_column == column_id:
            size = await self.column_size(column_id)
            new = size - 1 if order is None else max(0, min(order, size - 1))
            if new < old_order:
                await self.shift(column_id, from_order=new, to_order=old_order, delta=1)
            elif new > old_order:
                await self.shift(column_id, from_order=old_order + 1, to_order=new + 1, delta=-1)
        else:
            await self.shift(old_column, from_order=old_order + 1, delta=-1)
            size = await self.column_size(column_id)
            new = size if order is None else max(0, min(order, size))
            await self.shift(column_id, from_order=new, delta=1)
        setattr(card, self.column_attr, column_id)
        card.card_order = new  # type: ignore[attr-defined]
        await self.session.flush()
