from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from aicrm.models import OutboxEvent
from tests.fixtures.factories import Account, create, member, register
from tests.fixtures.server import LiveServer

PROBLEM = "application/problem+json"


async def default_pipeline(client: httpx.AsyncClient, acc: Account) -> dict[str, Any]:
    r = await client.get("/api/v1/pipelines", headers=acc.headers)
    assert r.status_code == 200, r.text
    return next(p for p in r.json() if p["is_default"])


def stage_ids(pipeline: dict[str, Any]) -> dict[str, int]:
    return {s["name"]: s["id"] for s in pipeline["stages"]}


async def board(
    client: httpx.AsyncClient, acc: Account, pipeline_id: int | None = None
) -> dict[str, Any]:
    params = {"pipeline_id": pipeline_id} if pipeline_id else {}
    r = await client.get("/api/v1/deals/board", params=params, headers=acc.headers)
    assert r.status_code == 200, r.text
    return r.json()


def columns(b: dict[str, Any]) -> dict[str, list[int]]:
    return {c["stage"]: [d["id"] for d in c["deals"]] for c in b["columns"]}


def assert_dense(b: dict[str, Any]) -> None:
    for col in b["columns"]:
        orders = [d["card_order"] for d in col["deals"]]
        assert orders == list(range(len(orders))), (col["stage"], orders)
        assert col["count"] == len(orders)
        assert all(d["stage_id"] == col["stage_id"] for d in col["deals"])


def fields(r: httpx.Response) -> set[str]:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return {e["field"] for e in r.json().get("errors", [])}


async def event_types(server: LiveServer, org_id: int, deal_id: int) -> list[str]:
    """The outbox, read the way the event dispatcher reads it."""
    engine = create_async_engine(server.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(OutboxEvent.type)
                .where(
                    OutboxEvent.organization_id == org_id,
                    OutboxEvent.entity_type == "deal",
                    OutboxEvent.entity_id == deal_id,
                )
                .order_by(OutboxEvent.id)
            )
            return [t for (t,) in rows]
    finally:
        await engine.dispose()


# -- pipelines -----------------------------------------------------------------------------


