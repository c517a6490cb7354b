"""A short-lived, per-process cache of resolved credentials.

Resolving a token costs a JWT decode plus a membership query on every request — a third of a
GET's time. Entries live a few seconds; any change to memberships, users or API keys made in
this process clears the cache at once, and other processes see it within the TTL."""

from __future__ import annotations

import time

from aicrm.kit.principal import Principal

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

_entries: dict[str, tuple[float, Principal]] = {}


def get(credential: str) -> Principal | None:
    hit = _entries.get(credential)
    if hit is None:
        return None
    expires, principal = hit
    if expires < time.monotonic():
        _entries.pop(credential, None)
        return None
    return principal


def put(credential: str, principal: Principal, *, not_after: float | None = None) -> None:
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    expires = time.monotonic() + TTL_SECONDS
    if not_after is not None:
        expires = min(expires, not_after)
    _entries[credential] = (expires, principal)


def clear() -> None:
    _entries.clear()


def _watch_auth_changes() -> None:
    """Clear the cache when a transaction that touched memberships, users or keys commits."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from aicrm.models import ApiKey, Membership, User

    watched = (ApiKey, Membership, User)

    @event.listens_for(Session, "after_flush")
    def _mark(session: Session, _ctx: object) -> None:
        if any(isinstance(o, watched) for o in (*session.dirty, *session.deleted)):
            session.info["auth_changed"] = True

    @event.listens_for(Session, "after_commit")
    def _clear(session: Session) -> None:
        if session.info.pop("auth_changed", False):
            clear()


_watch_auth_changes()
