"""The classifier page in a real browser: metrics render and the try-it box answers."""

from __future__ import annotations

import time

import httpx

from tests.ai_classifiers.common import BASE, examples
from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page


def test_try_a_classifier_in_the_browser(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Classifier Bank", full_name="Sam Lee")
    r = httpx.post(
        f"{base_url}{BASE}",
        json={
            "name": "Support intents",
            "description": "Routes inbound banking questions",
            "purpose": "intent",
            "examples": examples(30),
        },
        headers=user["headers"],
        timeout=30,
    )
    assert r.status_code == 202, r.text
    cid = r.json()["id"]
    deadline = time.time() + 45
    while httpx.get(f"{base_url}{BASE}/{cid}", headers=user["headers"]).json()["status"] != "ready":
        assert time.time() < deadline
        time.sleep(0.2)
    out = artifacts()
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/settings/classifiers")
        expect(page.get_by_text("Support intents").first).to_be_visible()
        page.screenshot(path=str(out / "classifiers.png"))
        page.goto(f"{base_url}/settings/classifiers/{cid}")
        expect(page.get_by_text("Held-out accuracy")).to_be_visible()
        page.fill("#f-texts", "Someone stole my card yesterday\nWhat's a good banana bread recipe?")
        page.get_by_role("button", name="Classify").click()
        expect(
            page.locator("#classifier-predictions").get_by_text("lost_or_stolen_card")
        ).to_be_visible()
        expect(page.locator("#classifier-predictions").get_by_text("none of these")).to_be_visible()
        page.screenshot(path=str(out / "classifier.png"), full_page=True)
