"""The notification bell in a real browser: the badge shows the unread count, a task another user
assigns through the API appears on it live (websocket, no reload), the dropdown lists it, and
"Mark all read" clears the badge."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page
from tests.fixtures.factories import PASSWORD, unique_email

pytestmark = pytest.mark.browser


def _teammate(base_url: str, owner: dict[str, Any]) -> dict[str, Any]:
    email = unique_email("bell")
    r = httpx.post(
        f"{base_url}/api/v1/invitations",
        json={"email": email, "role": "agent"},
        headers=owner["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": "Bo Bell",
            "invitation_token": r.json()["token"],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = httpx.get(f"{base_url}/api/v1/auth/me", headers=headers, timeout=30).json()
    return {"email": email, "headers": headers, "id": me["id"]}


def _assign(base_url: str, by: dict[str, Any], to: dict[str, Any], title: str) -> int:
    r = httpx.post(
        f"{base_url}/api/v1/tasks",
        json={"title": title, "assignee_id": to["id"]},
        headers=by["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _wait_unread(base_url: str, user: dict[str, Any], count: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        r = httpx.get(
            f"{base_url}/api/v1/notifications/unread-count", headers=user["headers"], timeout=30
        )
        if r.json()["count"] == count:
            return
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def test_the_bell_counts_live(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    owner = make_user(base_url, org="Bell Browser Co", full_name="Ann Owner")
    agent = _teammate(base_url, owner)
    _assign(base_url, owner, agent, "Prepare the demo")
    _assign(base_url, owner, agent, "Send the contract")
    _wait_unread(base_url, agent, 2)

    with signed_in_page(base_url, agent["email"]) as page:
        count = page.locator("[data-notif-count]")
        expect(count).to_have_text("2")
        expect(count).to_be_visible()
        expect(page.locator("[data-notif-summary]")).to_have_attribute(
            "aria-label", "Notifications, 2 unread"
        )

        # Live: the websocket (realtime.js) must be open before the change, or the message is
        # only caught by the one-minute poll. Needs /ws and realtime.js (helper B's part).
        page.wait_for_function("() => window.aicrmRealtime && window.aicrmRealtime.connected")
        _assign(base_url, owner, agent, "Call Grace about the renewal")
        expect(count).to_have_text("3", timeout=10_000)
        page.screenshot(path=str(artifacts() / "notifications-bell.png"))

        page.locator("[data-notif-summary]").click()
        items = page.locator("[data-notif-items] .notif-item")
        expect(items.first).to_contain_text("Call Grace about the renewal")
        expect(items).to_have_count(3)
        page.screenshot(path=str(artifacts() / "notifications-dropdown.png"))

        page.get_by_role("button", name="Mark all read").click()
        expect(count).to_be_hidden()
        expect(page.locator("[data-notif-items] .notif-item.unread")).to_have_count(0)
        _wait_unread(base_url, agent, 0)

        # opening a notification from the list marks it read
        _assign(base_url, owner, agent, "One more thing")
        expect(count).to_have_text("1", timeout=10_000)
        page.goto(f"{base_url}/notifications")
        page.screenshot(path=str(artifacts() / "notifications-page.png"))
        link = page.locator("#notification-list a.title", has_text="One more thing")
        with page.expect_response(lambda r: r.url.endswith("/read")) as read:
            link.click()
        assert read.value.status == 200
        page.wait_for_url("**/tasks/*")
        expect(page.locator("[data-notif-count]")).to_be_hidden()
        _wait_unread(base_url, agent, 0)

        page.goto(f"{base_url}/settings/notifications")
        page.get_by_label("Task assigned to me by email").check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".toast-success")).to_contain_text("Notification settings saved")
        expect(page.get_by_label("Task assigned to me by email")).to_be_checked()
        page.screenshot(path=str(artifacts() / "notifications-settings.png"))

    with signed_in_page(base_url, owner["email"]) as page:
        page.goto(f"{base_url}/notifications/outbox")
        page.locator("details", has_text="You are invited").first.click()
        expect(page.locator("pre", has_text="Invitation token").first).to_be_visible()
        page.screenshot(path=str(artifacts() / "notifications-outbox.png"))
