"""Shared helpers for the Playwright tests: Debian's Chromium, a user made through the API, and
sign-in through the real login form."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import PASSWORD, unique_email

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def need_chromium() -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(
            "Debian's Chromium is not installed at /usr/bin/chromium (apt install chromium)"
        )


def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def make_user(base_url: str, *, org: str, full_name: str) -> dict[str, Any]:
    email = unique_email("browser")
    r = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": full_name,
            "organization_name": org,
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return {"email": email, "headers": {"Authorization": f"Bearer {r.json()['access_token']}"}}


@contextmanager
def signed_in_page(
    base_url: str,
    email: str,
    *,
    width: int = 1440,
    height: int = 900,
    login_shot: Path | None = None,
) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base_url}/login")
            if login_shot is not None:
                page.screenshot(path=str(login_shot))
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            page.wait_for_url(f"{base_url}/")
            yield page
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()


def drag(page: Any, source: Any, target: Any, *, y_offset: float = 0.0) -> None:
    """Drag with real mouse events in small steps, the way SortableJS's fallback mode expects."""
    a = source.bounding_box()
    b = target.bounding_box()
    assert a and b
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 8, a["y"] + a["height"] / 2 + 8, steps=4)
    tx = b["x"] + b["width"] / 2
    ty = b["y"] + min(b["height"] - 10, 40) + y_offset
    page.mouse.move(tx, ty, steps=25)
    page.wait_for_timeout(150)
    page.mouse.move(tx, ty + 2, steps=2)
    page.mouse.up()
