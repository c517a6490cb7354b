"""Typed custom-field definitions per organization and entity, validated on every write."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.customfields.repository import CustomFieldRepo
from aicrm.customfields.schemas import CustomFieldCreate, CustomFieldUpdate, FieldType
from aicrm.errors import Conflict, Invalid
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.kit.text import normalize_email, normalize_phone
from aicrm.models import CustomField

_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.I)


def _coerce(defn: CustomField, value: Any, field: str, region: str) -> Any:
    if value is None or value == "":
        return None
    t = FieldType(defn.field_type)
    if t is FieldType.text:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise Invalid("must be text", field=field)
        text = str(value)
        if len(text) > 5000:
            raise Invalid("must be at most 5000 characters", field=field)
        return text
    if t is FieldType.number:
        if isinstance(value, bool):
            raise Invalid("must be a number", field=field)
        try:
            num = float(value)
        except (TypeError, ValueError) as exc:
            raise Invalid("must be a number", field=field) from exc
        if num != num or num in (float("inf"), float("-inf")):
            raise Invalid("must be a finite number", field=field)
        return int(num) if num.is_integer() and not isinstance(value, float) else num
    if t is FieldType.boolean:
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in {"true", "yes", "1"}:
            return True
        if s in {"false", "no", "0"}:
            return False
        raise Invalid("must be true or false", field=field)
    if t is FieldType.date:
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError as exc:
            raise Invalid("must be a date (YYYY-MM-DD)", field=field) from exc
    if t is FieldType.select:
        if str(value) not in defn.options:
            raise Invalid(f"must be one of {defn.options}", field=field)
        return str(value)
    if t is FieldType.multiselect:
        values = (
            value
            if isinstance(value, list)
            else [v.strip() for v in str(value).split(",") if v.strip()]
        )
        bad = [v for v in values if str(v) not in defn.options]
        if bad:
            raise Invalid(f"{bad} not in {defn.options}", field=field)
        return [str(v) for v in values]
    if t is FieldType.email:
        return normalize_email(str(value), field=field)
    if t is FieldType.url:
        if not _URL.match(str(value)):
            raise Invalid("must be an http(s) URL", field=field)
        return str(value)
    if t is FieldType.phone:
        return normalize_phone(str(value), region=region, field=field)
    raise Invalid("unsupported field type", field=field)  # pragma: no cover


async def validate(
    session: AsyncSession,
    principal: Principal,
    entity_type: str,
    values: dict[str, Any] | None,
    *,
    existing: dict[str, Any] | None = None,
    region: str = "US",
) -> dict[str, Any]:
    """Check values against the definitions; return the merged, normalised dict."""
    defs = {
        d.key: d
        for d in await CustomFieldRepo.from_session(session, principal).for_entity(entity_type)
    }
    merged = dict(existing or {})
    errors = []
    for key, value in (values or {}).items():
        field = f"custom.{key}"
        if key not in defs:
            errors.append(
                {
                    "field": field,
                    "message": f"no custom field {key!r} is defined for {entity_type}s",
                }
            )
            continue
        try:
            coerced = _coerce(defs[key], value, field, region)
        except Invalid as exc:
            errors.extend(exc.errors)
            continue
        if coerced is None:
            merged.pop(key, None)
        else:
            merged[key] = coerced
    for key, d in defs.items():
        if d.required and merged.get(key) in (None, "", []):
            errors.append({"field": f"custom.{key}", "message": "is required"})
    if errors:
        raise Invalid("Custom fields are invalid", errors=errors)
    return merged


async def list_fields(
    session: AsyncSession, principal: Principal, entity_type: str | None
) -> list[CustomField]:
    repo = CustomFieldRepo.from_session(session, principal)
    stmt = repo.select().order_by(CustomField.entity_type, CustomField.key)
    if entity_type:
        stmt = stmt.where(CustomField.entity_type == entity_type)
    return list((await session.execute(stmt)).scalars())


async def create_field(
    session: AsyncSession, principal: Principal, data: CustomFieldCreate
) -> CustomField:
    repo = CustomFieldRepo.from_session(session, principal)
    if data.field_type in (FieldType.select, FieldType.multiselect) and not data.options:
        raise Invalid("select fields need options", field="options")
    if any(d.key == data.key for d in await repo.for_entity(data.entity_type)):
        raise Conflict(
            f"{data.entity_type} field {data.key!r} exists",
            errors=[{"field": "key", "message": "already exists"}],
        )
    row = await repo.add(CustomField(**data.model_dump(mode="json")))
    await audit.created(session, principal, "custom_field", row)
    return row


async def update_field(
    session: AsyncSession, principal: Principal, field_id: int, data: CustomFieldUpdate
) -> CustomField:
    row = await CustomFieldRepo.from_session(session, principal).get(field_id)
    before = snapshot(row)
    for k, v in data.model_dump(exclude_unset=True).items():
        if v is not None:
            setattr(row, k, v)
    await session.flush()
    await audit.updated(session, principal, "custom_field", row, before)
    return row


async def delete_field(session: AsyncSession, principal: Principal, field_id: int) -> None:
    repo = CustomFieldRepo.from_session(session, principal)
    row = await repo.get(field_id)
    await audit.deleted(session, principal, "custom_field", row)
    await repo.delete(row)
