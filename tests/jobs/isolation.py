"""Creators for the tenant-isolation walk: a job of the account's organization."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import Account


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    r = await client.post("/api/v1/jobs/ping", headers=account.headers)
    assert r.status_code == 201, r.text
    return {"job_id": r.json()["id"]}
