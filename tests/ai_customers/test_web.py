"""The AI insights card on the contact page."""

from __future__ import annotations

import json

import httpx

from tests.ai_customers.common import activity, ago, customer
from tests.fixtures.factories import member, register
from tests.web.test_pages import HX, csrf_of, web_login


async def test_contact_page_shows_the_insights_card(
    client: httpx.AsyncClient, base_url: str
) -> None:
    owner = await register(client, org="Card Co")
    c = await customer(client, owner, first_name="Robin", phone="+14155550103")
    await activity(client, owner, c["id"], ago(120), outcome="no answer")
    browser = await web_login(base_url, owner)
    try:
        page = await browser.get(f"/contacts/{c['id']}")
        assert page.status_code == 200
        assert f'hx-get="/contacts/{c["id"]}/insights"' in page.text
        card = await browser.get(f"/contacts/{c['id']}/insights", headers=HX)
        assert card.status_code == 200, card.text
        for text in ("Churn risk", "Lifetime value", "Next best action", "Best time to contact"):
            assert text in card.text
        assert 'role="meter"' in card.text and "No contact in 120 days" in card.text
        assert "Create task" in card.text

        r = await browser.post(
            f"/contacts/{c['id']}/insights/task",
            data={"option": "0", "csrf_token": csrf_of(browser)},
            headers={**HX, "X-CSRF-Token": csrf_of(browser)},
        )
        assert r.status_code == 200, r.text
        assert "Task created" in json.loads(r.headers["HX-Trigger"])["toast"]["message"]
        tasks = (
            await client.get("/api/v1/tasks", params={"contact_id": c["id"]}, headers=owner.headers)
        ).json()
        items = tasks["items"] if isinstance(tasks, dict) else tasks
        assert any("Robin" in t["title"] for t in items)
    finally:
        await browser.aclose()

    viewer = await member(client, owner, "viewer")
    browser = await web_login(base_url, viewer)
    try:
        card = await browser.get(f"/contacts/{c['id']}/insights", headers=HX)
        assert card.status_code == 200 and "Churn risk" in card.text
        assert "Create task" not in card.text  # a viewer reads, does not act
    finally:
        await browser.aclose()
