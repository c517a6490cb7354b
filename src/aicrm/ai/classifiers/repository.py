from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import defer

from aicrm.kit.repository import Repo
from aicrm.models import AIClassifier, AIClassifierExample, utcnow

SORTABLE = {"id": AIClassifier.id, "name": AIClassifier.name}
_example = AIClassifierExample.__table__


class ClassifierRepo(Repo[AIClassifier]):
    model = AIClassifier
    entity = "classifier"

    def select(self) -> Select[Any]:
        # the fitted model (megabytes) is read only when a prediction needs it
        return super().select().options(defer(AIClassifier.blob))

    async def by_name(self, name: str) -> AIClassifier | None:
        rows = await self.session.execute(self.select().where(AIClassifier.name == name))
        return rows.scalar_one_or_none()

    async def blob(self, classifier_id: int) -> bytes | None:
        return await self.session.scalar(
            self.scoped(select(AIClassifier.blob)).where(AIClassifier.id == classifier_id)
        )

    async def add_examples(self, classifier_id: int, examples: list[tuple[str, str]]) -> None:
        if not examples:
            return
        now = utcnow()
        rows = [
            {
                "organization_id": self.org_id,
                "classifier_id": classifier_id,
                "text": text,
                "label": label,
                "created_at": now,
                "updated_at": now,
            }
            for text, label in examples
        ]
        for i in range(0, len(rows), 5000):
            await self.session.execute(insert(_example), rows[i : i + 5000])

    async def examples(self, classifier_id: int) -> list[tuple[str, str]]:
        rows = await self.session.execute(
            select(_example.c.text, _example.c.label)
            .where(
                _example.c.organization_id == self.org_id,
                _example.c.classifier_id == classifier_id,
            )
            .order_by(_example.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    async def label_counts(self, classifier_id: int) -> dict[str, int]:
        rows = await self.session.execute(
            select(_example.c.label, func.count())
            .where(
                _example.c.organization_id == self.org_id,
                _example.c.classifier_id == classifier_id,
            )
            .group_by(_example.c.label)
            .order_by(_example.c.label)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def delete_examples(self, classifier_id: int) -> None:
        await self.session.execute(
            delete(_example).where(
                _example.c.organization_id == self.org_id,
                _example.c.classifier_id == classifier_id,
            )
        )
