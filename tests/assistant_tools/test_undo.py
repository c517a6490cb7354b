"""Undo of every kind of action, through the services: created, updated, moved, assigned,
scheduled, deleted (restored from the snapshot with its timeline and links)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from aicrm.assistant.tools import Action
from aicrm.db import Database
from tests.assistant_tools.common import (
    activity,
    as_member,
    company,
    contact,
    create,
    deal,
    get,
    items,
    lead,
    org,
    task,
    undoable,
)


async def test_undo_a_creation(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    _, agent = await as_member(client, db, acc, "agent")
    r = await agent("create_lead", name="Oops Lead")
    action = undoable(r)
    # an agent may take back its own creation, though it may not delete records
    u = await agent.undo(action)
    assert u.status == "ok", u.summary
    assert (
        u.summary
        == f"Undone: deleted lead Oops Lead (#{action.entity_id}), which had just been created."
    )
    await get(client, acc, f"/api/v1/leads/{action.entity_id}", status=404)
    assert (await agent.undo(action)).status == "not_found"
    # a record edited after its creation is not deleted by an undo
    r = await run("create_contact", name="Kept Contact")
    action = undoable(r)
    patched = await client.patch(
        f"/api/v1/contacts/{action.entity_id}", json={"title": "CEO"}, headers=acc.headers
    )
    assert patched.status_code == 200
    u = await run.undo(action)
    assert u.status == "invalid" and "changed after it was created" in u.summary
    await get(client, acc, f"/api/v1/contacts/{action.entity_id}")
    # activities and tasks
    x = await lead(client, acc, "Lena Log")
    r = await run("log_activity", type="note", entity="lead", record=x["id"], body="hello")
    assert (await run.undo(undoable(r))).status == "ok"
    assert await items(client, acc, f"/api/v1/leads/{x['id']}/timeline") == []
    r = await run("create_task", title="Temp task")
    assert (await run.undo(undoable(r))).status == "ok"
    await get(client, acc, f"/api/v1/tasks/{r.data['id']}", status=404)


async def test_undo_updates_moves_and_assignments(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    other = await lead(client, acc, "Other in New")
    x = await lead(client, acc, "Umar Undo", value=100, email="umar@example.com")
    assert x["card_order"] == 1

    r = await run(
        "update_record", entity="lead", record=x["id"], fields={"value": 900, "email": ""}
    )
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    stored = await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert (stored["value"], stored["email"]) == (100, "umar@example.com")
    assert u.summary == (
        f"Undone: lead Umar Undo (#{x['id']}): value back to $100; email back to umar@example.com."
    )

    r = await run("update_lead_status", lead=x["id"], status="Proposal")
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    stored = await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert (stored["status"], stored["card_order"]) == ("New", 1)  # its old place in the column
    assert (await get(client, acc, f"/api/v1/leads/{other['id']}"))["card_order"] == 0

    r = await run("assign_record", entity="lead", record=x["id"], assignee="Agent User")
    assert (await run.undo(undoable(r))).status == "ok"
    assert (await get(client, acc, f"/api/v1/leads/{x['id']}"))["assignee_id"] is None

    d = await deal(client, acc, "Undo deal", amount=500, stage="Proposal")
    r = await run("move_deal_stage", deal=d["id"], stage="Closed Lost", lost_reason="Went dark")
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    stored = await get(client, acc, f"/api/v1/deals/{d['id']}")
    assert (stored["stage"], stored["status"], stored["won_lost_reason"], stored["closed_at"]) == (
        "Proposal",
        "open",
        None,
        None,
    )

    # an undo never overwrites a newer change
    r = await run("update_record", entity="lead", record=x["id"], fields={"value": 300})
    patched = await client.patch(
        f"/api/v1/leads/{x['id']}", json={"value": 301}, headers=acc.headers
    )
    assert patched.status_code == 200
    u = await run.undo(undoable(r))
    assert u.status == "invalid" and "changed again since (value)" in u.summary
    assert (await get(client, acc, f"/api/v1/leads/{x['id']}"))["value"] == 301
    _ = agent


async def test_undo_a_delete_restores_timeline_tags_and_links(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    person = await contact(client, acc, "Paula Person")
    x = await lead(
        client,
        acc,
        "Derek Deleted",
        company="Gone Inc",
        value=4200,
        status="Qualified",
        tags=["vip"],
    )
    await activity(
        client, acc, "note", lead_id=x["id"], body="First note", occurred_at="2026-01-02T10:00:00Z"
    )
    await activity(
        client,
        acc,
        "call",
        lead_id=x["id"],
        contact_id=person["id"],
        subject="Joint call",
        direction="outbound",
        occurred_at="2026-01-03T10:00:00Z",
    )
    t = await task(client, acc, "Linked task", lead_id=x["id"])
    d = await deal(client, acc, "Linked deal", amount=1, lead_id=x["id"])

    r = await run("delete_record", _confirmed=True, entity="lead", record=x["id"])
    assert r.status == "ok"
    assert await items(client, acc, f"/api/v1/contacts/{person['id']}/timeline") == []
    assert (await get(client, acc, f"/api/v1/tasks/{t['id']}"))["lead_id"] is None

    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    new_id = u.data["id"]
    assert u.data["previous_id"] == x["id"]
    # SQLite may give the freed id again; PostgreSQL never does
    renamed = "" if new_id == x["id"] else f" under a new id (it was #{x['id']})"
    assert u.summary == (
        f"Undone: restored lead Derek Deleted (Gone Inc, #{new_id}){renamed}, with 2 "
        "activities, the links of 1 task, the links of 1 deal."
    )
    stored = await get(client, acc, f"/api/v1/leads/{new_id}")
    assert (stored["status"], stored["value"], stored["tags"], stored["company"]) == (
        "Qualified",
        4200,
        ["vip"],
        "Gone Inc",
    )
    timeline = await items(client, acc, f"/api/v1/leads/{new_id}/timeline")
    assert [(a["type"], a["occurred_at"][:10]) for a in timeline] == [
        ("call", "2026-01-03"),
        ("note", "2026-01-02"),
    ]
    # the call was on the contact's timeline too, and is back there
    assert [
        a["subject"] for a in await items(client, acc, f"/api/v1/contacts/{person['id']}/timeline")
    ] == ["Joint call"]
    assert (await get(client, acc, f"/api/v1/tasks/{t['id']}"))["lead_id"] == new_id
    assert (await get(client, acc, f"/api/v1/deals/{d['id']}"))["lead_id"] == new_id


async def test_undo_deletes_of_other_records(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    co = await company(client, acc, "Phoenix Ltd", industry="Energy")
    cc = await contact(client, acc, "Carl Company", company_id=co["id"])
    r = await run("delete_record", _confirmed=True, entity="company", record="Phoenix Ltd")
    assert (await get(client, acc, f"/api/v1/contacts/{cc['id']}"))["company_id"] is None
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    assert (await get(client, acc, f"/api/v1/companies/{u.data['id']}"))["industry"] == "Energy"
    assert (await get(client, acc, f"/api/v1/contacts/{cc['id']}"))["company_id"] == u.data["id"]

    d = await deal(
        client, acc, "Dropped deal", amount=777, stage="Closed Lost", won_lost_reason="No fit"
    )
    r = await run("delete_record", _confirmed=True, entity="deal", record=d["id"])
    u = await run.undo(undoable(r))
    stored = await get(client, acc, f"/api/v1/deals/{u.data['id']}")
    assert (stored["amount"], stored["stage"], stored["won_lost_reason"]) == (
        777,
        "Closed Lost",
        "No fit",
    )

    first = await task(client, acc, "Step one")
    second = await task(client, acc, "Step two")
    third = await task(client, acc, "Step three")
    for waiting, blocker in ((second, first), (third, second)):
        await create(
            client,
            acc,
            f"/api/v1/tasks/{waiting['id']}/dependencies",
            {"blocked_by_id": blocker["id"]},
        )
    await create(client, acc, f"/api/v1/tasks/{second['id']}/comments", {"body": "Halfway there"})
    r = await run("delete_record", _confirmed=True, entity="task", record="Step two")
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    restored = await get(client, acc, f"/api/v1/tasks/{u.data['id']}")
    assert (restored["blocked_by"], restored["blocks"]) == ([first["id"]], [third["id"]])
    comments = await items(client, acc, f"/api/v1/tasks/{u.data['id']}/comments")
    assert [c["body"] for c in comments] == ["Halfway there"]
    assert "2 dependencies, 1 comments (now posted by you)" in u.summary


async def test_undo_bookings_and_sequences(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    x = await lead(client, acc, "Betty Booking")
    r = await run("schedule_meeting", entity="lead", record=x["id"], start="2031-03-04T10:00")
    assert r.status == "ok", r.summary
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    assert await items(client, acc, f"/api/v1/leads/{x['id']}/timeline") == []
    await get(client, acc, f"/api/v1/tasks/{r.data['task_id']}", status=404)

    r = await run("start_follow_up_sequence", entity="lead", record=x["id"], steps=[1, 2])
    first, second = r.data["task_ids"]
    done = await client.patch(
        f"/api/v1/tasks/{first}", json={"status": "done"}, headers=acc.headers
    )
    assert done.status_code == 200
    u = await run.undo(undoable(r))
    assert u.status == "ok", u.summary
    assert f"kept task #{first} (already done)" in u.summary
    await get(client, acc, f"/api/v1/tasks/{second}", status=404)
    await get(client, acc, f"/api/v1/tasks/{first}")


async def test_what_cannot_be_undone(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    _, viewer = await as_member(client, db, acc, "viewer")
    x = await lead(client, acc, "Vera Viewer")
    read = await run("get_record", entity="lead", record=x["id"])
    assert (await run.undo(read.actions[0])).status == "unsupported"
    r = await run("update_record", entity="lead", record=x["id"], fields={"value": 5})
    u = await viewer.undo(undoable(r))
    assert u.status == "denied"
    assert (await get(client, acc, f"/api/v1/leads/{x['id']}"))["value"] == 5
    # another organization's record: not found, untouched
    theirs, other = await org(client, db, "Elsewhere")
    forged = Action("updated", "lead", x["id"], "Lead", before={"value": 0}, after={"value": 5})
    assert (await other.undo(forged)).status == "not_found"
    forged = Action("created", "lead", x["id"], "Lead", after={"version": 2})
    assert (await other.undo(forged)).status == "not_found"
    await get(client, acc, f"/api/v1/leads/{x['id']}")
    _ = (theirs, datetime.now(UTC))
