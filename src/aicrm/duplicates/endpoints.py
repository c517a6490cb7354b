"""Duplicates: organization-wide scan and merges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aicrm.auth.deps import Deleter, Reader, Session
from aicrm.db import TxRoute
from aicrm.duplicates import service
from aicrm.duplicates.schemas import (
    CompanyMergeOut,
    ContactMergeOut,
    DuplicateEntity,
    DuplicateScan,
    MergeIn,
)

router = APIRouter(prefix="/api/v1", tags=["duplicates"], route_class=TxRoute)


@router.get("/duplicates", response_model=DuplicateScan)
async def scan_duplicates(
    principal: Reader,
    session: Session,
    entity: DuplicateEntity = DuplicateEntity.contact,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DuplicateScan:
    """Groups of likely duplicates: same email or phone (contacts), same domain or phone
    (companies), then close names — within one company for contacts."""
    return await service.scan(session, principal, entity, limit=limit)


@router.post("/contacts/merge", response_model=ContactMergeOut)
async def merge_contacts(data: MergeIn, principal: Deleter, session: Session) -> ContactMergeOut:
    """Merge `duplicate_ids` into `primary_id`. The primary keeps its values (empty ones are
    filled from the duplicates) unless `fields` names another source per field (`custom.<key>`
    too); emails, phones, custom fields and tags are united; leads, deals, activities, tasks
    and tags move to the primary; the duplicates are hidden and remember `merged_into_id`."""
    return await service.merge_contacts(session, principal, data)


@router.post("/companies/merge", response_model=CompanyMergeOut)
async def merge_companies(data: MergeIn, principal: Deleter, session: Session) -> CompanyMergeOut:
    """Merge `duplicate_ids` into `primary_id`; their contacts, leads, deals, activities and
    tags move to the primary, and the duplicates are hidden."""
    return await service.merge_companies(session, principal, data)
