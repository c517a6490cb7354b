"""Notifications in the web UI: the bell in the top bar, the notifications page, the
preferences page, and the organization's email outbox for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.kit.principal import Permission
from aicrm.models import Notification
from aicrm.notifications import service
from aicrm.notifications.schemas import EmailStatus, PreferenceIn
from aicrm.notifications.types import label
from aicrm.web.core import Ctx, WebCtx, WebRoute, page, partial, redirect, toast, trigger
from aicrm.web.session import set_flash

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 30
BELL_SIZE = 8
# Bodies of these kinds carry a secret meant for one person only (a password-reset link):
# admins see that the email exists, not what it says.
SECRET_KINDS = frozenset({"password_reset"})


def _changed(response: Response, unread: int) -> Response:
    """Tell the page (bell badge, notifications.js) the new unread count."""
    return trigger(response, notificationsChanged={"unread": unread})


async def _bell_context(ctx: Ctx) -> dict[str, Any]:
    items, _ = await service.list_notifications(ctx.session, ctx.principal, limit=BELL_SIZE)
    return {
        "unread": await service.unread_count(ctx.session, ctx.principal),
        "items": items,
        "label": label,
        "link_of": service.safe_link,
    }


# -- the bell ------------------------------------------------------------------------------


@router.get("/notifications/bell")
async def bell(ctx: WebCtx, part: str = "") -> HTMLResponse:
    """The bell (count + recent items), loaded by every page; `part=items` for the list only."""
    context = await _bell_context(ctx)
    if part == "items":
        return await partial(ctx, "notifications/_bell_items.html", **context)
    return await partial(ctx, "notifications/_bell_menu.html", open=False, **context)


# -- the notifications page ----------------------------------------------------------------


@router.get("/notifications")
async def notifications_page(
    ctx: WebCtx, show: str = "all", cursor: str | None = None, fragment: str = ""
) -> HTMLResponse:
    unread_only = show == "unread"
    rows, next_cursor = await service.list_notifications(
        ctx.session,
        ctx.principal,
        unread=True if unread_only else None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    context: dict[str, Any] = {
        "notifications": rows,
        "next_cursor": next_cursor,
        "show": "unread" if unread_only else "all",
        "label": label,
        "link_of": service.safe_link,
    }
    if fragment == "rows":
        return await partial(ctx, "notifications/_rows.html", **context)
    return await page(
        ctx,
        "notifications/page.html",
        active="notifications",
        unread=await service.unread_count(ctx.session, ctx.principal),
        **context,
    )


@router.post("/notifications/read-all")
async def read_all(ctx: WebCtx, source: str = "") -> Response:
    await service.mark_all_read(ctx.session, ctx.principal)
    if source == "bell" and ctx.htmx:
        response: Response = await partial(
            ctx, "notifications/_bell_menu.html", open=True, **await _bell_context(ctx)
        )
        return _changed(response, 0)
    response = redirect(ctx.request, "/notifications")
    if not ctx.htmx:
        set_flash(response, "All notifications marked read")
    return response


async def _row_response(ctx: Ctx, row: Notification) -> Response:
    response = await partial(
        ctx, "notifications/_row.html", n=row, label=label, link_of=service.safe_link
    )
    return _changed(response, await service.unread_count(ctx.session, ctx.principal))


@router.post("/notifications/{notification_id}/read")
async def read_one(ctx: WebCtx, notification_id: int) -> Response:
    row = await service.mark_read(ctx.session, ctx.principal, notification_id)
    if ctx.htmx:
        return await _row_response(ctx, row)
    return redirect(ctx.request, "/notifications")


@router.post("/notifications/{notification_id}/delete")
async def delete_one(ctx: WebCtx, notification_id: int) -> Response:
    await service.delete(ctx.session, ctx.principal, notification_id)
    if ctx.htmx:
        response = _changed(
            HTMLResponse(""), await service.unread_count(ctx.session, ctx.principal)
        )
        return toast(response, "Notification deleted")
    return redirect(ctx.request, "/notifications")


# -- preferences ---------------------------------------------------------------------------


@router.get("/settings/notifications")
async def preferences_page(ctx: WebCtx) -> HTMLResponse:
    return await page(
        ctx,
        "notifications/preferences.html",
        active="notification-settings",
        preferences=await service.get_preferences(ctx.session, ctx.principal),
        email_delivery=bool(ctx.request.app.state.settings.SMTP_URL),
    )


@router.post("/settings/notifications")
async def save_preferences(ctx: WebCtx) -> Response:
    """Unchecked boxes are not posted, so every known type is saved from what was ticked."""
    form = await ctx.request.form()
    ticked = {k for k, v in form.multi_items() if isinstance(v, str) and v == "on"}
    current = await service.get_preferences(ctx.session, ctx.principal)
    items = [
        PreferenceIn(
            type=p.type, in_app=f"{p.type}:in_app" in ticked, email=f"{p.type}:email" in ticked
        )
        for p in current
    ]
    await service.set_preferences(ctx.session, ctx.principal, items)
    if ctx.htmx:
        return toast(HTMLResponse("", status_code=200), "Notification settings saved")
    response = redirect(ctx.request, "/settings/notifications")
    set_flash(response, "Notification settings saved")
    return response


# -- the email outbox (admins) -------------------------------------------------------------


@router.get("/notifications/outbox")
async def outbox_page(
    ctx: WebCtx, status: str = "", cursor: str | None = None, fragment: str = ""
) -> HTMLResponse:
    ctx.require(Permission.settings)
    wanted = EmailStatus(status) if status in EmailStatus.__members__ else None
    rows, next_cursor = await service.list_outbox(
        ctx.session, ctx.principal, status=wanted, cursor=cursor, limit=PAGE_SIZE
    )
    context: dict[str, Any] = {
        "emails": rows,
        "next_cursor": next_cursor,
        "status_filter": wanted.value if wanted else "",
        "statuses": [s.value for s in EmailStatus],
        "secret_kinds": SECRET_KINDS,
        "smtp": bool(ctx.request.app.state.settings.SMTP_URL),
    }
    if fragment == "rows":
        return await partial(ctx, "notifications/_outbox_rows.html", **context)
    return await page(ctx, "notifications/outbox.html", active="outbox", **context)


@router.post("/notifications/outbox/{email_id}/resend")
async def outbox_resend(ctx: WebCtx, email_id: int) -> Response:
    ctx.require(Permission.settings)
    await service.resend(ctx.session, ctx.principal, email_id)
    response = redirect(ctx.request, "/notifications/outbox")
    set_flash(response, "Queued to be sent again")
    return response
