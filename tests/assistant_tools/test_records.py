"""Record tools: search, read, create, update, assign, delete (with its confirmation turn);
their permissions, tenancy, argument errors and clarifying questions."""

from __future__ import annotations

import httpx

from aicrm.db import Database
from tests.assistant_tools.common import (
    activity,
    as_member,
    company,
    contact,
    deal,
    get,
    items,
    lead,
    org,
    task,
)


async def test_create_lead_through_the_service(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    r = await run(
        "create_lead",
        name="Jane Doe",
        company="Example Corp",
        value=75000,
        source="website",
        status="qualifed",  # a typo: the status is matched fuzzily, stored canonically
        assignee="Agent User",
        email="JANE@example.com",
    )
    assert r.status == "ok", r.summary
    lead_id = r.data["id"]
    assert r.summary == (
        f"Created lead Jane Doe (Example Corp, #{lead_id}) in Qualified, value $75,000, "
        "source website, assigned to Agent User."
    )
    stored = await get(client, acc, f"/api/v1/leads/{lead_id}")
    assert stored["status"] == "Qualified"
    assert stored["value"] == 75000
    assert stored["email"] == "jane@example.com"  # normalised by the service
    assert stored["assignee_id"] == agent.user_id
    [action] = r.actions
    assert (action.op, action.entity_type, action.entity_id) == ("created", "lead", lead_id)
    assert action.link == f"/leads/{lead_id}"
    assert action.label == f"Lead Jane Doe (Example Corp, #{lead_id})"
    # the audit log names the caller, like a REST write
    log = await items(
        client, acc, "/api/v1/audit-log", entity_type="lead", entity_id=lead_id, action="create"
    )
    assert [e["action"] for e in log] == ["create"]
    assert log[0]["actor_user_id"] == acc.user_id


async def test_search_records(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    jane = await lead(client, acc, "Jane Doe", company="Acme Corp", value=5000, tags=["vip"])
    john = await lead(client, acc, "John Roe", company="Acme Corp", assignee_id=agent.user_id)
    await lead(client, acc, "Zed Zulu", company="Other Ltd", status="Qualified")

    r = await run("search_records", entity="lead", query="acme")
    assert r.status == "ok"
    assert [i["id"] for i in r.data["items"]] == [john["id"], jane["id"]]  # newest first
    assert r.data["items"][1]["link"] == f"/leads/{jane['id']}"
    assert r.summary.startswith("Found 2 leads: John Roe (Acme Corp, #")
    assert "Jane Doe (Acme Corp, #" in r.summary and "$5,000" in r.summary

    r = await run("search_records", entity="lead", status="qualified")
    assert [i["name"] for i in r.data["items"]] == ["Zed Zulu"]
    r = await run("search_records", entity="lead", owner="Agent User")
    assert [i["id"] for i in r.data["items"]] == [john["id"]]
    r = await run("search_records", entity="lead", tag="vip")
    assert [i["id"] for i in r.data["items"]] == [jane["id"]]
    r = await run("search_records", entity="lead", limit=1)
    assert r.data["count"] == 1 and "there may be more" in r.summary

    # nothing contains the words: the closest names (fuzzy, from the name index)
    r = await run("search_records", entity="lead", query="Jane Dough")
    assert r.data["fuzzy"] is True
    assert r.data["items"][0]["id"] == jane["id"]
    assert r.summary.startswith("No leads contain 'Jane Dough'; the closest names are: Jane Doe")

    r = await run("search_records", entity="lead", query="nothing like it at all")
    assert (r.status, r.data["count"], r.summary) == ("ok", 0, "No leads match.")

    # other entities and their statuses
    await contact(client, acc, "Mary Major", email="mary@example.com", status="customer")
    await contact(client, acc, "Max Minor", status="prospect")
    r = await run("search_records", entity="contact", status="customer")
    assert [i["name"] for i in r.data["items"]] == ["Mary Major"]
    d1 = await deal(client, acc, "Acme renewal", amount=1000)
    await deal(client, acc, "Globex upsell", amount=2000, stage="Closed Won")
    r = await run("search_records", entity="deal", status="won")
    assert [i["name"] for i in r.data["items"]] == ["Globex upsell"]
    r = await run("search_records", entity="deal", status="Prospecting")
    assert [i["id"] for i in r.data["items"]] == [d1["id"]]
    late = await task(client, acc, "Call back Acme", due_at="2020-01-01T10:00:00Z")
    await task(client, acc, "Send deck")
    r = await run("search_records", entity="task", status="overdue")
    assert [i["id"] for i in r.data["items"]] == [late["id"]]
    assert "(overdue)" in r.summary

    r = await run("search_records", entity="ticket", query="refund")
    assert r.status == "unsupported" and "no support tickets" in r.summary
    r = await run("search_records", entity="company", status="active")
    assert (r.status, r.field) == ("invalid", "status")


async def test_get_record_with_recent_activities(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    co = await company(client, acc, "Initech")
    bob = await contact(client, acc, "Bob Slydell", company_id=co["id"], email="bob@initech.com")
    await activity(client, acc, "call", contact_id=bob["id"], subject="Intro call")
    r = await run("get_record", entity="contact", record="bob slydell")
    assert r.status == "ok"
    assert r.summary == f"Contact Bob Slydell (Initech, #{bob['id']})."
    assert r.data["email"] == "bob@initech.com"
    assert r.data["link"] == f"/contacts/{bob['id']}"
    assert [a["subject"] for a in r.data["recent_activities"]] == ["Intro call"]
    assert r.actions[0].op == "read" and not r.actions[0].undoable
    r = await run("get_record", entity="company", record=co["id"])
    assert r.data["name"] == "Initech"
    r = await run("get_record", entity="contact", record=f"#{bob['id']}")
    assert r.data["id"] == bob["id"]


async def test_create_contact_and_duplicates(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    r = await run(
        "create_contact",
        name="Peter Gibbons",
        email="peter@initrode.com",
        company="Initrode",
        title="Engineer",
        status="prospect",
    )
    assert r.status == "ok", r.summary
    stored = await get(client, acc, f"/api/v1/contacts/{r.data['id']}")
    assert (stored["first_name"], stored["last_name"]) == ("Peter", "Gibbons")
    company_row = await get(client, acc, f"/api/v1/companies/{stored['company_id']}")
    assert company_row["name"] == "Initrode"
    assert r.summary == f"Created contact Peter Gibbons (Initrode, #{r.data['id']})."
    # the service refuses a second contact with that email: nothing is written
    again = await run("create_contact", name="P. Gibbons", email="PETER@initrode.com")
    assert (again.status, again.field) == ("invalid", "email")
    assert f"Contact {r.data['id']} (Peter Gibbons)" in again.summary
    assert len(await items(client, acc, "/api/v1/contacts")) == 1


async def test_create_task_due_in_the_organizations_zone(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db, timezone="Europe/Paris")
    d = await deal(client, acc, "Umbrella rollout", amount=9000)
    co = await company(client, acc, "Umbrella Corp")
    r = await run(
        "create_task",
        title="Send the contract",
        due="2026-12-12",
        priority="high",
        related_entity="deal",
        related="umbrella rollout",
    )
    assert r.status == "ok", r.summary
    stored = await get(client, acc, f"/api/v1/tasks/{r.data['id']}")
    # a date alone: the end of that day in Paris (UTC+1 in December)
    assert stored["due_at"].startswith("2026-12-12T22:59:00")
    assert stored["assignee_id"] == acc.user_id  # the caller by default
    assert stored["deal_id"] == d["id"] and stored["priority"] == "high"
    assert "due Sat 12 Dec 2026 23:59, for you, about deal Umbrella rollout" in r.summary

    r = await run(
        "create_task",
        title="Call Umbrella",
        due="2026-12-14T09:30",
        related_entity="company",
        related="Umbrella Corp",
    )
    stored = await get(client, acc, f"/api/v1/tasks/{r.data['id']}")
    assert stored["due_at"].startswith("2026-12-14T08:30:00")
    assert f"Company: Umbrella Corp (/companies/{co['id']})" in stored["description"]

    bad = await run("create_task", title="x", due="the twelfth of never")
    assert (bad.status, bad.field) == ("invalid", "due")
    bad = await run("create_task", title="x", related="Umbrella Corp")
    assert (bad.status, bad.field) == ("invalid", "related_entity")
    bad = await run("create_task", title="x", priority="asap")
    assert (bad.status, bad.field) == ("invalid", "priority")


async def test_log_activity(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    bob = await contact(client, acc, "Bob Porter")
    r = await run(
        "log_activity",
        type="call",
        entity="contact",
        record="Bob Porter",
        subject="Renewal question",
        body="He asked about pricing.",
        direction="inbound",
        at="2026-03-02T10:15",
    )
    assert r.status == "ok", r.summary
    assert r.summary == (
        f"Logged a call on contact Bob Porter (#{bob['id']}) at Mon 2 Mar 2026 10:15."
    )
    timeline = await items(client, acc, f"/api/v1/contacts/{bob['id']}/timeline")
    assert [(a["type"], a["direction"], a["subject"]) for a in timeline] == [
        ("call", "inbound", "Renewal question")
    ]
    assert timeline[0]["occurred_at"].startswith("2026-03-02T10:15")
    assert (await get(client, acc, f"/api/v1/contacts/{bob['id']}"))["last_activity_at"]
    assert r.actions[0].entity_type == "activity" and r.actions[0].link == f"/contacts/{bob['id']}"
    bad = await run(
        "log_activity", type="note", entity="contact", record="Bob Porter", direction="inbound"
    )
    assert (bad.status, bad.field) == ("invalid", "direction")


async def test_update_record(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    x = await lead(client, acc, "Xavier Lead", value=100, email="x@example.com")
    r = await run(
        "update_record",
        entity="lead",
        record="Xavier Lead",
        fields={"value": 2500, "email": "XAV@example.com", "assignee": "Agent User"},
    )
    assert r.status == "ok", r.summary
    stored = await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert (stored["value"], stored["email"], stored["assignee_id"]) == (
        2500,
        "xav@example.com",
        agent.user_id,
    )
    [action] = r.actions
    assert action.before == {"value": 100.0, "email": "x@example.com", "assignee_id": None}
    assert action.after == {
        "value": 2500.0,
        "email": "xav@example.com",
        "assignee_id": agent.user_id,
    }
    assert r.summary == (
        f"Updated lead Xavier Lead (#{x['id']}): value $100 → $2,500; email x@example.com → "
        "xav@example.com; assignee (empty) → Agent User."
    )

    d = await deal(client, acc, "Big one", amount=10)
    r = await run(
        "update_record",
        entity="deal",
        record=d["id"],
        fields={"amount": 12000, "close_date": "2027-01-31"},
    )
    stored = await get(client, acc, f"/api/v1/deals/{d['id']}")
    assert (stored["amount"], stored["expected_close_date"]) == (12000, "2027-01-31")
    t = await task(client, acc, "Prepare demo")
    r = await run("update_record", entity="task", record="prepare demo", fields={"status": "done"})
    assert (await get(client, acc, f"/api/v1/tasks/{t['id']}"))["status"] == "done"

    same = await run("update_record", entity="lead", record=x["id"], fields={"value": 2500})
    assert same.status == "ok" and not same.actions and "nothing changed" in same.summary
    bad = await run("update_record", entity="lead", record=x["id"], fields={"colour": "red"})
    assert (bad.status, bad.field) == ("invalid", "fields.colour")
    bad = await run("update_record", entity="lead", record=x["id"], fields={"email": "nope"})
    assert (bad.status, bad.field) == ("invalid", "email")
    bad = await run("update_record", entity="lead", record=x["id"], fields={"value": -5})
    assert (bad.status, bad.field) == ("invalid", "fields.value")
    bad = await run("update_record", entity="lead", record=x["id"], fields={})
    assert (bad.status, bad.field) == ("invalid", "fields")
    # nothing of the refused updates was written
    assert (await get(client, acc, f"/api/v1/leads/{x['id']}"))["version"] == 2


async def test_assign_record(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    t = await task(client, acc, "Chase invoice")
    r = await run("assign_record", entity="task", record=t["id"], assignee=agent.email)
    assert r.status == "ok", r.summary
    assert r.summary == f"Assigned task Chase invoice (#{t['id']}) to Agent User."
    assert (await get(client, acc, f"/api/v1/tasks/{t['id']}"))["assignee_id"] == agent.user_id
    assert r.actions[0].before == {"assignee_id": None}
    again = await run("assign_record", entity="task", record=t["id"], assignee="agent user")
    assert again.status == "ok" and not again.actions and "already assigned" in again.summary
    c1 = await contact(client, acc, "Owen Owned")
    r = await run("assign_record", entity="contact", record="Owen Owned", assignee="me")
    assert (await get(client, acc, f"/api/v1/contacts/{c1['id']}"))["owner_id"] == acc.user_id
    missing = await run("assign_record", entity="task", record=t["id"], assignee="Nobody Known")
    assert missing.status == "not_found"


async def test_delete_needs_a_confirmation_naming_the_record(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    jane = await lead(client, acc, "Jane Doe", company="Example Corp")
    await activity(client, acc, "note", lead_id=jane["id"], body="Met at the fair.")
    r = await run("delete_record", entity="lead", record="jane doe")
    assert r.status == "confirm"
    assert r.question == (
        f"Delete lead Jane Doe (Example Corp, #{jane['id']})? It has 1 activity on its "
        "timeline. Say yes to delete it."
    )
    assert r.options[0].args == {"entity": "lead", "record": jane["id"]}
    assert not r.actions
    await get(client, acc, f"/api/v1/leads/{jane['id']}")  # still there
    r = await run("delete_record", _confirmed=True, entity="lead", record=jane["id"])
    assert r.status == "ok" and r.summary == f"Deleted lead Jane Doe (Example Corp, #{jane['id']})."
    await get(client, acc, f"/api/v1/leads/{jane['id']}", status=404)
    [action] = r.actions
    assert action.op == "deleted" and action.before["name"] == "Jane Doe"
    assert [a["body"] for a in action.before["_activities"]] == ["Met at the fair."]


async def test_roles_decide_like_the_rest_api(client: httpx.AsyncClient, db: Database) -> None:
    acc, _ = await org(client, db)
    x = await lead(client, acc, "Rita Role")
    _, viewer = await as_member(client, db, acc, "viewer")
    _, agent = await as_member(client, db, acc, "agent")
    _, manager = await as_member(client, db, acc, "manager")

    assert (await viewer("search_records", entity="lead", query="rita")).data["count"] == 1
    for name, args in [
        ("create_lead", {"name": "V"}),
        ("update_lead_status", {"lead": x["id"], "status": "Won"}),
        ("update_record", {"entity": "lead", "record": x["id"], "fields": {"value": 1}}),
        ("delete_record", {"entity": "lead", "record": x["id"]}),
        ("schedule_meeting", {"entity": "lead", "record": x["id"], "start": "2030-01-07T10:00"}),
    ]:
        r = await viewer(name, **args)
        assert r.status == "denied", (name, r.summary)
        assert "viewer" in r.summary
    assert (await agent("create_lead", name="Agent's lead")).status == "ok"
    # an agent cannot delete, confirmed or not: no question is even asked
    assert (await agent("delete_record", entity="lead", record=x["id"])).status == "denied"
    assert (
        await agent("delete_record", _confirmed=True, entity="lead", record=x["id"])
    ).status == "denied"
    await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert (await manager("delete_record", entity="lead", record=x["id"])).status == "confirm"


async def test_another_organizations_records_are_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    mine, run = await org(client, db, "Mine Inc")
    theirs, _ = await org(client, db, "Theirs Inc")
    their_lead = await lead(client, theirs, "Secret Sam", company="Theirs")
    their_deal = await deal(client, theirs, "Secret deal", amount=5)
    their_contact = await contact(client, theirs, "Secret Contact")
    their_task = await task(client, theirs, "Secret task")
    lid = their_lead["id"]
    calls = [
        ("get_record", {"entity": "lead", "record": lid}),
        ("get_record", {"entity": "task", "record": their_task["id"]}),
        ("update_record", {"entity": "lead", "record": lid, "fields": {"value": 1}}),
        ("update_lead_status", {"lead": lid, "status": "Won"}),
        ("move_deal_stage", {"deal": their_deal["id"], "stage": "Closed Won"}),
        ("assign_record", {"entity": "lead", "record": lid, "assignee": "me"}),
        ("delete_record", {"entity": "lead", "record": lid}),
        ("log_activity", {"type": "note", "entity": "lead", "record": lid, "body": "x"}),
        ("summarize_history", {"entity": "contact", "record": their_contact["id"]}),
        ("get_customer_insights", {"contact": their_contact["id"]}),
        ("schedule_meeting", {"entity": "lead", "record": lid, "start": "2030-01-07T10:00"}),
        ("start_follow_up_sequence", {"entity": "lead", "record": lid}),
        ("get_record", {"entity": "lead", "record": "Secret Sam"}),
    ]
    for name, args in calls:
        r = await run(name, **args)
        assert r.status == "not_found", (name, r.status, r.summary)
    r = await run("delete_record", _confirmed=True, entity="lead", record=lid)
    assert r.status == "not_found"
    assert (await run("search_records", entity="lead", query="Secret")).data["count"] == 0
    # a member of another organization is no assignee here
    mine_lead = await lead(client, mine, "Mine Lead")
    r = await run("assign_record", entity="lead", record=mine_lead["id"], assignee=theirs.user_id)
    assert (r.status, r.field) == ("invalid", "assignee")
    await get(client, theirs, f"/api/v1/leads/{lid}")  # untouched
    assert (await get(client, theirs, f"/api/v1/leads/{lid}"))["version"] == 1


async def test_bad_arguments_name_the_field(client: httpx.AsyncClient, db: Database) -> None:
    _, run = await org(client, db)
    cases = [
        ("create_lead", {}, "name"),
        ("create_lead", {"name": "A", "value": -1}, "value"),
        ("create_lead", {"name": "A", "colour": "red"}, "colour"),
        ("create_lead", {"name": "A", "email": "not-an-email"}, "email"),
        ("create_lead", {"name": "A", "status": "Nonexistent Column"}, None),
        ("search_records", {"entity": "lead", "limit": 100}, "limit"),
        ("search_records", {"entity": "tickets"}, "entity"),
        ("create_contact", {"name": "A", "status": "vip"}, "status"),
        ("analytics", {"metric": "revenue_per_cat"}, "metric"),
        ("analytics", {"metric": "deals_won", "period": "next_decade"}, "period"),
        ("start_follow_up_sequence", {"entity": "lead", "record": 1, "steps": [3, 1]}, "steps"),
        (
            "schedule_meeting",
            {"entity": "lead", "record": 1, "start": "x", "duration_minutes": 0},
            "duration_minutes",
        ),
    ]
    for name, args, field in cases:
        r = await run(name, **args)
        if field is None:
            assert r.status in ("not_found", "clarify"), (name, args, r.status)
            continue
        assert (r.status, r.field) == ("invalid", field), (name, args, r.status, r.summary)
        assert field in r.summary
    r = await run("no_such_tool")
    assert r.status == "unsupported"


async def test_ambiguous_names_ask_which_one(client: httpx.AsyncClient, db: Database) -> None:
    _, run = await org(client, db)
    acc = run.acc
    a = await lead(client, acc, "John Smith", company="Acme")
    b = await lead(client, acc, "John Smith", company="Globex")
    r = await run("update_lead_status", lead="John Smith", status="contacted")
    assert r.status == "clarify"
    assert r.field == "lead"
    assert "Which lead do you mean by 'John Smith'" in r.question
    assert {o.args["lead"] for o in r.options} == {a["id"], b["id"]}
    assert all(o.args["status"] == "contacted" for o in r.options)
    assert {o.label for o in r.options} == {"John Smith (Acme)", "John Smith (Globex)"}
    # nothing moved while asking
    assert (await get(client, acc, f"/api/v1/leads/{a['id']}"))["status"] == "New"
    # answering with an option's arguments does it
    pick = next(o for o in r.options if o.args["lead"] == b["id"])
    r = await run("update_lead_status", **pick.args)
    assert r.status == "ok"
    assert (await get(client, acc, f"/api/v1/leads/{b['id']}"))["status"] == "Contacted"
    assert (await get(client, acc, f"/api/v1/leads/{a['id']}"))["status"] == "New"


CATALOGUE = {
    "search_records": ({"entity", "query", "status", "owner", "tag", "limit"}, "records:read"),
    "get_record": ({"entity", "record"}, "records:read"),
    "create_lead": (
        {"name", "company", "email", "phone", "value", "source", "status", "notes", "assignee"},
        "records:write",
    ),
    "create_contact": ({"name", "email", "phone", "company", "title", "status"}, "records:write"),
    "create_task": (
        {"title", "due", "priority", "assignee", "related_entity", "related", "description"},
        "records:write",
    ),
    "log_activity": (
        {"type", "entity", "record", "subject", "body", "at", "direction"},
        "records:write",
    ),
    "update_lead_status": ({"lead", "status"}, "records:write"),
    "update_record": ({"entity", "record", "fields"}, "records:write"),
    "move_deal_stage": ({"deal", "stage", "lost_reason"}, "records:write"),
    "delete_record": ({"entity", "record"}, "records:delete"),
    "assign_record": ({"entity", "record", "assignee"}, "records:write"),
    "schedule_meeting": (
        {"entity", "record", "start", "duration_minutes", "title", "attendee"},
        "records:write",
    ),
    "start_follow_up_sequence": ({"entity", "record", "steps", "channel"}, "records:write"),
    "get_customer_insights": ({"contact"}, "records:read"),
    "summarize_history": ({"entity", "record", "limit"}, "records:read"),
    "analytics": ({"metric", "period", "days", "owner", "limit"}, "records:read"),
}


def test_the_catalogue_is_the_contract() -> None:
    import json

    from aicrm.assistant import tools
    from aicrm.kit.principal import ROLE_PERMISSIONS, Principal, Role

    registry = tools.load()
    assert set(registry) == set(CATALOGUE)
    for name, (args, permission) in CATALOGUE.items():
        spec = registry[name]
        assert set(spec.args.model_fields) == args, name
        assert spec.permission.value == permission, name
        assert spec.mutating == (permission != "records:read"), name
        assert spec.destructive == (name == "delete_record"), name
    # plain JSON schema (no $ref) that small local models handle too
    text = json.dumps(tools.schemas())
    assert "$ref" not in text and "$defs" not in text
    viewer = Principal(1, Role.viewer, 1, permissions=ROLE_PERMISSIONS[Role.viewer])
    offered = {s["function"]["name"] for s in tools.schemas(viewer)}
    assert offered == {n for n, (_, p) in CATALOGUE.items() if p == "records:read"}


async def test_a_weak_match_is_a_did_you_mean(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    p = await lead(client, acc, "Priscilla Quartermaine")
    r = await run("get_record", entity="lead", record="Priscilla Waterman")
    assert r.status == "clarify"
    assert r.question == (
        "No lead is called 'Priscilla Waterman'; did you mean Priscilla Quartermaine?"
    )
    assert [o.args for o in r.options] == [{"entity": "lead", "record": p["id"]}]


async def test_odd_values_are_invalid_not_errors(client: httpx.AsyncClient, db: Database) -> None:
    """A model may send anything: dates past the calendar's edge, a number where a member is
    meant. Each is an `invalid` naming the argument, and nothing is written."""
    acc, run = await org(client, db, timezone="Asia/Tokyo")
    x = await lead(client, acc, "Odd Values", value=100)
    for due in ("0001-01-01", "9999-12-31T23:30-05:00", "in 99999999999 days"):
        r = await run("create_task", title="Edge of time", due=due)
        assert (r.status, r.field) == ("invalid", "due"), (due, r.summary)
    for ref in (3.5, ["x"], True):
        r = await run("update_record", entity="lead", record=x["id"], fields={"assignee": ref})
        assert r.status == "invalid", (ref, r.summary)
    stored = await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert stored["assignee_id"] is None and stored["version"] == x["version"]
    assert [
        t for t in await items(client, acc, "/api/v1/tasks") if t["title"] == "Edge of time"
    ] == []
