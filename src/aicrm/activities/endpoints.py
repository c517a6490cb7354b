"""Activities and the timelines of contacts, companies, leads and deals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.activities import service
from aicrm.activities.schemas import (
    ActivityCreate,
    ActivityOut,
    ActivityType,
    ActivityUpdate,
    TimelineOf,
)
from aicrm.auth.deps import Deleter, Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.kit.filtering import query_params
from aicrm.kit.principal import Principal
from aicrm.kit.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["activities"], route_class=TxRoute)

Limit = Annotated[int, Query(ge=1, le=500)]
Types = Annotated[list[ActivityType] | None, Query(description="Only these types")]


@router.get("/activities", response_model=Page[ActivityOut])
async def list_activities(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "-occurred_at",
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ActivityOut]:
    """Activities, newest first by default. Filters as `field[__op]=value` (type, direction,
    user_id, contact_id, company_id, lead_id, deal_id, occurred_at…); `q` searches subject and
    body."""
    items, nxt = await service.list_activities(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[ActivityOut](items=items, next_cursor=nxt)


@router.post("/activities", response_model=ActivityOut, status_code=status.HTTP_201_CREATED)
async def create_activity(data: ActivityCreate, principal: Writer, session: Session) -> ActivityOut:
    """Log a note, call, email or meeting on a contact, company, lead and/or deal."""
    return ActivityOut.model_validate(await service.create(session, principal, data))


@router.get("/activities/{activity_id}", response_model=ActivityOut)
async def get_activity(activity_id: int, principal: Reader, session: Session) -> ActivityOut:
    """One activity."""
    return ActivityOut.model_validate(await service.get(session, principal, activity_id))


@router.patch("/activities/{activity_id}", response_model=ActivityOut)
async def update_activity(
    activity_id: int, data: ActivityUpdate, principal: Writer, session: Session
) -> ActivityOut:
    """Edit an activity."""
    return ActivityOut.model_validate(await service.update(session, principal, activity_id, data))


@router.delete("/activities/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_activity(activity_id: int, principal: Deleter, session: Session) -> Response:
    """Delete an activity."""
    await service.delete(session, principal, activity_id)
    return Response(status_code=204)


async def _timeline(
    of: TimelineOf,
    record_id: int,
    principal: Principal,
    session: AsyncSession,
    cursor: str | None,
    limit: int,
    types: list[ActivityType] | None,
) -> Page[ActivityOut]:
    items, nxt = await service.timeline(
        session, principal, of, record_id, cursor=cursor, limit=limit, types=types
    )
    return Page[ActivityOut](items=items, next_cursor=nxt)


@router.get("/contacts/{contact_id}/timeline", response_model=Page[ActivityOut])
async def contact_timeline(
    contact_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Limit = 50,
    type: Types = None,
) -> Page[ActivityOut]:
    """The contact's activities, newest first."""
    return await _timeline(TimelineOf.contact, contact_id, principal, session, cursor, limit, type)


@router.get("/companies/{company_id}/timeline", response_model=Page[ActivityOut])
async def company_timeline(
    company_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Limit = 50,
    type: Types = None,
) -> Page[ActivityOut]:
    """The company's activities and those of its contacts and deals, newest first."""
    return await _timeline(TimelineOf.company, company_id, principal, session, cursor, limit, type)


@router.get("/leads/{lead_id}/timeline", response_model=Page[ActivityOut])
async def lead_timeline(
    lead_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Limit = 50,
    type: Types = None,
) -> Page[ActivityOut]:
    """The lead's activities, newest first."""
    return await _timeline(TimelineOf.lead, lead_id, principal, session, cursor, limit, type)


@router.get("/deals/{deal_id}/timeline", response_model=Page[ActivityOut])
async def deal_timeline(
    deal_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Limit = 50,
    type: Types = None,
) -> Page[ActivityOut]:
    """The deal's activities, newest first."""
    return await _timeline(TimelineOf.deal, deal_id, principal, session, cursor, limit, type)
