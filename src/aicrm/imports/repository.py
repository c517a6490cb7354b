"""Bulk SQL for imports and exports: Core statements in batches, never an ORM object per row.

Every statement carries the caller's organization; rows written here get it from the principal."""

from __future__ import annotations

import operator
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.principal import Principal
from aicrm.models import Base, Company, Lead, LeadStatus, Organization, Tag, Tagging

BULK_CACHE_KIB = 192 * 1024
_PLAIN_JSON_TEXT = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without " and \ (fullmatch)


def _oldest(pairs: Iterable[Any]) -> dict[str, int]:
    """value → the smallest (oldest) id among (value, id) pairs."""
    out: dict[str, int] = {}
    for value, id_ in pairs:
        if value not in out or id_ < out[value]:
            out[value] = id_
    return out


class SqliteEncoder:
    """Rows (values in `columns` order) turned into what SQLite stores, by the column types'
    own bind processors: exactly the values SQLAlchemy's insert would bind. It needs no
    connection, so worker processes encode the rows they prepare and the writer only passes
    them on."""

    def __init__(self, table: Any, columns: Sequence[str]) -> None:
        from sqlalchemy.dialects.sqlite.aiosqlite import dialect

        d = dialect()
        self.columns = list(columns)
        self.procs: dict[int, tuple[Any, bool]] = {}
        for i, name in enumerate(self.columns):
            type_ = table.c[name].type
            proc = type_.dialect_impl(d).bind_processor(d)
            if proc is not None:
                self.procs[i] = (proc, isinstance(type_, JSON))

    def row(self, row: list[Any]) -> list[Any]:
        """Encode in place."""
        for i, (proc, is_json) in self.procs.items():
            v = row[i]
            if v is not None:
                row[i] = _json(v, proc) if is_json else proc(v)
        return row

    def value(self, column: str, value: Any) -> Any:
        i = self.columns.index(column)
        if value is None or i not in self.procs:
            return value
        proc, is_json = self.procs[i]
        return _json(value, proc) if is_json else proc(value)


def _json(value: Any, proc: Any) -> Any:
    """What the JSON type's processor (json.dumps) makes of `value`, writing the common
    shapes — empty, or a list of plain ASCII text such as emails and phones — directly."""
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, list) and all(
        isinstance(v, str) and _PLAIN_JSON_TEXT.fullmatch(v) for v in value
    ):
        return '["' + '", "'.join(value) + '"]'
    return proc(value)


