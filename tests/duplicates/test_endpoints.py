from __future__ import annotations

import random
import string
import time
from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register

CONTACTS = "/api/v1/contacts"


async def contact(client: httpx.AsyncClient, acc: Account, **body: Any) -> dict[str, Any]:
    r = await client.post(
        CONTACTS, params={"allow_duplicate": "true"}, json=body, headers=acc.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def related(
    client: httpx.AsyncClient, acc: Account, contact_id: int, company_id: int
) -> dict[str, dict[str, Any]]:
    """An activity, a task and a deal pointing at a contact (and its company)."""
    return {
        "activity": await create(
            client,
            acc,
            "/api/v1/activities",
            {
                "type": "call",
                "subject": "Intro",
                "contact_id": contact_id,
                "company_id": company_id,
            },
        ),
        "task": await create(
            client, acc, "/api/v1/tasks", {"title": "Call back", "contact_id": contact_id}
        ),
        "deal": await create(
            client,
            acc,
            "/api/v1/deals",
            {"name": "Renewal", "contact_id": contact_id, "company_id": company_id},
        ),
    }


async def test_merge_moves_related_records_and_hides_duplicate(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Merge Co")
    h = owner.headers
    acme = await create(client, owner, "/api/v1/companies", {"name": "Acme"})
    primary = await contact(client, owner, name="Ann Lee", email="ann@example.com", tags=["vip"])
    dup = await contact(
        client,
        owner,
        name="Ann  Lee",
        email="ann.lee@work.example",
        phone="+1 415 555 0100",
        title="CTO",
        company_id=acme["id"],
        notes="met at the fair",
        tags=["vip", "west"],
    )
    lead = await create(
        client, owner, "/api/v1/leads", {"name": "Ann's lead", "contact_id": dup["id"]}
    )
    other = await create(client, owner, "/api/v1/leads", {"name": "Unrelated"})
    linked = await related(client, owner, dup["id"], acme["id"])

    r = await client.post(
        f"{CONTACTS}/merge",
        json={"primary_id": primary["id"], "duplicate_ids": [dup["id"]]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["id"] == primary["id"]
    assert merged["name"] == "Ann Lee"  # the primary keeps its values
    assert merged["email"] == "ann@example.com"
    assert merged["emails"] == ["ann@example.com", "ann.lee@work.example"]
    assert merged["phones"] == ["+14155550100"]  # empty on the primary: filled in
    assert merged["title"] == "CTO"
    assert merged["company_id"] == acme["id"]
    assert merged["tags"] == ["vip", "west"]
    assert merged["merged_ids"] == [dup["id"]]
    assert merged["moved"]["lead.contact_id"] == 1
    assert merged["moved"]["activity.contact_id"] == 1
    assert merged["moved"]["task.contact_id"] == 1
    assert merged["moved"]["deal.contact_id"] == 1

    # the duplicate is gone from reads and lists
    assert (await client.get(f"{CONTACTS}/{dup['id']}", headers=h)).status_code == 404
    listed = (await client.get(CONTACTS, headers=h)).json()["items"]
    assert [c["id"] for c in listed] == [primary["id"]]
    assert (await client.get(CONTACTS, params={"tag": "west"}, headers=h)).json()["items"][0][
        "id"
    ] == primary["id"]
    # everything that pointed at it now points at the primary
    moved_lead = (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).json()
    assert moved_lead["contact_id"] == primary["id"]
    assert moved_lead["version"] == lead["version"] + 1
    assert (await client.get(f"/api/v1/leads/{other['id']}", headers=h)).json()[
        "contact_id"
    ] is None
    for path, key in (("activities", "activity"), ("tasks", "task"), ("deals", "deal")):
        r = await client.get(f"/api/v1/{path}/{linked[key]['id']}", headers=h)
        assert r.json()["contact_id"] == primary["id"], key
    timeline = (await client.get(f"{CONTACTS}/{primary['id']}/timeline", headers=h)).json()
    assert [a["id"] for a in timeline["items"]] == [linked["activity"]["id"]]

    # one audit entry per merged record, with before and after
    audit = (await client.get("/api/v1/audit-log", params={"action": "merge"}, headers=h)).json()[
        "items"
    ]
    by_id = {e["entity_id"]: e for e in audit}
    assert set(by_id) == {primary["id"], dup["id"]}
    assert by_id[dup["id"]]["before"]["deleted_at"] is None
    assert by_id[dup["id"]]["after"]["merged_into_id"] == primary["id"]
    assert by_id[primary["id"]]["before"]["title"] is None
    assert by_id[primary["id"]]["after"]["title"] == "CTO"


async def test_merge_fields_pick_sources_and_custom_fields_merge(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    h = owner.headers
    for key in ("tier", "source"):
        await create(
            client,
            owner,
            "/api/v1/custom-fields",
            {"entity_type": "contact", "key": key, "label": key.title(), "field_type": "text"},
        )
    a = await contact(client, owner, name="Bo Chen", email="bo@a.example", custom={"tier": "gold"})
    b = await contact(
        client,
        owner,
        name="Bo Chen Jr",
        email="bo@b.example",
        custom={"tier": "silver", "source": "fair"},
    )
    c = await contact(client, owner, name="B. Chen", email="bo@c.example")
    r = await client.post(
        f"{CONTACTS}/merge",
        json={
            "primary_id": a["id"],
            "duplicate_ids": [b["id"], c["id"]],
            "fields": {"email": b["id"], "name": b["id"], "custom.tier": a["id"]},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == "bo@b.example"
    assert body["emails"] == ["bo@b.example", "bo@a.example", "bo@c.example"]
    assert (body["name"], body["first_name"], body["last_name"]) == ("Bo Chen Jr", "Bo Chen", "Jr")
    assert body["custom"] == {"tier": "gold", "source": "fair"}
    assert sorted(body["merged_ids"]) == sorted([b["id"], c["id"]])
    # the merged name is searchable under its new key
    found = (await client.get(CONTACTS, params={"q": "bo chen jr"}, headers=h)).json()["items"]
    assert [x["id"] for x in found] == [a["id"]]


async def test_merge_rejects_bad_requests_and_other_tenants(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    stranger = await register(client)
    mine = await contact(client, owner, name="Mine One", email="one@mine.example")
    mine2 = await contact(client, owner, name="Mine Two", email="two@mine.example")
    theirs = await contact(client, stranger, name="Theirs", email="x@theirs.example")
    url = f"{CONTACTS}/merge"

    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": [theirs["id"]]}, headers=owner.headers
    )
    assert r.status_code == 404
    r = await client.post(
        url, json={"primary_id": theirs["id"], "duplicate_ids": [mine["id"]]}, headers=owner.headers
    )
    assert r.status_code == 404
    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": [mine["id"]]}, headers=owner.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "duplicate_ids"
    r = await client.post(
        url,
        json={
            "primary_id": mine["id"],
            "duplicate_ids": [mine2["id"]],
            "fields": {"email": 999999},
        },
        headers=owner.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "fields.email"
    r = await client.post(
        url,
        json={
            "primary_id": mine["id"],
            "duplicate_ids": [mine2["id"]],
            "fields": {"id": mine2["id"]},
        },
        headers=owner.headers,
    )
    assert r.status_code == 422
    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": []}, headers=owner.headers
    )
    assert r.status_code == 422
    # an agent may edit but not delete, and merging deletes
    agent = await member(client, owner, "agent")
    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": [mine2["id"]]}, headers=agent.headers
    )
    assert r.status_code == 403
    # nothing happened to either tenant
    assert (await client.get(f"{CONTACTS}/{mine2['id']}", headers=owner.headers)).status_code == 200
    assert (
        await client.get(f"{CONTACTS}/{theirs['id']}", headers=stranger.headers)
    ).status_code == 200
    # merged once, a record cannot be merged again
    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": [mine2["id"]]}, headers=owner.headers
    )
    assert r.status_code == 200
    r = await client.post(
        url, json={"primary_id": mine["id"], "duplicate_ids": [mine2["id"]]}, headers=owner.headers
    )
    assert r.status_code == 404


async def test_scan_finds_email_phone_and_fuzzy_name_groups(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    stranger = await register(client)
    h = owner.headers
    acme = await create(client, owner, "/api/v1/companies", {"name": "Acme"})
    globex = await create(client, owner, "/api/v1/companies", {"name": "Globex"})
    e1 = await contact(client, owner, name="Eve Adams", email="eve@example.com")
    e2 = await contact(client, owner, name="Evelyn Adams", email="EVE@example.com")
    p1 = await contact(client, owner, name="Pat Kim", phone="+1 415 555 0111")
    p2 = await contact(client, owner, name="Patricia Kim", phone="(415) 555-0111")
    n1 = await contact(client, owner, name="Jonathan Smith", company_id=acme["id"])
    n2 = await contact(client, owner, name="Jonathon Smith", company_id=acme["id"])
    n3 = await contact(client, owner, name="Smith Jonathan", company_id=acme["id"])
    # the same name at another company is somebody else
    await contact(client, owner, name="Jonathan Smith", company_id=globex["id"])
    await contact(client, owner, name="Mary Major", company_id=acme["id"])
    # another tenant's identical records never show up
    await contact(client, stranger, name="Eve Adams", email="eve@example.com")

    r = await client.get("/api/v1/duplicates", params={"entity": "contact"}, headers=h)
    assert r.status_code == 200, r.text
    groups = {(g["reason"], tuple(g["ids"])) for g in r.json()["groups"]}
    assert ("email", (e1["id"], e2["id"])) in groups
    assert ("phone", (p1["id"], p2["id"])) in groups
    assert ("name+company", tuple(sorted([n1["id"], n2["id"], n3["id"]]))) in groups
    assert len(groups) == 3
    first = r.json()["groups"][0]
    assert first["reason"] == "email" and first["key"] == "eve@example.com"
    assert {rec["name"] for rec in first["records"]} == {"Eve Adams", "Evelyn Adams"}
    assert r.json()["truncated"] is False

    r = await client.get("/api/v1/duplicates", params={"entity": "contact", "limit": 1}, headers=h)
    assert len(r.json()["groups"]) == 1 and r.json()["truncated"] is True
    r = await client.get("/api/v1/duplicates", params={"entity": "deal"}, headers=h)
    assert r.status_code == 422


async def test_company_scan_and_merge_move_contacts_and_leads(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    h = owner.headers
    a = await create(
        client, owner, "/api/v1/companies", {"name": "Initech", "domain": "initech.example"}
    )
    b = await create(
        client,
        owner,
        "/api/v1/companies",
        {
            "name": "Initech Inc",
            "domain": "initech.example",
            "industry": "Software",
            "tags": ["partner"],
        },
    )
    c = await create(client, owner, "/api/v1/companies", {"name": "Initech, Inc."})
    staff = await contact(client, owner, name="Peter Gibbons", company_id=b["id"])
    boss = await contact(client, owner, name="Bill Lumbergh", company_id=c["id"])
    lead = await create(
        client, owner, "/api/v1/leads", {"name": "TPS reports", "company_id": b["id"]}
    )
    linked = await related(client, owner, staff["id"], b["id"])

    scan = (await client.get("/api/v1/duplicates", params={"entity": "company"}, headers=h)).json()
    groups = {(g["reason"], tuple(g["ids"])) for g in scan["groups"]}
    assert ("domain", (a["id"], b["id"])) in groups
    assert any(reason == "name" and c["id"] in ids for reason, ids in groups)

    r = await client.post(
        "/api/v1/companies/merge",
        json={"primary_id": a["id"], "duplicate_ids": [b["id"], c["id"]]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Initech"
    assert body["industry"] == "Software"
    assert body["tags"] == ["partner"]
    assert body["contact_count"] == 2
    assert body["moved"]["contact.company_id"] == 2
    assert body["moved"]["lead.company_id"] == 1
    assert body["moved"]["deal.company_id"] == 1
    assert body["moved"]["activity.company_id"] == 1
    for cid in (staff["id"], boss["id"]):
        assert (await client.get(f"{CONTACTS}/{cid}", headers=h)).json()["company_id"] == a["id"]
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=h)).json()["company_id"] == a[
        "id"
    ]
    for path, key in (("activities", "activity"), ("deals", "deal")):
        r = await client.get(f"/api/v1/{path}/{linked[key]['id']}", headers=h)
        assert r.json()["company_id"] == a["id"], key
    assert (await client.get(f"/api/v1/companies/{b['id']}", headers=h)).status_code == 404
    listed = (await client.get("/api/v1/companies", headers=h)).json()["items"]
    assert [x["id"] for x in listed] == [a["id"]]
    scan = (await client.get("/api/v1/duplicates", params={"entity": "company"}, headers=h)).json()
    assert scan["groups"] == []


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9))).title()


async def test_scan_stays_fast_on_many_contacts(client: httpx.AsyncClient) -> None:
    """20k contacts over 200 companies (imported in bulk) with a few planted duplicates."""
    owner = await register(client)
    rng = random.Random(5)
    names = [f"{_word(rng)} {_word(rng)}" for _ in range(20_000)]
    lines = ["name,email,company"]
    lines += [f"{n},p{i}@bulk.example,Firm {i % 200}" for i, n in enumerate(names)]
    typo = names[7][:-1] + ("x" if names[7][-1] != "x" else "y")
    lines.append(f"{typo},other7@bulk.example,Firm 7")  # one letter off, same company
    lines.append("Someone Else,p42@bulk.example,Firm 99")  # same email
    r = await client.post(
        "/api/v1/imports/contacts",
        files={"file": ("bulk.csv", "\n".join(lines).encode(), "text/csv")},
        data={"on_duplicate": "create"},
        headers=owner.headers,
        timeout=300,
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 20_002
    started = time.perf_counter()
    r = await client.get(
        "/api/v1/duplicates",
        params={"entity": "contact", "limit": 500},
        headers=owner.headers,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 200
    groups = r.json()["groups"]
    assert ("email", "p42@bulk.example") in {(g["reason"], g["key"]) for g in groups}
    fuzzy = [g for g in groups if g["reason"] == "name+company"]
    assert any({rec["name"] for rec in g["records"]} == {names[7], typo} for g in fuzzy)
    assert elapsed < 30, elapsed
