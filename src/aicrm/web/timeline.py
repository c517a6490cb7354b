"""Timelines (activities) and related deals, shared by the contact, company, lead and deal pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Response

from aicrm.errors import AICRMError, NotFound
from aicrm.kit.principal import Permission
from aicrm.web import optional
from aicrm.web.core import Ctx, field_errors, on_error, partial, toast
from aicrm.web.forms import build, form_data, pick

TYPES = [("note", "Note"), ("call", "Call"), ("email", "Email"), ("meeting", "Meeting")]
PAGE = 30


async def load(
    ctx: Ctx, of: str, record_id: int, *, cursor: str | None = None
) -> dict[str, Any] | None:
    """The record's activities, newest first; None when activities are not installed."""
    if optional.activities is None:
        return None
    from aicrm.activities.schemas import TimelineOf

    items, next_cursor = await optional.activities.timeline(
        ctx.session, ctx.principal, TimelineOf(of), record_id, cursor=cursor, limit=PAGE
    )
    return {
        "of": of,
        "record_id": record_id,
        "items": items,
        "next_cursor": next_cursor,
        "members": await ctx.members(),
        "types": TYPES,
    }


async def add(ctx: Ctx, of: str, record_id: int) -> Response:
    """Log a note, call, email or meeting on a record and answer with the refreshed timeline."""
    if optional.activities is None:
        raise NotFound("Activities are not available")
    from aicrm.activities.schemas import ActivityCreate

    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        data = await load(ctx, of, record_id)
        return await partial(
            ctx,
            "_timeline.html",
            status=422,
            timeline=data,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = pick(form, ("type", "subject", "body", "direction", "outcome", "duration_minutes"))
    data = {k: v for k, v in data.items() if v is not None}
    if form.get("occurred_at"):
        # a datetime-local input has no zone; the browser's offset comes along in tz_offset
        data["occurred_at"] = _local_to_utc(form["occurred_at"], form.get("tz_offset", "0"))
    data[f"{of}_id"] = record_id
    if not (data.get("body") or data.get("subject")):
        from aicrm.errors import Invalid

        raise Invalid("Write what happened", field="body")
    await optional.activities.create(ctx.session, ctx.principal, build(ActivityCreate, data))
    response = await partial(
        ctx, "_timeline.html", timeline=await load(ctx, of, record_id), form_values={}
    )
    label = dict(TYPES).get(data.get("type", "note"), "Activity")
    return toast(response, f"{label} added to the timeline")


def _local_to_utc(value: str, offset_minutes: str) -> str:
    try:
        local = datetime.fromisoformat(value)
        minutes = int(offset_minutes or "0")
    except ValueError:
        return value
    from datetime import timedelta

    # JS getTimezoneOffset(): minutes to add to local time to get UTC
    return (local + timedelta(minutes=minutes)).replace(tzinfo=UTC).isoformat()


async def deals_for(ctx: Ctx, **filters: Any) -> list[Any]:
    if optional.deals is None:
        return []
    params = {k: str(v) for k, v in filters.items()}
    items, _ = await optional.deals.list_deals(
        ctx.session, ctx.principal, params, sort="-created_at", cursor=None, limit=20
    )
    return list(items)
