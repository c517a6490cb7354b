"""SQL for notifications, preferences and the email outbox.

Notifications are personal: `NotificationRepo.select()` scopes by organization AND recipient, so
another member's notification is as missing (404) as another tenant's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.errors import Invalid
from aicrm.kit.principal import Principal
from aicrm.kit.repository import Repo
from aicrm.models import (
    EmailOutbox,
    Job,
    Membership,
    Notification,
    NotificationPreference,
    Task,
    User,
    utcnow,
)


def _own_user(principal: Principal) -> int:
    if principal.user_id is None:
        raise Invalid(
            "an API key has no notifications of its own; sign in as a user", field="authorization"
        )
    return principal.user_id


class NotificationRepo(Repo[Notification]):
    model = Notification
    entity = "notification"

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        super().__init__(session, principal)
        self.user_id = _own_user(principal)

    def select(self) -> Select[Any]:
        return super().select().where(Notification.user_id == self.user_id)

    async def unread_count(self) -> int:
        stmt = select(func.count()).where(
            Notification.organization_id == self.org_id,
            Notification.user_id == self.user_id,
            Notification.read_at.is_(None),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mark_all_read(self, *, up_to_id: int | None = None) -> int:
        """Mark every unread notification read (up to `up_to_id`, so one arriving meanwhile
        stays unread); returns how many changed."""
        now = utcnow()
        stmt = (
            update(Notification)
            .where(
                Notification.organization_id == self.org_id,
                Notification.user_id == self.user_id,
                Notification.read_at.is_(None),
            )
            .values(read_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if up_to_id is not None:
            stmt = stmt.where(Notification.id <= up_to_id)
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class PreferenceRepo(Repo[NotificationPreference]):
    model = NotificationPreference
    entity = "notification preference"

    async def of_user(self, user_id: int) -> dict[str, NotificationPreference]:
        rows = await self.session.scalars(
            self.select().where(NotificationPreference.user_id == user_id)
        )
        return {r.type: r for r in rows}

    async def deviating(self, user_ids: Iterable[int], type_: str) -> dict[int, tuple[bool, bool]]:
        """(in_app, email) of the users among `user_ids` who stored a choice for `type_`."""
        ids = list(user_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            self.scoped(
                select(
                    NotificationPreference.user_id,
                    NotificationPreference.in_app,
                    NotificationPreference.email,
                )
            ).where(NotificationPreference.user_id.in_(ids), NotificationPreference.type == type_)
        )
        return {user_id: (bool(in_app), bool(email)) for user_id, in_app, email in rows}


class OutboxRepo(Repo[EmailOutbox]):
    """The organization's outgoing email (its `organization_id` column scopes it)."""

    model = EmailOutbox  # type: ignore[assignment]
    entity = "email"


# -- reads across domains that notifications need (kept here so all SQL stays in repositories) --


async def members_among(session: AsyncSession, org_id: int, user_ids: Iterable[int]) -> set[int]:
    """The users among `user_ids` who belong to the organization (others are never notified)."""
    ids = list(user_ids)
    if not ids:
        return set()
    rows = await session.scalars(
        select(Membership.user_id).where(
            Membership.organization_id == org_id, Membership.user_id.in_(ids)
        )
    )
    return set(rows.all())


async def users(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """user id → (email, display name)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(User.id, User.email, User.full_name).where(User.id.in_(ids))
    )
    return {uid: (email, name or email) for uid, email, name in rows}


async def open_tasks_due(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[int, int, int, datetime]]:
    """(organization id, task id, assignee id, due_at) of open assigned tasks due in [start, end],
    in (due_at, id) order after the keyset `after`. Of every organization at once: the due-soon
    scan runs as the system and only hands (organization, task) pairs to per-tenant jobs."""
    stmt = select(Task.organization_id, Task.id, Task.assignee_id, Task.due_at).where(
        Task.due_at >= start,
        Task.due_at <= end,
        Task.assignee_id.is_not(None),
        Task.status != "done",
    )
    if after is not None:
        stmt = stmt.where(tuple_(Task.due_at, Task.id) > tuple_(*after))
    stmt = stmt.order_by(Task.due_at, Task.id).limit(limit)
    return [(o, t, a, d) for o, t, a, d in (await session.execute(stmt)).all()]


async def used_job_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these job idempotency keys were already used (one query for a whole batch)."""
    if not keys:
        return set()
    rows = await session.scalars(select(Job.idempotency_key).where(Job.idempotency_key.in_(keys)))
    return {k for k in rows if k}


async def unsent_emails(
    session: AsyncSession, *, since: datetime, before: datetime, limit: int
) -> list[tuple[int, int | None]]:
    """(id, organization id) of outbox emails of every organization still waiting in `queued`,
    written in [since, before] — the email sweep runs as the system, like the due-soon scan."""
    rows = await session.execute(
        select(EmailOutbox.id, EmailOutbox.organization_id)
        .where(
            EmailOutbox.status == "queued",
            EmailOutbox.created_at >= since,
            EmailOutbox.created_at <= before,
        )
        .order_by(EmailOutbox.id)
        .limit(limit)
    )
    return [(i, o) for i, o in rows.all()]
