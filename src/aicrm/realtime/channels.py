"""Who may open the websocket and which channels they may listen to.

Authentication takes the same credentials as the API — an access JWT or an API key in the
`token` query parameter (or the Authorization / X-API-Key headers), else the web UI's access
cookie — and resolves them with the auth service and its short-lived cache, like
aicrm.auth.deps does for requests. A cookie is sent by the browser to any site's websocket, so
with a cookie the handshake's Origin must be this site (no cross-site websocket hijacking).

Channels: `organization:N` (the member's own organization), `user:N` (only oneself), and
`<entity>:N` for records found in the member's organization through that entity's repository —
the same tenant scoping every API read goes through.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket

from aicrm.auth.deps import ACCESS_COOKIE, principal_for
from aicrm.auth.repository import ApiKeyRepo
from aicrm.config import Settings
from aicrm.db import Database
from aicrm.errors import Invalid, NotFound, PermissionDenied, Unauthorized
from aicrm.kit.principal import Permission, Principal
from aicrm.models import User
from aicrm.orgs.repository import MembershipRepo

CHANNEL_RE = re.compile(r"^(?P<kind>[a-z_]+):(?P<id>[0-9]{1,19})$")
MAX_CHANNEL_LENGTH = 64

# entity channel -> (repository module, class): the record must be readable by the subscriber
ENTITY_REPOS: dict[str, tuple[str, str]] = {
    "lead": ("aicrm.leads.repository", "LeadRepo"),
    "deal": ("aicrm.deals.repository", "DealRepo"),
    "contact": ("aicrm.contacts.repository", "ContactRepo"),
    "company": ("aicrm.companies.repository", "CompanyRepo"),
    "task": ("aicrm.tasks.repository", "TaskRepo"),
    "ticket": ("aicrm.tickets.repository", "TicketRepo"),
}


def credential_of(websocket: WebSocket) -> tuple[str, bool]:
    """(credential, came from the cookie). Query token first: a client that passes one means it."""
    token = websocket.query_params.get("token")
    if token:
        return token, False
    auth = websocket.headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip(), False
    api_key = websocket.headers.get("x-api-key")
    if api_key:
        return api_key, False
    cookie = websocket.cookies.get(ACCESS_COOKIE)
    if cookie:
        return cookie, True
    raise Unauthorized("Authentication required: pass ?token=<access token or API key>")


def check_origin(websocket: WebSocket, settings: Settings) -> None:
    """Cookie-authenticated handshakes must come from a page of this site."""
    origin = websocket.headers.get("origin")
    if not origin:
        return  # not a browser: it chose to send the cookie itself
    allowed = {o.rstrip("/") for o in settings.CORS_ORIGINS}
    public = urlsplit(settings.PUBLIC_URL)
    allowed.add(f"{public.scheme}://{public.netloc}")
    if origin.rstrip("/") in allowed:
        return
    host = websocket.headers.get("host", "")
    if host and urlsplit(origin).netloc == host:
        return
    raise PermissionDenied("Cross-site websocket refused: the Origin is not this site")


async def authenticate(websocket: WebSocket, db: Database, settings: Settings) -> Principal:
    credential, from_cookie = credential_of(websocket)
    if from_cookie:
        check_origin(websocket, settings)
    session = await db.session(write=False)
    try:
        principal = await principal_for(session, credential)
    finally:
        await session.close()
    if not principal.can(Permission.read):
        raise PermissionDenied(f"Your role ({principal.role}) may not read records")
    websocket.state.credential = credential
    return principal


def parse(channel: Any) -> tuple[str, int]:
    if not isinstance(channel, str) or len(channel) > MAX_CHANNEL_LENGTH:
        raise Invalid("channel must be a string like 'organization:1'", field="channel")
    match = CHANNEL_RE.match(channel)
    if match is None:
        raise Invalid(
            "channel must look like 'organization:1', 'user:2' or 'lead:3'", field="channel"
        )
    return match["kind"], int(match["id"])


async def authorize(session: AsyncSession, principal: Principal, channel: object) -> str:
    """Raise unless `principal` may listen to `channel`; returns the channel normalised."""
    kind, id_ = parse(channel)
    if kind == "organization":
        if id_ != principal.organization_id:
            raise PermissionDenied("You can only subscribe to your own organization")
    elif kind == "user":
        if principal.user_id is None or id_ != principal.user_id:
            raise PermissionDenied("You can only subscribe to your own user channel")
    elif kind in ENTITY_REPOS:
        module_name, class_name = ENTITY_REPOS[kind]
        try:
            repo_cls = getattr(importlib.import_module(module_name), class_name)
        except (ModuleNotFoundError, AttributeError) as exc:
            raise Invalid(
                f"{kind} channels are not available: this build has no {kind}s",
                field="channel",
            ) from exc
        if await repo_cls.from_session(session, principal).get_or_none(id_) is None:
            raise NotFound(f"{kind} {id_} not found")
    else:
        raise Invalid(f"unknown channel kind {kind!r}", field="channel")
    return f"{kind}:{id_}"


async def still_allowed(session: AsyncSession, principal: Principal) -> bool:
    """Is the connection's principal still a member (active user) or a live API key?"""
    if principal.api_key_id is not None:
        key = await ApiKeyRepo.from_session(session, principal).get_or_none(principal.api_key_id)
        if key is None or key.revoked_at is not None:
            return False
        expires = key.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return expires is None or expires > datetime.now(UTC)
    if principal.user_id is None:
        return True  # the system principal (jobs) never connects, but is always allowed
    membership = await MembershipRepo.from_session(session, principal).by_user(principal.user_id)
    if membership is None:
        return False
    user = await session.get(User, principal.user_id)
    return user is not None and bool(user.is_active)
