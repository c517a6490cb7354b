from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select

from aicrm.kit.board import BoardRepo
from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo
from aicrm.models import Deal, Pipeline, PipelineStage
from aicrm.models.base import Base


def search_clause(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the deal name."""
    return Deal.name.icontains(q.strip(), autoescape=True)


FILTERS = FilterSpec(
    entity_type="deal",
    model=Deal,
    fields={
        "pipeline_id": Deal.pipeline_id,
        "stage_id": Deal.stage_id,
        "status": Deal.status,
        "owner_id": Deal.owner_id,
        "contact_id": Deal.contact_id,
        "company_id": Deal.company_id,
        "lead_id": Deal.lead_id,
        "amount": Deal.amount,
        "currency": Deal.currency,
        "expected_close_date": Deal.expected_close_date,
        "closed_at": Deal.closed_at,
        "name": Deal.name,
        "created_at": Deal.created_at,
        "updated_at": Deal.updated_at,
        "id": Deal.id,
    },
    search=search_clause,
)

# Keyset pagination compares with the last row's value, so only NOT NULL columns are sortable.
SORTABLE: dict[str, Any] = {
    "name": Deal.name,
    "amount": Deal.amount,
    "created_at": Deal.created_at,
    "updated_at": Deal.updated_at,
    "card_order": Deal.card_order,
    "id": Deal.id,
}


class PipelineRepo(Repo[Pipeline]):
    model = Pipeline
    entity = "pipeline"

    async def ordered(self) -> list[Pipeline]:
        stmt = self.select().order_by(Pipeline.is_default.desc(), Pipeline.name, Pipeline.id)
        return list((await self.session.execute(stmt)).scalars())

    async def default(self) -> Pipeline | None:
        stmt = self.select().order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_name(self, name: str) -> Pipeline | None:
        stmt = self.select().where(func.lower(Pipeline.name) == name.strip().lower())
        return (await self.session.execute(stmt)).scalars().first()

    async def lock_all(self) -> None:
        """Serialise pipeline changes (the default flag, names) within one organization. NO KEY
        UPDATE on PostgreSQL, so inserting deals and stages (whose foreign keys take KEY SHARE
        on the pipeline row) does not queue behind a rename."""
        stmt = (
            self.scoped(select(Pipeline.id)).order_by(Pipeline.id).with_for_update(key_share=True)
        )
        await self.session.execute(stmt)


class StageRepo(Repo[PipelineStage]):
    model = PipelineStage
    entity = "stage"

    async def of_pipeline(self, pipeline_id: int) -> list[PipelineStage]:
        stmt = (
            self.select()
            .where(PipelineStage.pipeline_id == pipeline_id)
            .order_by(PipelineStage.position, PipelineStage.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def of_pipelines(self, pipeline_ids: Iterable[int]) -> list[PipelineStage]:
        ids = sorted(set(pipeline_ids))
        if not ids:
            return []
        stmt = (
            self.select()
            .where(PipelineStage.pipeline_id.in_(ids))
            .order_by(PipelineStage.pipeline_id, PipelineStage.position, PipelineStage.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def named(self, name: str) -> list[PipelineStage]:
        """Stages of any pipeline with this name (case-insensitive)."""
        stmt = self.select().where(func.lower(PipelineStage.name) == name.strip().lower())
        return list((await self.session.execute(stmt)).scalars())

    async def lock_board(self, pipeline_ids: Iterable[int]) -> None:
        """Serialise card moves and stage edits of these pipelines. Rows are locked in id order
        whatever the set, so two transactions never wait on each other in a cycle. On SQLite the
        write transaction already holds the database's single write lock."""
        ids = sorted(set(pipeline_ids))
        if not ids:
            return
        stmt = (
            self.scoped(select(PipelineStage.id))
            .where(PipelineStage.pipeline_id.in_(ids))
            .order_by(PipelineStage.id)
            .with_for_update()
        )
        await self.session.execute(stmt)

    async def delete_of_pipeline(self, pipeline_id: int) -> None:
        await self.session.execute(
            delete(PipelineStage).where(
                PipelineStage.organization_id == self.org_id,
                PipelineStage.pipeline_id == pipeline_id,
            )
        )


class DealRepo(BoardRepo[Deal]):
    model = Deal
    entity = "deal"
    column_attr = "stage_id"

    async def pipeline_of(self, deal_id: int) -> int | None:
        if not 0 < deal_id < 2**63:
            return None
        stmt = self.scoped(select(Deal.pipeline_id)).where(Deal.id == deal_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def forget(self, obj: Base) -> None:
        """Drop the loaded state of a row so the next query reads it afresh."""
        self.session.expire(obj)

    async def relock(self, obj: Base) -> None:
        """Reload a row with a row lock. NO KEY UPDATE on PostgreSQL: it serialises writers of
        the row but lets rows referencing it (a deal's lead_id) be inserted meanwhile, so a
        transaction holding a board lock never waits on us in a cycle."""
        await self.session.refresh(obj, with_for_update={"key_share": True})

    async def in_pipeline(self, pipeline_id: int) -> int:
        return await self.count(self.select().where(Deal.pipeline_id == pipeline_id))

    async def column_stats(self, pipeline_id: int) -> dict[int, tuple[int, float]]:
        stmt = (
            self.scoped(
                select(Deal.stage_id, func.count(), func.coalesce(func.sum(Deal.amount), 0))
            )
            .where(Deal.pipeline_id == pipeline_id)
            .group_by(Deal.stage_id)
        )
        return {
            sid: (n, float(total)) for sid, n, total in (await self.session.execute(stmt)).all()
        }
