"""Insights and accuracy over HTTP: stored decisions are listed per record, superseded, resolved
by members who may write, audited with their model version, and later joined with outcomes."""

from __future__ import annotations

import httpx

from aicrm.db import Database
from tests.ai.conftest import scored, store_insight
from tests.fixtures.factories import create, member, register


async def test_insights_are_listed_per_record_and_superseded(
    client: httpx.AsyncClient, db: Database
) -> None:
    a = await register(client)
    lead = await create(client, a, "/api/v1/leads", {"name": "Dana", "value": 5000})
    await scored(client, a, [lead["id"]])  # the rules' own first score, before ours
    first = await store_insight(
        db,
        a.organization_id,
        kind="lead_score",
        entity_type="lead",
        entity_id=lead["id"],
        value=40,
        label="medium",
        confidence=0.6,
        model_version="rules-1",
        reasons=[{"feature": "budget", "text": "No budget given", "impact": -0.2}],
    )
    second = await store_insight(
        db,
        a.organization_id,
        kind="lead_score",
        entity_type="lead",
        entity_id=lead["id"],
        value=72,
        label="high",
        confidence=0.7,
        model_version="rules-1",
        inputs={"budget": 5000},
    )
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "lead", "entity_id": lead["id"]},
        headers=a.headers,
    )
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]][:2] == [second, first]
    r = await client.get(
        "/api/v1/ai/insights",
        params={"entity_type": "lead", "entity_id": lead["id"], "current": "true"},
        headers=a.headers,
    )
    (only,) = r.json()["items"]
    assert only["id"] == second and only["value"] == 72 and only["label"] == "high"

    # every decision is in the audit log with its inputs and model version
    r = await client.get("/api/v1/audit-log", params={"action": "ai.lead_score"}, headers=a.headers)
    entries = [e for e in r.json()["items"] if e["entity_id"] == lead["id"]]
    assert len(entries) == 3  # the rules' first score and the two stored here, newest first
    assert entries[0]["after"]["model_version"] == "rules-1"
    assert entries[0]["after"]["inputs"] == {"budget": 5000}

    # another tenant sees none of it
    b = await register(client)
    r = await client.get("/api/v1/ai/insights", headers=b.headers)
    assert r.json()["items"] == []


async def test_dismiss_and_act_need_write_permission(
    client: httpx.AsyncClient, db: Database
) -> None:
    a = await register(client)
    insight = await store_insight(
        db,
        a.organization_id,
        kind="bottleneck",
        title="Deals stall in Proposal",
        severity="medium",
        fingerprint="stage:proposal",
    )
    viewer = await member(client, a, "viewer")
    r = await client.post(f"/api/v1/ai/insights/{insight}/dismiss", headers=viewer.headers)
    assert r.status_code == 403
    r = await client.get(f"/api/v1/ai/insights/{insight}", headers=viewer.headers)
    assert r.status_code == 200 and r.json()["status"] == "open"

    r = await client.post(
        f"/api/v1/ai/insights/{insight}/act",
        json={"note": "Added a proposal template"},
        headers=a.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acted" and body["data"]["note"] == "Added a proposal template"
    assert body["resolved_by_id"] is not None
    r = await client.post(
        f"/api/v1/ai/insights/{insight}/dismiss", json={"note": "x" * 3000}, headers=a.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await client.get("/api/v1/ai/insights", params={"status": "acted"}, headers=a.headers)
    assert [i["id"] for i in r.json()["items"]] == [insight]
    r = await client.get("/api/v1/ai/insights", params={"status": "nope"}, headers=a.headers)
    assert r.status_code == 422


async def test_status_reports_offline_providers(client: httpx.AsyncClient) -> None:
    a = await register(client)
    r = await client.get("/api/v1/ai/status", headers=a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["providers"]["offline"] is True
    assert body["providers"]["embeddings"]["provider"] == "wordllama"
    assert body["providers"]["chat"]["provider"] == "offline"


async def test_accuracy_joins_predictions_made_before_the_outcome(
    client: httpx.AsyncClient, db: Database
) -> None:
    a = await register(client)
    leads = [await create(client, a, "/api/v1/leads", {"name": f"Lead {i}"}) for i in range(4)]
    await scored(client, a, [lead["id"] for lead in leads])
    # predictions: two confident winners, two likely losers
    for lead, score in zip(leads, (90, 70, 30, 10), strict=True):
        await store_insight(
            db,
            a.organization_id,
            kind="lead_score",
            entity_type="lead",
            entity_id=lead["id"],
            value=score,
            model_version="m1",
        )
    outcomes = ("Won", "Won", "Lost", "Lost")
    for lead, status in zip(leads, outcomes, strict=True):
        r = await client.put(
            f"/api/v1/leads/{lead['id']}/status", json={"status": status}, headers=a.headers
        )
        assert r.status_code == 200, r.text
    # a score stored after the lead was lost saw the answer: it must not count
    await store_insight(
        db,
        a.organization_id,
        kind="lead_score",
        entity_type="lead",
        entity_id=leads[3]["id"],
        value=99,
        model_version="m2",
    )
    r = await client.get("/api/v1/ai/accuracy", params={"kind": "lead_score"}, headers=a.headers)
    assert r.status_code == 200, r.text
    (lead_kind,) = r.json()["kinds"]
    assert lead_kind["n"] == 4
    assert lead_kind["auc"] == 1.0
    assert lead_kind["by_model_version"] == {"m1": 4}
    assert lead_kind["by_period"][0]["n"] == 4

    r = await client.get("/api/v1/ai/accuracy", params={"kind": "bogus"}, headers=a.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
