"""The per-organization churn model: customers imported through the CSV import with custom
fields that drive churn → train → active model with hold-out metrics → reasons that name the
custom field."""

from __future__ import annotations

import asyncio
import random

import httpx

from tests.ai_customers.common import import_contacts, insights
from tests.fixtures.factories import Account, create, register

FIELDS = (
    {"key": "plan", "label": "Plan", "field_type": "select", "options": ["monthly", "annual"]},
    {"key": "support_tickets", "label": "Support tickets", "field_type": "number"},
    {"key": "auto_renew", "label": "Auto renew", "field_type": "text"},
)


def customers(n: int, seed: int = 7) -> list[list[object]]:
    """Monthly-plan customers with many support tickets churn; a tenth of labels are noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        plan = rng.choice(["monthly", "annual"])
        tickets = rng.randint(0, 6)
        renew = rng.choice(["Yes", "No"])
        risky = plan == "monthly" and tickets >= 3
        churned = risky if rng.random() > 0.1 else not risky
        rows.append(
            [f"Customer {i:03d}", "churned" if churned else "customer", plan, tickets, renew]
        )
    return rows


async def setup_fields(client: httpx.AsyncClient, acc: Account) -> None:
    for field in FIELDS:
        await create(client, acc, "/api/v1/custom-fields", {"entity_type": "contact", **field})


async def test_training_needs_enough_outcomes(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    status = (await client.get("/api/v1/ai/churn", headers=acc.headers)).json()
    assert status["mode"] == "rules" and status["eligible"] is False
    assert status["active"] is None and status["min_outcomes"] >= 1
    r = await client.post("/api/v1/ai/churn/train", headers=acc.headers)
    assert r.status_code == 409
    assert "churned" in r.json()["detail"]


async def test_model_learns_from_imported_custom_fields(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    await setup_fields(client, acc)
    rows = customers(160)
    report = await import_contacts(
        client,
        acc,
        ["name", "status", "custom.plan", "custom.support_tickets", "custom.auto_renew"],
        rows,
    )
    assert report["created"] == len(rows)
    status = (await client.get("/api/v1/ai/churn", headers=acc.headers)).json()
    assert status["eligible"] is True
    assert status["churned"] + status["retained"] == len(rows)

    r = await client.post("/api/v1/ai/churn/train", headers=acc.headers)
    assert r.status_code == 200, r.text
    trained = r.json()
    assert trained["mode"] == "model"
    active = trained["active"]
    assert active["version"] == 1 and active["is_active"]
    metrics = active["metrics"]
    assert metrics["validation"].startswith("stratified")
    assert metrics["n_holdout"] > 0 and metrics["auc"] >= 0.75
    assert metrics["rules_auc"] is not None  # the cold-start baseline on the same customers
    assert {f["feature"] for f in metrics["top_features"][:3]} & {
        "custom.plan",
        "custom.support_tickets",
    }

    listing = (
        await client.get(
            "/api/v1/contacts", params={"status": "customer", "limit": 500}, headers=acc.headers
        )
    ).json()["items"]
    risky = next(
        c
        for c in listing
        if c["custom"].get("plan") == "monthly" and c["custom"].get("support_tickets", 0) >= 5
    )
    safe = next(
        c
        for c in listing
        if c["custom"].get("plan") == "annual" and c["custom"].get("support_tickets", 9) <= 1
    )
    hi = await insights(client, acc, risky["id"])
    lo = await insights(client, acc, safe["id"])
    assert hi["churn_risk"]["mode"] == "model"
    assert hi["churn_risk"]["model_version"] == "v1"
    assert hi["churn_risk"]["value"] > lo["churn_risk"]["value"]
    texts = [r["text"] for r in hi["churn_risk"]["reasons"] if r["impact"] > 0]
    assert any(t.startswith(("Plan", "Support tickets")) for t in texts), texts

    # bulk scoring writes every customer's risk
    r = await client.post("/api/v1/ai/churn/score", headers=acc.headers)
    assert r.status_code == 200, r.text
    scored = r.json()
    assert scored["mode"] == "model" and scored["scored"] == len(listing)
    listing = (
        await client.get(
            "/api/v1/contacts", params={"status": "customer", "limit": 500}, headers=acc.headers
        )
    ).json()["items"]
    assert all(c["churn_risk"] is not None for c in listing)


async def test_background_training_then_rescoring_runs_as_jobs(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    await setup_fields(client, acc)
    rows = customers(100, seed=5)
    await import_contacts(
        client,
        acc,
        ["name", "status", "custom.plan", "custom.support_tickets", "custom.auto_renew"],
        rows,
    )
    r = await client.post(
        "/api/v1/ai/churn/train", params={"background": "true"}, headers=acc.headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["queued_job_id"] and r.json()["mode"] == "rules"

    async def scored() -> bool:
        status = (await client.get("/api/v1/ai/churn", headers=acc.headers)).json()
        if status["mode"] != "model":
            return False
        listing = (
            await client.get(
                "/api/v1/contacts",
                params={"status": "customer", "limit": 500},
                headers=acc.headers,
            )
        ).json()["items"]
        return all(c["churn_risk"] is not None for c in listing)

    for _ in range(150):
        if await scored():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the training and scoring jobs did not finish")
