"""Browser sessions: the auth cookies, their rotation and the CSRF token.

The web UI keeps the same access/refresh pair the API hands out, in HttpOnly cookies. An expired
access cookie is renewed from the refresh cookie on the next page request, so the browser never
sees a login form while its refresh token is alive."""

from __future__ import annotations

import asyncio
import secrets
import time
from urllib.parse import quote

from fastapi import Request, Response

from aicrm.auth import service as auth_service
from aicrm.auth.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from aicrm.auth.schemas import TokenPair
from aicrm.auth.security import sha256
from aicrm.config import get_settings
from aicrm.db import Database
from aicrm.errors import AICRMError

FLASH_COOKIE = "aicrm_flash"

# Several requests of one page (a fetch, an HTMX partial, a second tab) can arrive together with
# the same expired access cookie. Rotating the refresh token once per request would make the
# second request present an already-used token, which the server treats as theft and answers by
# revoking the whole family. So within one process a rotation is shared for a short grace period.
_GRACE_SECONDS = 30.0
_rotated: dict[str, tuple[float, TokenPair]] = {}
_locks: dict[str, asyncio.Lock] = {}


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """No usable session: the browser is sent to the login page."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(reason)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


async def rotate(request: Request) -> TokenPair:
    """New tokens from the refresh cookie, committed in their own transaction so the page's own
    outcome (even an error) cannot lose them."""
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise LoginRequired()
    key = sha256(token)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        now = time.monotonic()
        cached = _rotated.get(key)
        if cached and cached[0] > now:
            pair = cached[1]
        else:
            db: Database = request.app.state.db
            session = await db.session(write=True)
            try:
                pair = await auth_service.refresh(session, token)
                await session.commit()
            except AICRMError as exc:
                if exc.commit:
                    # keeps the revocation of a reused token's family
                    await session.commit()
                raise LoginRequired(exc.message) from exc
            finally:
                await session.close()
            _rotated[key] = (now + _GRACE_SECONDS, pair)
            for k in [k for k, (exp, _) in _rotated.items() if exp <= now]:
                _rotated.pop(k, None)
                _locks.pop(k, None)
    request.state.new_tokens = pair
    return pair


def set_session_cookies(response: Response, pair: TokenPair, csrf: str | None = None) -> None:
    settings = get_settings()
    secure = settings.COOKIE_SECURE
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=pair.expires_in,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.REFRESH_TOKEN_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    if csrf:
        set_csrf_cookie(response, csrf)


def set_csrf_cookie(response: Response, csrf: str) -> None:
    settings = get_settings()
    # readable by scripts on purpose: the double-submit check needs the page to echo it
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=settings.REFRESH_TOKEN_DAYS * 86400,
        httponly=False,
        samesite="lax",
        secure=settings.COOKIE_SECURE,
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/")


def set_flash(response: Response, message: str, kind: str = "success") -> None:
    """A message shown once by the next full page the browser loads."""
    response.set_cookie(
        FLASH_COOKIE,
        quote(f"{kind}|{message}"[:300]),
        max_age=60,
        httponly=True,
        samesite="lax",
        secure=get_settings().COOKIE_SECURE,
        path="/",
    )
