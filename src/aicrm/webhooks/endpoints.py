"""Outgoing webhooks: subscriptions, their signing secrets, the delivery log, test and replay.

Every route needs the settings permission (owners and admins): webhooks expose signing
secrets and where the organization's data is sent.

Each request carries `AICRM-Webhook-Id` (the delivery id; the same on every retry — dedupe on
it) and `AICRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
Verify it over the raw body with `aicrm.webhooks.signing.verify(secret, header, body)` or its
equivalent, and reject timestamps older than a few minutes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from aicrm.auth.deps import Session, require
from aicrm.config import Settings
from aicrm.db import TxRoute
from aicrm.kit.http import parse_if_match
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page
from aicrm.webhooks import service
from aicrm.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookDetail,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(_settings)]


@router.get("", response_model=Page[WebhookOut])
async def list_webhooks(
    principal: Admin,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Page[WebhookOut]:
    """The organization's webhooks (secrets are only in the single-webhook answers)."""
    rows, nxt = await service.list_webhooks(session, principal, cursor=cursor, limit=limit)
    return Page[WebhookOut](items=[WebhookOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.post("", response_model=WebhookDetail, status_code=201)
async def create_webhook(
    data: WebhookCreate, principal: Admin, session: Session, settings: AppSettings
) -> WebhookDetail:
    """Subscribe a URL to event types (`deal.won`, globs like `deal.*`, or `*`). The answer
    includes the generated signing secret (`whsec_…`). Private and loopback targets are
    refused unless WEBHOOK_ALLOW_PRIVATE is set.

    Each delivery is a POST of `{"id", "type", "created_at", "organization_id", "data"}` with
    `AICRM-Webhook-Id` (the same on every retry: dedupe on it) and `AICRM-Signature:
    t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. Answer 2xx; anything
    else is retried with backoff, 410 Gone deactivates the webhook, and redirects are not
    followed."""
    sub = await service.create(session, principal, data, settings=settings)
    return WebhookDetail.model_validate(sub)


@router.get("/{webhook_id}", response_model=WebhookDetail)
async def get_webhook(
    webhook_id: int, principal: Admin, session: Session, response: Response
) -> WebhookDetail:
    """One webhook with its signing secret (ETag carries its version)."""
    sub = await service.get(session, principal, webhook_id)
    response.headers["ETag"] = f'"{sub.version}"'
    return WebhookDetail.model_validate(sub)


@router.patch("/{webhook_id}", response_model=WebhookDetail)
async def update_webhook(
    webhook_id: int,
    data: WebhookUpdate,
    principal: Admin,
    session: Session,
    settings: AppSettings,
    if_match: Annotated[str | None, Header()] = None,
) -> WebhookDetail:
    """Change URL, description, event types or `active`; `active: true` re-enables a disabled
    webhook and resets its failure count. Send `version` or If-Match to avoid lost updates."""
    sub = await service.update(
        session,
        principal,
        webhook_id,
        data,
        settings=settings,
        if_match=parse_if_match(if_match),
    )
    return WebhookDetail.model_validate(sub)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: int, principal: Admin, session: Session) -> Response:
    """Delete a webhook and its delivery log."""
    await service.delete(session, principal, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookDetail)
async def rotate_secret(
    webhook_id: int,
    principal: Admin,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> WebhookDetail:
    """Replace the signing secret; the answer carries the new one."""
    sub = await service.rotate_secret(
        session, principal, webhook_id, if_match=parse_if_match(if_match)
    )
    return WebhookDetail.model_validate(sub)


@router.post("/{webhook_id}/test", response_model=DeliveryOut, status_code=202)
async def send_test(
    webhook_id: int, principal: Admin, session: Session, settings: AppSettings
) -> DeliveryOut:
    """Queue a `webhook.test` ping (sent even while the webhook is disabled)."""
    delivery = await service.send_test(session, principal, webhook_id, settings=settings)
    return service.to_delivery_out(delivery)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    webhook_id: int,
    principal: Admin,
    session: Session,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DeliveryOut]:
    """The delivery log, newest first; `status=pending|retrying|succeeded|failed`."""
    rows, nxt = await service.list_deliveries(
        session, principal, webhook_id, status=status, cursor=cursor, limit=limit
    )
    return Page[DeliveryOut](items=[service.to_delivery_out(r) for r in rows], next_cursor=nxt)


@router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    webhook_id: int, delivery_id: int, principal: Admin, session: Session
) -> DeliveryDetail:
    """One delivery: the exact body sent and every attempt (status code, latency, error)."""
    delivery = await service.get_delivery(session, principal, webhook_id, delivery_id)
    return service.to_delivery_detail(delivery)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    status_code=202,
)
async def replay_delivery(
    webhook_id: int,
    delivery_id: int,
    principal: Admin,
    session: Session,
    settings: AppSettings,
) -> DeliveryOut:
    """Send a delivery's payload again as a new delivery (new id, `replay_of_id` set)."""
    delivery = await service.replay(session, principal, webhook_id, delivery_id, settings=settings)
    return service.to_delivery_out(delivery)
