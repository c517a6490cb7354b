"""Browser session details: cookie flags, concurrent renewal, the HTMX/fetch CSRF plumbing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import Response

from aicrm.auth.schemas import TokenPair
from aicrm.config import Settings
from aicrm.web import session as web_session
from tests.fixtures.factories import Account, register
from tests.web.test_pages import web_login


def _pair() -> TokenPair:
    return TokenPair(access_token="a" * 20, refresh_token="r" * 20, expires_in=900)


@pytest.mark.parametrize("secure", [True, False])
def test_cookie_flags_follow_settings(monkeypatch: pytest.MonkeyPatch, secure: bool) -> None:
    settings = Settings(COOKIE_SECURE=secure, SECRET_KEY="x" * 40)
    monkeypatch.setattr(web_session, "get_settings", lambda: settings)
    response = Response()
    web_session.set_session_cookies(response, _pair(), "csrf-value")
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.getlist("set-cookie")}
    assert set(cookies) == {"aicrm_access", "aicrm_refresh", "aicrm_csrf"}
    for name, value in cookies.items():
        assert ("; secure" in value) is secure, name
        assert "samesite=lax" in value
    assert "httponly" in cookies["aicrm_access"] and "httponly" in cookies["aicrm_refresh"]
    assert "httponly" not in cookies["aicrm_csrf"]


async def test_concurrent_requests_share_one_renewal(
    client: httpx.AsyncClient, base_url: str
) -> None:
    acc: Account = await register(client, org="Parallel Co")
    browser = await web_login(base_url, acc)
    try:
        browser.cookies.set("aicrm_access", "stale", domain="127.0.0.1")
        # three requests leave with the same expired access cookie and the same refresh cookie
        results = await asyncio.gather(*(browser.get(p) for p in ("/", "/contacts", "/leads")))
        assert [r.status_code for r in results] == [200, 200, 200]
        # presenting the refresh token three times must not look like theft
        assert (await browser.get("/companies")).status_code == 200
        r = await browser.post(
            "/session/refresh", headers={"X-CSRF-Token": browser.cookies["aicrm_csrf"]}
        )
        assert r.status_code == 204
    finally:
        await browser.aclose()


async def test_script_refresh_without_session_is_401(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        r = await c.post("/session/refresh", headers={"X-CSRF-Token": c.cookies["aicrm_csrf"]})
        assert r.status_code == 401


async def test_static_and_vendor_files(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        for path in (
            "/static/app.css",
            "/static/app.js",
            "/static/vendor/htmx.min.js",
            "/static/vendor/Sortable.min.js",
        ):
            r = await c.get(path)
            assert r.status_code == 200, path
        assert (await c.get("/static/vendor/../../pyproject.toml")).status_code == 404
        assert (await c.get("/static/vendor/other.js")).status_code == 404
