from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register

VIEWS = "/api/v1/views"
VIP_CUSTOMERS = {"status": "customer", "lifetime_value__gte": "1000", "tag": "vip"}


def _fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json().get("errors", [])}


async def _view(client: httpx.AsyncClient, acc: Account, **body: Any) -> dict[str, Any]:
    return await create(client, acc, VIEWS, {"entity_type": "contact", "name": "View", **body})


async def _count(client: httpx.AsyncClient, acc: Account, view: dict[str, Any]) -> int:
    r = await client.get(f"{VIEWS}/{view['id']}", headers=acc.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def test_contact_segment_counts_live_and_lists_members(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    view = await _view(
        client, owner, name="VIP customers", filters=VIP_CUSTOMERS, sort="-lifetime_value"
    )
    assert view["count"] == 0 and view["filters"] == VIP_CUSTOMERS
    assert view["owner_id"] == owner.user_id and view["shared"] is True and view["problem"] is None

    big = await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Big Spender", "status": "customer", "lifetime_value": 9000, "tags": ["vip"]},
    )
    assert await _count(client, owner, view) == 1
    # each condition must hold: status, value and tag
    await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Small", "status": "customer", "lifetime_value": 10, "tags": ["vip"]},
    )
    await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Untagged", "status": "customer", "lifetime_value": 5000},
    )
    almost = await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Almost", "status": "prospect", "lifetime_value": 2000, "tags": ["vip"]},
    )
    assert await _count(client, owner, view) == 1

    r = await client.patch(
        f"/api/v1/contacts/{almost['id']}", json={"status": "customer"}, headers=owner.headers
    )
    assert r.status_code == 200
    assert await _count(client, owner, view) == 2

    # members: the contact list's own shape, in the view's sort, keyset-paginated
    r = await client.get(
        f"{VIEWS}/{view['id']}/members", params={"limit": 1}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    page1 = r.json()
    assert [m["id"] for m in page1["items"]] == [big["id"]]
    r = await client.get(
        f"{VIEWS}/{view['id']}/members",
        params={"limit": 1, "cursor": page1["next_cursor"]},
        headers=owner.headers,
    )
    page2 = r.json()
    assert [m["id"] for m in page2["items"]] == [almost["id"]] and page2["next_cursor"] is None
    listed = (
        await client.get("/api/v1/contacts", params={"id": big["id"]}, headers=owner.headers)
    ).json()["items"][0]
    assert page1["items"][0] == listed

    listing = (await client.get(VIEWS, headers=owner.headers)).json()["items"]
    assert [(v["id"], v["count"]) for v in listing] == [(view["id"], 2)]

    r = await client.patch(
        f"{VIEWS}/{view['id']}",
        json={"name": "Customers", "filters": {"status": "customer"}},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Customers" and r.json()["count"] == 4
    assert r.json()["sort"] == "-lifetime_value"

    assert (await client.delete(f"{VIEWS}/{view['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{VIEWS}/{view['id']}", headers=owner.headers)).status_code == 404


async def test_filters_are_validated_on_save_naming_the_key(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    bad = {
        "filters.colour": {"colour": "red"},
        "filters.status__like": {"status__like": "cust"},
        "filters.lifetime_value__gte": {"lifetime_value__gte": "lots"},
        "filters.created_at__gte": {"created_at__gte": "yesterday"},
        "filters.sort": {"sort": "name"},
        "filters.cursor": {"cursor": "abc"},
    }
    for field, filters in bad.items():
        r = await client.post(
            VIEWS,
            json={"name": "Bad", "entity_type": "contact", "filters": filters},
            headers=owner.headers,
        )
        assert r.status_code == 422, (field, r.text)
        assert _fields(r) == {field}, (field, r.text)
    r = await client.post(
        VIEWS,
        json={"name": "Bad", "entity_type": "contact", "sort": "colour"},
        headers=owner.headers,
    )
    assert r.status_code == 422 and _fields(r) == {"sort"}
    r = await client.post(
        VIEWS, json={"name": "Bad", "entity_type": "ticket"}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"entity_type"}
    r = await client.post(
        VIEWS,
        json={"name": "", "entity_type": "contact", "filters": {"status": {"x": 1}}},
        headers=owner.headers,
    )
    assert r.status_code == 422 and {"name"} <= {f.split(".")[0] for f in _fields(r)}
    r = await client.post(
        VIEWS,
        json={"name": "Lead view", "entity_type": "lead", "filters": {"status": "Nonexistent"}},
        headers=owner.headers,
    )
    assert r.status_code == 422 and _fields(r) == {"filters.status"}
    assert (await client.get(VIEWS, headers=owner.headers)).json()["items"] == []

    # the same name for the same entity type is a conflict; other types may reuse it
    await _view(client, owner, name="Mine")
    r = await client.post(
        VIEWS, json={"name": "Mine", "entity_type": "contact"}, headers=owner.headers
    )
    assert r.status_code == 409 and _fields(r) == {"name"}
    await _view(client, owner, name="Mine", entity_type="company")
    v = await _view(client, owner, name="Other")
    r = await client.patch(
        f"{VIEWS}/{v['id']}", json={"filters": {"nope": 1}}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"filters.nope"}
    r = await client.patch(
        f"{VIEWS}/{v['id']}", json={"entity_type": "lead"}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"entity_type"}


async def test_lead_and_company_segments(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    leads = await _view(
        client,
        owner,
        name="Hot",
        entity_type="lead",
        filters={"status": "Qualified", "value__gt": 100},
    )
    companies = await _view(
        client, owner, name="Software", entity_type="company", filters={"industry": "Software"}
    )
    assert leads["count"] == 0 and companies["count"] == 0
    await create(client, owner, "/api/v1/leads", {"name": "Cold", "status": "New", "value": 500})
    hot = await create(
        client, owner, "/api/v1/leads", {"name": "Hot one", "status": "Qualified", "value": 500}
    )
    await create(
        client, owner, "/api/v1/leads", {"name": "Cheap", "status": "Qualified", "value": 50}
    )
    acme = await create(
        client, owner, "/api/v1/companies", {"name": "Acme", "industry": "Software"}
    )
    await create(client, owner, "/api/v1/companies", {"name": "Bakery", "industry": "Food"})
    assert await _count(client, owner, leads) == 1
    assert await _count(client, owner, companies) == 1
    r = await client.get(f"{VIEWS}/{leads['id']}/members", headers=owner.headers)
    assert [m["id"] for m in r.json()["items"]] == [hot["id"]] and r.json()["items"][0][
        "status"
    ] == "Qualified"
    r = await client.get(f"{VIEWS}/{companies['id']}/members", headers=owner.headers)
    assert [m["id"] for m in r.json()["items"]] == [acme["id"]]
    by_type = (
        await client.get(VIEWS, params={"entity_type": "lead"}, headers=owner.headers)
    ).json()["items"]
    assert [v["id"] for v in by_type] == [leads["id"]]

    # renaming the status the view names leaves the view listed, with the reason instead of a count
    statuses = (await client.get("/api/v1/lead-statuses", headers=owner.headers)).json()
    qualified = next(s for s in statuses if s["name"] == "Qualified")
    r = await client.patch(
        f"/api/v1/lead-statuses/{qualified['id']}",
        json={"name": "Sales ready"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    broken = (await client.get(f"{VIEWS}/{leads['id']}", headers=owner.headers)).json()
    assert broken["count"] is None and "Qualified" in broken["problem"]
    listing = {v["id"]: v for v in (await client.get(VIEWS, headers=owner.headers)).json()["items"]}
    assert listing[companies["id"]]["count"] == 1 and listing[leads["id"]]["count"] is None


async def test_private_views_and_who_may_change_views(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    manager = await member(client, owner, "manager")
    private = await _view(client, owner, name="My secret list", shared=False)
    shared = await _view(client, owner, name="Team list")
    own = await _view(client, agent, name="Agent's private", shared=False)

    listing = {v["id"] for v in (await client.get(VIEWS, headers=agent.headers)).json()["items"]}
    assert listing == {shared["id"], own["id"]}
    assert private["id"] in {
        v["id"] for v in (await client.get(VIEWS, headers=owner.headers)).json()["items"]
    }
    for r in [
        await client.get(f"{VIEWS}/{private['id']}", headers=agent.headers),
        await client.get(f"{VIEWS}/{private['id']}/members", headers=agent.headers),
        await client.patch(f"{VIEWS}/{private['id']}", json={"name": "x"}, headers=agent.headers),
        await client.delete(f"{VIEWS}/{private['id']}", headers=agent.headers),
        await client.get(f"{VIEWS}/{private['id']}", headers=manager.headers),
    ]:
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code)

    assert (
        await client.get(f"{VIEWS}/{shared['id']}/members", headers=agent.headers)
    ).status_code == 200
    assert (
        await client.patch(
            f"{VIEWS}/{shared['id']}", json={"name": "Renamed"}, headers=agent.headers
        )
    ).status_code == 403
    assert (
        await client.delete(f"{VIEWS}/{shared['id']}", headers=agent.headers)
    ).status_code == 403
    r = await client.patch(
        f"{VIEWS}/{shared['id']}", json={"name": "Renamed"}, headers=manager.headers
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    assert (
        await client.patch(
            f"{VIEWS}/{shared['id']}", json={"shared": False}, headers=manager.headers
        )
    ).status_code == 403

    # the owner may share a private view; then everyone sees it
    r = await client.patch(f"{VIEWS}/{own['id']}", json={"shared": True}, headers=agent.headers)
    assert r.status_code == 200 and r.json()["shared"] is True
    assert (await client.get(f"{VIEWS}/{own['id']}", headers=owner.headers)).status_code == 200


async def test_viewer_may_read_but_not_write(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    view = await _view(client, owner, name="Shared")
    assert (await client.get(f"{VIEWS}/{view['id']}", headers=viewer.headers)).status_code == 200
    assert (
        await client.get(f"{VIEWS}/{view['id']}/members", headers=viewer.headers)
    ).status_code == 200
    for r in [
        await client.post(
            VIEWS, json={"name": "V", "entity_type": "contact"}, headers=viewer.headers
        ),
        await client.patch(f"{VIEWS}/{view['id']}", json={"name": "V"}, headers=viewer.headers),
        await client.delete(f"{VIEWS}/{view['id']}", headers=viewer.headers),
    ]:
        assert r.status_code == 403, (r.request.method, r.request.url, r.status_code)


async def test_other_tenant_gets_404_and_counts_stay_in_tenant(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    intruder = await register(client)
    view = await _view(client, owner, name="Customers", filters={"status": "customer"})
    await create(client, owner, "/api/v1/contacts", {"name": "Mine", "status": "customer"})
    assert await _count(client, owner, view) == 1

    h = intruder.headers
    for r in [
        await client.get(f"{VIEWS}/{view['id']}", headers=h),
        await client.get(f"{VIEWS}/{view['id']}/members", headers=h),
        await client.patch(f"{VIEWS}/{view['id']}", json={"name": "pwned"}, headers=h),
        await client.delete(f"{VIEWS}/{view['id']}", headers=h),
    ]:
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code)
    assert (await client.get(VIEWS, headers=h)).json()["items"] == []

    # the same segment in another organization counts only that organization's records
    theirs = await _view(client, intruder, name="Customers", filters={"status": "customer"})
    assert theirs["count"] == 0
    r = await client.get(f"{VIEWS}/{theirs['id']}/members", headers=h)
    assert r.json()["items"] == []
    assert (await client.get(f"{VIEWS}/{view['id']}", headers=owner.headers)).json()[
        "name"
    ] == "Customers"


async def test_deal_segment(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    view = await _view(
        client,
        owner,
        name="Big proposals",
        entity_type="deal",
        filters={"stage": "Proposal", "amount__gte": 10000},
        sort="-amount",
    )
    assert view["count"] == 0
    big = await create(
        client, owner, "/api/v1/deals", {"name": "Big", "amount": 50000, "stage": "Proposal"}
    )
    bigger = await create(
        client, owner, "/api/v1/deals", {"name": "Bigger", "amount": 90000, "stage": "Proposal"}
    )
    await create(
        client, owner, "/api/v1/deals", {"name": "Small", "amount": 500, "stage": "Proposal"}
    )
    await create(client, owner, "/api/v1/deals", {"name": "Early", "amount": 50000})
    assert await _count(client, owner, view) == 2
    r = await client.get(f"{VIEWS}/{view['id']}/members", headers=owner.headers)
    assert [m["id"] for m in r.json()["items"]] == [bigger["id"], big["id"]]
    listed = (
        await client.get("/api/v1/deals", params={"id": big["id"]}, headers=owner.headers)
    ).json()["items"][0]
    assert r.json()["items"][1] == listed
    r = await client.post(
        VIEWS,
        json={"name": "Bad", "entity_type": "deal", "filters": {"stage": "Nowhere"}},
        headers=owner.headers,
    )
    assert r.status_code == 422 and _fields(r) == {"filters.stage"}
