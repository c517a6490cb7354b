"""SQL for duplicate scans and merges — the one place that re-points foreign keys across domains.

Every statement is filtered by the caller's organization; the ids being merged were loaded
through the tenant-scoped base first, so a foreign id can never reach these updates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Column, Row, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from aicrm.errors import Conflict
from aicrm.kit.repository import Repo
from aicrm.models import Base, Company, Contact, Tagging

M = TypeVar("M", Contact, Company)


def references_to(table_name: str) -> list[Column[Any]]:
    """Every column of every table whose foreign key points at `<table_name>.id` — found from
    the metadata so a domain added later (tickets, bookings…) is moved without touching this."""
    out: list[Column[Any]] = []
    for table in Base.metadata.sorted_tables:
        for col in table.columns:
            if any(
                fk.column.table.name == table_name and fk.column.name == "id"
                for fk in col.foreign_keys
            ):
                out.append(col)
    return out


class _MergeRepo(Repo[M]):
    soft_delete = True
    summary_columns: ClassVar[tuple[str, ...]] = ()

    async def lock(self, ids: Sequence[int]) -> dict[int, M]:
        """The live (not merged, not deleted) records of this tenant among `ids`, row-locked."""
        stmt = self.select().where(self.model.id.in_(ids)).order_by(self.model.id).with_for_update()
        return {r.id: r for r in (await self.session.execute(stmt)).scalars()}

    async def exact_groups(
        self, column: Any, limit: int, *extra: Any
    ) -> tuple[dict[str, list[int]], bool]:
        """Values of `column` shared by several live records (GROUP BY on the tenant's index),
        at most `limit` of them, with the ids sharing each; and whether more exist."""
        keys_stmt = (
            self.scoped(select(column))
            .where(column.is_not(None), column != "", *extra)
            .group_by(column)
            .having(func.count() > 1)
            .order_by(column)
            .limit(limit + 1)
        )
        keys = list((await self.session.execute(keys_stmt)).scalars())
        truncated = len(keys) > limit
        keys = keys[:limit]
        groups: dict[str, list[int]] = {k: [] for k in keys}
        if keys:
            # sorted here: an ORDER BY id would make SQLite walk the tenant in id order
            # instead of probing the column's index per key
            rows = await self.session.execute(
                self.scoped(select(self.model.id, column)).where(column.in_(keys), *extra)
            )
            for id_, key in sorted(rows.all()):
                groups[key].append(id_)
        return groups, truncated

    async def summaries(self, ids: Sequence[int]) -> dict[int, Row[Any]]:
        if not ids:
            return {}
        cols = [getattr(self.model, c) for c in ("id", *self.summary_columns)]
        rows = await self.session.execute(self.scoped(select(*cols)).where(self.model.id.in_(ids)))
        return {r.id: r for r in rows.all()}

    async def repoint(self, from_ids: Sequence[int], to_id: int) -> dict[str, int]:
        """Point every row that references one of `from_ids` at `to_id`; counts per column."""
        moved: dict[str, int] = {}
        for col in references_to(self.model.__tablename__):
            table: Table = col.table  # type: ignore[assignment]
            stmt = update(table).where(col.in_(from_ids)).values({col.name: to_id})
            if "organization_id" in table.c:
                stmt = stmt.where(table.c.organization_id == self.org_id)
            if "version" in table.c:
                # the referencing record changed, so clients holding the old version must reload
                stmt = stmt.values(version=table.c.version + 1)
            try:
                result = await self.session.execute(stmt)
            except IntegrityError as exc:
                raise Conflict(
                    f"{table.name} rows cannot be moved to {self.entity} {to_id}: {exc.orig}"
                ) from exc
            count = int(getattr(result, "rowcount", 0) or 0)
            if count:
                moved[f"{table.name}.{col.name}"] = count
        # earlier merges that pointed at a duplicate now point at the survivor
        await self.session.execute(
            update(self.model)
            .where(
                self.model.organization_id == self.org_id,
                self.model.merged_into_id.in_(from_ids),
            )
            .values(merged_into_id=to_id)
            .execution_options(synchronize_session=False)
        )
        return moved

    async def move_taggings(self, from_ids: Sequence[int], to_id: int) -> int:
        """Tags of the duplicates onto the survivor, each tag once."""
        rows = sorted(
            (
                await self.session.execute(
                    select(Tagging.id, Tagging.tag_id, Tagging.entity_id).where(
                        Tagging.organization_id == self.org_id,
                        Tagging.entity_type == self.entity,
                        Tagging.entity_id.in_([to_id, *from_ids]),
                    )
                )
            ).all()
        )
        have = {r.tag_id for r in rows if r.entity_id == to_id}
        move_ids: list[int] = []
        drop_ids: list[int] = []
        for r in rows:
            if r.entity_id == to_id:
                continue
            if r.tag_id in have:
                drop_ids.append(r.id)
            else:
                have.add(r.tag_id)
                move_ids.append(r.id)
        scope = (Tagging.organization_id == self.org_id,)
        if drop_ids:
            await self.session.execute(delete(Tagging).where(Tagging.id.in_(drop_ids), *scope))
        if move_ids:
            await self.session.execute(
                update(Tagging)
                .where(Tagging.id.in_(move_ids), *scope)
                .values(entity_id=to_id)
                .execution_options(synchronize_session=False)
            )
        return len(move_ids)


class ContactMergeRepo(_MergeRepo[Contact]):
    model = Contact
    entity = "contact"
    summary_columns = ("name", "email", "phone", "company_id")

    async def name_blocks(self, batch: int = 5000) -> AsyncIterator[list[tuple[int, str]]]:
        """Live contacts with a company, one company at a time, streamed in (company, name)
        order so memory holds one company's names, never the whole table."""
        stmt = (
            self.scoped(select(Contact.id, Contact.company_id, Contact.name_key))
            .where(Contact.company_id.is_not(None), Contact.name_key != "")
            .order_by(Contact.company_id, Contact.name_key, Contact.id)
            .execution_options(yield_per=batch)
        )
        result = await self.session.stream(stmt)
        block: list[tuple[int, str]] = []
        current: int | None = None
        async for part in result.partitions():
            for id_, company_id, key in part:
                if company_id != current and block:
                    yield block
                    block = []
                current = company_id
                block.append((id_, key))
        if block:
            yield block


class CompanyMergeRepo(_MergeRepo[Company]):
    model = Company
    entity = "company"
    summary_columns = ("name", "domain", "phone")

    async def names(self) -> list[tuple[int, str]]:
        stmt = self.scoped(select(Company.id, Company.name_key)).where(Company.name_key != "")
        return [(r.id, r.name_key) for r in (await self.session.execute(stmt)).all()]
