"""Repository base: the one place tenant scoping happens."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from aicrm.errors import Invalid, NotFound
from aicrm.kit.principal import Principal
from aicrm.models.base import Base

M = TypeVar("M", bound=Base)


class Repo(Generic[M]):
    """SQL for one tenant-owned table. Every read starts from `select()`, which filters by the
    caller's organization, so another tenant's ids simply are not found (404)."""

    model: ClassVar[type[Base]]
    entity: ClassVar[str] = ""
    soft_delete: ClassVar[bool] = False

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.org_id = principal.organization_id

    @classmethod
    def from_session(cls, session: AsyncSession, principal: Principal) -> Repo[M]:
        return cls(session, principal)

    def scoped(self, stmt: Select[Any], model: type[Base] | None = None) -> Select[Any]:
        model = model or self.model
        stmt = stmt.where(model.organization_id == self.org_id)  # type: ignore[attr-defined]
        if self.soft_delete and model is self.model:
            stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return stmt

    def select(self) -> Select[Any]:
        return self.scoped(select(self.model))

    async def get(self, id_: int, *, for_update: bool = False) -> M:
        obj = await self.get_or_none(id_, for_update=for_update)
        if obj is None:
            raise NotFound(f"{self.entity or self.model.__tablename__} {id_} not found")
        return obj

    async def get_or_none(self, id_: int, *, for_update: bool = False) -> M | None:
        if not valid_id(id_):
            return None
        stmt = self.select().where(self.model.id == id_)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()  # type: ignore[return-value]

    async def get_many(self, ids: list[int]) -> list[M]:
        if not ids:
            return []
        rows = await self.session.execute(self.select().where(self.model.id.in_(ids)))
        return list(rows.scalars())  # type: ignore[arg-type]

    async def add(self, obj: M) -> M:
        obj.organization_id = self.org_id  # type: ignore[attr-defined]
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def count(self, stmt: Select[Any]) -> int:
        sub = stmt.order_by(None).subquery()
        return int((await self.session.execute(select(func.count()).select_from(sub))).scalar_one())

    async def exists_in_org(self, model: type[Base], id_: int | None, *, field: str) -> None:
        """Validate a foreign id supplied by a client: it must belong to the caller's tenant."""
        if id_ is None:
            return
        if not valid_id(id_):
            raise Invalid(f"{field} {id_} does not exist", field=field)
        stmt = self.scoped(select(model.id), model).where(model.id == id_)
        if (await self.session.execute(stmt)).scalar_one_or_none() is None:
            raise Invalid(f"{field} {id_} does not exist", field=field)

    async def page(
        self,
        stmt: Select[Any],
        *,
        sort: str,
        sortable: dict[str, InstrumentedAttribute[Any]],
        cursor: str | None,
        limit: int,
    ) -> tuple[list[M], str | None]:
        """Keyset pagination on (sort column, id); the cursor encodes the last row's pair."""
        desc = sort.startswith("-")
        key = sort.lstrip("-+")
        if key not in sortable:
            raise Invalid(
                f"sort must be one of {sorted(sortable)} (prefix '-' for descending)", field="sort"
            )
        col = sortable[key]
        id_col = self.model.id
        if cursor:
            last_value, last_id = decode_cursor(cursor, col)
            if key == "id":
                stmt = stmt.where(id_col < last_id if desc else id_col > last_id)
            elif last_value is None:
                raise Invalid(
                    "cursor is malformed; use the next_cursor of a previous page", field="cursor"
                )
            else:
                # a row-value comparison is an index range bound on both SQLite and PostgreSQL;
                # the equivalent OR form makes both databases filter row by row
                pair, bound = tuple_(col, id_col), tuple_(last_value, last_id)
                stmt = stmt.where(pair < bound if desc else pair > bound)
        if key == "id":
            stmt = stmt.order_by(id_col.desc() if desc else id_col.asc())
        else:
            stmt = stmt.order_by(
                col.desc() if desc else col.asc(), id_col.desc() if desc else id_col.asc()
            )
        rows = list((await self.session.execute(stmt.limit(limit + 1))).scalars())
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(getattr(last, col.key), last.id)
        return rows, next_cursor  # type: ignore[return-value]


MAX_ID = 2**63 - 1


def valid_id(value: int) -> bool:
    """Ids fit a BIGINT; anything else cannot exist (and must not reach the database)."""
    return isinstance(value, int) and 0 < value <= MAX_ID


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode_cursor(value: Any, id_: int) -> str:
    raw = json.dumps([_jsonable(value), id_], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, col: InstrumentedAttribute[Any]) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, id_ = json.loads(raw)
        if not isinstance(id_, int):
            raise ValueError("bad id")
        py_type = col.property.columns[0].type.python_type
        if value is not None:
            if py_type is datetime:
                value = datetime.fromisoformat(value)
            elif py_type is date:
                value = date.fromisoformat(value)
            elif py_type is Decimal:
                value = Decimal(value)
            elif py_type in (int, float, str):
                value = py_type(value)
        return value, id_
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise Invalid(
            "cursor is malformed; use the next_cursor of a previous page", field="cursor"
        ) from exc
