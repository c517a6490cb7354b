"""GET /api/v1/customers/{id}/insights: the four parts with reasons, freshness, permissions."""

from __future__ import annotations

import httpx

from tests.ai_customers.common import activity, ago, customer, insights
from tests.fixtures.factories import create, member, register

PARTS = ("churn_risk", "lifetime_value", "next_best_action", "optimal_timing")


async def test_insights_have_all_four_parts_with_reasons(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await customer(client, acc, phone="+14155550101", email="dana@example.com")
    for days, outcome in ((40, "connected"), (35, "no answer"), (33, "connected")):
        await activity(client, acc, c["id"], ago(days, at_hour=15), outcome=outcome)
    body = await insights(client, acc, c["id"])
    assert body["customer_id"] == c["id"]
    assert body["refreshed"] is True
    for part in PARTS:
        assert body[part]["reasons"], part
        assert all(r["text"] for r in body[part]["reasons"])
        assert body[part]["insight_id"], part
        assert 0 <= body[part]["confidence"] <= 1
    churn = body["churn_risk"]
    assert 0 <= churn["value"] <= 1 and churn["label"] in ("low", "medium", "high")
    assert churn["mode"] == "rules"  # a new organization has no outcomes to learn from
    assert body["lifetime_value"]["currency"] == "USD"
    nba = body["next_best_action"]
    assert nba["action"] and nba["title"] and nba["recommendations"]
    assert body["optimal_timing"]["best_slots"]
    assert set(body["model_versions"]) == {
        "churn_risk",
        "lifetime_value",
        "next_best_action",
        "best_time",
    }
    # the score lands on the contact, without touching what a person edits
    contact = (await client.get(f"/api/v1/contacts/{c['id']}", headers=acc.headers)).json()
    assert contact["churn_risk"] == churn["value"]
    assert contact["version"] == c["version"]

    # stored insights are served while nothing changed; the alias answers the same
    again = await insights(client, acc, c["id"])
    assert again["refreshed"] is False
    assert again["churn_risk"]["insight_id"] == churn["insight_id"]
    r = await client.get(f"/api/v1/contacts/{c['id']}/insights", headers=acc.headers)
    assert r.status_code == 200 and r.json()["churn_risk"]["insight_id"] == churn["insight_id"]
    # new data makes them stale; refresh=true forces a recompute
    await activity(client, acc, c["id"], ago(0.1), direction="inbound", type_="email")
    after = await insights(client, acc, c["id"])
    assert after["refreshed"] is True
    assert after["churn_risk"]["insight_id"] != churn["insight_id"]
    forced = await insights(client, acc, c["id"], refresh="true")
    assert forced["refreshed"] is True

    # every decision is in the AI log with its model version
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "contact", "entity_id": c["id"], "current": "true"},
        headers=acc.headers,
    )
    if r.status_code == 200:
        kinds = {i["kind"] for i in r.json()["items"]}
        assert {"churn_risk", "lifetime_value", "next_best_action", "best_time"} <= kinds


async def test_silent_customer_is_riskier_than_an_engaged_one(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    silent = await customer(client, acc, first_name="Sam", phone="+14155550102")
    for days in (300, 260, 230, 210):
        await activity(client, acc, silent["id"], ago(days), outcome="no answer")
    await activity(client, acc, silent["id"], ago(200), outcome="voicemail")
    engaged = await customer(client, acc, first_name="Erin")
    for days in (60, 40, 20, 9, 3):
        await activity(client, acc, engaged["id"], ago(days), outcome="connected")
    await activity(client, acc, engaged["id"], ago(2), type_="email", direction="inbound")

    risky = await insights(client, acc, silent["id"])
    happy = await insights(client, acc, engaged["id"])
    assert risky["churn_risk"]["value"] > happy["churn_risk"]["value"]
    assert risky["churn_risk"]["label"] == "high"
    texts = " ".join(r["text"] for r in risky["churn_risk"]["reasons"])
    assert "No contact in" in texts
    assert risky["churn_risk"]["reasons"][0]["impact"] > 0
    assert any(r["impact"] < 0 for r in happy["churn_risk"]["reasons"])
    # the silent one needs a call; the suggestion names them and says why
    nba = risky["next_best_action"]
    assert nba["action"] in ("retention_call", "reconnect")
    assert "Sam" in nba["title"] and "churn risk high" in nba["title"]
    assert nba["task"]["contact_id"] == silent["id"]


async def test_next_best_action_follows_up_a_stalled_deal_and_creates_the_task(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    c = await customer(client, acc, first_name="Pat", status="prospect")
    deal = await create(
        client,
        acc,
        "/api/v1/deals",
        {
            "name": "Pat renewal",
            "amount": 5000,
            "contact_id": c["id"],
            "expected_close_date": "2020-01-31",
        },
    )
    body = await insights(client, acc, c["id"])
    nba = body["next_best_action"]
    assert nba["action"] == "follow_up_deal"
    assert "Pat renewal" in nba["title"]
    assert nba["task"]["deal_id"] == deal["id"]

    r = await client.post(
        f"/api/v1/customers/{c['id']}/next-best-action/task", json={}, headers=acc.headers
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["contact_id"] == c["id"] and task["deal_id"] == deal["id"]
    assert task["title"] == nba["task"]["title"] and task["due_at"]
    insight = await client.get(f"/api/v1/ai/insights/{nba['insight_id']}", headers=acc.headers)
    if insight.status_code == 200:
        assert insight.json()["status"] == "acted"
    # an option that does not exist names the field
    r = await client.post(
        f"/api/v1/customers/{c['id']}/next-best-action/task",
        json={"option": 7},
        headers=acc.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"].endswith("option")


async def test_churned_customer_is_labelled_churned_and_not_predicted(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    c = await customer(client, acc, status="churned")
    body = await insights(client, acc, c["id"])
    assert body["churn_risk"]["label"] == "churned"
    assert body["churn_risk"]["insight_id"] is None  # a fact, not a prediction to score later
    assert body["next_best_action"]["insight_id"]


async def test_viewer_reads_insights_but_cannot_train_or_act(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    c = await customer(client, owner)
    body = await insights(client, viewer, c["id"])
    assert body["churn_risk"]["reasons"]
    assert (await client.get("/api/v1/ai/churn", headers=viewer.headers)).status_code == 200
    for path in (
        "/api/v1/ai/churn/train",
        "/api/v1/ai/churn/score",
        f"/api/v1/customers/{c['id']}/next-best-action/task",
    ):
        assert (await client.post(path, json={}, headers=viewer.headers)).status_code == 403


async def test_another_tenant_gets_404(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    intruder = await register(client)
    c = await customer(client, owner)
    for path in (f"/api/v1/customers/{c['id']}/insights", f"/api/v1/contacts/{c['id']}/insights"):
        r = await client.get(path, headers=intruder.headers)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/api/v1/customers/999999999/insights", headers=owner.headers)
    assert r.status_code == 404
