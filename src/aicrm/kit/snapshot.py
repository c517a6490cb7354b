"""JSON-safe snapshots of rows for the audit log and events."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from aicrm.models.base import Base

_SKIP = {"password_hash", "key_hash", "token_hash"}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def snapshot(obj: Base) -> dict[str, Any]:
    mapper = inspect(type(obj))
    out: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        if attr.key in _SKIP:
            continue
        out[attr.key] = jsonable(getattr(obj, attr.key))
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the changed keys of two snapshots (updated_at and version excluded)."""
    keys = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    keys -= {"updated_at", "version"}
    return {k: before.get(k) for k in sorted(keys)}, {k: after.get(k) for k in sorted(keys)}
