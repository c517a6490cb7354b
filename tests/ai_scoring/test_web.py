"""Scores in the web UI: the kanban card's score badge (coloured by priority), the lead and deal
pages' insight cards with reasons, and the "Score now" buttons (members who may write only)."""

from __future__ import annotations

import httpx

from tests.ai_scoring.test_scoring import wait_until
from tests.fixtures.factories import create, member, register
from tests.web.test_pages import csrf_of, web_login

HX = {"HX-Request": "true"}


async def test_lead_badge_insight_cards_and_score_now(
    client: httpx.AsyncClient, base_url: str
) -> None:
    acc = await register(client)
    lead = await create(
        client,
        acc,
        "/api/v1/leads",
        {
            "name": "Hot Prospect",
            "email": "hot@example.com",
            "phone": "+1 415 555 0111",
            "budget": 50000,
            "source": "referral",
            "requirements": "Needs 50 seats",
            "timeline": "this month",
        },
    )
    r = await client.post(f"/api/v1/leads/{lead['id']}/qualify", headers=acc.headers)
    scored = r.json()
    c = await web_login(base_url, acc)
    try:
        board = (await c.get("/leads")).text
        tone = {"high": "hot", "medium": "warm", "low": "cold"}[scored["priority"]]
        badge = f'<span class="score score-{tone}" title="AI score {scored["score"]}/100, '
        assert badge + f'{scored["priority"]} priority"' in board

        page = (await c.get(f"/leads/{lead['id']}")).text
        assert 'data-insights-for="lead:' + str(lead["id"]) + '"' in page
        assert "Budget stated" in page  # a reason, on the card
        assert f'hx-post="/leads/{lead["id"]}/score"' in page

        r = await c.post(f"/leads/{lead['id']}/score", headers={**HX, "X-CSRF-Token": csrf_of(c)})
        assert r.status_code == 200, r.text
        assert "ai-card ai-lead_score" in r.text and "Budget stated" in r.text
        assert 'id="lead-summary" class="card" hx-swap-oob="true"' in r.text
        assert "Scored" in r.headers.get("HX-Trigger", "")
    finally:
        await c.aclose()

    viewer = await member(client, acc, "viewer")
    v = await web_login(base_url, viewer)
    try:
        page = (await v.get(f"/leads/{lead['id']}")).text
        assert "Budget stated" in page and f"/leads/{lead['id']}/score" not in page
        r = await v.post(f"/leads/{lead['id']}/score", headers={**HX, "X-CSRF-Token": csrf_of(v)})
        assert r.status_code == 403
    finally:
        await v.aclose()


async def test_deal_page_win_probability_and_score_now(
    client: httpx.AsyncClient, base_url: str
) -> None:
    acc = await register(client)
    deal = await create(client, acc, "/api/v1/deals", {"name": "Big one", "stage": "Proposal"})
    c = await web_login(base_url, acc)
    try:
        page = (await c.get(f"/deals/{deal['id']}")).text
        assert "No AI insights yet" in page and f'hx-post="/deals/{deal["id"]}/score"' in page
        r = await c.post(f"/deals/{deal['id']}/score", headers={**HX, "X-CSRF-Token": csrf_of(c)})
        assert r.status_code == 200, r.text
        assert "ai-card ai-win_probability" in r.text and "Stage Proposal" in r.text
        assert "Win probability (AI)" in r.text
        page = (await c.get(f"/deals/{deal['id']}")).text
        assert "Win probability (AI)" in page and "Stage Proposal" in page

        # moving the deal re-scores it (it has a score now), so the probability follows
        r = await client.put(
            f"/api/v1/deals/{deal['id']}/stage", json={"stage": "Negotiation"}, headers=acc.headers
        )
        assert r.status_code == 200

        async def rescored() -> bool:
            r = await client.get(
                "/api/v1/ai/insights",
                params={"entity_type": "deal", "entity_id": deal["id"], "current": "true"},
                headers=acc.headers,
            )
            return any(i["value"] > 0.7 for i in r.json()["items"])

        await wait_until(rescored)
    finally:
        await c.aclose()
