"""AI insights in the web UI: the insights page shows cards with their reasons, and a card can
be marked done or dismissed from the page (members who may write only)."""

from __future__ import annotations

import httpx

from aicrm.db import Database
from tests.ai.conftest import store_insight
from tests.fixtures.factories import member, register
from tests.web.test_pages import csrf_of, web_login

HX = {"HX-Request": "true"}


async def test_insights_page_cards_and_actions(
    client: httpx.AsyncClient, base_url: str, db: Database
) -> None:
    a = await register(client)
    insight = await store_insight(
        db,
        a.organization_id,
        kind="bottleneck",
        title="Deals wait 3x longer than usual in Proposal",
        severity="high",
        fingerprint="stage:proposal",
        confidence=0.8,
        reasons=[{"feature": "dwell", "text": "Median 21 days vs 7 days", "impact": 0.6}],
        recommendations=[{"action": "review", "text": "Review the 6 deals in Proposal"}],
    )
    c = await web_login(base_url, a)
    try:
        html = (await c.get("/insights")).text
        assert "Deals wait 3x longer than usual in Proposal" in html
        assert "Median 21 days vs 7 days" in html and "Review the 6 deals in Proposal" in html
        assert f'hx-post="/insights/{insight}/act"' in html
        assert 'href="/insights"' in html  # in the navigation

        r = await c.post(f"/insights/{insight}/act", headers={**HX, "X-CSRF-Token": csrf_of(c)})
        assert r.status_code == 200, r.text
        assert "Acted" in r.text and f'hx-post="/insights/{insight}/act"' not in r.text
        assert "Deals wait" not in (await c.get("/insights")).text  # open ones only
        assert "Deals wait" in (await c.get("/insights?show=all")).text
    finally:
        await c.aclose()

    viewer = await member(client, a, "viewer")
    other = await store_insight(
        db, a.organization_id, kind="anomaly", title="Inbound volume fell 60%"
    )
    v = await web_login(base_url, viewer)
    try:
        html = (await v.get("/insights")).text
        assert "Inbound volume fell 60%" in html and f"/insights/{other}/dismiss" not in html
        r = await v.post(f"/insights/{other}/dismiss", headers={**HX, "X-CSRF-Token": csrf_of(v)})
        assert r.status_code == 403
    finally:
        await v.aclose()


async def test_record_cards_fragment_shows_current_insights_of_that_record(
    client: httpx.AsyncClient, base_url: str, db: Database
) -> None:
    a = await register(client)
    # a company: nothing scores companies in the background, so the cards are the two stored here
    lead = (await client.post("/api/v1/companies", json={"name": "Iris"}, headers=a.headers)).json()
    await store_insight(
        db,
        a.organization_id,
        kind="churn_risk",
        entity_type="company",
        entity_id=lead["id"],
        value=35,
        label="low",
    )
    await store_insight(
        db,
        a.organization_id,
        kind="churn_risk",
        entity_type="company",
        entity_id=lead["id"],
        value=81,
        label="high",
        reasons=[{"feature": "budget", "text": "Budget 40k", "impact": 0.3}],
    )
    c = await web_login(base_url, a)
    try:
        html = (
            await c.get(
                "/insights/cards",
                params={"entity_type": "company", "entity_id": lead["id"]},
                headers=HX,
            )
        ).text
        assert "81" in html and "Budget 40k" in html and ">35<" not in html
        b = await register(client)
        cb = await web_login(base_url, b)
        try:
            other = (
                await cb.get(
                    "/insights/cards",
                    params={"entity_type": "company", "entity_id": lead["id"]},
                    headers=HX,
                )
            ).text
            assert "Budget 40k" not in other
        finally:
            await cb.aclose()
    finally:
        await c.aclose()
