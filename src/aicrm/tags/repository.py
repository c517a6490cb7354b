from __future__ import annotations

from sqlalchemy import delete, select

from aicrm.kit.repository import Repo
from aicrm.models import Tag, Tagging


class TagRepo(Repo[Tag]):
    model = Tag
    entity = "tag"

    async def by_names(self, names: list[str]) -> dict[str, Tag]:
        if not names:
            return {}
        rows = await self.session.execute(self.select().where(Tag.name.in_(names)))
        return {t.name: t for t in rows.scalars()}


class TaggingRepo(Repo[Tagging]):
    model = Tagging
    entity = "tagging"

    async def names_for(self, entity_type: str, ids: list[int]) -> dict[int, list[str]]:
        if not ids:
            return {}
        stmt = (
            self.scoped(
                select(Tagging.entity_id, Tag.name).join(Tag, Tag.id == Tagging.tag_id), Tagging
            )
            .where(Tagging.entity_type == entity_type, Tagging.entity_id.in_(ids))
            .order_by(Tag.name)
        )
        out: dict[int, list[str]] = {}
        for eid, name in (await self.session.execute(stmt)).all():
            out.setdefault(eid, []).append(name)
        return out

    async def clear(self, entity_type: str, entity_id: int) -> None:
        await self.session.execute(
            delete(Tagging).where(
                Tagging.organization_id == self.org_id,
                Tagging.entity_type == entity_type,
                Tagging.entity_id == entity_id,
            )
        )

    async def move(self, entity_type: str, from_id: int, to_id: int) -> None:
        """Re-point taggings of a merged record at the survivor, without duplicates."""
        existing = set((await self.names_for(entity_type, [to_id])).get(to_id, []))
        rows = (
            (
                await self.session.execute(
                    self.select().where(
                        Tagging.entity_type == entity_type, Tagging.entity_id == from_id
                    )
                )
            )
            .scalars()
            .all()
        )
        tag_names = {
            t.id: t.name
            for t in (
                await self.session.execute(select(Tag).where(Tag.organization_id == self.org_id))
            ).scalars()
        }
        for row in rows:
            if tag_names.get(row.tag_id) in existing:
                await self.session.delete(row)
            else:
                row.entity_id = to_id
        await self.session.flush()
