"""Lead scoring and deal win probability over HTTP: cold-start rules and their reasons, the
per-organization model (trained on closed leads imported in one CSV, validated on a time
split), the events consumer scoring new leads, permissions, and deals' win probability."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from aicrm.ai.scoring import service
from aicrm.db import Database
from aicrm.kit.principal import system_principal
from tests.fixtures.factories import Account, create, member, register

PROBLEM = "application/problem+json"


async def wait_until(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, step: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out waiting for background work"
        await asyncio.sleep(step)


async def qualify(client: httpx.AsyncClient, acc: Account, lead_id: int) -> dict[str, Any]:
    r = await client.post(f"/api/v1/leads/{lead_id}/qualify", headers=acc.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_cold_start_rules_reward_budget_contact_details_and_a_recent_call(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    strong = await create(
        client,
        acc,
        "/api/v1/leads",
        {
            "name": "Dana Buyer",
            "company": "Acme",
            "email": "dana@acme.example",
            "phone": "+1 415 555 0100",
            "budget": 40000,
            "value": 35000,
            "source": "referral",
            "requirements": "40 seats, SSO",
            "timeline": "this quarter",
        },
    )
    await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "call", "lead_id": strong["id"], "direction": "outbound", "subject": "Intro"},
    )
    empty = await create(client, acc, "/api/v1/leads", {"name": "Someone"})

    a, b = await qualify(client, acc, strong["id"]), await qualify(client, acc, empty["id"])
    assert a["model"] == "lead_score.rules" and a["model_version"] == "rules-1"
    assert a["score"] > b["score"] + 30
    assert a["priority"] == "high" and b["priority"] == "low"
    assert 0 < b["confidence"] < a["confidence"] <= 1
    texts = " | ".join(r["text"] for r in a["reasons"])
    assert "Budget stated" in texts and "call" in texts, texts
    assert all({"feature", "text", "impact"} <= set(r) for r in a["reasons"])
    empty_texts = " | ".join(r["text"] for r in b["reasons"])
    assert "No budget" in empty_texts or "No email" in empty_texts, empty_texts
    assert any(x["action"] == "ask_budget" for x in b["recommendations"])
    assert not any(x["action"] in ("ask_budget", "call") for x in a["recommendations"])

    # stored: the lead's quality score and priority, and a current insight with its reasons
    lead = (await client.get(f"/api/v1/leads/{strong['id']}", headers=acc.headers)).json()
    assert lead["quality_score"] == a["score"] and lead["priority"] == "high"
    assert lead["version"] == strong["version"]  # a prediction is not an edit: no 412 for forms
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "lead", "entity_id": strong["id"], "kind": "lead_score"},
        headers=acc.headers,
    )
    stored = [i for i in r.json()["items"] if i["is_current"]]
    assert [i["id"] for i in stored] == [a["insight_id"]]
    assert stored[0]["value"] == a["score"] and stored[0]["reasons"] == a["reasons"]

    # a person's priority is kept by later scores
    r = await client.patch(
        f"/api/v1/leads/{empty['id']}", json={"priority": "high"}, headers=acc.headers
    )
    assert r.status_code == 200
    again = await qualify(client, acc, empty["id"])
    assert again["priority"] == "low" and again["priority_kept"] is True
    lead = (await client.get(f"/api/v1/leads/{empty['id']}", headers=acc.headers)).json()
    assert lead["priority"] == "high"


def _history_csv(n_closed: int, n_open: int, seed: int = 7) -> tuple[bytes, list[float]]:
    """Closed leads (oldest first) whose outcome follows `demo_minutes` (a custom field the
    rules know nothing of), with a little noise; then open leads."""
    rng = random.Random(seed)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["name", "email", "status", "source", "value", "custom.demo_minutes"])
    minutes = []
    for i in range(n_closed + n_open):
        m = rng.choice([0, 5, 10, 15, 20, 45, 60, 75, 90, 120])
        won = (m > 30) != (rng.random() < 0.1)
        status = "New" if i >= n_closed else ("Won" if won else "Lost")
        source = rng.choice(["website", "referral", "ads", "event"])
        w.writerow(
            [f"Lead {i}", f"lead{i}@example.com", status, source, rng.randint(1, 50) * 1000, m]
        )
        minutes.append(m)
    return out.getvalue().encode(), minutes


async def test_model_trained_on_closed_leads_beats_the_rules_and_names_its_feature(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    await create(
        client,
        acc,
        "/api/v1/custom-fields",
        {
            "entity_type": "lead",
            "key": "demo_minutes",
            "label": "Demo minutes",
            "field_type": "number",
        },
    )
    body, _ = _history_csv(160, 30)
    r = await client.post(
        "/api/v1/imports/leads",
        files={"file": ("history.csv", body, "text/csv")},
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 190, r.text

    status = (await client.get("/api/v1/ai/lead-scoring", headers=acc.headers)).json()
    assert status["outcomes"]["won"] + status["outcomes"]["lost"] == 160
    assert status["eligible"] is True

    r = await client.post("/api/v1/ai/lead-scoring/train", headers=acc.headers)
    assert r.status_code == 202, r.text
    assert r.json()["job_id"]

    async def trained() -> dict[str, Any] | None:
        s = (await client.get("/api/v1/ai/lead-scoring", headers=acc.headers)).json()
        return s if s["latest"] else None

    status = await wait_until(trained, timeout=40)
    metrics = status["latest"]["metrics"]
    assert status["mode"] == "model", metrics
    assert metrics["auc"] > metrics["auc_rules"] and metrics["auc"] >= 0.8, metrics
    assert metrics["n_validation"] >= 30 and "time split" in metrics["split"]
    assert metrics["top_features"][0]["feature"] == "custom.demo_minutes"

    hot = await create(
        client, acc, "/api/v1/leads", {"name": "Keen", "custom": {"demo_minutes": 90}}
    )
    cold = await create(
        client, acc, "/api/v1/leads", {"name": "Meh", "custom": {"demo_minutes": 5}}
    )
    a, b = await qualify(client, acc, hot["id"]), await qualify(client, acc, cold["id"])
    # (the import itself queued a training too, so this may be version 1 or 2)
    assert a["model"] == "lead_score.logreg" and a["model_version"].isdigit()
    assert a["score"] > b["score"] + 30
    assert a["reasons"][0]["feature"] == "custom.demo_minutes"
    assert a["reasons"][0]["text"] == "Demo minutes: 90" and a["reasons"][0]["impact"] > 0
    assert b["reasons"][0]["impact"] < 0
    assert a["probability"] is not None and 0 <= a["probability"] <= 1


async def test_new_leads_are_scored_in_the_background(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    lead = await create(
        client, acc, "/api/v1/leads", {"name": "Fresh", "email": "fresh@example.com"}
    )

    async def scored() -> dict[str, Any] | None:
        r = await client.get(f"/api/v1/leads/{lead['id']}", headers=acc.headers)
        return r.json() if r.json()["quality_score"] is not None else None

    found = await wait_until(scored)
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "lead", "entity_id": lead["id"], "kind": "lead_score"},
        headers=acc.headers,
    )
    first = r.json()["items"]
    assert len(first) == 1 and first[0]["value"] == found["quality_score"]

    # a relevant change is scored again; the score's own write does not loop
    r = await client.patch(
        f"/api/v1/leads/{lead['id']}",
        json={"budget": 90000, "phone": "+1 415 555 0199", "requirements": "Needs 200 seats"},
        headers=acc.headers,
    )
    assert r.status_code == 200

    async def rescored() -> dict[str, Any] | None:
        r = await client.get(f"/api/v1/leads/{lead['id']}", headers=acc.headers)
        return r.json() if r.json()["quality_score"] > found["quality_score"] else None

    await wait_until(rescored)
    await asyncio.sleep(1.5)
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "lead", "entity_id": lead["id"], "kind": "lead_score"},
        headers=acc.headers,
    )
    assert len(r.json()["items"]) == 2


async def test_viewer_reads_but_cannot_score_and_bad_input_is_a_problem(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    lead = await create(client, owner, "/api/v1/leads", {"name": "Viewed"})
    viewer = await member(client, owner, "viewer")
    r = await client.post(f"/api/v1/leads/{lead['id']}/qualify", headers=viewer.headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.post(
        "/api/v1/ai/lead-scoring", json={"lead_ids": [lead["id"]]}, headers=viewer.headers
    )
    assert r.status_code == 403
    r = await client.get("/api/v1/ai/lead-scoring", headers=viewer.headers)
    assert r.status_code == 200 and r.json()["mode"] == "rules"
    assert (
        await client.get("/api/v1/ai/win-probability", headers=viewer.headers)
    ).status_code == 200

    r = await client.post("/api/v1/ai/lead-scoring", json={}, headers=owner.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.post(
        "/api/v1/ai/lead-scoring", json={"lead_ids": ["x"]}, headers=owner.headers
    )
    assert r.status_code == 422 and "lead_ids" in r.text
    r = await client.post("/api/v1/leads/999999999/qualify", headers=owner.headers)
    assert r.status_code == 404

    won = await create(client, owner, "/api/v1/leads", {"name": "Done", "status": "Won"})
    r = await client.post(f"/api/v1/leads/{won['id']}/qualify", headers=owner.headers)
    assert r.status_code == 409

    r = await client.post(
        "/api/v1/ai/lead-scoring",
        json={"lead_ids": [lead["id"], won["id"], 999999999]},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert [i["lead_id"] for i in r.json()["items"]] == [lead["id"]]
    assert sorted(r.json()["skipped"]) == sorted([won["id"], 999999999])
    r = await client.post("/api/v1/ai/lead-scoring", json={"all": True}, headers=owner.headers)
    assert r.status_code == 202 and r.json()["job_id"]


async def test_win_probability_follows_stage_and_activity(
    client: httpx.AsyncClient, database_url: str
) -> None:
    acc = await register(client)
    early = await create(client, acc, "/api/v1/deals", {"name": "Early", "stage": "Prospecting"})
    late = await create(
        client, acc, "/api/v1/deals", {"name": "Late", "stage": "Negotiation", "amount": 20000}
    )
    await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "meeting", "deal_id": late["id"], "subject": "Demo"},
    )
    r = await client.post(f"/api/v1/deals/{early['id']}/win-probability", headers=acc.headers)
    assert r.status_code == 200, r.text
    e = r.json()
    r = await client.post(f"/api/v1/deals/{late['id']}/win-probability", headers=acc.headers)
    lt = r.json()
    assert 0 < e["probability"] < lt["probability"] < 1
    assert lt["model"] == "win_probability.rules"
    assert lt["reasons"][0]["feature"] == "stage" and "Negotiation" in lt["reasons"][0]["text"]
    assert lt["insight_id"]
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "deal", "entity_id": late["id"], "kind": "win_probability"},
        headers=acc.headers,
    )
    assert r.json()["items"][0]["value"] == lt["probability"]

    status = (await client.get("/api/v1/ai/win-probability", headers=acc.headers)).json()
    assert status["mode"] == "rules" and status["open_deals"] == 2
    assert status["deals"][0]["deal_id"] == late["id"]  # the larger expected value first

    closed = await create(
        client,
        acc,
        "/api/v1/deals",
        {"name": "Gone", "stage": "Closed Lost", "won_lost_reason": "price"},
    )
    r = await client.post(f"/api/v1/deals/{closed['id']}/win-probability", headers=acc.headers)
    assert r.status_code == 409

    # the function the forecast calls: {} without a trained model unless rules are asked for
    db = Database(url=database_url)
    try:
        async with db.sessionmaker() as session:
            principal = system_principal(acc.organization_id)
            ids = [early["id"], late["id"], closed["id"]]
            assert await service.win_probabilities(session, principal, ids) == {}
            found = await service.win_probabilities(session, principal, ids, rules=True)
            assert set(found) == {early["id"], late["id"]}
            assert found[late["id"]] == lt["probability"]
            other = system_principal(acc.organization_id + 100000)
            assert await service.win_probabilities(session, other, ids, rules=True) == {}
    finally:
        await db.dispose()


async def test_win_probability_model_from_closed_deals(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    rng = random.Random(3)
    sem = asyncio.Semaphore(8)

    async def closed_deal(i: int) -> None:
        amount = rng.choice([1000, 2000, 3000, 40000, 60000, 80000])
        won = (amount < 10000) != (rng.random() < 0.08)
        async with sem:
            await create(
                client,
                acc,
                "/api/v1/deals",
                {
                    "name": f"Past {i}",
                    "amount": amount,
                    "stage": "Closed Won" if won else "Closed Lost",
                    **({} if won else {"won_lost_reason": "budget"}),
                },
            )

    started = time.monotonic()
    await asyncio.gather(*(closed_deal(i) for i in range(70)))
    assert time.monotonic() - started < 30
    r = await client.post("/api/v1/ai/win-probability/train", headers=acc.headers)
    assert r.status_code == 202

    async def trained() -> dict[str, Any] | None:
        s = (await client.get("/api/v1/ai/win-probability", headers=acc.headers)).json()
        return s if s["latest"] else None

    status = await wait_until(trained, timeout=40)
    metrics = status["latest"]["metrics"]
    assert status["mode"] == "model", metrics
    assert metrics["auc"] > metrics["auc_rules"]
    small = await create(client, acc, "/api/v1/deals", {"name": "Small", "amount": 1500})
    big = await create(client, acc, "/api/v1/deals", {"name": "Big", "amount": 70000})
    s = (
        await client.post(f"/api/v1/deals/{small['id']}/win-probability", headers=acc.headers)
    ).json()
    b = (
        await client.post(f"/api/v1/deals/{big['id']}/win-probability", headers=acc.headers)
    ).json()
    assert s["model"] == "win_probability.logreg"
    assert s["probability"] > b["probability"] + 0.3, (metrics, s, b)
    assert b["reasons"][0]["feature"] == "amount" and b["reasons"][0]["impact"] < 0
