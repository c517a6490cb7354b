from __future__ import annotations

import httpx

from tests.fixtures.factories import create, member, register


async def test_create_normalises_phone_and_email(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await create(
        client,
        acc,
        "/api/v1/contacts",
        {
            "name": "Ada Lovelace",
            "email": "Ada@Example.COM",
            "phone": "(415) 555-2671",
            "tags": ["vip", "vip", "beta"],
        },
    )
    assert c["first_name"] == "Ada" and c["last_name"] == "Lovelace"
    assert c["email"] == "ada@example.com"
    assert c["phone"] == "+14155552671"
    assert c["phones"] == ["+14155552671"]
    assert c["tags"] == ["beta", "vip"]
    assert c["version"] == 1


async def test_invalid_fields_are_named_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post(
        "/api/v1/contacts",
        json={
            "name": "Bad Data",
            "email": "nope",
            "phones": ["+1 415 555 2671", "12"],
            "timezone": "Mars/Base",
        },
        headers=acc.headers,
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in r.json()["errors"]}
    assert "timezone" in fields
    r = await client.post(
        "/api/v1/contacts",
        json={"name": "Bad Data", "email": "nope", "phones": ["+1 415 555 2671", "12"]},
        headers=acc.headers,
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"email", "phones.1"}
    listing = await client.get("/api/v1/contacts", headers=acc.headers)
    assert listing.json()["items"] == []


async def test_unknown_body_field_is_rejected(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post(
        "/api/v1/contacts", json={"name": "X", "emial": "x@example.com"}, headers=acc.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "emial"


async def test_duplicate_email_conflicts_unless_allowed(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    first = await create(
        client, acc, "/api/v1/contacts", {"name": "Grace Hopper", "email": "grace@navy.example"}
    )
    r = await client.post(
        "/api/v1/contacts",
        json={"name": "G. Hopper", "email": "GRACE@navy.example"},
        headers=acc.headers,
    )
    assert r.status_code == 409
    assert r.json()["duplicates"][0]["id"] == first["id"]
    r = await client.post(
        "/api/v1/contacts?allow_duplicate=true",
        json={"name": "G. Hopper", "email": "grace@navy.example"},
        headers=acc.headers,
    )
    assert r.status_code == 201


async def test_keyset_pagination_sort_and_prefix_search(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    names = [
        "Émile Zola",
        "Anna Karenina",
        "Anton Chekhov",
        "Boris Pasternak",
        "Leo Tolstoy",
        "Ivan Bunin",
        "Anya Taylor",
    ]
    for n in names:
        await create(client, acc, "/api/v1/contacts", {"name": n})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, "sort": "name"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/contacts", params=params, headers=acc.headers)).json()
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(names, key=lambda n: n.replace("É", "E").lower())
    found = (await client.get("/api/v1/contacts", params={"q": "an"}, headers=acc.headers)).json()[
        "items"
    ]
    assert {c["name"] for c in found} == {"Anna Karenina", "Anton Chekhov", "Anya Taylor"}
    # last-name prefix and accent-insensitive
    assert [
        c["name"]
        for c in (
            await client.get("/api/v1/contacts", params={"q": "tolst"}, headers=acc.headers)
        ).json()["items"]
    ] == ["Leo Tolstoy"]
    assert [
        c["name"]
        for c in (
            await client.get("/api/v1/contacts", params={"q": "emile"}, headers=acc.headers)
        ).json()["items"]
    ] == ["Émile Zola"]
    desc = (
        await client.get(
            "/api/v1/contacts", params={"sort": "-name", "limit": 2}, headers=acc.headers
        )
    ).json()
    assert [c["name"] for c in desc["items"]] == ["Leo Tolstoy", "Ivan Bunin"]


async def test_filters_and_bad_filters(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    await create(
        client,
        acc,
        "/api/v1/contacts",
        {"name": "Rich Customer", "status": "customer", "lifetime_value": 5000, "tags": ["vip"]},
    )
    await create(
        client,
        acc,
        "/api/v1/contacts",
        {"name": "Small Customer", "status": "customer", "lifetime_value": 50},
    )
    await create(client, acc, "/api/v1/contacts", {"name": "New Lead", "status": "lead"})
    get = lambda p: client.get("/api/v1/contacts", params=p, headers=acc.headers)  # noqa: E731
    r = await get({"status": "customer", "lifetime_value__gte": "1000"})
    assert [c["name"] for c in r.json()["items"]] == ["Rich Customer"]
    r = await get({"tag": "vip"})
    assert [c["name"] for c in r.json()["items"]] == ["Rich Customer"]
    r = await get({"status__in": "lead,customer"})
    assert len(r.json()["items"]) == 3
    r = await get({"lifetime_value__gte": "lots"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lifetime_value__gte"
    r = await get({"password": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    r = await get({"sort": "secret"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sort"
    r = await get({"cursor": "!!!"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_custom_fields_validated_on_write_and_filterable(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    for body in (
        {
            "entity_type": "contact",
            "key": "tier",
            "label": "Tier",
            "field_type": "select",
            "options": ["gold", "silver"],
        },
        {"entity_type": "contact", "key": "seats", "label": "Seats", "field_type": "number"},
        {"entity_type": "contact", "key": "renewal", "label": "Renewal", "field_type": "date"},
    ):
        await create(client, acc, "/api/v1/custom-fields", body)
    r = await client.post(
        "/api/v1/contacts",
        json={
            "name": "Custom One",
            "custom": {"tier": "bronze", "seats": "many", "renewal": "soon", "nope": 1},
        },
        headers=acc.headers,
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "custom.tier",
        "custom.seats",
        "custom.renewal",
        "custom.nope",
    }
    ok = await create(
        client,
        acc,
        "/api/v1/contacts",
        {"name": "Custom One", "custom": {"tier": "gold", "seats": 12, "renewal": "2027-01-31"}},
    )
    assert ok["custom"] == {"tier": "gold", "seats": 12, "renewal": "2027-01-31"}
    r = await client.get("/api/v1/contacts", params={"custom.tier": "gold"}, headers=acc.headers)
    assert [c["id"] for c in r.json()["items"]] == [ok["id"]]
    r = await client.get(
        "/api/v1/contacts", params={"custom.seats__gte": "10"}, headers=acc.headers
    )
    assert [c["id"] for c in r.json()["items"]] == [ok["id"]]
    # required fields are enforced on create
    await create(
        client,
        acc,
        "/api/v1/custom-fields",
        {
            "entity_type": "contact",
            "key": "source",
            "label": "Source",
            "field_type": "text",
            "required": True,
        },
    )
    r = await client.post("/api/v1/contacts", json={"name": "No Source"}, headers=acc.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "custom.source"


async def test_optimistic_concurrency(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await create(client, acc, "/api/v1/contacts", {"name": "Versioned"})
    r = await client.patch(
        f"/api/v1/contacts/{c['id']}", json={"title": "CEO", "version": 1}, headers=acc.headers
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = await client.patch(
        f"/api/v1/contacts/{c['id']}", json={"title": "CTO", "version": 1}, headers=acc.headers
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    r = await client.patch(
        f"/api/v1/contacts/{c['id']}",
        json={"title": "CTO"},
        headers={**acc.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 412
    got = await client.get(f"/api/v1/contacts/{c['id']}", headers=acc.headers)
    assert got.json()["title"] == "CEO" and got.headers["etag"] == '"2"'


async def test_company_link_and_company_name(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await create(
        client, acc, "/api/v1/contacts", {"name": "Linked Person", "company_name": "Acme Corp"}
    )
    c2 = await create(
        client, acc, "/api/v1/contacts", {"name": "Other Person", "company_name": "ACME corp"}
    )
    assert c["company_id"] is not None and c["company_id"] == c2["company_id"]
    company = (await client.get(f"/api/v1/companies/{c['company_id']}", headers=acc.headers)).json()
    assert company["name"] == "Acme Corp" and company["contact_count"] == 2


async def test_cross_tenant_contacts_are_invisible(client: httpx.AsyncClient) -> None:
    a = await register(client, org="Tenant A")
    b = await register(client, org="Tenant B")
    ca = await create(
        client, a, "/api/v1/contacts", {"name": "Secret Person", "email": "secret@a.example"}
    )
    company_a = await create(client, a, "/api/v1/companies", {"name": "A Corp"})
    for method, path, body in (
        ("GET", f"/api/v1/contacts/{ca['id']}", None),
        ("PATCH", f"/api/v1/contacts/{ca['id']}", {"title": "x"}),
        ("DELETE", f"/api/v1/contacts/{ca['id']}", None),
        ("GET", f"/api/v1/contacts/{ca['id']}/duplicates", None),
    ):
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path, r.text)
    assert (await client.get("/api/v1/contacts", headers=b.headers)).json()["items"] == []
    assert (await client.get("/api/v1/contacts", params={"q": "secret"}, headers=b.headers)).json()[
        "items"
    ] == []
    # B may reuse the same email (dedupe is per tenant) but may not link A's company
    r = await client.post(
        "/api/v1/contacts", json={"name": "Mine", "email": "secret@a.example"}, headers=b.headers
    )
    assert r.status_code == 201
    r = await client.post(
        "/api/v1/contacts",
        json={"name": "Mine 2", "company_id": company_a["id"]},
        headers=b.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "company_id"
    r = await client.post(
        "/api/v1/contacts", json={"name": "Mine 3", "owner_id": a.user_id}, headers=b.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_id"


async def test_roles_viewer_reads_agent_writes_manager_deletes(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    agent = await member(client, owner, "agent")
    c = await create(client, owner, "/api/v1/contacts", {"name": "Shared Contact"})
    assert (
        await client.get(f"/api/v1/contacts/{c['id']}", headers=viewer.headers)
    ).status_code == 200
    assert (
        await client.post("/api/v1/contacts", json={"name": "V"}, headers=viewer.headers)
    ).status_code == 403
    assert (
        await client.patch(
            f"/api/v1/contacts/{c['id']}", json={"title": "x"}, headers=agent.headers
        )
    ).status_code == 200
    assert (
        await client.delete(f"/api/v1/contacts/{c['id']}", headers=agent.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/contacts/{c['id']}", headers=owner.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/contacts/{c['id']}", headers=owner.headers)
    ).status_code == 404


async def test_audit_log_records_before_and_after(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await create(client, acc, "/api/v1/contacts", {"name": "Audited", "title": "Engineer"})
    await client.patch(
        f"/api/v1/contacts/{c['id']}", json={"title": "Manager"}, headers=acc.headers
    )
    await client.delete(f"/api/v1/contacts/{c['id']}", headers=acc.headers)
    log = (
        await client.get(
            "/api/v1/audit-log",
            params={"entity_type": "contact", "entity_id": c["id"]},
            headers=acc.headers,
        )
    ).json()
    actions = [e["action"] for e in log["items"]]
    assert actions == ["delete", "update", "create"]
    update = log["items"][1]
    assert update["before"] == {"title": "Engineer"} and update["after"] == {"title": "Manager"}
    assert update["actor_user_id"] == acc.user_id and update["request_id"]
    other = await register(client)
    assert (
        await client.get(
            "/api/v1/audit-log",
            params={"entity_type": "contact", "entity_id": c["id"]},
            headers=other.headers,
        )
    ).json()["items"] == []
