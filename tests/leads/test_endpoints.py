from __future__ import annotations

import asyncio

import httpx

from tests.fixtures.factories import Account, create, register


async def board(client: httpx.AsyncClient, acc: Account) -> dict[str, list[dict]]:
    r = await client.get("/api/v1/leads/kanban", headers=acc.headers)
    assert r.status_code == 200
    return {col["status"]: col["leads"] for col in r.json()["columns"]}


def assert_dense(b: dict[str, list[dict]]) -> None:
    for status, cards in b.items():
        assert [c["card_order"] for c in cards] == list(range(len(cards))), status
        assert all(c["status"] == status for c in cards)


async def test_create_lead_contract_and_search(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    body = {
        "name": "Jane Doe",
        "company": "Example Corp",
        "email": "jane@example.com",
        "phone": "+44 20 7946 0958",
        "value": 75000,
        "status": "Contacted",
        "source": "website",
        "notes": "Met at the fair",
    }
    lead = await create(client, acc, "/api/v1/leads", body)
    assert lead["status"] == "Contacted" and lead["card_order"] == 0
    assert lead["value"] == 75000 and lead["phone"] == "+442079460958"
    await create(
        client,
        acc,
        "/api/v1/leads",
        {"name": "John Smith", "company": "Acme", "email": "john@acme.example"},
    )
    for q, expected in (
        ("jane", ["Jane Doe"]),
        ("example corp", ["Jane Doe"]),
        ("acme.example", ["John Smith"]),
        ("ACME", ["John Smith"]),
    ):
        items = (await client.get("/api/v1/leads", params={"q": q}, headers=acc.headers)).json()[
            "items"
        ]
        assert [i["name"] for i in items] == expected, q
    assert (
        await client.get("/api/v1/leads", params={"status": "Contacted"}, headers=acc.headers)
    ).json()["items"][0]["name"] == "Jane Doe"
    r = await client.post(
        "/api/v1/leads", json={"name": "X", "status": "Nope"}, headers=acc.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    r = await client.post("/api/v1/leads", json={"name": "", "value": -1}, headers=acc.headers)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"name", "value"}


async def test_kanban_columns_in_pipeline_order_and_moves_persist(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    ids = [
        (await create(client, acc, "/api/v1/leads", {"name": f"Lead {i}", "value": 100 * i}))["id"]
        for i in range(4)
    ]
    b = await board(client, acc)
    assert list(b) == ["New", "Contacted", "Qualified", "Proposal", "Won", "Lost"]
    assert [c["id"] for c in b["New"]] == ids
    # move the last card to the top of the same column
    r = await client.put(
        f"/api/v1/leads/{ids[3]}/status",
        json={"status": "New", "card_order": 0},
        headers=acc.headers,
    )
    assert r.status_code == 200
    b = await board(client, acc)
    assert [c["id"] for c in b["New"]] == [ids[3], ids[0], ids[1], ids[2]]
    # across columns, to the middle, then beyond the end (clamped)
    await client.put(
        f"/api/v1/leads/{ids[0]}/status",
        json={"status": "Qualified", "card_order": 0},
        headers=acc.headers,
    )
    await client.put(
        f"/api/v1/leads/{ids[1]}/status",
        json={"status": "Qualified", "card_order": 99},
        headers=acc.headers,
    )
    await client.put(
        f"/api/v1/leads/{ids[2]}/status",
        json={"status": "qualified", "card_order": 1},
        headers=acc.headers,
    )
    b = await board(client, acc)
    assert [c["id"] for c in b["Qualified"]] == [ids[0], ids[2], ids[1]]
    assert [c["id"] for c in b["New"]] == [ids[3]]
    assert_dense(b)
    cols = {
        c["status"]: c
        for c in (await client.get("/api/v1/leads/kanban", headers=acc.headers)).json()["columns"]
    }
    assert cols["Qualified"]["count"] == 3 and cols["Qualified"]["total_value"] == 0 + 100 + 200
    # deleting closes the gap
    assert (await client.delete(f"/api/v1/leads/{ids[0]}", headers=acc.headers)).status_code == 204
    b = await board(client, acc)
    assert [c["id"] for c in b["Qualified"]] == [ids[2], ids[1]]
    assert_dense(b)


async def test_concurrent_moves_keep_orders_dense(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    ids = [
        (await create(client, acc, "/api/v1/leads", {"name": f"Card {i}"}))["id"] for i in range(12)
    ]
    targets = ["Contacted", "Qualified", "New"]
    moves = [
        client.put(
            f"/api/v1/leads/{lead_id}/status",
            json={"status": targets[i % 3], "card_order": i % 4},
            headers=acc.headers,
        )
        for i, lead_id in enumerate(ids)
    ]
    results = await asyncio.gather(*moves)
    assert all(r.status_code == 200 for r in results), [
        r.text for r in results if r.status_code != 200
    ]
    b = await board(client, acc)
    assert_dense(b)
    assert sorted(c["id"] for cards in b.values() for c in cards) == sorted(ids)


async def test_stale_move_is_refused(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    lead = await create(client, acc, "/api/v1/leads", {"name": "Contended"})
    ok = await client.put(
        f"/api/v1/leads/{lead['id']}/status",
        json={"status": "Contacted", "version": 1},
        headers=acc.headers,
    )
    assert ok.status_code == 200
    stale = await client.put(
        f"/api/v1/leads/{lead['id']}/status",
        json={"status": "Qualified", "version": 1},
        headers=acc.headers,
    )
    assert stale.status_code == 412


async def test_update_status_via_patch_and_event_history(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    a = await create(client, acc, "/api/v1/leads", {"name": "A", "status": "Qualified"})
    b_ = await create(client, acc, "/api/v1/leads", {"name": "B"})
    r = await client.patch(
        f"/api/v1/leads/{b_['id']}",
        json={"status": "Qualified", "priority": "high"},
        headers=acc.headers,
    )
    assert r.status_code == 200 and r.json()["card_order"] == 1 and r.json()["priority"] == "high"
    # the seed-compatible PUT /leads/{id} works too
    r = await client.put(f"/api/v1/leads/{a['id']}", json={"notes": "called"}, headers=acc.headers)
    assert r.status_code == 200 and r.json()["notes"] == "called"
    assert_dense(await board(client, acc))


async def test_status_pipeline_is_per_organization(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    r = await client.post(
        "/api/v1/lead-statuses", json={"name": "Nurture", "position": 1}, headers=a.headers
    )
    assert r.status_code == 201
    names_a = [
        s["name"] for s in (await client.get("/api/v1/lead-statuses", headers=a.headers)).json()
    ]
    names_b = [
        s["name"] for s in (await client.get("/api/v1/lead-statuses", headers=b.headers)).json()
    ]
    assert names_a[:3] == ["New", "Nurture", "Contacted"]
    assert "Nurture" not in names_b
    r = await client.post(
        "/api/v1/leads", json={"name": "X", "status": "Nurture"}, headers=b.headers
    )
    assert r.status_code == 422
    lead = await create(client, a, "/api/v1/leads", {"name": "Y", "status": "Nurture"})
    status_id = lead["status_id"]
    assert (
        await client.delete(f"/api/v1/lead-statuses/{status_id}", headers=a.headers)
    ).status_code == 409
    assert (
        await client.delete(f"/api/v1/lead-statuses/{status_id}", headers=b.headers)
    ).status_code == 404


async def test_cross_tenant_leads(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    lead = await create(client, a, "/api/v1/leads", {"name": "A's lead", "email": "lead@a.example"})
    contact_a = await create(client, a, "/api/v1/contacts", {"name": "A contact"})
    for method, path, body in (
        ("GET", f"/api/v1/leads/{lead['id']}", None),
        ("PATCH", f"/api/v1/leads/{lead['id']}", {"notes": "x"}),
        ("PUT", f"/api/v1/leads/{lead['id']}/status", {"status": "Won"}),
        ("DELETE", f"/api/v1/leads/{lead['id']}", None),
    ):
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path)
    assert (await client.get("/api/v1/leads", params={"q": "lead"}, headers=b.headers)).json()[
        "items"
    ] == []
    kb = (await client.get("/api/v1/leads/kanban", headers=b.headers)).json()
    assert sum(c["count"] for c in kb["columns"]) == 0
    r = await client.post(
        "/api/v1/leads", json={"name": "Z", "contact_id": contact_a["id"]}, headers=b.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "contact_id"
