from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.errors import NotFound
from aicrm.kit.repository import Repo
from aicrm.models import Job, WebhookDelivery, WebhookSubscription, utcnow

SUBSCRIPTION_SORTABLE = {"id": WebhookSubscription.id}
DELIVERY_SORTABLE = {"id": WebhookDelivery.id}


_delivery = WebhookDelivery.__table__
_subscription = WebhookSubscription.__table__

# The delivery job's statements are built once (Core, bound parameters): building and
# ORM-routing them per delivery cost more CPU than running them.
_FOR_SENDING = (
    select(
        _delivery.c.id,
        _delivery.c.status,
        _delivery.c.event_type,
        _delivery.c.replay_of_id,
        _delivery.c.payload,
        _delivery.c.attempt_log,
        _subscription.c.id.label("subscription_id"),
        _subscription.c.url,
        _subscription.c.secret,
        _subscription.c.active,
        select(Job.__table__.c.max_attempts)
        .where(Job.__table__.c.id == bindparam("b_job"))
        .scalar_subquery()
        .label("max_attempts"),
    )
    .join_from(
        _delivery,
        _subscription,
        (_subscription.c.id == _delivery.c.subscription_id)
        & (_subscription.c.organization_id == _delivery.c.organization_id),
    )
    .where(_delivery.c.id == bindparam("b_id"), _delivery.c.organization_id == bindparam("b_org"))
)
_RESET_STREAK = (
    update(_subscription)
    .where(
        _subscription.c.id == bindparam("b_id"),
        _subscription.c.organization_id == bindparam("b_org"),
        _subscription.c.consecutive_failures != 0,
    )
    .values(consecutive_failures=0)
)
ATTEMPT_FIELDS = (
    "status",
    "attempts",
    "status_code",
    "latency_ms",
    "response_excerpt",
    "error",
    "attempt_log",
    "delivered_at",
)
_RECORD_ATTEMPT = (
    update(_delivery)
    .where(_delivery.c.id == bindparam("b_id"), _delivery.c.organization_id == bindparam("b_org"))
    .values({name: bindparam(f"b_{name}") for name in ATTEMPT_FIELDS})
)


class WebhookRepo(Repo[WebhookSubscription]):
    model = WebhookSubscription
    entity = "webhook"

    async def ordered(self) -> list[WebhookSubscription]:
        rows = await self.session.execute(self.select().order_by(WebhookSubscription.id))
        return list(rows.scalars())

    async def record_success(self, subscription_id: int) -> None:
        """Reset the failure streak (the WHERE leaves a streak-free row alone, unlocked)."""
        await self.session.execute(_RESET_STREAK, {"b_id": subscription_id, "b_org": self.org_id})

    async def record_failure(self, subscription_id: int) -> tuple[int, bool] | None:
        """Count one more failed attempt; returns (streak, still active) or None if gone."""
        row = (
            await self.session.execute(
                update(WebhookSubscription)
                .where(
                    WebhookSubscription.organization_id == self.org_id,
                    WebhookSubscription.id == subscription_id,
                )
                .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
                .returning(WebhookSubscription.consecutive_failures, WebhookSubscription.active)
                .execution_options(synchronize_session=False)
            )
        ).first()
        return (int(row[0]), bool(row[1])) if row else None

    async def disable(self, subscription_id: int, reason: str) -> bool:
        """Switch the webhook off (automatic disable); False if it already was off."""
        done = await self.session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.organization_id == self.org_id,
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.active.is_(True),
            )
            .values(
                active=False,
                disabled_at=utcnow(),
                disabled_reason=reason[:300],
                version=WebhookSubscription.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)


class DeliveryRepo(Repo[WebhookDelivery]):
    model = WebhookDelivery
    entity = "delivery"

    async def of_subscription(self, subscription_id: int, delivery_id: int) -> WebhookDelivery:
        delivery = await self.get(delivery_id)
        if delivery.subscription_id != subscription_id:
            raise NotFound(f"delivery {delivery_id} not found")
        return delivery

    async def for_sending(self, delivery_id: int, *, job_id: int) -> Row[Any] | None:
        """Everything one attempt needs, in one round trip: the delivery, its webhook's URL,
        secret and state, and the job's attempt budget."""
        result = await self.session.execute(
            _FOR_SENDING, {"b_id": delivery_id, "b_org": self.org_id, "b_job": job_id}
        )
        return result.first()

    async def record_attempt(self, delivery_id: int, values: dict[str, Any]) -> None:
        """An attempt's outcome: every field of ATTEMPT_FIELDS, in `values`."""
        params = {f"b_{name}": values[name] for name in ATTEMPT_FIELDS}
        await self.session.execute(
            _RECORD_ATTEMPT, {"b_id": delivery_id, "b_org": self.org_id, **params}
        )

    async def record(self, delivery_id: int, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(_delivery)
            .where(_delivery.c.id == delivery_id, _delivery.c.organization_id == self.org_id)
            .values(**values)
        )


async def active_subscriptions(
    session: AsyncSession, organization_ids: Iterable[int]
) -> list[WebhookSubscription]:
    """Active subscriptions of several organizations at once, for the event consumer.

    The one cross-tenant read here: the consumer fans a batch of events (from any organization)
    out to subscriptions, and each delivery it creates carries the organization of its event."""
    ids = sorted(set(organization_ids))
    if not ids:
        return []
    rows = await session.execute(
        select(WebhookSubscription)
        .where(
            WebhookSubscription.organization_id.in_(ids),
            WebhookSubscription.active.is_(True),
        )
        .order_by(WebhookSubscription.id)
    )
    return list(rows.scalars())
