"""notify(): the one way any domain tells users something."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.events import emit
from aicrm.kit.principal import Principal
from aicrm.models import Membership, Notification, NotificationPreference


async def notify(
    session: AsyncSession,
    principal: Principal,
    *,
    user_ids: Iterable[int],
    type_: str,
    title: str,
    body: str = "",
    link: str | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Create a notification for each member of the principal's organization among `user_ids`
    who has not turned this type off; each is pushed on `user:<id>` after commit."""
    org_id = principal.organization_id
    wanted = {int(u) for u in user_ids if u is not None}
    if not wanted:
        return []
    members = set(
        (
            await session.scalars(
                select(Membership.user_id).where(
                    Membership.organization_id == org_id, Membership.user_id.in_(wanted)
                )
            )
        ).all()
    )
    muted = set(
        (
            await session.scalars(
                select(NotificationPreference.user_id).where(
                    NotificationPreference.organization_id == org_id,
                    NotificationPreference.user_id.in_(members),
                    NotificationPreference.type == type_,
                    NotificationPreference.in_app.is_(False),
                )
            )
        ).all()
    )
    created = []
    for user_id in sorted(members - muted):
        row = Notification(
            organization_id=org_id,
            user_id=user_id,
            type=type_,
            title=title[:200],
            body=body,
            link=link,
            entity_type=entity_type,
            entity_id=entity_id,
            data=dict(data or {}),
        )
        session.add(row)
        created.append(row)
    if created:
        await session.flush()
        for row in created:
            await emit(
                session,
                principal,
                "notification.created",
                entity_type="notification",
                entity_id=row.id,
                payload={
                    "user_id": row.user_id,
                    "notification_id": row.id,
                    "type": type_,
                    "title": row.title,
                    "body": body[:500],
                    "link": link,
                },
            )
    return created
