"""POST /api/v1/ai/refresh: an administrator recomputes the organization's AI outputs now; the
steps run as jobs of that organization only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register


async def _job(client: httpx.AsyncClient, acc: Account, job_id: int) -> dict[str, Any]:
    for _ in range(300):
        job = (await client.get(f"/api/v1/jobs/{job_id}", headers=acc.headers)).json()
        if job["status"] in ("succeeded", "dead"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


async def _forecasts(client: httpx.AsyncClient, acc: Account) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/ai/insights", params={"kind": "forecast"}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_refresh_queues_every_step_for_the_callers_organization(
    client: httpx.AsyncClient,
) -> None:
    a = await register(client)
    b = await register(client)
    await create(client, a, "/api/v1/deals", {"name": "Renewal", "amount": 12000})
    r = await client.post("/api/v1/ai/refresh", headers=a.headers)
    assert r.status_code == 202, r.text
    job = await _job(client, a, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["queued"] == [
        "ai.train_lead_scoring",
        "ai.train_win_probability",
        "ai.customers.train_churn",
        "ai.forecast.refresh",
        "ai.scan_workspace",
    ]
    # the forecast step stores the organization's forecast; the other tenant gets none of it
    for _ in range(300):
        if await _forecasts(client, a):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no forecast stored")
    assert await _forecasts(client, b) == []
    # and B cannot read A's refresh job
    assert (await client.get(f"/api/v1/jobs/{job['id']}", headers=b.headers)).status_code == 404


async def test_refresh_is_for_administrators(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    r = await client.post("/api/v1/ai/refresh", headers=agent.headers)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
