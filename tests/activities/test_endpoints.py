from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register

PROBLEM = "application/problem+json"
LINKS = {"contact_id", "company_id", "lead_id", "deal_id"}


def fields(r: httpx.Response) -> set[str]:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return {e["field"] for e in r.json().get("errors", [])}


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def timeline(client: httpx.AsyncClient, acc: Account, path: str, **params: Any) -> list[str]:
    """Every page of a timeline, following next_cursor; subjects in order."""
    subjects: list[str] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await client.get(f"{path}/timeline", params=query, headers=acc.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        subjects += [a["subject"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return subjects


async def test_activity_crud_defaults_and_last_touch(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    contact = await create(client, acc, "/api/v1/contacts", {"name": "Ada Caller"})
    lead = await create(client, acc, "/api/v1/leads", {"name": "Ada lead"})
    before = datetime.now(UTC) - timedelta(seconds=5)
    call = await create(
        client,
        acc,
        "/api/v1/activities",
        {
            "type": "call",
            "subject": "Discovery call",
            "body": "Talked budget",
            "direction": "outbound",
            "outcome": "connected",
            "duration_minutes": 25,
            "contact_id": contact["id"],
            "lead_id": lead["id"],
        },
    )
    assert call["user_id"] == acc.user_id and call["direction"] == "outbound"
    assert call["duration_minutes"] == 25
    assert parse(call["occurred_at"]) >= before

    c = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=acc.headers)).json()
    assert parse(c["last_activity_at"]) == parse(call["occurred_at"])
    ld = (await client.get(f"/api/v1/leads/{lead['id']}", headers=acc.headers)).json()
    assert parse(ld["last_contacted_at"]) == parse(call["occurred_at"])

    # a note is internal: it touches the contact but does not count as contacting the lead;
    # an older activity does not move the dates back
    await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "note", "subject": "Old", "occurred_at": at(48), "lead_id": lead["id"]},
    )
    await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "note", "subject": "Later note", "lead_id": lead["id"]},
    )
    ld = (await client.get(f"/api/v1/leads/{lead['id']}", headers=acc.headers)).json()
    assert parse(ld["last_contacted_at"]) == parse(call["occurred_at"])
    # a meeting planned for next week is not contact yet
    await create(
        client,
        acc,
        "/api/v1/activities",
        {
            "type": "meeting",
            "subject": "Demo",
            "occurred_at": at(-24 * 7),
            "contact_id": contact["id"],
        },
    )
    c = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=acc.headers)).json()
    assert parse(c["last_activity_at"]) == parse(call["occurred_at"])

    r = await client.get(f"/api/v1/activities/{call['id']}", headers=acc.headers)
    assert r.status_code == 200 and r.json()["subject"] == "Discovery call"
    r = await client.patch(
        f"/api/v1/activities/{call['id']}",
        json={"outcome": "voicemail", "type": "email"},
        headers=acc.headers,
    )
    assert r.status_code == 200 and r.json()["outcome"] == "voicemail"
    assert r.json()["type"] == "email" and r.json()["direction"] == "outbound"
    # dropping every link is refused
    r = await client.patch(
        f"/api/v1/activities/{call['id']}",
        json={"contact_id": None, "lead_id": None},
        headers=acc.headers,
    )
    assert r.status_code == 422 and fields(r) == LINKS
    # a call turned into a note cannot keep its direction
    r = await client.patch(
        f"/api/v1/activities/{call['id']}", json={"type": "note"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"direction"}

    items = (
        await client.get(
            "/api/v1/activities", params={"type": "email", "q": "budget"}, headers=acc.headers
        )
    ).json()["items"]
    assert [a["id"] for a in items] == [call["id"]]

    assert (
        await client.delete(f"/api/v1/activities/{call['id']}", headers=acc.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/activities/{call['id']}", headers=acc.headers)
    ).status_code == 404


async def test_activity_validation_names_the_field(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    contact = await create(client, acc, "/api/v1/contacts", {"name": "Someone"})
    for body, expected in (
        ({"type": "note", "subject": "Floating"}, LINKS),
        ({"type": "fax", "contact_id": contact["id"]}, {"type"}),
        ({"type": "note", "direction": "inbound", "contact_id": contact["id"]}, {"direction"}),
        ({"type": "call", "direction": "sideways", "contact_id": contact["id"]}, {"direction"}),
        (
            {"type": "call", "duration_minutes": -1, "contact_id": contact["id"]},
            {"duration_minutes"},
        ),
        (
            {"type": "note", "occurred_at": "yesterday", "contact_id": contact["id"]},
            {"occurred_at"},
        ),
        ({"type": "note", "contact_id": 999999999}, {"contact_id"}),
        ({"type": "note", "deal_id": 999999999, "lead_id": 999999999}, {"deal_id", "lead_id"}),
        ({"type": "note", "company_id": 999999999}, {"company_id"}),
        ({"type": "note", "user_id": 999999999, "contact_id": contact["id"]}, {"user_id"}),
        ({"type": "note", "mood": "happy", "contact_id": contact["id"]}, {"mood"}),
    ):
        r = await client.post("/api/v1/activities", json=body, headers=acc.headers)
        assert r.status_code == 422, (body, r.text)
        assert fields(r) == expected, (body, r.json())
    assert (await client.get("/api/v1/activities", headers=acc.headers)).json()["items"] == []
    # another member may be named as the one who did it
    agent = await member(client, acc, "agent")
    a = await create(
        client,
        acc,
        "/api/v1/activities",
        {
            "type": "email",
            "direction": "inbound",
            "user_id": agent.user_id,
            "contact_id": contact["id"],
        },
    )
    assert a["user_id"] == agent.user_id
    # an offset-less time is read as UTC
    a = await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "note", "occurred_at": "2030-01-02T03:04:05", "contact_id": contact["id"]},
    )
    assert parse(a["occurred_at"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_timelines_newest_first_paginated_and_company_rollup(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    company = await create(client, acc, "/api/v1/companies", {"name": "Rollup Co"})
    contact = await create(
        client, acc, "/api/v1/contacts", {"name": "Rolled Up", "company_id": company["id"]}
    )
    outsider = await create(client, acc, "/api/v1/contacts", {"name": "Elsewhere"})
    deal = await create(
        client, acc, "/api/v1/deals", {"name": "Rollup deal", "company_id": company["id"]}
    )
    lead = await create(client, acc, "/api/v1/leads", {"name": "Rollup lead"})

    async def log(subject: str, hours_ago: float, **links: int) -> None:
        await create(
            client,
            acc,
            "/api/v1/activities",
            {"type": "note", "subject": subject, "occurred_at": at(hours_ago), **links},
        )

    await log("company note", 5, company_id=company["id"])
    await log("contact call", 1, contact_id=contact["id"])
    await log("deal note", 3, deal_id=deal["id"])
    await log("deal+contact", 2, deal_id=deal["id"], contact_id=contact["id"])
    await log("lead note", 4, lead_id=lead["id"])
    await log("outsider", 0.5, contact_id=outsider["id"])
    # two at the very same moment still page without loss or repeats (id breaks the tie)
    same = at(10)
    for s in ("tie a", "tie b"):
        await create(
            client,
            acc,
            "/api/v1/activities",
            {"type": "note", "subject": s, "occurred_at": same, "company_id": company["id"]},
        )

    company_tl = await timeline(client, acc, f"/api/v1/companies/{company['id']}", limit=2)
    assert company_tl == [
        "contact call",
        "deal+contact",
        "deal note",
        "company note",
        "tie b",
        "tie a",
    ]
    assert await timeline(client, acc, f"/api/v1/contacts/{contact['id']}", limit=1) == [
        "contact call",
        "deal+contact",
    ]
    assert await timeline(client, acc, f"/api/v1/deals/{deal['id']}") == [
        "deal+contact",
        "deal note",
    ]
    assert await timeline(client, acc, f"/api/v1/leads/{lead['id']}") == ["lead note"]
    # filter by type
    await create(
        client,
        acc,
        "/api/v1/activities",
        {"type": "meeting", "subject": "kickoff", "occurred_at": at(0.1), "deal_id": deal["id"]},
    )
    assert await timeline(client, acc, f"/api/v1/deals/{deal['id']}", type="meeting") == ["kickoff"]
    r = await client.get(
        f"/api/v1/deals/{deal['id']}/timeline", params={"cursor": "nope"}, headers=acc.headers
    )
    assert r.status_code == 422 and fields(r) == {"cursor"}

    # deleting the deal removes its activities from every timeline
    await client.delete(f"/api/v1/deals/{deal['id']}", headers=acc.headers)
    assert await timeline(client, acc, f"/api/v1/contacts/{contact['id']}") == ["contact call"]
    assert (
        await client.get(f"/api/v1/deals/{deal['id']}/timeline", headers=acc.headers)
    ).status_code == 404


async def test_viewer_cannot_log_activities(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    contact = await create(client, owner, "/api/v1/contacts", {"name": "Viewed"})
    act = await create(
        client, owner, "/api/v1/activities", {"type": "note", "contact_id": contact["id"]}
    )
    viewer = await member(client, owner, "viewer")
    assert (
        await client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=viewer.headers)
    ).status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/activities", {"type": "note", "contact_id": contact["id"]}),
        ("PATCH", f"/api/v1/activities/{act['id']}", {"subject": "x"}),
        ("DELETE", f"/api/v1/activities/{act['id']}", None),
    ):
        r = await client.request(method, path, json=body, headers=viewer.headers)
        assert r.status_code == 403, (method, path)
    agent = await member(client, owner, "agent")
    assert (
        await client.delete(f"/api/v1/activities/{act['id']}", headers=agent.headers)
    ).status_code == 403


async def test_other_tenant_gets_404_and_cannot_link(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    contact = await create(client, a, "/api/v1/contacts", {"name": "A contact"})
    company = await create(client, a, "/api/v1/companies", {"name": "A company"})
    lead = await create(client, a, "/api/v1/leads", {"name": "A lead"})
    deal = await create(client, a, "/api/v1/deals", {"name": "A deal"})
    act = await create(
        client,
        a,
        "/api/v1/activities",
        {"type": "call", "subject": "secret", "contact_id": contact["id"]},
    )
    for method, path, body in (
        ("GET", f"/api/v1/activities/{act['id']}", None),
        ("PATCH", f"/api/v1/activities/{act['id']}", {"subject": "mine"}),
        ("DELETE", f"/api/v1/activities/{act['id']}", None),
        ("GET", f"/api/v1/contacts/{contact['id']}/timeline", None),
        ("GET", f"/api/v1/companies/{company['id']}/timeline", None),
        ("GET", f"/api/v1/leads/{lead['id']}/timeline", None),
        ("GET", f"/api/v1/deals/{deal['id']}/timeline", None),
    ):
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path)
        assert r.headers["content-type"].startswith(PROBLEM)
    for field, value in (
        ("contact_id", contact["id"]),
        ("company_id", company["id"]),
        ("lead_id", lead["id"]),
        ("deal_id", deal["id"]),
        ("user_id", a.user_id),
    ):
        body = {"type": "note", field: value}
        if field == "user_id":
            body["contact_id"] = (await create(client, b, "/api/v1/contacts", {"name": "B"}))["id"]
        r = await client.post("/api/v1/activities", json=body, headers=b.headers)
        assert r.status_code == 422 and fields(r) == {field}, (field, r.text)
    mine = (await client.get("/api/v1/activities", headers=b.headers)).json()["items"]
    assert mine == []
    assert (
        await client.get("/api/v1/activities", params={"q": "secret"}, headers=b.headers)
    ).json()["items"] == []
    r = await client.get(f"/api/v1/activities/{act['id']}", headers=a.headers)
    assert r.status_code == 200 and r.json()["subject"] == "secret"
