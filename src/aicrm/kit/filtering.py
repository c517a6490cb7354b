"""One filter language for list endpoints and saved views.

A filter is `field[__op]=value` with op in eq (default), ne, in, gte, lte, gt, lt, contains,
isnull; `custom.<key>` reaches a custom field; `tag` matches a tag name. Saved views store the
same dict, so a segment is exactly the query string of a list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from aicrm.errors import Invalid
from aicrm.models import Tag, Tagging

OPS = {"eq", "ne", "in", "gte", "lte", "gt", "lt", "contains", "isnull"}
RESERVED = {"cursor", "limit", "sort", "q"}


@dataclass(frozen=True)
class FilterSpec:
    entity_type: str
    model: Any
    fields: Mapping[str, InstrumentedAttribute[Any]]
    search: Callable[[str], ColumnElement[bool]] | None = None
    # preferred when set: gets the organization id, so it can build index-bounded subqueries
    scoped_search: Callable[[str, int], ColumnElement[bool]] | None = None


def _convert(col: InstrumentedAttribute[Any], raw: Any, field: str) -> Any:
    try:
        py = col.property.columns[0].type.python_type
    except NotImplementedError:
        py = str
    if raw is None:
        return None
    try:
        if py is bool:
            if isinstance(raw, bool):
                return raw
            s = str(raw).lower()
            if s in {"true", "1", "yes"}:
                return True
            if s in {"false", "0", "no"}:
                return False
            raise ValueError(raw)
        if py is int:
            value = int(raw)
            if abs(value) > 2**63 - 1:
                raise ValueError(raw)
            return value
        if py is float:
            return float(raw)
        if py is Decimal:
            return Decimal(str(raw))
        if py is datetime:
            value = datetime.fromisoformat(str(raw))
            return value
        if py is date:
            return date.fromisoformat(str(raw)[:10])
        return str(raw)
    except (ValueError, InvalidOperation) as exc:
        raise Invalid(f"{raw!r} is not a valid {py.__name__}", field=field) from exc


def _split_values(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        return raw
    return [v for v in str(raw).split(",") if v != ""]


def build(spec: FilterSpec, params: Mapping[str, Any], org_id: int) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for key, raw in params.items():
        if key in RESERVED:
            if key == "q" and raw not in (None, ""):
                if spec.scoped_search is not None:
                    clauses.append(spec.scoped_search(str(raw), org_id))
                elif spec.search is not None:
                    clauses.append(spec.search(str(raw)))
                else:
                    raise Invalid("this list has no search", field="q")
            continue
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPS:
            raise Invalid(f"unknown operator {op!r}; use one of {sorted(OPS)}", field=key)
        if name == "tag":
            names = _split_values(raw)
            sub = (
                select(Tagging.entity_id)
                .join(Tag, Tag.id == Tagging.tag_id)
                .where(
                    Tagging.organization_id == org_id,
                    Tagging.entity_type == spec.entity_type,
                    Tag.name.in_(names),
                )
            )
            clauses.append(spec.model.id.in_(sub) if op != "ne" else spec.model.id.not_in(sub))
            continue
        if name.startswith("custom."):
            ckey = name[len("custom.") :]
            expr = spec.model.custom[ckey].as_string()
            if op == "isnull":
                clauses.append(expr.is_(None) if _truthy(raw) else expr.is_not(None))
            elif op == "in":
                clauses.append(expr.in_([str(v) for v in _split_values(raw)]))
            elif op == "contains":
                clauses.append(expr.ilike(f"%{raw}%"))
            elif op == "ne":
                clauses.append(expr != str(raw))
            elif op == "eq":
                clauses.append(expr == str(raw))
            else:
                num = spec.model.custom[ckey].as_float()
                value = _convert_float(raw, key)
                clauses.append(
                    {
                        "gte": num >= value,
                        "lte": num <= value,
                        "gt": num > value,
                        "lt": num < value,
                    }[op]
                )
            continue
        col = spec.fields.get(name)
        if col is None:
            raise Invalid(
                f"cannot filter on {name!r}; filterable: {sorted(spec.fields) + ['tag', 'custom.<key>']}",
                field=key,
            )
        if op == "isnull":
            clauses.append(col.is_(None) if _truthy(raw) else col.is_not(None))
        elif op == "in":
            clauses.append(col.in_([_convert(col, v, key) for v in _split_values(raw)]))
        elif op == "contains":
            clauses.append(col.ilike(f"%{raw}%"))
        else:
            value = _convert(col, raw, key)
            clauses.append(
                {
                    "eq": col == value,
                    "ne": col != value,
                    "gte": col >= value,
                    "lte": col <= value,
                    "gt": col > value,
                    "lt": col < value,
                }[op]
            )
    return clauses


def _truthy(raw: Any) -> bool:
    return str(raw).lower() in {"1", "true", "yes"}


def _convert_float(raw: Any, field: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{raw!r} is not a number", field=field) from exc


def combine(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(true(), *clauses) if clauses else true()


def query_params(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn a query string's items into a filter dict (repeated keys become lists)."""
    out: dict[str, Any] = {}
    for k, v in items:
        if k in out:
            prev = out[k]
            out[k] = (prev if isinstance(prev, list) else [prev]) + [v]
        else:
            out[k] = v
    return out
