"""Leads, the kanban board and the status pipeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer, require
from aicrm.db import TxRoute
from aicrm.kit.filtering import query_params
from aicrm.kit.http import parse_if_match
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page
from aicrm.leads import service
from aicrm.leads.schemas import (
    Kanban,
    LeadCreate,
    LeadMove,
    LeadOut,
    LeadStatusCreate,
    LeadStatusOut,
    LeadStatusUpdate,
    LeadUpdate,
)

router = APIRouter(prefix="/api/v1/leads", tags=["leads"], route_class=TxRoute)
statuses = APIRouter(prefix="/api/v1/lead-statuses", tags=["leads"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]


@router.get("", response_model=Page[LeadOut])
async def list_leads(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[LeadOut]:
    """Leads. `q` searches name, company and email; `status=New,Contacted`; other filters as
    `field[__op]=value`, `tag=`, `custom.<key>=`."""
    items, nxt = await service.list_leads(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[LeadOut](items=items, next_cursor=nxt)


@router.post("", response_model=LeadOut, status_code=status.HTTP_201_CREATED)
async def create_lead(data: LeadCreate, principal: Writer, session: Session) -> LeadOut:
    """Create a lead; it lands at the end of its status column (default: the first status)."""
    lead = await service.create(session, principal, data)
    return (await service.to_out(session, principal, [lead]))[0]


@router.get("/kanban", response_model=Kanban)
async def kanban(
    principal: Reader, session: Session, per_column: Annotated[int, Query(ge=1, le=1000)] = 200
) -> Kanban:
    """The board: columns in pipeline order with cards in card order, counts and totals."""
    return await service.kanban(session, principal, per_column=per_column)


@router.get("/{lead_id}", response_model=LeadOut)
async def get_lead(
    lead_id: int, principal: Reader, session: Session, response: Response
) -> LeadOut:
    """One lead (ETag carries its version)."""
    lead = await service.get(session, principal, lead_id)
    response.headers["ETag"] = f'"{lead.version}"'
    return (await service.to_out(session, principal, [lead]))[0]


@router.patch("/{lead_id}", response_model=LeadOut)
@router.put("/{lead_id}", response_model=LeadOut, include_in_schema=False)
async def update_lead(
    lead_id: int,
    data: LeadUpdate,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> LeadOut:
    """Update a lead's fields; a new `status` moves it to the end of that column."""
    lead = await service.update(
        session, principal, lead_id, data, if_match=parse_if_match(if_match)
    )
    return (await service.to_out(session, principal, [lead]))[0]


@router.put("/{lead_id}/status", response_model=LeadOut)
async def move_lead(
    lead_id: int,
    data: LeadMove,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> LeadOut:
    """Move a card: `{status, card_order}`. Concurrent moves are serialised per organization, so
    positions stay dense and unique."""
    lead = await service.move(session, principal, lead_id, data, if_match=parse_if_match(if_match))
    return (await service.to_out(session, principal, [lead]))[0]


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lead(lead_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a lead; the cards below it move up."""
    await service.delete(session, principal, lead_id)
    return Response(status_code=204)


@statuses.get("", response_model=list[LeadStatusOut])
async def list_statuses(principal: Reader, session: Session) -> list[LeadStatusOut]:
    """The organization's lead pipeline, in order."""
    return [LeadStatusOut.model_validate(s) for s in await service.statuses(session, principal)]


@statuses.post("", response_model=LeadStatusOut, status_code=status.HTTP_201_CREATED)
async def create_status(
    data: LeadStatusCreate, principal: Admin, session: Session
) -> LeadStatusOut:
    """Add a status column."""
    return LeadStatusOut.model_validate(await service.create_status(session, principal, data))


@statuses.patch("/{status_id}", response_model=LeadStatusOut)
async def update_status(
    status_id: int, data: LeadStatusUpdate, principal: Admin, session: Session
) -> LeadStatusOut:
    """Rename, recolour or reorder a status column."""
    return LeadStatusOut.model_validate(
        await service.update_status(session, principal, status_id, data)
    )


@statuses.delete("/{status_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_status(status_id: int, principal: Admin, session: Session) -> Response:
    """Delete an empty status column."""
    await service.delete_status(session, principal, status_id)
    return Response(status_code=204)
