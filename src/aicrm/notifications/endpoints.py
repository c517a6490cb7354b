"""Each member's own notifications and notification preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from aicrm.auth.deps import Reader, Session
from aicrm.db import TxRoute
from aicrm.kit.schemas import Page
from aicrm.notifications import service
from aicrm.notifications.schemas import (
    NotificationOut,
    PreferenceIn,
    PreferenceOut,
    ReadAll,
    ReadAllOut,
    UnreadCount,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], route_class=TxRoute)


@router.get("", response_model=Page[NotificationOut])
async def list_notifications(
    principal: Reader,
    session: Session,
    unread: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[NotificationOut]:
    """Your notifications, newest first (keyset-paginated); `unread=true` for unread only."""
    rows, nxt = await service.list_notifications(
        session, principal, unread=unread, cursor=cursor, limit=limit
    )
    return Page[NotificationOut](
        items=[NotificationOut.model_validate(r) for r in rows], next_cursor=nxt
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(principal: Reader, session: Session) -> UnreadCount:
    """How many of your notifications are unread (the bell's badge)."""
    return UnreadCount(count=await service.unread_count(session, principal))


@router.post("/read-all", response_model=ReadAllOut)
async def read_all(principal: Reader, session: Session, data: ReadAll | None = None) -> ReadAllOut:
    """Mark all your notifications read (or those up to `up_to_id`)."""
    updated = await service.mark_all_read(
        session, principal, up_to_id=data.up_to_id if data else None
    )
    return ReadAllOut(updated=updated, unread=await service.unread_count(session, principal))


@router.get("/preferences", response_model=list[PreferenceOut])
async def get_preferences(principal: Reader, session: Session) -> list[PreferenceOut]:
    """Every notification type with your choice: in the app (default on), by email (default
    off)."""
    return await service.get_preferences(session, principal)


@router.put("/preferences", response_model=list[PreferenceOut])
async def put_preferences(
    items: list[PreferenceIn], principal: Reader, session: Session
) -> list[PreferenceOut]:
    """Set your choices for the listed types (types left out keep theirs); an unknown type
    answers 422 naming it."""
    return await service.set_preferences(session, principal, items)


@router.get("/{notification_id}", response_model=NotificationOut)
async def get_notification(
    notification_id: int, principal: Reader, session: Session
) -> NotificationOut:
    """One of your notifications (another member's answers 404)."""
    return NotificationOut.model_validate(await service.get(session, principal, notification_id))


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_read(notification_id: int, principal: Reader, session: Session) -> NotificationOut:
    """Mark one of your notifications read."""
    return NotificationOut.model_validate(
        await service.mark_read(session, principal, notification_id)
    )


@router.delete("/{notification_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_notification(
    notification_id: int, principal: Reader, session: Session
) -> Response:
    """Delete one of your notifications."""
    await service.delete(session, principal, notification_id)
    return Response(status_code=204)
