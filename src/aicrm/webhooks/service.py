"""Outgoing webhooks: subscriptions, the deliveries they receive, test pings and replays.

A delivery row is created per (event, matching active subscription) by the event consumer
(aicrm.webhooks.jobs) and sent by the `webhooks.deliver` job, which records every attempt on it.
The row's `payload` holds the request body without its `id` (the delivery id, added when sent,
so a replay gets a new id for the same content); the attempt history is in `attempt_log`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.config import Settings
from aicrm.errors import PreconditionFailed
from aicrm.jobs import enqueue
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import jsonable, snapshot
from aicrm.models import OutboxEvent, WebhookDelivery, WebhookSubscription, utcnow
from aicrm.webhooks import ssrf
from aicrm.webhooks.patterns import TEST_EVENT, deliverable, matches
from aicrm.webhooks.repository import (
    DELIVERY_SORTABLE,
    SUBSCRIPTION_SORTABLE,
    DeliveryRepo,
    WebhookRepo,
    active_subscriptions,
)
from aicrm.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookUpdate,
)
from aicrm.webhooks.signing import new_secret

ENTITY = "webhook"
DELIVER_JOB = "webhooks.deliver"
MAX_LOG = 50  # attempts kept per delivery (max attempts is far below; replays start afresh)


# -- bodies --------------------------------------------------------------------------------


def envelope(
    *, event_type: str, created_at: datetime, organization_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """The body of a request, without its `id` (the delivery's id, set when it is sent)."""
    return {
        "type": event_type,
        "created_at": created_at.isoformat(),
        "organization_id": organization_id,
        "data": jsonable(data),
    }


def event_envelope(event: OutboxEvent) -> dict[str, Any]:
    data = dict(event.payload or {})
    data["entity_type"] = event.entity_type
    data["entity_id"] = event.entity_id
    return envelope(
        event_type=event.type,
        created_at=event.created_at or utcnow(),
        organization_id=event.organization_id,
        data=data,
    )


def body_of(delivery_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON document sent for a delivery."""
    return {"id": delivery_id, **payload}


def encode(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def with_attempt(log: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A copy of the attempt log with one more attempt (a new object, so the JSON column is
    written); a retried attempt number replaces its earlier entry."""
    kept = [e for e in log or [] if e.get("attempt") != entry["attempt"]]
    kept.append(jsonable(entry))
    return kept[-MAX_LOG:]


def is_manual(event_type: str, replay_of_id: int | None) -> bool:
    """Test pings and replays were asked for by an admin: they go even to a disabled webhook."""
    return event_type == TEST_EVENT or replay_of_id is not None


def to_delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery)


def to_delivery_detail(delivery: WebhookDelivery) -> DeliveryDetail:
    payload = dict(delivery.payload or {})
    return DeliveryDetail.model_validate(
        {
            **DeliveryOut.model_validate(delivery).model_dump(),
            "payload": body_of(delivery.id, payload),
            "attempt_log": delivery.attempt_log or [],
        }
    )


def _audit_view(sub: WebhookSubscription) -> dict[str, Any]:
    """What the audit log keeps of a webhook: everything but its secret."""
    data = snapshot(sub)
    data.pop("secret", None)
    return data


# -- subscriptions -------------------------------------------------------------------------


async def list_webhooks(
    session: AsyncSession, principal: Principal, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[WebhookSubscription], str | None]:
    repo = WebhookRepo.from_session(session, principal)
    return await repo.page(
        repo.select(), sort="id", sortable=SUBSCRIPTION_SORTABLE, cursor=cursor, limit=limit
    )


async def get(session: AsyncSession, principal: Principal, webhook_id: int) -> WebhookSubscription:
    return await WebhookRepo.from_session(session, principal).get(webhook_id)


async def create(
    session: AsyncSession, principal: Principal, data: WebhookCreate, *, settings: Settings
) -> WebhookSubscription:
    """Create a subscription with a fresh signing secret (shown to the caller)."""
    await ssrf.check_url(data.url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    sub = WebhookSubscription(
        url=data.url,
        description=data.description,
        event_types=list(data.event_types),
        secret=new_secret(),
        active=data.active,
        consecutive_failures=0,
        version=1,
        extra={},
    )
    await WebhookRepo.from_session(session, principal).add(sub)
    await audit.record(session, principal, "create", ENTITY, sub.id, after=_audit_view(sub))
    return sub


def _check_version(sub: WebhookSubscription, expected: int | None) -> None:
    if expected is not None and expected != sub.version:
        raise PreconditionFailed(
            f"webhook {sub.id} changed since version {expected} (now {sub.version}); "
            "reload and retry",
            current_version=sub.version,
        )


async def _audit_update(
    session: AsyncSession, principal: Principal, sub: WebhookSubscription, before: dict[str, Any]
) -> None:
    after = _audit_view(sub)
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    keys = [k for k in keys if k not in ("updated_at", "version")]
    if keys:
        await audit.record(
            session,
            principal,
            "update",
            ENTITY,
            sub.id,
            before={k: before.get(k) for k in keys},
            after={k: after.get(k) for k in keys},
        )


async def update(
    session: AsyncSession,
    principal: Principal,
    webhook_id: int,
    data: WebhookUpdate,
    *,
    settings: Settings,
    if_match: int | None = None,
) -> WebhookSubscription:
    """Change a webhook; `active: true` re-enables a disabled one and clears its failures."""
    sub = await WebhookRepo.from_session(session, principal).get(webhook_id, for_update=True)
    _check_version(sub, data.version if data.version is not None else if_match)
    before = _audit_view(sub)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if changes.get("url") is not None and changes["url"] != sub.url:
        await ssrf.check_url(changes["url"], allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        sub.url = changes["url"]
    if changes.get("description") is not None:
        sub.description = changes["description"]
    if changes.get("event_types") is not None:
        sub.event_types = list(changes["event_types"])
    if changes.get("active") is True:
        sub.active = True
        sub.consecutive_failures = 0
        sub.disabled_at = None
        sub.disabled_reason = None
    elif changes.get("active") is False:
        sub.active = False
    if _audit_view(sub) != before:
        sub.version += 1
        await session.flush()
        await _audit_update(session, principal, sub, before)
    return sub


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    webhook_id: int,
    *,
    if_match: int | None = None,
) -> WebhookSubscription:
    """Replace the signing secret; deliveries sent from now on are signed with the new one."""
    sub = await WebhookRepo.from_session(session, principal).get(webhook_id, for_update=True)
    _check_version(sub, if_match)
    sub.secret = new_secret()
    sub.version += 1
    await session.flush()
    # the audit log says that it changed, never what it is
    await audit.record(
        session,
        principal,
        "update",
        ENTITY,
        sub.id,
        before={"secret": "(previous secret)"},
        after={"secret": "(rotated)"},
    )
    return sub


async def delete(session: AsyncSession, principal: Principal, webhook_id: int) -> None:
    """Delete a webhook with its delivery log; queued deliveries are dropped when they run."""
    repo = WebhookRepo.from_session(session, principal)
    sub = await repo.get(webhook_id, for_update=True)
    await audit.record(session, principal, "delete", ENTITY, sub.id, before=_audit_view(sub))
    await repo.delete(sub)


# -- deliveries ----------------------------------------------------------------------------


async def _queue(
    session: AsyncSession,
    deliveries: list[WebhookDelivery],
    *,
    max_attempts: int,
) -> None:
    if not deliveries:
        return
    await session.flush()
    for d in deliveries:
        await enqueue(
            session,
            DELIVER_JOB,
            {"delivery_id": d.id},
            organization_id=d.organization_id,
            max_attempts=max_attempts,
        )


async def fan_out(
    session: AsyncSession, events: Iterable[OutboxEvent], *, settings: Settings
) -> int:
    """One pending delivery (and one `webhooks.deliver` job) per event × matching active
    subscription of the event's own organization; returns how many were queued."""
    wanted = [e for e in events if deliverable(e.type)]
    if not wanted:
        return 0
    subs: dict[int, list[WebhookSubscription]] = defaultdict(list)
    for sub in await active_subscriptions(session, (e.organization_id for e in wanted)):
        subs[sub.organization_id].append(sub)
    deliveries: list[WebhookDelivery] = []
    for event in wanted:
        body: dict[str, Any] | None = None
        for sub in subs.get(event.organization_id, ()):
            if not matches(sub.event_types, event.type):
                continue
            body = body or event_envelope(event)
            delivery = WebhookDelivery(
                organization_id=event.organization_id,
                subscription_id=sub.id,
                event_id=event.id,
                event_type=event.type[:60],
                payload=dict(body),
                status=DeliveryStatus.pending.value,
                attempts=0,
            )
            session.add(delivery)
            deliveries.append(delivery)
    await _queue(session, deliveries, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
    return len(deliveries)


async def send_test(
    session: AsyncSession, principal: Principal, webhook_id: int, *, settings: Settings
) -> WebhookDelivery:
    """Queue a `webhook.test` ping to the webhook (even when it is disabled)."""
    sub = await WebhookRepo.from_session(session, principal).get(webhook_id)
    delivery = WebhookDelivery(
        subscription_id=sub.id,
        event_id=None,
        event_type=TEST_EVENT,
        payload=envelope(
            event_type=TEST_EVENT,
            created_at=utcnow(),
            organization_id=principal.organization_id,
            data={
                "webhook_id": sub.id,
                "message": "A test delivery from aicrm: your endpoint is reachable.",
                "actor_user_id": principal.user_id,
            },
        ),
        status=DeliveryStatus.pending.value,
        attempts=0,
    )
    await DeliveryRepo.from_session(session, principal).add(delivery)
    await _queue(session, [delivery], max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
    await audit.record(
        session,
        principal,
        "create",
        "webhook_delivery",
        delivery.id,
        after={"webhook_id": sub.id, "event_type": TEST_EVENT},
    )
    return delivery


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    webhook_id: int,
    *,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[WebhookDelivery], str | None]:
    """The delivery log, newest first."""
    await WebhookRepo.from_session(session, principal).get(webhook_id)
    repo = DeliveryRepo.from_session(session, principal)
    stmt = repo.select().where(WebhookDelivery.subscription_id == webhook_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    return await repo.page(stmt, sort="-id", sortable=DELIVERY_SORTABLE, cursor=cursor, limit=limit)


async def get_delivery(
    session: AsyncSession, principal: Principal, webhook_id: int, delivery_id: int
) -> WebhookDelivery:
    await WebhookRepo.from_session(session, principal).get(webhook_id)
    return await DeliveryRepo.from_session(session, principal).of_subscription(
        webhook_id, delivery_id
    )


async def replay(
    session: AsyncSession,
    principal: Principal,
    webhook_id: int,
    delivery_id: int,
    *,
    settings: Settings,
) -> WebhookDelivery:
    """Send a past delivery's payload again, as a new delivery (new id, `replay_of_id` set)."""
    original = await get_delivery(session, principal, webhook_id, delivery_id)
    payload = dict(original.payload or {})
    copy = WebhookDelivery(
        subscription_id=original.subscription_id,
        event_id=original.event_id,
        event_type=original.event_type,
        payload=payload,
        status=DeliveryStatus.pending.value,
        attempts=0,
        replay_of_id=original.id,
    )
    await DeliveryRepo.from_session(session, principal).add(copy)
    await _queue(session, [copy], max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
    await audit.record(
        session,
        principal,
        "create",
        "webhook_delivery",
        copy.id,
        after={"webhook_id": webhook_id, "replay_of_id": original.id},
    )
    return copy
