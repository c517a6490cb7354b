"""SQL of the forecast: deals, their audit history, stages, and the stored forecast insights."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.forecast.history import AuditEntry
from aicrm.ai.forecast.model import StageInfo
from aicrm.kit.repository import Repo
from aicrm.models import AIInsight, AuditLog, Deal, Organization, Pipeline, PipelineStage

DEAL_COLUMNS = (
    Deal.id,
    Deal.name,
    Deal.pipeline_id,
    Deal.stage_id,
    Deal.owner_id,
    Deal.currency,
    Deal.status,
    Deal.amount,
    Deal.expected_close_date,
    Deal.created_at,
    Deal.closed_at,
    Deal.custom,
)


class ForecastRepo(Repo[Deal]):
    model: ClassVar[type[Deal]] = Deal
    entity = "deal"

    async def organization(self) -> Organization | None:
        return await self.session.get(Organization, self.org_id)

    async def stages(self) -> dict[int, StageInfo]:
        stmt = self.scoped(
            select(
                PipelineStage.id,
                PipelineStage.pipeline_id,
                PipelineStage.name,
                PipelineStage.position,
                PipelineStage.probability,
                PipelineStage.is_won,
                PipelineStage.is_lost,
            ),
            PipelineStage,
        )
        return {
            r.id: StageInfo(
                id=r.id,
                pipeline_id=r.pipeline_id,
                name=r.name,
                position=r.position,
                probability=float(r.probability),
                is_won=bool(r.is_won),
                is_lost=bool(r.is_lost),
            )
            for r in (await self.session.execute(stmt)).all()
        }

    async def pipeline_names(self) -> dict[int, str]:
        stmt = self.scoped(select(Pipeline.id, Pipeline.name), Pipeline)
        return {i: n for i, n in (await self.session.execute(stmt)).all()}

    async def deals(self) -> list[dict[str, Any]]:
        """Every deal of the organization (the history the model learns from)."""
        stmt = self.scoped(select(*DEAL_COLUMNS)).order_by(Deal.id)
        return [dict(r._mapping) for r in (await self.session.execute(stmt)).all()]

    async def audit(self) -> dict[int, list[AuditEntry]]:
        """Creation snapshots and changes of the organization's deals, per deal, in order."""
        stmt = (
            self.scoped(
                select(
                    AuditLog.entity_id,
                    AuditLog.action,
                    AuditLog.created_at,
                    AuditLog.before,
                    AuditLog.after,
                ),
                AuditLog,
            )
            .where(AuditLog.entity_type == "deal", AuditLog.action.in_(("create", "update")))
            .order_by(AuditLog.entity_id, AuditLog.created_at, AuditLog.id)
        )
        out: dict[int, list[AuditEntry]] = defaultdict(list)
        for entity_id, action, at, before, after in (await self.session.execute(stmt)).all():
            if entity_id is None:
                continue
            if action == "update" and not _touches_history(after):
                continue
            out[entity_id].append(AuditEntry(action, at, before, after))
        return out

    async def stamp(self) -> tuple[Any, ...]:
        """Changes whenever a deal or a stage changes: the cache key of computed forecasts."""
        deals = (
            await self.session.execute(
                self.scoped(select(func.count(), func.max(Deal.id), func.max(Deal.updated_at)))
            )
        ).one()
        stages = (
            await self.session.execute(
                self.scoped(select(func.count(), func.max(PipelineStage.updated_at)), PipelineStage)
            )
        ).one()
        return (*tuple(deals), *tuple(stages))

    async def current_insight(self, fingerprint: str) -> AIInsight | None:
        stmt = (
            self.scoped(select(AIInsight), AIInsight)
            .where(
                AIInsight.kind == "forecast",
                AIInsight.entity_type.is_(None),
                AIInsight.fingerprint == fingerprint,
                AIInsight.is_current.is_(True),
            )
            .order_by(AIInsight.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()


def _touches_history(after: Any) -> bool:
    return isinstance(after, dict) and any(
        k in after for k in ("stage_id", "amount", "expected_close_date")
    )


async def organizations_with_open_deals(session: AsyncSession) -> list[int]:
    """Every organization with an open deal (the daily forecast job's worklist)."""
    stmt = select(Deal.organization_id).where(Deal.status == "open").distinct()
    return sorted(int(o) for (o,) in (await session.execute(stmt)).all())
