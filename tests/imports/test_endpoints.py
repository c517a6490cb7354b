from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from aicrm.db import Database
from aicrm.imports import cli
from aicrm.models import OutboxEvent
from tests.fixtures.factories import Account, create, member, register
from tests.imports.helpers import export, parse, upload

CONTACTS = "/api/v1/contacts"


async def all_contacts(
    client: httpx.AsyncClient, acc: Account, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(CONTACTS, params={"limit": 500, **params}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def custom_field(client: httpx.AsyncClient, acc: Account, **body: Any) -> None:
    await create(client, acc, "/api/v1/custom-fields", body)


async def test_dry_run_reports_row_errors_and_writes_nothing(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    text = (
        "First Name,Last Name,E-mail,Phone number,Country,Status\n"
        "Ann,Lee,ann@example.com,(415) 555-0100,us,customer\n"
        "Bob,,not-an-email,+1 415 555 0101,USA,\n"
        "Cid,,cid@example.com,12,,unknown\n"
        ",,,,,\n"
        "Dee,,ANN@example.com,,,\n"
    )
    r = await upload(client, owner, "contacts", text, dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["dry_run"] is True
    assert (report["total"], report["created"], report["skipped"], report["failed"]) == (4, 1, 1, 2)
    errors = {(e["row"], e["field"]) for e in report["errors"]}
    assert errors == {(3, "email"), (3, "country"), (4, "phone"), (4, "status")}
    assert report["error_count"] == 4
    email_error = next(e for e in report["errors"] if e["field"] == "email")
    assert email_error["column"] == "E-mail"
    assert "not-an-email" in email_error["message"]
    assert report["mapping"] == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "E-mail": "email",
        "Phone number": "phone",
        "Country": "country",
        "Status": "status",
    }
    # nothing was written: no contact, no audit entry
    assert await all_contacts(client, owner) == []
    audit = await client.get(
        "/api/v1/audit-log", params={"action": "import"}, headers=owner.headers
    )
    assert audit.json()["items"] == []

    # the same file for real
    r = await upload(client, owner, "contacts", text)
    assert (r.json()["created"], r.json()["skipped"], r.json()["failed"]) == (1, 1, 2)
    [ann] = await all_contacts(client, owner)
    assert (ann["name"], ann["email"], ann["phone"], ann["country"], ann["status"]) == (
        "Ann Lee",
        "ann@example.com",
        "+14155550100",
        "US",
        "customer",
    )


async def test_on_duplicate_skip_update_and_create(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await create(
        client,
        owner,
        CONTACTS,
        {"name": "Ann Lee", "email": "ann@x.example", "title": "Engineer", "tags": ["old"]},
    )
    text = (
        "name,email,phone,title,tags\n"
        'Ann Lee,ANN@x.example,,CTO,"new, vip"\n'
        "Bob Ray,bob@x.example,+14155550199,,\n"
        "Bobby Ray,,+1 (415) 555-0199,Boss,\n"
    )
    r = await upload(client, owner, "contacts", text, on_duplicate="skip")
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["skipped"]) == (1, 0, 2)
    people = {c["email"]: c for c in await all_contacts(client, owner)}
    assert people["ann@x.example"]["title"] == "Engineer"
    assert people["ann@x.example"]["tags"] == ["old"]
    assert people["bob@x.example"]["name"] == "Bob Ray"

    r = await upload(client, owner, "contacts", text, on_duplicate="update")
    assert (r.json()["created"], r.json()["updated"], r.json()["skipped"]) == (0, 3, 0)
    people = {c["email"]: c for c in await all_contacts(client, owner)}
    assert len(people) == 2
    ann = people["ann@x.example"]
    assert (ann["title"], ann["tags"], ann["version"]) == ("CTO", ["new", "vip"], 2)
    bob = people["bob@x.example"]  # matched by phone, then renamed by the third row
    assert (bob["name"], bob["first_name"], bob["title"]) == ("Bobby Ray", "Bobby", "Boss")

    r = await upload(client, owner, "contacts", text, on_duplicate="create")
    assert (r.json()["created"], r.json()["updated"], r.json()["skipped"]) == (3, 0, 0)
    assert len(await all_contacts(client, owner)) == 5

    r = await upload(client, owner, "contacts", text, on_duplicate="merge")
    assert r.status_code == 422


async def test_mapping_custom_fields_and_tags(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await custom_field(
        client,
        owner,
        entity_type="contact",
        key="tier",
        label="Tier",
        field_type="select",
        options=["gold", "silver"],
    )
    await custom_field(
        client, owner, entity_type="contact", key="score", label="Lead score", field_type="number"
    )
    await custom_field(
        client, owner, entity_type="contact", key="vip", label="VIP", field_type="boolean"
    )
    text = (
        "Full Name;Mail;Tier level;Lead score;VIP?;Labels;Internal id\n"
        "Zoë Ávila;zoe@x.example;gold;42;yes;b, a, b;17\n"
        "Max Mustermann;max@x.example;bronze;7;no;;18\n"
        "Li Wei;li@x.example;silver;abc;;;19\n"
    )
    mapping = {
        "Full Name": "name",
        "Mail": "email",
        "Tier level": "custom.tier",
        "VIP?": "custom.vip",
        "Internal id": None,
    }
    r = await upload(client, owner, "contacts", text, mapping=mapping)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["mapping"] == {
        "Full Name": "name",
        "Mail": "email",
        "Tier level": "custom.tier",
        "Lead score": "custom.score",  # a custom field's label maps by itself
        "VIP?": "custom.vip",
        "Labels": "tags",
    }
    assert report["ignored_columns"] == ["Internal id"]
    assert report["created"] == 1
    errors = {(e["row"], e["field"], e["column"]) for e in report["errors"]}
    assert errors == {(3, "custom.tier", "Tier level"), (4, "custom.score", "Lead score")}
    [zoe] = await all_contacts(client, owner)
    assert zoe["custom"] == {"tier": "gold", "score": 42, "vip": True}
    assert zoe["tags"] == ["a", "b"]
    assert (zoe["first_name"], zoe["last_name"]) == ("Zoë", "Ávila")
    # filters see imported custom values and tags; search sees the folded name
    assert len(await all_contacts(client, owner, **{"custom.tier": "gold", "tag": "a"})) == 1
    assert len(await all_contacts(client, owner, q="zoe av")) == 1

    bad = await upload(client, owner, "contacts", text, mapping={"Mail": "e_mail"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "mapping.Mail"
    bad = await upload(client, owner, "contacts", text, mapping={"Nope": "email"})
    assert bad.status_code == 422
    bad = await upload(client, owner, "contacts", "Foo,Bar\n1,2\n")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "mapping"
    bad = await client.post(
        "/api/v1/imports/contacts",
        files={"file": ("x.csv", b"name\nA\n", "text/csv")},
        data={"mapping": "{not json"},
        headers=owner.headers,
    )
    assert bad.status_code == 422
    bad = await upload(client, owner, "contacts", "name,custom.nope\nA,1\n")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "custom.nope"


async def test_required_custom_field_and_org_region(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    r = await client.patch(
        "/api/v1/organizations/current", json={"default_region": "GB"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    await custom_field(
        client,
        owner,
        entity_type="contact",
        key="segment",
        label="Segment",
        field_type="text",
        required=True,
    )
    text = "name,phone,custom.segment\nAda,020 7946 0958,smb\nBea,020 7946 0959,\n"
    r = await upload(client, owner, "contacts", text)
    assert (r.json()["created"], r.json()["failed"]) == (1, 1)
    assert r.json()["errors"] == [
        {"row": 3, "field": "custom.segment", "column": None, "message": "is required"}
    ]
    [ada] = await all_contacts(client, owner)
    assert ada["phone"] == "+442079460958"  # national number read with the org's region


async def test_leads_import_assigns_status_and_card_order(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    h = owner.headers
    first = await create(client, owner, "/api/v1/leads", {"name": "Already here"})
    text = (
        "Lead name,email,stage,amount,tags,assignee\n"
        f"Lead A,a@l.example,,100,,{owner.email}\n"
        "Lead B,b@l.example,qualified,50.5,hot,\n"
        "Lead C,c@l.example,Nope,,,\n"
        "Lead D,,New,,,\n"
        "Lead E,e@l.example,,,,nobody@else.example\n"
        "Lead A again,A@l.example,,,,\n"
    )
    r = await upload(client, owner, "leads", text, mapping={"Lead name": "name"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["skipped"], report["failed"]) == (3, 1, 2)
    assert {(e["row"], e["field"]) for e in report["errors"]} == {
        (4, "status"),
        (6, "assignee_email"),
    }
    board = (await client.get("/api/v1/leads/kanban", headers=h)).json()["columns"]
    cols = {c["status"]: [(lead["name"], lead["card_order"]) for lead in c["leads"]] for c in board}
    assert cols["New"] == [("Already here", 0), ("Lead A", 1), ("Lead D", 2)]
    assert cols["Qualified"] == [("Lead B", 0)]
    leads = {lead["name"]: lead for col in board for lead in col["leads"]}
    assert leads["Lead A"]["assignee_id"] == owner.user_id
    assert leads["Lead A"]["value"] == 100
    assert leads["Lead B"]["tags"] == ["hot"]
    assert leads["Already here"]["id"] == first["id"]

    # an update that changes the status moves the card and keeps both columns dense
    r = await upload(
        client, owner, "leads", "name,email,status\nLead A,a@l.example,Won\n", on_duplicate="update"
    )
    assert r.json()["updated"] == 1
    board = (await client.get("/api/v1/leads/kanban", headers=h)).json()["columns"]
    cols = {c["status"]: [(lead["name"], lead["card_order"]) for lead in c["leads"]] for c in board}
    assert cols["New"] == [("Already here", 0), ("Lead D", 1)]
    assert cols["Won"] == [("Lead A", 0)]


async def test_companies_import_dedupes_by_domain_and_name(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await create(client, owner, "/api/v1/companies", {"name": "Acme", "domain": "acme.example"})
    text = (
        "Company,Website,Domain,Industry,Employees,Revenue\n"
        "ACME corp,https://acme.example,ACME.example,Tools,50,1000000\n"
        "Globex,https://globex.example,globex.example,Energy,10-50,\n"
        "globex,,,,,\n"
        "Initech,,not a domain,,,-5\n"
    )
    r = await upload(client, owner, "companies", text)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["skipped"], report["failed"]) == (1, 2, 1)
    assert {e["field"] for e in report["errors"]} == {"domain", "annual_revenue"}
    listed = (await client.get("/api/v1/companies", headers=owner.headers)).json()["items"]
    assert sorted(c["name"] for c in listed) == ["Acme", "Globex"]


async def test_export_round_trip_into_another_organization(client: httpx.AsyncClient) -> None:
    a = await register(client, org="Source Org")
    b = await register(client, org="Target Org")
    for acc in (a, b):
        await custom_field(
            client,
            acc,
            entity_type="contact",
            key="tier",
            label="Tier",
            field_type="select",
            options=["gold", "silver"],
        )
        await custom_field(
            client, acc, entity_type="contact", key="since", label="Since", field_type="date"
        )
        await custom_field(
            client, acc, entity_type="company", key="band", label="Band", field_type="text"
        )
        await custom_field(
            client,
            acc,
            entity_type="lead",
            key="budget_ok",
            label="Budget ok",
            field_type="boolean",
        )
    acme = await create(
        client,
        a,
        "/api/v1/companies",
        {
            "name": "Acme, Inc.",
            "domain": "acme.example",
            "industry": "Tools",
            "annual_revenue": 1250000.5,
            "custom": {"band": "B"},
            "tags": ["partner"],
        },
    )
    await create(client, a, "/api/v1/companies", {"name": "Umlaut GmbH", "country": "de"})
    await create(
        client,
        a,
        CONTACTS,
        {
            "first_name": "Zoë",
            "last_name": "Ávila",
            "email": "zoe@acme.example",
            "emails": ["zoe@acme.example", "zoe@home.example"],
            "phones": ["+14155550100", "+33142685300"],
            "company_id": acme["id"],
            "title": "CTO",
            "status": "customer",
            "lifetime_value": 1234.5,
            "churn_risk": 0.25,
            "timezone": "Europe/Paris",
            "notes": 'line one\nline "two", with comma',
            "custom": {"tier": "gold", "since": "2021-03-04"},
            "tags": ["vip", "beta tester"],
        },
    )
    await create(
        client, a, CONTACTS, {"name": "Solo", "phone": "+14155550111", "preferred_channel": "sms"}
    )
    await create(
        client,
        a,
        "/api/v1/leads",
        {
            "name": "Big deal",
            "company": "Acme, Inc.",
            "email": "buyer@acme.example",
            "status": "Proposal",
            "value": 5000,
            "priority": "high",
            "budget": 4000,
            "custom": {"budget_ok": True},
            "tags": ["q3"],
        },
    )
    await create(client, a, "/api/v1/leads", {"name": "Small one", "source": "web"})

    def comparable(text: str) -> list[dict[str, str]]:
        rows = parse(text)
        for row in rows:
            for k in ("id", "created_at", "updated_at"):
                row.pop(k)
        return sorted(rows, key=lambda r: r["name"])

    exported: dict[str, str] = {}
    for entity in ("companies", "contacts", "leads"):
        r = await export(client, a, entity)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        exported[entity] = r.text
        imported = await upload(client, b, entity, r.text)
        assert imported.status_code == 200, imported.text
        assert imported.json()["failed"] == 0, imported.json()["errors"]
        assert imported.json()["ignored_columns"] == ["id", "created_at", "updated_at"]
    for entity in ("companies", "contacts", "leads"):
        again = await export(client, b, entity)
        assert comparable(again.text) == comparable(exported[entity]), entity
    header = parse(exported["contacts"])[0].keys()
    assert {"custom.tier", "custom.since", "tags", "company_name"} <= set(header)


async def test_export_filters_and_tenant_isolation(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    await create(
        client,
        a,
        CONTACTS,
        {"name": "A one", "email": "one@a.example", "status": "customer", "tags": ["vip"]},
    )
    await create(client, a, CONTACTS, {"name": "A two", "email": "two@a.example", "status": "lead"})
    theirs = await create(
        client,
        b,
        CONTACTS,
        {"name": "B one", "email": "one@b.example", "status": "customer", "tags": ["vip"]},
    )

    rows = parse((await export(client, a, "contacts")).text)
    assert sorted(r["email"] for r in rows) == ["one@a.example", "two@a.example"]
    rows = parse((await export(client, a, "contacts", status="customer")).text)
    assert [r["email"] for r in rows] == ["one@a.example"]
    rows = parse((await export(client, a, "contacts", tag="vip")).text)
    assert [r["email"] for r in rows] == ["one@a.example"]
    rows = parse((await export(client, a, "contacts", id=theirs["id"])).text)
    assert rows == []
    for entity in ("contacts", "companies", "leads"):
        text = (await export(client, a, entity)).text
        assert "b.example" not in text and "B one" not in text
    r = await export(client, a, "contacts", nope="1")
    assert r.status_code == 422
    r = await export(client, a, "deals")
    assert r.status_code == 422


async def test_roles_without_import_or_export_get_403(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    agent = await member(client, owner, "agent")
    manager = await member(client, owner, "manager")
    for acc in (viewer, agent):
        r = await upload(client, acc, "contacts", "name\nX\n")
        assert r.status_code == 403
        assert (await export(client, acc, "contacts")).status_code == 403
    assert (await upload(client, manager, "contacts", "name\nX\n")).json()["created"] == 1
    assert (await export(client, manager, "contacts")).status_code == 200
    assert len(await all_contacts(client, owner)) == 1


async def test_20k_rows_through_the_api(client: httpx.AsyncClient, db: AsyncEngine) -> None:
    owner = await register(client)
    lines = ["First Name,Last Name,Email,Phone,Company,Tags"]
    for i in range(20_000):
        lines.append(
            f"First{i},Last{i % 97},person{i}@big.example,+1 (212) {200 + i // 10000:03d}-{i % 10000:04d},"
            f"Company {i % 50},{'vip' if i % 10 == 0 else ''}"
        )
    lines.append("Dup,Row,person5@big.example,,,")
    lines.append("Broken,Row,broken@,,,")
    started = time.perf_counter()
    r = await upload(client, owner, "contacts", "\n".join(lines) + "\n", timeout=600)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["total"], report["created"], report["skipped"], report["failed"]) == (
        20_002,
        20_000,
        1,
        1,
    )
    assert report["companies_created"] == 50
    assert elapsed < 300, elapsed
    found = await all_contacts(client, owner, email="person12345@big.example")
    assert found[0]["phone"] == "+12122012345"
    assert found[0]["name"] == "First12345 Last26"
    assert len(await all_contacts(client, owner, tag="vip", limit=500)) == 500
    companies = (
        await client.get("/api/v1/companies", params={"q": "company 7"}, headers=owner.headers)
    ).json()
    assert companies["items"][0]["name"] == "Company 7"
    assert (
        await client.get(f"/api/v1/companies/{companies['items'][0]['id']}", headers=owner.headers)
    ).json()["contact_count"] == 400
    # one audit entry per batch, one event for the whole import
    audit = (
        await client.get(
            "/api/v1/audit-log", params={"action": "import", "limit": 100}, headers=owner.headers
        )
    ).json()["items"]
    assert len(audit) == 21
    assert sum(b - a + 1 for e in audit for a, b in e["after"]["created_id_ranges"]) == 20_000
    async with db.connect() as conn:
        events = (
            (
                await conn.execute(
                    select(OutboxEvent.payload).where(
                        OutboxEvent.organization_id == owner.organization_id,
                        OutboxEvent.type == "import.completed",
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(events) == 1 and events[0]["created"] == 20_000


@pytest.mark.parametrize("processes", [False, True], ids=["thread", "processes"])
async def test_cli_import_and_export(
    client: httpx.AsyncClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: bool,
) -> None:
    owner = await register(client, org="Cli Org")
    slug = (await client.get("/api/v1/organizations/current", headers=owner.headers)).json()["slug"]
    monkeypatch.setattr(cli, "Database", lambda: Database(url=database_url))
    if processes:
        monkeypatch.setattr(cli, "PROCESS_THRESHOLD", 0)
        monkeypatch.setattr(cli, "COMMIT_EVERY", 1)
    path = tmp_path / "people.csv"
    rows = ["name,email,tags"] + [f"Person {i},p{i}@cli.example,cli" for i in range(2500)]
    rows.append("Bad,bad@,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    report = await cli.run_import(
        "contacts", path, organization=slug, mapping=None, dry_run=False, on_duplicate="skip"
    )
    assert (report["created"], report["failed"]) == (2500, 1)
    again = await cli.run_import(
        "contacts",
        path,
        organization=str(owner.organization_id),
        mapping=None,
        dry_run=True,
        on_duplicate="skip",
    )
    assert (again["created"], again["skipped"]) == (0, 2500)
    out = io.StringIO()
    assert await cli.run_export("contacts", out, organization=slug) == 2500
    exported = parse(out.getvalue())
    assert len(exported) == 2500 and exported[0]["tags"] == "cli"
    assert len(await all_contacts(client, owner, tag="cli")) == 500

    missing = await cli.run_import(
        "contacts",
        path,
        organization="no-such-org",
        mapping=None,
        dry_run=False,
        on_duplicate="skip",
    )
    assert "no-such-org" in missing["detail"]
    wrong = await cli.run_import(
        "deals", path, organization=slug, mapping=None, dry_run=False, on_duplicate="skip"
    )
    assert "deals" in wrong["detail"]