async def test_every_organization_starts_with_one_default_pipeline(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    r = await client.get("/api/v1/pipelines", headers=acc.headers)
    assert r.status_code == 200
    (sales,) = r.json()
    assert sales["name"] == "Sales" and sales["is_default"] is True
    assert [s["name"] for s in sales["stages"]] == [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    ]
    assert [s["position"] for s in sales["stages"]] == list(range(6))
    won = sales["stages"][4]
    assert won["is_won"] and not won["is_lost"] and won["probability"] == 1.0


async def test_pipeline_crud_default_switch_and_stage_reorder(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    sales = await default_pipeline(client, acc)
    p = await create(
        client,
        acc,
        "/api/v1/pipelines",
        {
            "name": "Renewals",
            "stages": [
                {"name": "Due", "probability": 0.5},
                {"name": "Renewed", "is_won": True},
                {"name": "Churned", "is_lost": True},
            ],
        },
    )
    assert p["is_default"] is False
    assert [(s["name"], s["position"], s["probability"]) for s in p["stages"]] == [
        ("Due", 0, 0.5),
        ("Renewed", 1, 1.0),
        ("Churned", 2, 0.0),
    ]
    # without stages a pipeline gets the standard ones
    std = await create(client, acc, "/api/v1/pipelines", {"name": "Partners"})
    assert len(std["stages"]) == 6
    dup = await client.post("/api/v1/pipelines", json={"name": "renewals"}, headers=acc.headers)
    assert dup.status_code == 409 and fields(dup) == {"name"}

    # exactly one default: making Renewals the default moves the flag
    r = await client.patch(
        f"/api/v1/pipelines/{p['id']}", json={"is_default": True}, headers=acc.headers
    )
    assert r.status_code == 200 and r.json()["is_default"] is True
    listed = (await client.get("/api/v1/pipelines", headers=acc.headers)).json()
    assert [x["name"] for x in listed if x["is_default"]] == ["Renewals"]
    r = await client.patch(
        f"/api/v1/pipelines/{p['id']}", json={"is_default": False}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"is_default"}
    assert (
        await client.delete(f"/api/v1/pipelines/{p['id']}", headers=acc.headers)
    ).status_code == 409

    # stages: add in the middle, reorder, rename; positions stay 0..n-1
    r = await client.post(
        f"/api/v1/pipelines/{p['id']}/stages",
        json={"name": "Quoted", "position": 1, "probability": 0.8},
        headers=acc.headers,
    )
    assert r.status_code == 201
    assert [s["name"] for s in r.json()["stages"]] == ["Due", "Quoted", "Renewed", "Churned"]
    quoted = stage_ids(r.json())["Quoted"]
    r = await client.patch(
        f"/api/v1/pipelines/{p['id']}/stages/{quoted}",
        json={"position": 0, "name": "Quote sent"},
        headers=acc.headers,
    )
    assert r.status_code == 200
    assert [(s["name"], s["position"]) for s in r.json()["stages"]] == [
        ("Quote sent", 0),
        ("Due", 1),
        ("Renewed", 2),
        ("Churned", 3),
    ]
    r = await client.patch(
        f"/api/v1/pipelines/{p['id']}/stages/{quoted}",
        json={"position": 99},
        headers=acc.headers,
    )
    assert [s["name"] for s in r.json()["stages"]][-1] == "Quote sent"
    assert [s["position"] for s in r.json()["stages"]] == [0, 1, 2, 3]

    bad = await client.post(
        f"/api/v1/pipelines/{p['id']}/stages",
        json={"name": "Odd", "is_won": True, "is_lost": True},
        headers=acc.headers,
    )
    assert bad.status_code == 422 and fields(bad) == {"is_lost"}
    bad = await client.post(
        f"/api/v1/pipelines/{p['id']}/stages",
        json={"name": "Due"},
        headers=acc.headers,
    )
    assert bad.status_code == 409 and fields(bad) == {"name"}
    bad = await client.post(
        f"/api/v1/pipelines/{p['id']}/stages",
        json={"name": "Over", "probability": 1.5},
        headers=acc.headers,
    )
    assert bad.status_code == 422 and fields(bad) == {"probability"}

    # delete a stage and a whole (non-default) pipeline
    r = await client.delete(f"/api/v1/pipelines/{p['id']}/stages/{quoted}", headers=acc.headers)
    assert r.status_code == 200
    assert [s["position"] for s in r.json()["stages"]] == [0, 1, 2]
    r = await client.patch(
        f"/api/v1/pipelines/{sales['id']}", json={"is_default": True}, headers=acc.headers
    )
    assert r.status_code == 200
    assert (
        await client.delete(f"/api/v1/pipelines/{p['id']}", headers=acc.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/pipelines/{p['id']}", headers=acc.headers)
    ).status_code == 404


async def test_stage_with_deals_cannot_be_deleted_or_flip_won_lost(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    sales = await default_pipeline(client, acc)
    stages = stage_ids(sales)
    await create(client, acc, "/api/v1/deals", {"name": "Busy", "stage": "Proposal"})
    base = f"/api/v1/pipelines/{sales['id']}/stages/{stages['Proposal']}"
    r = await client.delete(base, headers=acc.headers)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.patch(base, json={"is_won": True}, headers=acc.headers)
    assert r.status_code == 409 and fields(r) == {"is_won"}
    # renaming and re-weighting a busy stage is fine
    r = await client.patch(base, json={"name": "Offer", "probability": 0.6}, headers=acc.headers)
    assert r.status_code == 200
    deal = (await client.get("/api/v1/deals", headers=acc.headers)).json()["items"][0]
    assert deal["stage"] == "Offer" and deal["probability"] == 0.6
    # a pipeline with deals cannot be deleted either
    other = await create(client, acc, "/api/v1/pipelines", {"name": "Other"})
    await create(client, acc, "/api/v1/deals", {"name": "Elsewhere", "pipeline_id": other["id"]})
    assert (
        await client.delete(f"/api/v1/pipelines/{other['id']}", headers=acc.headers)
    ).status_code == 409


async def test_only_settings_managers_change_pipelines(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    sales = await default_pipeline(client, owner)
    stage = sales["stages"][0]["id"]
    for role in ("agent", "manager", "viewer"):
        acc = await member(client, owner, role)
        assert (await client.get("/api/v1/pipelines", headers=acc.headers)).status_code == 200
        for method, path, body in (
            ("POST", "/api/v1/pipelines", {"name": f"By {role}"}),
            ("PATCH", f"/api/v1/pipelines/{sales['id']}", {"name": "Mine"}),
            ("DELETE", f"/api/v1/pipelines/{sales['id']}", None),
            ("POST", f"/api/v1/pipelines/{sales['id']}/stages", {"name": "X"}),
            ("PATCH", f"/api/v1/pipelines/{sales['id']}/stages/{stage}", {"name": "Y"}),
            ("DELETE", f"/api/v1/pipelines/{sales['id']}/stages/{stage}", None),
        ):
            r = await client.request(method, path, json=body, headers=acc.headers)
            assert r.status_code == 403, (role, method, path, r.text)
    admin = await member(client, owner, "admin")
    r = await client.post("/api/v1/pipelines", json={"name": "By admin"}, headers=admin.headers)
    assert r.status_code == 201


# -- deals ---------------------------------------------------------------------------------


async def test_deal_crud_defaults_and_optimistic_concurrency(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    sales = await default_pipeline(client, acc)
    contact = await create(client, acc, "/api/v1/contacts", {"name": "Dana Buyer"})
    company = await create(client, acc, "/api/v1/companies", {"name": "Buyer Ltd"})
    deal = await create(
        client,
        acc,
        "/api/v1/deals",
        {
            "name": "Annual licence",
            "amount": 12000.5,
            "expected_close_date": "2030-03-31",
            "contact_id": contact["id"],
            "company_id": company["id"],
            "description": "50 seats",
            "tags": ["enterprise", "q1"],
        },
    )
    assert deal["pipeline_id"] == sales["id"] and deal["pipeline"] == "Sales"
    assert deal["stage"] == "Prospecting" and deal["probability"] == 0.1
    assert deal["amount"] == 12000.5 and deal["weighted_amount"] == 1200.05
    assert deal["currency"] == "USD" and deal["status"] == "open"
    assert deal["owner_id"] == acc.user_id and deal["version"] == 1
    assert deal["tags"] == ["enterprise", "q1"] and deal["card_order"] == 0
    assert deal["closed_at"] is None and deal["expected_close_date"] == "2030-03-31"

    r = await client.get(f"/api/v1/deals/{deal['id']}", headers=acc.headers)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'

    r = await client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"amount": 15000, "currency": "eur", "version": 1, "tags": ["enterprise"]},
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["amount"] == 15000 and updated["currency"] == "EUR"
    assert updated["version"] == 2 and updated["tags"] == ["enterprise"]

    stale = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"name": "Mine", "version": 1}, headers=acc.headers
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    stale = await client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"name": "Mine"},
        headers={**acc.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    ok = await client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"name": "Mine"},
        headers={**acc.headers, "If-Match": '"2"'},
    )
    assert ok.status_code == 200 and ok.json()["name"] == "Mine"

    assert (
        await client.delete(f"/api/v1/deals/{deal['id']}", headers=acc.headers)
    ).status_code == 204
    assert (await client.get(f"/api/v1/deals/{deal['id']}", headers=acc.headers)).status_code == 404


async def test_deal_validation_names_the_field(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    other = await create(client, acc, "/api/v1/pipelines", {"name": "Other"})
    for body, expected in (
        ({"name": "X", "currency": "XYZ"}, {"currency"}),
        ({"name": "X", "amount": -5}, {"amount"}),
        ({"name": ""}, {"name"}),
        ({"name": "X", "stage": "Nope"}, {"stage"}),
        ({"name": "X", "pipeline_id": 999999999}, {"pipeline_id"}),
        ({"name": "X", "stage_id": other["stages"][0]["id"] + 1000}, {"stage_id"}),
        ({"name": "X", "owner_id": 999999999}, {"owner_id"}),
        ({"name": "X", "contact_id": 999999999, "lead_id": 999999999}, {"contact_id", "lead_id"}),
        ({"name": "X", "company_id": 999999999}, {"company_id"}),
        ({"name": "X", "colour": "red"}, {"colour"}),
        ({"name": "X", "custom": {"nope": 1}}, {"custom.nope"}),
        ({"name": "X", "expected_close_date": "soon"}, {"expected_close_date"}),
    ):
        r = await client.post("/api/v1/deals", json=body, headers=acc.headers)
        assert r.status_code == 422, (body, r.text)
        assert fields(r) == expected, (body, r.json())
    # a stage of another pipeline is refused, naming stage_id
    sales = await default_pipeline(client, acc)
    r = await client.post(
        "/api/v1/deals",
        json={"name": "X", "pipeline_id": sales["id"], "stage_id": other["stages"][1]["id"]},
        headers=acc.headers,
    )
    assert r.status_code == 422 and fields(r) == {"stage_id"}
    # stage_id alone picks its pipeline
    r = await client.post(
        "/api/v1/deals",
        json={"name": "X", "stage_id": other["stages"][1]["id"]},
        headers=acc.headers,
    )
    assert r.status_code == 201 and r.json()["pipeline_id"] == other["id"]
    # nothing from the refused requests was written
    items = (await client.get("/api/v1/deals", headers=acc.headers)).json()["items"]
    assert len(items) == 1


async def test_deal_list_filters_search_sort_and_keyset_pages(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    amounts = [500, 100, 900, 300, 700]
    for i, amount in enumerate(amounts):
        await create(
            client,
            acc,
            "/api/v1/deals",
            {
                "name": f"{'Renewal' if i % 2 else 'New'} deal {i}",
                "amount": amount,
                "stage": "Proposal" if i < 2 else "Prospecting",
                "tags": ["hot"] if i == 4 else [],
            },
        )

    async def names(**params: Any) -> list[str]:
        r = await client.get("/api/v1/deals", params=params, headers=acc.headers)
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["items"]]

    assert await names(q="renewal", sort="name") == ["Renewal deal 1", "Renewal deal 3"]
    assert await names(q="RENEWAL DEAL 3") == ["Renewal deal 3"]
    assert await names(q="100%") == []
    assert await names(stage="Proposal", sort="name") == ["New deal 0", "Renewal deal 1"]
    assert await names(amount__gte=600, sort="-amount") == ["New deal 2", "New deal 4"]
    assert await names(tag="hot") == ["New deal 4"]
    assert await names(status="won") == []

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"sort": "amount", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/deals", params=params, headers=acc.headers)).json()
        seen += [d["amount"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(amounts)

    for params, field in (
        ({"sort": "colour"}, "sort"),
        ({"stage": "Nowhere"}, "stage"),
        ({"amount__gte": "lots"}, "amount__gte"),
        ({"cursor": "garbage"}, "cursor"),
    ):
        r = await client.get("/api/v1/deals", params=params, headers=acc.headers)
        assert r.status_code == 422 and fields(r) == {field}, params


async def test_custom_fields_on_deals(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post(
        "/api/v1/custom-fields",
        json={"entity_type": "deal", "key": "seats", "label": "Seats", "field_type": "number"},
        headers=acc.headers,
    )
    assert r.status_code == 201, r.text
    deal = await create(client, acc, "/api/v1/deals", {"name": "Seats", "custom": {"seats": "25"}})
    assert deal["custom"] == {"seats": 25}
    r = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"custom": {"seats": "many"}}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"custom.seats"}
    r = await client.get("/api/v1/deals", params={"custom.seats__gte": 20}, headers=acc.headers)
    assert [d["id"] for d in r.json()["items"]] == [deal["id"]]


async def test_won_and_lost_rules_and_events(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    acc = await register(client)
    deal = await create(client, acc, "/api/v1/deals", {"name": "Big one", "amount": 1000})
    path = f"/api/v1/deals/{deal['id']}/stage"

    r = await client.put(path, json={"stage": "Closed Won"}, headers=acc.headers)
    assert r.status_code == 200, r.text
    won = r.json()
    assert won["status"] == "won" and won["closed_at"] is not None
    assert won["probability"] == 1.0 and won["weighted_amount"] == 1000

    r = await client.put(path, json={"stage": "Closed Lost"}, headers=acc.headers)
    assert r.status_code == 422 and fields(r) == {"won_lost_reason"}
    r = await client.put(
        path, json={"stage": "Closed Lost", "won_lost_reason": "   "}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"won_lost_reason"}
    r = await client.put(
        path,
        json={"stage": "Closed Lost", "won_lost_reason": "Chose a competitor"},
        headers=acc.headers,
    )
    assert r.status_code == 200
    lost = r.json()
    assert lost["status"] == "lost" and lost["won_lost_reason"] == "Chose a competitor"
    assert lost["weighted_amount"] == 0

    # a lost deal cannot lose its reason
    r = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"won_lost_reason": None}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"won_lost_reason"}
    # other edits keep the reason
    r = await client.patch(f"/api/v1/deals/{deal['id']}", json={"amount": 1}, headers=acc.headers)
    assert r.status_code == 200 and r.json()["won_lost_reason"] == "Chose a competitor"

    # back to an open stage reopens (through PATCH this time)
    r = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"stage": "Negotiation"}, headers=acc.headers
    )
    assert r.status_code == 200
    reopened = r.json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert reopened["won_lost_reason"] is None and reopened["probability"] == 0.75

    # PATCH into a lost stage needs the reason too; creating a lost deal as well
    r = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"stage": "Closed Lost"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"won_lost_reason"}
    r = await client.post(
        "/api/v1/deals", json={"name": "Lost cause", "stage": "Closed Lost"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"won_lost_reason"}

    assert await event_types(live_server, acc.organization_id, deal["id"]) == [
        "deal.created",
        "deal.stage_changed",
        "deal.won",
        "deal.stage_changed",
        "deal.lost",
        "deal.updated",
        "deal.updated",
        "deal.stage_changed",
        "deal.reopened",
    ]
    await client.delete(f"/api/v1/deals/{deal['id']}", headers=acc.headers)
    assert (await event_types(live_server, acc.organization_id, deal["id"]))[-1] == "deal.deleted"


async def test_moving_pipelines_through_patch(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    other = await create(
        client,
        acc,
        "/api/v1/pipelines",
        {"name": "Upsell", "stages": [{"name": "Idea"}, {"name": "Pitched"}]},
    )
    a = await create(client, acc, "/api/v1/deals", {"name": "A"})
    b = await create(client, acc, "/api/v1/deals", {"name": "B"})
    r = await client.patch(
        f"/api/v1/deals/{a['id']}", json={"pipeline_id": other["id"]}, headers=acc.headers
    )
    assert r.status_code == 200
    assert r.json()["pipeline"] == "Upsell" and r.json()["stage"] == "Idea"
    r = await client.patch(
        f"/api/v1/deals/{b['id']}",
        json={"pipeline_id": other["id"], "stage": "Prospecting"},
        headers=acc.headers,
    )
    assert r.status_code == 422 and fields(r) == {"stage"}
    sales_board = await board(client, acc)
    assert columns(sales_board)["Prospecting"] == [b["id"]]
    assert_dense(sales_board)
    assert columns(await board(client, acc, other["id"]))["Idea"] == [a["id"]]
    # the board move stays within the deal's pipeline
    r = await client.put(
        f"/api/v1/deals/{a['id']}/stage", json={"stage": "Prospecting"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"stage"}
    r = await client.put(f"/api/v1/deals/{a['id']}/stage", json={}, headers=acc.headers)
    assert r.status_code == 422 and fields(r) == {"stage"}


# -- board ---------------------------------------------------------------------------------


async def test_board_columns_totals_and_dense_moves(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    ids = [
        (await create(client, acc, "/api/v1/deals", {"name": f"D{i}", "amount": 100 * (i + 1)}))[
            "id"
        ]
        for i in range(5)
    ]
    b = await board(client, acc)
    assert [c["stage"] for c in b["columns"]][:2] == ["Prospecting", "Qualification"]
    assert columns(b)["Prospecting"] == ids
    assert b["count"] == 5 and b["total_amount"] == 1500
    assert b["weighted_amount"] == 150
    assert_dense(b)

    async def move(deal_id: int, **body: Any) -> dict[str, Any]:
        r = await client.put(f"/api/v1/deals/{deal_id}/stage", json=body, headers=acc.headers)
        assert r.status_code == 200, r.text
        return r.json()

    # within a column: last to top, then top to the middle
    assert (await move(ids[4], stage="Prospecting", card_order=0))["card_order"] == 0
    await move(ids[4], stage="Prospecting", card_order=2)
    assert columns(await board(client, acc))["Prospecting"] == [
        ids[0],
        ids[1],
        ids[4],
        ids[2],
        ids[3],
    ]
    # across columns, by name and by id, with orders past the end clamped
    proposal = stage_ids(await default_pipeline(client, acc))["Proposal"]
    await move(ids[1], stage="Proposal")
    await move(ids[3], stage_id=proposal, card_order=0)
    await move(ids[0], stage="Proposal", card_order=50)
    await move(ids[2], stage="Qualification", card_order=3)
    b = await board(client, acc)
    cols = columns(b)
    assert cols["Prospecting"] == [ids[4]]
    assert cols["Proposal"] == [ids[3], ids[1], ids[0]]
    assert cols["Qualification"] == [ids[2]]
    assert_dense(b)
    prop = next(c for c in b["columns"] if c["stage"] == "Proposal")
    assert prop["count"] == 3 and prop["total_amount"] == 400 + 200 + 100
    assert prop["weighted_amount"] == 350
    assert b["total_amount"] == 1500
    assert b["weighted_amount"] == round(500 * 0.1 + 700 * 0.5 + 300 * 0.25, 2)

    # deleting a card closes the gap
    await client.delete(f"/api/v1/deals/{ids[3]}", headers=acc.headers)
    b = await board(client, acc)
    assert columns(b)["Proposal"] == [ids[1], ids[0]]
    assert_dense(b)

    # a stale version is refused
    current = (await client.get(f"/api/v1/deals/{ids[1]}", headers=acc.headers)).json()
    r = await client.put(
        f"/api/v1/deals/{ids[1]}/stage",
        json={"stage": "Negotiation", "version": current["version"] - 1},
        headers=acc.headers,
    )
    assert r.status_code == 412


async def test_concurrent_moves_keep_positions_dense_and_unique(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    ids = [
        (await create(client, acc, "/api/v1/deals", {"name": f"Card {i}"}))["id"] for i in range(12)
    ]
    # plus a few creates racing with the moves
    targets = ["Qualification", "Proposal", "Prospecting", "Negotiation"]
    moves = [
        client.put(
            f"/api/v1/deals/{deal_id}/stage",
            json={"stage": targets[i % 4], "card_order": i % 3},
            headers=acc.headers,
        )
        for i, deal_id in enumerate(ids)
    ] + [
        client.post(
            "/api/v1/deals", json={"name": f"New {i}", "card_order": 0}, headers=acc.headers
        )
        for i in range(3)
    ]
    results = await asyncio.gather(*moves)
    assert all(r.status_code in (200, 201) for r in results), [
        r.text for r in results if r.status_code >= 300
    ]
    b = await board(client, acc)
    assert_dense(b)
    on_board = [d for ids_ in columns(b).values() for d in ids_]
    assert len(on_board) == len(set(on_board)) == 15
    assert set(ids) <= set(on_board)

    # a second round moving everything into one column
    again = await asyncio.gather(
        *[
            client.put(
                f"/api/v1/deals/{deal_id}/stage",
                json={"stage": "Negotiation", "card_order": 0},
                headers=acc.headers,
            )
            for deal_id in on_board
        ]
    )
    assert all(r.status_code == 200 for r in again)
    b = await board(client, acc)
    assert_dense(b)
    assert sorted(columns(b)["Negotiation"]) == sorted(on_board)


async def test_concurrent_pipeline_edits_deal_writes_and_conversion(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    sales = await default_pipeline(client, acc)
    p = await create(
        client,
        acc,
        "/api/v1/pipelines",
        {"name": "Busy", "stages": [{"name": "A"}, {"name": "B"}]},
    )
    lead = await create(client, acc, "/api/v1/leads", {"name": "Racing lead", "value": 7})
    pid = p["id"]

    def call(method: str, path: str, body: dict[str, Any]) -> Any:
        return client.request(method, path, json=body, headers=acc.headers)

    ops = (
        [call("POST", f"/api/v1/pipelines/{pid}/stages", {"name": f"S{i}"}) for i in range(3)]
        + [call("POST", "/api/v1/deals", {"name": f"D{i}", "pipeline_id": pid}) for i in range(4)]
        + [
            call("PATCH", f"/api/v1/pipelines/{pid}", {"name": "Busy 2"}),
            call("PATCH", f"/api/v1/pipelines/{pid}", {"is_default": True}),
            call("PATCH", f"/api/v1/pipelines/{sales['id']}", {"is_default": True}),
            call("POST", "/api/v1/deals", {"name": "L", "pipeline_id": pid, "lead_id": lead["id"]}),
            call("POST", f"/api/v1/leads/{lead['id']}/convert", {"pipeline_id": pid}),
            call(
                "PATCH", f"/api/v1/pipelines/{pid}/stages/{p['stages'][0]['id']}", {"position": 9}
            ),
        ]
    )
    results = await asyncio.gather(*ops)
    assert all(r.status_code < 300 for r in results), [
        (r.request.method, r.request.url.path, r.text) for r in results if r.status_code >= 300
    ]
    listed = (await client.get("/api/v1/pipelines", headers=acc.headers)).json()
    assert sum(x["is_default"] for x in listed) == 1
    busy = next(x for x in listed if x["id"] == pid)
    assert [s["position"] for s in busy["stages"]] == list(range(5))
    b = await board(client, acc, pid)
    assert b["count"] == 6
    assert_dense(b)


async def test_board_of_other_pipeline_and_default(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    other = await create(
        client, acc, "/api/v1/pipelines", {"name": "Tiny", "stages": [{"name": "Only"}]}
    )
    await create(client, acc, "/api/v1/deals", {"name": "T", "pipeline_id": other["id"]})
    b = await board(client, acc, other["id"])
    assert b["pipeline"] == "Tiny" and [c["stage"] for c in b["columns"]] == ["Only"]
    assert b["count"] == 1
    assert (await board(client, acc))["count"] == 0
    r = await client.get(
        "/api/v1/deals/board", params={"pipeline_id": 999999999}, headers=acc.headers
    )
    assert r.status_code == 404


# -- roles and tenants ---------------------------------------------------------------------


async def test_viewer_reads_but_cannot_write(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    deal = await create(client, owner, "/api/v1/deals", {"name": "Viewed"})
    lead = await create(client, owner, "/api/v1/leads", {"name": "Lead"})
    viewer = await member(client, owner, "viewer")
    assert (await client.get("/api/v1/deals", headers=viewer.headers)).status_code == 200
    assert (
        await client.get(f"/api/v1/deals/{deal['id']}", headers=viewer.headers)
    ).status_code == 200
    assert (await client.get("/api/v1/deals/board", headers=viewer.headers)).status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/deals", {"name": "No"}),
        ("PATCH", f"/api/v1/deals/{deal['id']}", {"name": "No"}),
        ("PUT", f"/api/v1/deals/{deal['id']}/stage", {"stage": "Proposal"}),
        ("DELETE", f"/api/v1/deals/{deal['id']}", None),
        ("POST", f"/api/v1/leads/{lead['id']}/convert", {}),
    ):
        r = await client.request(method, path, json=body, headers=viewer.headers)
        assert r.status_code == 403, (method, path)
    # an agent writes but may not delete
    agent = await member(client, owner, "agent")
    r = await client.patch(
        f"/api/v1/deals/{deal['id']}", json={"name": "Agent's"}, headers=agent.headers
    )
    assert r.status_code == 200
    assert (
        await client.delete(f"/api/v1/deals/{deal['id']}", headers=agent.headers)
    ).status_code == 403


async def test_other_tenant_gets_404_and_cannot_link(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    sales_a = await default_pipeline(client, a)
    stage_a = sales_a["stages"][0]["id"]
    contact_a = await create(client, a, "/api/v1/contacts", {"name": "A contact"})
    company_a = await create(client, a, "/api/v1/companies", {"name": "A company"})
    lead_a = await create(client, a, "/api/v1/leads", {"name": "A lead"})
    deal_a = await create(client, a, "/api/v1/deals", {"name": "A deal", "amount": 5})
    d = deal_a["id"]
    p = sales_a["id"]
    for method, path, body in (
        ("GET", f"/api/v1/deals/{d}", None),
        ("PATCH", f"/api/v1/deals/{d}", {"name": "mine"}),
        ("PUT", f"/api/v1/deals/{d}/stage", {"stage": "Proposal"}),
        ("DELETE", f"/api/v1/deals/{d}", None),
        ("GET", f"/api/v1/deals/{d}/timeline", None),
        ("GET", f"/api/v1/deals/board?pipeline_id={p}", None),
        ("GET", f"/api/v1/pipelines/{p}", None),
        ("PATCH", f"/api/v1/pipelines/{p}", {"name": "mine"}),
        ("DELETE", f"/api/v1/pipelines/{p}", None),
        ("POST", f"/api/v1/pipelines/{p}/stages", {"name": "mine"}),
        ("PATCH", f"/api/v1/pipelines/{p}/stages/{stage_a}", {"name": "mine"}),
        ("DELETE", f"/api/v1/pipelines/{p}/stages/{stage_a}", None),
        ("POST", f"/api/v1/leads/{lead_a['id']}/convert", {}),
    ):
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path, r.status_code)
        assert r.headers["content-type"].startswith(PROBLEM)
    # b's own stage of the same name does not reach a's pipeline either
    sales_b = await default_pipeline(client, b)
    r = await client.patch(
        f"/api/v1/pipelines/{sales_b['id']}/stages/{stage_a}", json={"name": "x"}, headers=b.headers
    )
    assert r.status_code == 404

    # a's records cannot be linked from b (422 naming the field), nor a's pipeline or stage used
    for body, field in (
        ({"contact_id": contact_a["id"]}, "contact_id"),
        ({"company_id": company_a["id"]}, "company_id"),
        ({"lead_id": lead_a["id"]}, "lead_id"),
        ({"owner_id": a.user_id}, "owner_id"),
        ({"pipeline_id": p}, "pipeline_id"),
        ({"stage_id": stage_a}, "stage_id"),
    ):
        r = await client.post("/api/v1/deals", json={"name": "B", **body}, headers=b.headers)
        assert r.status_code == 422 and fields(r) == {field}, (body, r.text)
    deal_b = await create(client, b, "/api/v1/deals", {"name": "B deal"})
    r = await client.patch(
        f"/api/v1/deals/{deal_b['id']}", json={"contact_id": contact_a["id"]}, headers=b.headers
    )
    assert r.status_code == 422 and fields(r) == {"contact_id"}
    r = await client.patch(
        f"/api/v1/deals/{deal_b['id']}", json={"pipeline_id": p}, headers=b.headers
    )
    assert r.status_code == 422 and fields(r) == {"pipeline_id"}
    lead_b = await create(client, b, "/api/v1/leads", {"name": "B lead"})
    r = await client.post(
        f"/api/v1/leads/{lead_b['id']}/convert",
        json={"contact_id": contact_a["id"]},
        headers=b.headers,
    )
    assert r.status_code == 422 and fields(r) == {"contact_id"}
    r = await client.post(
        f"/api/v1/leads/{lead_b['id']}/convert", json={"pipeline_id": p}, headers=b.headers
    )
    assert r.status_code == 422 and fields(r) == {"pipeline_id"}

    # lists and boards show nothing of a's
    assert (await client.get("/api/v1/deals", headers=b.headers)).json()["items"][0]["id"] == (
        deal_b["id"]
    )
    assert [x["id"] for x in (await client.get("/api/v1/pipelines", headers=b.headers)).json()] == [
        sales_b["id"]
    ]
    # and a's deal is untouched
    r = await client.get(f"/api/v1/deals/{d}", headers=a.headers)
    assert r.status_code == 200 and r.json()["name"] == "A deal" and r.json()["version"] == 1


# -- lead conversion -----------------------------------------------------------------------


async def test_convert_lead_creates_contact_company_and_deal(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    lead = await create(
        client,
        acc,
        "/api/v1/leads",
        {
            "name": "Grace Hopper",
            "email": "grace@navy.example",
            "phone": "+1 202 555 0143",
            "company": "Navy Labs",
            "value": 42000,
        },
    )
    r = await client.post(f"/api/v1/leads/{lead['id']}/convert", headers=acc.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["contact_created"] is True
    contact, company, deal = out["contact"], out["company"], out["deal"]
    assert contact["name"] == "Grace Hopper" and contact["email"] == "grace@navy.example"
    assert contact["phone"] == "+12025550143" and contact["company_id"] == company["id"]
    assert company["name"] == "Navy Labs"
    assert deal["amount"] == 42000 and deal["lead_id"] == lead["id"]
    assert deal["contact_id"] == contact["id"] and deal["company_id"] == company["id"]
    assert deal["pipeline"] == "Sales" and deal["stage"] == "Prospecting"
    assert out["lead"]["converted_at"] is not None
    assert out["lead"]["converted_deal_id"] == deal["id"]
    assert out["lead"]["contact_id"] == contact["id"]
    assert out["lead"]["company_id"] == company["id"]

    again = await client.post(f"/api/v1/leads/{lead['id']}/convert", headers=acc.headers)
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    deals = (await client.get("/api/v1/deals", headers=acc.headers)).json()["items"]
    assert len(deals) == 1


async def test_convert_links_existing_contact_and_company(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    company = await create(client, acc, "/api/v1/companies", {"name": "Acme"})
    existing = await create(
        client,
        acc,
        "/api/v1/contacts",
        {"name": "Wile Coyote", "email": "wile@acme.example", "company_id": company["id"]},
    )
    # the same email: the contact is linked, not duplicated (contacts.create would answer 409)
    lead = await create(
        client,
        acc,
        "/api/v1/leads",
        {"name": "W. E. Coyote", "email": "WILE@acme.example", "company": "ACME", "value": 10},
    )
    other = await create(
        client,
        acc,
        "/api/v1/pipelines",
        {"name": "Enterprise", "stages": [{"name": "Intro"}, {"name": "Pilot"}]},
    )
    r = await client.post(
        f"/api/v1/leads/{lead['id']}/convert",
        json={
            "deal_name": "Rockets",
            "amount": 99.5,
            "pipeline_id": other["id"],
            "stage": "pilot",
        },
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["contact"]["id"] == existing["id"] and out["contact_created"] is False
    assert out["company"]["id"] == company["id"]
    assert out["deal"]["name"] == "Rockets" and out["deal"]["amount"] == 99.5
    assert out["deal"]["pipeline"] == "Enterprise" and out["deal"]["stage"] == "Pilot"
    contacts = (await client.get("/api/v1/contacts", headers=acc.headers)).json()["items"]
    assert len(contacts) == 1
    companies = (await client.get("/api/v1/companies", headers=acc.headers)).json()["items"]
    assert len(companies) == 1

    # an explicit contact_id and no deal
    chosen = await create(client, acc, "/api/v1/contacts", {"name": "Road Runner"})
    lead2 = await create(client, acc, "/api/v1/leads", {"name": "Beep"})
    r = await client.post(
        f"/api/v1/leads/{lead2['id']}/convert",
        json={"contact_id": chosen["id"], "create_deal": False},
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["contact"]["id"] == chosen["id"] and r.json()["deal"] is None
    assert r.json()["company"] is None and r.json()["lead"]["converted_deal_id"] is None


async def test_failed_conversion_writes_nothing(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    # deals now need a custom field the conversion does not fill: the deal step fails last
    r = await client.post(
        "/api/v1/custom-fields",
        json={
            "entity_type": "deal",
            "key": "po_number",
            "label": "PO",
            "field_type": "text",
            "required": True,
        },
        headers=acc.headers,
    )
    assert r.status_code == 201, r.text
    lead = await create(
        client,
        acc,
        "/api/v1/leads",
        {"name": "Half Written", "email": "half@written.example", "company": "Partial Inc"},
    )
    r = await client.post(f"/api/v1/leads/{lead['id']}/convert", headers=acc.headers)
    assert r.status_code == 422 and fields(r) == {"custom.po_number"}
    # an unknown stage fails the same way
    r = await client.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"stage": "Nope"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"stage"}

    for path in ("/api/v1/contacts", "/api/v1/companies", "/api/v1/deals"):
        assert (await client.get(path, headers=acc.headers)).json()["items"] == [], path
    after = (await client.get(f"/api/v1/leads/{lead['id']}", headers=acc.headers)).json()
    assert after["converted_at"] is None and after["contact_id"] is None

    # without the deal it goes through, and nothing from the failed attempts shows up
    r = await client.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"create_deal": False}, headers=acc.headers
    )
    assert r.status_code == 200, r.text
    assert len((await client.get("/api/v1/contacts", headers=acc.headers)).json()["items"]) == 1
    assert len((await client.get("/api/v1/companies", headers=acc.headers)).json()["items"]) == 1


async def test_concurrent_conversions_convert_once(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    lead = await create(client, acc, "/api/v1/leads", {"name": "Raced", "value": 5})
    results = await asyncio.gather(
        *[client.post(f"/api/v1/leads/{lead['id']}/convert", headers=acc.headers) for _ in range(4)]
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    assert len((await client.get("/api/v1/deals", headers=acc.headers)).json()["items"]) == 1
    assert len((await client.get("/api/v1/contacts", headers=acc.headers)).json()["items"]) == 1
