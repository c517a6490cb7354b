"""Activities (notes, calls, emails, meetings) and the timelines of contacts, companies, leads
and deals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.activities.repository import FILTERS, SORTABLE, ActivityRepo
from aicrm.activities.schemas import (
    CONTACTING,
    DIRECTED,
    LINKS,
    ActivityCreate,
    ActivityOut,
    ActivityType,
    ActivityUpdate,
    TimelineOf,
)
from aicrm.audit import service as audit
from aicrm.companies import service as company_service
from aicrm.contacts import service as contact_service
from aicrm.deals import service as deal_service
from aicrm.errors import Invalid
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.leads import service as lead_service
from aicrm.models import Activity, Company, Contact, Deal, Lead
from aicrm.orgs import service as org_service

ENTITY = "activity"
# A little clock skew between client and server still counts as "now", not the future.
SKEW = timedelta(minutes=5)
_LINK_MODELS = {"contact_id": Contact, "company_id": Company, "lead_id": Lead, "deal_id": Deal}


def to_out(rows: list[Activity]) -> list[ActivityOut]:
    return [ActivityOut.model_validate(a) for a in rows]


async def list_activities(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[ActivityOut], str | None]:
    """Activities matching the filter language, keyset-paginated."""
    repo = ActivityRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return to_out(rows), nxt


async def get(session: AsyncSession, principal: Principal, activity_id: int) -> Activity:
    """One activity of the caller's organization (404 otherwise)."""
    return await ActivityRepo.from_session(session, principal).get(activity_id)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _apply(
    session: AsyncSession, principal: Principal, activity: Activity, changes: dict[str, Any]
) -> None:
    repo = ActivityRepo.from_session(session, principal)
    errors: list[dict[str, Any]] = []
    for field in LINKS:
        if field in changes:
            try:
                await repo.exists_in_org(_LINK_MODELS[field], changes[field], field=field)
            except Invalid as exc:
                errors.extend(exc.errors)
            else:
                setattr(activity, field, changes[field])
    if not errors and all(getattr(activity, f) is None for f in LINKS):
        message = "An activity belongs to a contact, company, lead or deal: send one of their ids"
        errors.extend({"field": f, "message": message} for f in LINKS)
    if "user_id" in changes:
        try:
            await org_service.ensure_member(session, principal, changes["user_id"], field="user_id")
        except Invalid as exc:
            errors.extend(exc.errors)
        else:
            activity.user_id = changes["user_id"]
    if changes.get("type") is not None:
        activity.type = ActivityType(changes["type"]).value
    if "direction" in changes:
        activity.direction = changes["direction"].value if changes["direction"] else None
    if activity.direction is not None and ActivityType(activity.type) not in DIRECTED:
        errors.append(
            {
                "field": "direction",
                "message": f"a {activity.type} has no direction; calls and emails do",
            }
        )
    if errors:
        raise Invalid("Some fields are invalid", errors=errors)
    if changes.get("occurred_at") is not None:
        activity.occurred_at = _utc(changes["occurred_at"])
    for k in ("subject", "body"):
        if changes.get(k) is not None:
            setattr(activity, k, changes[k])
    for k in ("outcome", "duration_minutes"):
        if k in changes:
            setattr(activity, k, changes[k])


async def _touch(session: AsyncSession, principal: Principal, activity: Activity) -> None:
    """Keep the linked records' "last touched" dates current; planned (future) activities and
    internal notes do not count as contact."""
    at = _utc(activity.occurred_at)
    if at > datetime.now(UTC) + SKEW:
        return
    if activity.contact_id is not None:
        await contact_service.touch_activity(session, principal, activity.contact_id, at)
    if activity.lead_id is not None and ActivityType(activity.type) in CONTACTING:
        await lead_service.mark_contacted(session, principal, activity.lead_id, at)


async def create(session: AsyncSession, principal: Principal, data: ActivityCreate) -> Activity:
    """Log an activity on at least one record; updates the contact's and lead's last-touch dates."""
    activity = Activity(
        type=data.type.value,
        subject="",
        body="",
        occurred_at=datetime.now(UTC),
        user_id=principal.user_id,
    )
    await _apply(session, principal, activity, data.model_dump(exclude_unset=True))
    await ActivityRepo.from_session(session, principal).add(activity)
    await _touch(session, principal, activity)
    await audit.created(session, principal, ENTITY, activity)
    await events.emit(
        session,
        principal,
        "activity.created",
        entity_type=ENTITY,
        entity_id=activity.id,
        payload={
            "type": activity.type,
            **{f: getattr(activity, f) for f in LINKS if getattr(activity, f) is not None},
        },
    )
    return activity


async def update(
    session: AsyncSession, principal: Principal, activity_id: int, data: ActivityUpdate
) -> Activity:
    """Edit an activity; it must still belong to at least one record."""
    activity = await ActivityRepo.from_session(session, principal).get(activity_id, for_update=True)
    before = snapshot(activity)
    await _apply(session, principal, activity, data.model_dump(exclude_unset=True))
    await session.flush()
    await _touch(session, principal, activity)
    await audit.updated(session, principal, ENTITY, activity, before)
    await events.emit(
        session, principal, "activity.updated", entity_type=ENTITY, entity_id=activity.id
    )
    return activity


async def delete(session: AsyncSession, principal: Principal, activity_id: int) -> None:
    """Remove an activity from every timeline."""
    repo = ActivityRepo.from_session(session, principal)
    activity = await repo.get(activity_id)
    await audit.deleted(session, principal, ENTITY, activity)
    await repo.delete(activity)
    await events.emit(
        session, principal, "activity.deleted", entity_type=ENTITY, entity_id=activity_id
    )


async def timeline(
    session: AsyncSession,
    principal: Principal,
    of: TimelineOf,
    record_id: int,
    *,
    cursor: str | None,
    limit: int,
    types: list[ActivityType] | None = None,
) -> tuple[list[ActivityOut], str | None]:
    """A record's activities, newest first; another tenant's record answers 404."""
    getter = {
        TimelineOf.contact: contact_service.get,
        TimelineOf.company: company_service.get,
        TimelineOf.lead: lead_service.get,
        TimelineOf.deal: deal_service.get,
    }[of]
    await getter(session, principal, record_id)
    repo = ActivityRepo.from_session(session, principal)
    stmt = repo.timeline(of.value, record_id)
    if types:
        stmt = stmt.where(Activity.type.in_([t.value for t in types]))
    rows, nxt = await repo.page(
        stmt, sort="-occurred_at", sortable=SORTABLE, cursor=cursor, limit=limit
    )
    return to_out(rows), nxt
