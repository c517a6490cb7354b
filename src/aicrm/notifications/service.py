"""notify(): the one way any domain tells users something; and each member's own inbox.

In the app a notification is a row pushed on `user:<id>` after commit; by email it is an outbox
row plus an `email.send` job. Which of the two a member gets per type is their preference
(default: in the app, no email).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.errors import Conflict, Invalid
from aicrm.events import emit
from aicrm.jobs import backend, enqueue
from aicrm.kit.principal import Principal
from aicrm.logging import get_logger
from aicrm.models import EmailOutbox, Notification, NotificationPreference, utcnow
from aicrm.notifications import repository as repo_mod
from aicrm.notifications.email import SEND_JOB, queue_email
from aicrm.notifications.repository import NotificationRepo, OutboxRepo, PreferenceRepo
from aicrm.notifications.schemas import EmailStatus, PreferenceIn, PreferenceOut
from aicrm.notifications.types import TYPES, label

log = get_logger("aicrm.notifications")

DEFAULT_IN_APP = True
DEFAULT_EMAIL = False


def safe_link(link: str | None) -> str | None:
    """A path in the app (`/tasks/5`) or an http(s) URL; anything else (`javascript:`, `//evil`)
    is dropped, since links come from automation rules and other producers too."""
    if not link:
        return None
    link = link.strip()
    if link.startswith("/") and not link.startswith(("//", "/\\")):
        return link[:500]
    if link.lower().startswith(("https://", "http://")):
        return link[:500]
    return None


def _public_url() -> str:
    return backend.settings().PUBLIC_URL.rstrip("/")


def _email_body(type_: str, title: str, body: str, link: str | None) -> str:
    base = _public_url()
    lines = [title, ""]
    if body:
        lines += [body, ""]
    if link:
        lines += [f"Open it: {base + link if link.startswith('/') else link}", ""]
    lines += [
        "--",
        f"You get this email because email is on for “{label(type_)}” in your notification "
        f"settings: {base}/settings/notifications",
    ]
    return "\n".join(lines)


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
    """Tell each member of the principal's organization among `user_ids`: in the app unless they
    turned this type off (pushed on `user:<id>` after commit), by email if they turned it on."""
    if type_ not in TYPES:
        # still delivered, but nobody can set a preference for it: register it in types.py
        log.warning("unregistered notification type", type=type_)
    org_id = principal.organization_id
    link = safe_link(link)
    wanted = {int(u) for u in user_ids if u is not None}
    members = await repo_mod.members_among(session, org_id, wanted)
    if not members:
        return []
    chosen = await PreferenceRepo(session, principal).deviating(members, type_)
    in_app = sorted(u for u in members if chosen.get(u, (DEFAULT_IN_APP, DEFAULT_EMAIL))[0])
    by_email = sorted(u for u in members if chosen.get(u, (DEFAULT_IN_APP, DEFAULT_EMAIL))[1])
    created = []
    for user_id in in_app:
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
                    "created_at": row.created_at,
                },
            )
    if by_email:
        addresses = await repo_mod.users(session, by_email)
        text = _email_body(type_, title, body, link)
        for user_id in by_email:
            if user_id in addresses:
                await queue_email(
                    session,
                    to_email=addresses[user_id][0],
                    subject=title,
                    body=text,
                    kind="notification",
                    organization_id=org_id,
                )
    return created


# -- the member's own inbox ----------------------------------------------------------------


async def list_notifications(
    session: AsyncSession,
    principal: Principal,
    *,
    unread: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Notification], str | None]:
    """The caller's notifications, newest first; `unread=True` only unread, False only read."""
    repo = NotificationRepo(session, principal)
    stmt = repo.select()
    if unread is not None:
        stmt = stmt.where(
            Notification.read_at.is_(None) if unread else Notification.read_at.is_not(None)
        )
    rows, nxt = await repo.page(
        stmt, sort="-id", sortable={"id": Notification.id}, cursor=cursor, limit=limit
    )
    return rows, nxt


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    """How many of the caller's notifications are unread."""
    return await NotificationRepo(session, principal).unread_count()


