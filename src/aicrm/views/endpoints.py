"""Saved views (segments) over contacts, companies, leads and deals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from aicrm.auth.deps import Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.kit.schemas import Page
from aicrm.views import service
from aicrm.views.schemas import EntityType, ViewCreate, ViewOut, ViewUpdate

router = APIRouter(prefix="/api/v1/views", tags=["views"], route_class=TxRoute)


@router.get("", response_model=Page[ViewOut])
async def list_views(
    principal: Reader,
    session: Session,
    entity_type: EntityType | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ViewOut]:
    """Shared views and your private ones, each with its live member count."""
    items, nxt = await service.list_views(
        session,
        principal,
        entity_type=entity_type.value if entity_type else None,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[ViewOut](items=items, next_cursor=nxt)


@router.post("", response_model=ViewOut, status_code=status.HTTP_201_CREATED)
async def create_view(data: ViewCreate, principal: Writer, session: Session) -> ViewOut:
    """Save a view: `filters` is the dict of query parameters the entity's list takes
    (e.g. `{"status": "customer", "lifetime_value__gte": "1000", "tag": "vip"}`)."""
    view = await service.create(session, principal, data)
    return (await service.to_out(session, principal, [view]))[0]


@router.get("/{view_id}", response_model=ViewOut)
async def get_view(view_id: int, principal: Reader, session: Session) -> ViewOut:
    """One view with its live member count."""
    view = await service.get(session, principal, view_id)
    return (await service.to_out(session, principal, [view]))[0]


@router.patch("/{view_id}", response_model=ViewOut)
async def update_view(
    view_id: int, data: ViewUpdate, principal: Writer, session: Session
) -> ViewOut:
    """Change a view's name, filters, sort or sharing (its owner, or a manager and above)."""
    view = await service.update(session, principal, view_id, data)
    return (await service.to_out(session, principal, [view]))[0]


@router.delete("/{view_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_view(view_id: int, principal: Writer, session: Session) -> Response:
    """Delete a view (its owner, or a manager and above)."""
    await service.delete(session, principal, view_id)
    return Response(status_code=204)


@router.get("/{view_id}/members", response_model=Page[dict[str, Any]])
async def view_members(
    view_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[dict[str, Any]]:
    """The records matching the view now, in the view's sort; items have the shape of the
    entity's own list (contacts, companies, leads or deals)."""
    items, nxt = await service.members(session, principal, view_id, cursor=cursor, limit=limit)
    return Page[dict[str, Any]](items=items, next_cursor=nxt)
