"""Settings → Webhooks: the list with health at a glance, the create/edit form, and a webhook's
page with its signing secret, test ping, secret rotation and the delivery log with replay.

Owners and admins only (the settings permission), like the API: pages show signing secrets."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.errors import AICRMError, Invalid
from aicrm.kit.principal import Permission
from aicrm.models import WebhookDelivery, WebhookSubscription
from aicrm.web.core import (
    Ctx,
    WebCtx,
    WebRoute,
    field_errors,
    on_error,
    page,
    partial,
    redirect,
    toast,
)
from aicrm.web.forms import build, int_or_none
from aicrm.web.session import set_flash
from aicrm.webhooks import service
from aicrm.webhooks.patterns import KNOWN_EVENT_TYPES
from aicrm.webhooks.schemas import DeliveryStatus, WebhookCreate, WebhookUpdate

router = APIRouter(prefix="/settings/webhooks", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
DELIVERY_BADGES = {
    DeliveryStatus.pending.value: "badge-pending",
    DeliveryStatus.retrying.value: "badge-in-progress",
    DeliveryStatus.succeeded.value: "badge-done",
    DeliveryStatus.failed.value: "badge-lost",
}
STATUS_OPTIONS = [(s.value, s.value.capitalize()) for s in DeliveryStatus]


def _groups() -> list[tuple[str, list[str]]]:
    """Known event types by record kind, for the form's checkboxes."""
    groups: dict[str, list[str]] = defaultdict(list)
    for t in KNOWN_EVENT_TYPES:
        groups[t.split(".", 1)[0]].append(t)
    return sorted(groups.items())


def health(sub: WebhookSubscription) -> tuple[str, str]:
    """(label, badge class): automatic disables stand out from a manual pause."""
    if sub.active:
        return (
            ("Failing", "badge-overdue") if sub.consecutive_failures else ("Active", "badge-done")
        )
    if sub.disabled_at is not None:
        return "Disabled", "badge-lost"
    return "Paused", "badge-inactive"


def _require(ctx: Ctx) -> None:
    ctx.require(Permission.settings)


def _values(sub: WebhookSubscription | None) -> dict[str, Any]:
    if sub is None:
        return {"url": "", "description": "", "event_types": [], "other": "", "active": True}
    known = set(KNOWN_EVENT_TYPES) | {"*"}
    return {
        "url": sub.url,
        "description": sub.description,
        "event_types": [t for t in sub.event_types if t in known],
        "other": ", ".join(t for t in sub.event_types if t not in known),
        "active": sub.active,
        "version": sub.version,
    }


async def _posted(ctx: Ctx) -> dict[str, Any]:
    """The form: checked event types plus free-text patterns (comma or space separated)."""
    form = await ctx.request.form()
    checked = [str(v) for v in form.getlist("event_types") if str(v).strip()]
    other = str(form.get("other") or "")
    patterns = checked + [p for p in re.split(r"[\s,]+", other) if p]
    if "*" in checked:
        patterns = ["*"]
    return {
        "url": str(form.get("url") or "").strip(),
        "description": str(form.get("description") or "").strip(),
        "event_types": patterns,
        "checked": checked,
        "other": other,
        "active": form.get("active") == "1",
        "version": str(form.get("version") or ""),
    }


def _form_values(posted: dict[str, Any]) -> dict[str, Any]:
    return {**posted, "event_types": posted["checked"]}


