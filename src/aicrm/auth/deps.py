"""Request authentication: bearer JWT, API key or the web UI's cookies (with CSRF)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.auth import cache, service
from aicrm.auth.security import API_KEY_PREFIX
from aicrm.db import get_session
from aicrm.errors import PermissionDenied, Unauthorized
from aicrm.kit import idempotency
from aicrm.kit.principal import Permission, Principal

ACCESS_COOKIE = "aicrm_access"
REFRESH_COOKIE = "aicrm_refresh"
CSRF_COOKIE = "aicrm_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

Session = Annotated[AsyncSession, Depends(get_session)]


def check_csrf(request: Request, form_token: str | None = None) -> None:
    """Double-submit check for cookie-authenticated writes."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER) or form_token
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise PermissionDenied("CSRF token missing or wrong; reload the page and try again")


async def principal_for(
    session: AsyncSession, credential: str, *, api_key: bool | None = None
) -> Principal:
    """The principal behind an access token or an API key (by its prefix unless `api_key` says),
    cached for a few seconds."""
    is_key = api_key if api_key is not None else credential.startswith(API_KEY_PREFIX)
    principal = cache.get(credential)
    if principal is not None and (principal.api_key_id is not None) != is_key:
        principal = None  # cached as the other kind: a token is no API key, nor the reverse
    if principal is None:
        if is_key:
            principal = await service.principal_from_api_key(session, credential)
        else:
            principal = await service.principal_from_access_token(session, credential)
        cache.put(credential, principal)
    return principal


async def resolve_principal(request: Request, session: AsyncSession) -> Principal:
    auth = request.headers.get("authorization", "")
    token: str | None = None
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    api_key = request.headers.get("x-api-key")
    if api_key:
        principal = await principal_for(session, api_key, api_key=True)
    elif token:
        principal = await principal_for(session, token)
    elif request.cookies.get(ACCESS_COOKIE):
        check_csrf(request)
        principal = await principal_for(session, request.cookies[ACCESS_COOKIE], api_key=False)
    else:
        raise Unauthorized("Authentication required", headers={"WWW-Authenticate": "Bearer"})
    return replace(
        principal,
        request_id=getattr(request.state, "request_id", None),
        ip=request.client.host if request.client else None,
    )


async def get_principal(request: Request, session: Session) -> Principal:
    principal = await resolve_principal(request, session)
    request.state.principal = principal
    await idempotency.check(request, session, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: the caller must hold `permission` in the active organization."""

    async def dep(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"Your role ({principal.role}) may not do this ({permission.value})"
            )
        return principal

    return dep


Reader = Annotated[Principal, Depends(require(Permission.read))]
Writer = Annotated[Principal, Depends(require(Permission.write))]
Deleter = Annotated[Principal, Depends(require(Permission.delete))]