class BulkRepo:
    def __init__(self, session: AsyncSession, principal: Principal, model: type[Base]) -> None:
        self.session = session
        self.org_id = principal.organization_id
        self.model = model
        self.table = model.__table__  # type: ignore[attr-defined]
        self.soft_delete = "deleted_at" in self.table.c
        self.is_sqlite = session.get_bind().dialect.name == "sqlite"

    def _live(self, table: Any = None) -> list[ColumnElement[bool]]:
        table = self.table if table is None else table
        out = [table.c.organization_id == self.org_id]
        if "deleted_at" in table.c:
            out.append(table.c.deleted_at.is_(None))
        return out

    async def has_rows(self) -> bool:
        stmt = select(self.table.c.id).where(*self._live()).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def find(self, column: str, values: Iterable[str]) -> dict[str, int]:
        """value → id of the oldest live record holding it in `column`."""
        values = list(values)
        if not values:
            return {}
        col = self.table.c[column]
        # no ORDER BY: with one, SQLite walks the whole tenant in id order instead of probing
        # the (organization, column) index once per value
        rows = await self.session.execute(
            select(col, self.table.c.id).where(*self._live(), col.in_(values))
        )
        return _oldest(rows.all())

    async def insert_rows(
        self,
        columns: Sequence[str],
        rows: list[list[Any]],
        table: Any = None,
        *,
        encoded: bool = False,
    ) -> list[int]:
        """executemany INSERT of rows given as values in `columns` order (on SQLite possibly
        `encoded` already, see SqliteEncoder); the new ids in row order."""
        if not rows:
            return []
        t = self.table if table is None else table
        if not self.is_sqlite:
            result = await self.session.execute(
                insert(t).returning(t.c.id, sort_by_parameter_order=True),
                [dict(zip(columns, row, strict=True)) for row in rows],
            )
            return list(result.scalars())
        await self._sqlite_executemany(t, columns, rows, encoded=encoded)
        # the write transaction holds SQLite's only write lock, so the rowids just handed out
        # are the contiguous range ending at max(id)
        last = (await self.session.execute(select(func.max(t.c.id)))).scalar_one()
        return list(range(last - len(rows) + 1, last + 1))

    async def insert(self, rows: list[dict[str, Any]], table: Any = None) -> list[int]:
        """insert_rows for rows given as dicts (all with the same keys)."""
        if not rows:
            return []
        columns = list(rows[0])
        return await self.insert_rows(columns, [[r[c] for c in columns] for r in rows], table)

    async def _sqlite_executemany(
        self, table: Any, columns: Sequence[str], rows: list[list[Any]], *, encoded: bool = False
    ) -> None:
        """The Core insert() compiled once, its parameters bound by the column types' own
        processors, and handed to the driver as tuples: SQLAlchemy's per-row parameter
        machinery costs more than SQLite's insert itself at a million rows."""
        conn = await self.session.connection()
        dialect = conn.dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        names = compiled.positiontup or []
        if any(n not in columns for n in names):
            # a column left to its Python default: let SQLAlchemy fill it in
            await self.session.execute(
                insert(table), [dict(zip(columns, row, strict=True)) for row in rows]
            )
            return
        getter = operator.itemgetter(*(list(columns).index(n) for n in names))
        if encoded:
            await conn.exec_driver_sql(str(compiled), list(map(getter, rows)))
            return
        # column by column: a type's processor runs over a list, values shared by every row
        # (timestamps) are processed once, and JSON lists of plain text skip the encoder
        data: list[Any] = list(zip(*map(getter, rows), strict=True))
        for i, name in enumerate(names):
            type_ = table.c[name].type
            proc = type_.dialect_impl(dialect).bind_processor(dialect)
            if proc is None:
                continue
            col = data[i]
            if isinstance(type_, JSON):
                data[i] = [None if v is None else _json(v, proc) for v in col]
                continue
            first = col[0]
            if all(v is first for v in col):
                data[i] = [None if first is None else proc(first)] * len(col)
            else:
                data[i] = [None if v is None else proc(v) for v in col]
        params = list(zip(*data, strict=True))
        await conn.exec_driver_sql(str(compiled), params)

    async def refresh_statistics(self) -> None:
        """Let PostgreSQL's planner see the rows this import has added — ANALYZE counts the
        transaction's own rows — so the duplicate lookups keep probing the (organization, key)
        indexes instead of walking a tenant it believes is empty. SQLite needs nothing: it
        plans these lookups without statistics."""
        if not self.is_sqlite:
            await self.session.execute(text(f"ANALYZE {self.table.name}"))

    async def load(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(self.table).where(*self._live(), self.table.c.id.in_(ids))
        )
        return {r["id"]: dict(r) for r in rows.mappings()}

    async def update(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        """executemany UPDATE of `columns` for rows carrying their `id`."""
        if not rows:
            return
        t = self.table
        stmt = (
            update(t)
            .where(t.c.id == bindparam("row_id"), t.c.organization_id == self.org_id)
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        params = [{"row_id": r["id"], **{f"v_{c}": r[c] for c in columns}} for r in rows]
        await self.session.execute(stmt, params)

    # -- companies named in a contacts file ----------------------------------------------------

    async def companies_by_key(self, keys: Iterable[str]) -> dict[str, int]:
        keys = list(keys)
        if not keys:
            return {}
        t = Company.__table__
        rows = await self.session.execute(
            select(t.c.name_key, t.c.id).where(*self._live(t), t.c.name_key.in_(keys))
        )
        return _oldest(rows.all())

    async def create_companies(self, rows: list[dict[str, Any]]) -> list[int]:
        return await self.insert(rows, Company.__table__)

    # -- tags ----------------------------------------------------------------------------------

    async def tags(self, names: Iterable[str]) -> dict[str, int]:
        names = list(names)
        if not names:
            return {}
        t = Tag.__table__
        rows = await self.session.execute(
            select(t.c.name, t.c.id).where(t.c.organization_id == self.org_id, t.c.name.in_(names))
        )
        return dict(rows.all())

    async def create_tags(self, names: list[str], now: Any) -> dict[str, int]:
        rows = [
            {
                "organization_id": self.org_id,
                "name": n,
                "color": "#64748b",
                "created_at": now,
                "updated_at": now,
            }
            for n in names
        ]
        ids = await self.insert(rows, Tag.__table__)
        return dict(zip(names, ids, strict=True))

    async def taggings(self, entity_type: str, ids: Sequence[int]) -> dict[int, set[int]]:
        if not ids:
            return {}
        t = Tagging.__table__
        rows = await self.session.execute(
            select(t.c.entity_id, t.c.tag_id).where(
                t.c.organization_id == self.org_id,
                t.c.entity_type == entity_type,
                t.c.entity_id.in_(ids),
            )
        )
        out: dict[int, set[int]] = {}
        for eid, tid in rows:
            out.setdefault(eid, set()).add(tid)
        return out

    async def set_taggings(
        self, entity_type: str, add: list[tuple[int, int]], drop: list[tuple[int, int]], now: Any
    ) -> None:
        t = Tagging.__table__
        if drop:
            await self.session.execute(
                t.delete().where(
                    t.c.organization_id == self.org_id,
                    t.c.entity_type == entity_type,
                    t.c.entity_id == bindparam("eid"),
                    t.c.tag_id == bindparam("tid"),
                ),
                [{"eid": e, "tid": tg} for e, tg in drop],
            )
        if add:
            await self.session.execute(
                insert(t),
                [
                    {
                        "organization_id": self.org_id,
                        "tag_id": tg,
                        "entity_type": entity_type,
                        "entity_id": e,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for e, tg in add
                ],
            )

    # -- the lead board ------------------------------------------------------------------------

    async def statuses(self) -> list[tuple[int, str]]:
        t = LeadStatus.__table__
        rows = await self.session.execute(
            select(t.c.id, t.c.name)
            .where(t.c.organization_id == self.org_id)
            .order_by(t.c.position, t.c.id)
        )
        return [tuple(r) for r in rows]

    async def lock_board(self) -> list[int]:
        """Serialise with card moves, as the leads service does (row locks on PostgreSQL;
        SQLite writers already hold the database's write lock)."""
        t = LeadStatus.__table__
        stmt = (
            select(t.c.id)
            .where(t.c.organization_id == self.org_id)
            .order_by(t.c.id)
            .with_for_update()
        )
        return list((await self.session.execute(stmt)).scalars())

    async def column_ends(self) -> dict[int, int]:
        """status id → the card_order after the column's last card."""
        t = Lead.__table__
        rows = await self.session.execute(
            select(t.c.status_id, func.max(t.c.card_order))
            .where(t.c.organization_id == self.org_id)
            .group_by(t.c.status_id)
        )
        return {sid: (top if top is not None else -1) + 1 for sid, top in rows}

    async def close_gap(self, status_id: int, after: int) -> None:
        """Cards below a card that left the column move up one place."""
        t = Lead.__table__
        await self.session.execute(
            update(t)
            .where(
                t.c.organization_id == self.org_id,
                t.c.status_id == status_id,
                t.c.card_order > after,
            )
            .values(card_order=t.c.card_order - 1)
        )

    # -- export --------------------------------------------------------------------------------

    async def batches(
        self, clauses: Sequence[ColumnElement[bool]], size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Keyset pages in id order: memory holds one page, whatever the table's size."""
        t = self.table
        last = 0
        while True:
            stmt = (
                select(t).where(*self._live(), t.c.id > last, *clauses).order_by(t.c.id).limit(size)
            )
            rows = [dict(r) for r in (await self.session.execute(stmt)).mappings()]
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            last = rows[-1]["id"]

    async def company_names(self, ids: Iterable[int]) -> dict[int, str]:
        ids = list(ids)
        if not ids:
            return {}
        t = Company.__table__
        rows = await self.session.execute(
            select(t.c.id, t.c.name).where(t.c.organization_id == self.org_id, t.c.id.in_(ids))
        )
        return dict(rows.all())

    async def tag_names(self, entity_type: str, ids: Sequence[int]) -> dict[int, list[str]]:
        if not ids:
            return {}
        tg, tag = Tagging.__table__, Tag.__table__
        rows = await self.session.execute(
            select(tg.c.entity_id, tag.c.name)
            .join(tag, tag.c.id == tg.c.tag_id)
            .where(
                tg.c.organization_id == self.org_id,
                tg.c.entity_type == entity_type,
                tg.c.entity_id.in_(ids),
            )
            .order_by(tag.c.name)
        )
        out: dict[int, list[str]] = {}
        for eid, name in rows:
            out.setdefault(eid, []).append(name)
        return out


async def find_organization(session: AsyncSession, ref: str) -> int | None:
    """An organization's id from its id or slug (the CLI's --org)."""
    t = Organization.__table__
    cond = t.c.slug == ref
    if ref.isdigit():
        cond = or_(cond, t.c.id == int(ref))
    return (await session.execute(select(t.c.id).where(cond).limit(1))).scalar_one_or_none()


async def tune_for_bulk(session: AsyncSession) -> None:
    """A bigger page cache for this connection: index pages of a growing table stay in memory
    instead of cycling through the WAL (SQLite only; a no-op elsewhere)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text(f"PRAGMA cache_size = -{BULK_CACHE_KIB}"))
