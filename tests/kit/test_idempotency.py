from __future__ import annotations

import httpx

from tests.fixtures.factories import register


async def test_retried_create_happens_once(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    h = {**acc.headers, "Idempotency-Key": "create-jane-1"}
    first = await client.post(
        "/api/v1/contacts", json={"name": "Jane Once", "email": "once@example.com"}, headers=h
    )
    again = await client.post(
        "/api/v1/contacts", json={"name": "Jane Once", "email": "once@example.com"}, headers=h
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    items = (await client.get("/api/v1/contacts", headers=acc.headers)).json()["items"]
    assert len(items) == 1
    # same key, different body: refused rather than silently replayed
    other = await client.post("/api/v1/contacts", json={"name": "Someone Else"}, headers=h)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_failed_attempt_is_not_remembered(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    h = {**acc.headers, "Idempotency-Key": "retry-after-fix"}
    bad = await client.post("/api/v1/leads", json={"name": "L", "status": "Nope"}, headers=h)
    assert bad.status_code == 422
    good = await client.post("/api/v1/leads", json={"name": "L", "status": "Nope"}, headers=h)
    assert good.status_code == 422  # evaluated again, not replayed
    assert "idempotent-replayed" not in good.headers


async def test_keys_are_per_organization(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    body = {"name": "Shared Key Lead"}
    ra = await client.post(
        "/api/v1/leads", json=body, headers={**a.headers, "Idempotency-Key": "k1"}
    )
    rb = await client.post(
        "/api/v1/leads", json=body, headers={**b.headers, "Idempotency-Key": "k1"}
    )
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]
    assert "idempotent-replayed" not in rb.headers