async def get(session: AsyncSession, principal: Principal, notification_id: int) -> Notification:
    """One of the caller's notifications (404 for anyone else's)."""
    return await NotificationRepo(session, principal).get(notification_id)


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: int
) -> Notification:
    """Mark one of the caller's notifications read (reading it again changes nothing)."""
    row = await get(session, principal, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
        await session.flush()
    return row


async def mark_all_read(
    session: AsyncSession, principal: Principal, *, up_to_id: int | None = None
) -> int:
    """Mark the caller's unread notifications read; returns how many changed."""
    repo = NotificationRepo(session, principal)
    return await repo.mark_all_read(up_to_id=up_to_id)


async def delete(session: AsyncSession, principal: Principal, notification_id: int) -> None:
    """Delete one of the caller's notifications."""
    repo = NotificationRepo(session, principal)
    row = await repo.get(notification_id)
    await audit.deleted(session, principal, "notification", row)
    await repo.delete(row)


# -- preferences ---------------------------------------------------------------------------


def _own(principal: Principal) -> int:
    if principal.user_id is None:
        raise Invalid(
            "an API key has no notification preferences; sign in as a user", field="authorization"
        )
    return principal.user_id


async def get_preferences(session: AsyncSession, principal: Principal) -> list[PreferenceOut]:
    """Every known notification type with the caller's choice (or the default)."""
    stored = await PreferenceRepo(session, principal).of_user(_own(principal))
    out = []
    for name, spec in TYPES.items():
        row = stored.get(name)
        out.append(
            PreferenceOut(
                type=name,
                label=spec.label,
                description=spec.description,
                in_app=row.in_app if row is not None else DEFAULT_IN_APP,
                email=row.email if row is not None else DEFAULT_EMAIL,
            )
        )
    return out


async def set_preferences(
    session: AsyncSession, principal: Principal, items: list[PreferenceIn]
) -> list[PreferenceOut]:
    """Store the caller's choices for the listed types (others keep theirs); an unknown type
    answers 422 naming it."""
    user_id = _own(principal)
    errors = [
        {"field": f"{i}.type", "message": f"unknown notification type {item.type!r}"}
        for i, item in enumerate(items)
        if item.type not in TYPES
    ]
    if errors:
        names = ", ".join(repr(i.type) for i in items if i.type not in TYPES)
        raise Invalid(
            f"unknown notification type {names}; known types: {', '.join(TYPES)}",
            errors=errors,
        )
    seen: dict[str, PreferenceIn] = {item.type: item for item in items}
    repo = PreferenceRepo(session, principal)
    stored = await repo.of_user(user_id)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, item in seen.items():
        row = stored.get(name)
        old = (row.in_app, row.email) if row is not None else (DEFAULT_IN_APP, DEFAULT_EMAIL)
        if old == (item.in_app, item.email):
            continue
        before[name] = {"in_app": old[0], "email": old[1]}
        after[name] = {"in_app": item.in_app, "email": item.email}
        if row is None:
            await repo.add(
                NotificationPreference(
                    user_id=user_id, type=name, in_app=item.in_app, email=item.email
                )
            )
        else:
            row.in_app, row.email = item.in_app, item.email
    if after:
        await session.flush()
        await audit.record(
            session,
            principal,
            "update",
            "notification_preference",
            user_id,
            before=before,
            after=after,
        )
    return await get_preferences(session, principal)


# -- the organization's email outbox (admins) -----------------------------------------------


async def list_outbox(
    session: AsyncSession,
    principal: Principal,
    *,
    status: EmailStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[EmailOutbox], str | None]:
    """The organization's outgoing email, newest first."""
    repo = OutboxRepo(session, principal)
    stmt = repo.select()
    if status is not None:
        stmt = stmt.where(EmailOutbox.status == status.value)
    return await repo.page(
        stmt, sort="-id", sortable={"id": EmailOutbox.id}, cursor=cursor, limit=limit
    )


async def resend(session: AsyncSession, principal: Principal, email_id: int) -> EmailOutbox:
    """Queue another `email.send` for an email that was kept or failed (e.g. after SMTP_URL was
    set); one already sent answers 409."""
    row = await OutboxRepo(session, principal).get(email_id, for_update=True)
    if row.status == EmailStatus.sent.value:
        raise Conflict(f"email {email_id} was already sent")
    row.status = EmailStatus.queued.value
    await enqueue(session, SEND_JOB, {"email_id": row.id}, organization_id=row.organization_id)
    await audit.record(session, principal, "resend", "email", row.id)
    return row