async def _form_page(
    ctx: Ctx,
    sub: WebhookSubscription | None,
    values: dict[str, Any],
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    return await page(
        ctx,
        "webhooks/form.html",
        status=status,
        active="webhooks",
        hook=sub,
        values=values,
        errors=errors or {},
        form_error=error,
        groups=_groups(),
    )


@router.get("")
async def webhooks_page(ctx: WebCtx) -> HTMLResponse:
    _require(ctx)
    rows, _ = await service.list_webhooks(ctx.session, ctx.principal, limit=200)
    return await page(
        ctx,
        "webhooks/page.html",
        active="webhooks",
        hooks=[{"h": h, "health": health(h)} for h in rows],
    )


@router.get("/new")
async def new_webhook(ctx: WebCtx) -> HTMLResponse:
    _require(ctx)
    return await _form_page(ctx, None, _values(None))


@router.post("")
async def create_webhook(ctx: WebCtx) -> Response:
    _require(ctx)
    posted = await _posted(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await _form_page(
            ctx,
            None,
            _form_values(posted),
            status=422,
            errors=field_errors(exc),
            error=exc.message,
        )

    on_error(ctx.request, failed)
    data = build(
        WebhookCreate,
        {
            "url": posted["url"],
            "description": posted["description"],
            "event_types": posted["event_types"],
            "active": posted["active"],
        },
    )
    sub = await service.create(
        ctx.session, ctx.principal, data, settings=ctx.request.app.state.settings
    )
    response = redirect(ctx.request, f"/settings/webhooks/{sub.id}")
    set_flash(response, "Webhook created. Copy its signing secret to verify deliveries.")
    return response


async def _log(
    ctx: Ctx, sub: WebhookSubscription, status: str, cursor: str | None
) -> dict[str, Any]:
    state = None
    if status:
        try:
            state = DeliveryStatus(status)
        except ValueError as exc:
            raise Invalid("Choose one of the delivery states", field="status") from exc
    rows, next_cursor = await service.list_deliveries(
        ctx.session, ctx.principal, sub.id, status=state, cursor=cursor, limit=PAGE_SIZE
    )
    return {
        "deliveries": [_delivery_row(d) for d in rows],
        "next_cursor": next_cursor,
        "status_filter": status,
        "status_options": STATUS_OPTIONS,
        "in_flight": any(
            d.status in (DeliveryStatus.pending.value, DeliveryStatus.retrying.value) for d in rows
        ),
    }


def _delivery_row(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "d": d,
        "badge": DELIVERY_BADGES.get(d.status, "badge-neutral"),
        "attempt_log": service.to_delivery_detail(d).attempt_log,
    }


async def _detail(ctx: Ctx, webhook_id: int, status: str = "") -> dict[str, Any]:
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    return {"hook": sub, "health": health(sub), **await _log(ctx, sub, status, None)}


@router.get("/{webhook_id}")
async def webhook_page(ctx: WebCtx, webhook_id: int, status: str = "") -> HTMLResponse:
    _require(ctx)
    return await page(
        ctx, "webhooks/detail.html", active="webhooks", **await _detail(ctx, webhook_id, status)
    )


@router.get("/{webhook_id}/deliveries")
async def delivery_log(
    ctx: WebCtx, webhook_id: int, status: str = "", cursor: str | None = None
) -> HTMLResponse:
    """The log as a fragment: the whole list (filter, refresh) or more rows (cursor)."""
    _require(ctx)
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    context = {"hook": sub, **await _log(ctx, sub, status, cursor)}
    if cursor:
        return await partial(ctx, "webhooks/_delivery_rows.html", **context)
    return await partial(ctx, "webhooks/_deliveries.html", **context)


@router.get("/{webhook_id}/edit")
async def edit_webhook(ctx: WebCtx, webhook_id: int) -> HTMLResponse:
    _require(ctx)
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    return await _form_page(ctx, sub, _values(sub))


@router.post("/{webhook_id}")
async def update_webhook(ctx: WebCtx, webhook_id: int) -> Response:
    _require(ctx)
    posted = await _posted(ctx)
    sub = await service.get(ctx.session, ctx.principal, webhook_id)

    async def failed(exc: AICRMError) -> Response:
        await ctx.session.rollback()
        fresh = await service.get(ctx.session, ctx.principal, webhook_id)
        return await _form_page(
            ctx,
            fresh,
            _form_values(posted),
            status=422 if exc.status < 500 else exc.status,
            errors=field_errors(exc),
            error=exc.message,
        )

    on_error(ctx.request, failed)
    data = build(
        WebhookUpdate,
        {
            "url": posted["url"],
            "description": posted["description"],
            "event_types": posted["event_types"],
            "version": int_or_none(posted["version"], field="version"),
        },
    )
    await service.update(
        ctx.session, ctx.principal, sub.id, data, settings=ctx.request.app.state.settings
    )
    response = redirect(ctx.request, f"/settings/webhooks/{sub.id}")
    set_flash(response, "Webhook saved.")
    return response


async def _summary(ctx: Ctx, webhook_id: int, message: str) -> Response:
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    response = await partial(ctx, "webhooks/_summary.html", hook=sub, health=health(sub))
    return toast(response, message)


@router.post("/{webhook_id}/active")
async def set_active(ctx: WebCtx, webhook_id: int) -> Response:
    """Pause, or (re-)enable — which also clears the failure count of a disabled webhook."""
    _require(ctx)
    form = await ctx.request.form()
    on = form.get("active") == "1"
    await service.update(
        ctx.session,
        ctx.principal,
        webhook_id,
        WebhookUpdate(active=on),
        settings=ctx.request.app.state.settings,
    )
    return await _summary(ctx, webhook_id, "Webhook enabled" if on else "Webhook paused")


@router.post("/{webhook_id}/rotate")
async def rotate(ctx: WebCtx, webhook_id: int) -> Response:
    _require(ctx)
    sub = await service.rotate_secret(ctx.session, ctx.principal, webhook_id)
    response = await partial(ctx, "webhooks/_secret.html", hook=sub, revealed=True)
    return toast(response, "New secret in use: update your receiver")


@router.post("/{webhook_id}/test")
async def send_test(ctx: WebCtx, webhook_id: int) -> Response:
    _require(ctx)
    await service.send_test(
        ctx.session, ctx.principal, webhook_id, settings=ctx.request.app.state.settings
    )
    return await _log_response(ctx, webhook_id, "Test delivery queued")


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay")
async def replay(ctx: WebCtx, webhook_id: int, delivery_id: int) -> Response:
    _require(ctx)
    await service.replay(
        ctx.session,
        ctx.principal,
        webhook_id,
        delivery_id,
        settings=ctx.request.app.state.settings,
    )
    return await _log_response(ctx, webhook_id, f"Delivery #{delivery_id} queued again")


async def _log_response(ctx: Ctx, webhook_id: int, message: str) -> Response:
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    # the new row is listed right away; its outcome arrives with the log's own refresh
    response = await partial(
        ctx, "webhooks/_deliveries.html", hook=sub, **await _log(ctx, sub, "", None)
    )
    return toast(response, message)


@router.post("/{webhook_id}/delete")
async def delete_webhook(ctx: WebCtx, webhook_id: int) -> Response:
    _require(ctx)
    sub = await service.get(ctx.session, ctx.principal, webhook_id)
    url = sub.url
    await service.delete(ctx.session, ctx.principal, webhook_id)
    response = redirect(ctx.request, "/settings/webhooks")
    set_flash(response, f"Webhook to {url} deleted.", "info")
    return response
