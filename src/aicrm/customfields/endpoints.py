"""Custom-field definitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from aicrm.auth.deps import Reader, Session, require
from aicrm.customfields import service
from aicrm.customfields.schemas import (
    CustomFieldCreate,
    CustomFieldOut,
    CustomFieldUpdate,
    EntityType,
)
from aicrm.db import TxRoute
from aicrm.kit.principal import Permission, Principal

router = APIRouter(prefix="/api/v1/custom-fields", tags=["custom fields"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]


@router.get("", response_model=list[CustomFieldOut])
async def list_fields(
    principal: Reader, session: Session, entity_type: EntityType | None = None
) -> list[CustomFieldOut]:
    """Custom-field definitions, optionally for one entity type."""
    rows = await service.list_fields(session, principal, entity_type.value if entity_type else None)
    return [CustomFieldOut.model_validate(r) for r in rows]


@router.post("", response_model=CustomFieldOut, status_code=status.HTTP_201_CREATED)
async def create_field(
    data: CustomFieldCreate, principal: Admin, session: Session
) -> CustomFieldOut:
    """Define a typed custom field (text, number, boolean, date, select, multiselect, email, url, phone)."""
    return CustomFieldOut.model_validate(await service.create_field(session, principal, data))


@router.patch("/{field_id}", response_model=CustomFieldOut)
async def update_field(
    field_id: int, data: CustomFieldUpdate, principal: Admin, session: Session
) -> CustomFieldOut:
    """Change a field's label, options or required flag."""
    return CustomFieldOut.model_validate(
        await service.update_field(session, principal, field_id, data)
    )


@router.delete("/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_field(field_id: int, principal: Admin, session: Session) -> Response:
    """Delete a definition (stored values stay in the records' history)."""
    await service.delete_field(session, principal, field_id)
    return Response(status_code=204)
