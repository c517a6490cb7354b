"""Bookings (a meeting + a task, clash detection with the next free slots) and follow-up
sequences (a chain of tasks that stops when the contact replies)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from aicrm.assistant.toolset.schedule import Busy, free_slots, stop_on_reply
from aicrm.db import Database
from tests.assistant_tools.common import activity, as_member, contact, get, items, lead, org

# Monday 7 January 2030, 09:00 in New York
NOW = datetime(2030, 1, 7, 14, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


async def test_schedule_meeting_books_a_meeting_and_a_task(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db, timezone="America/New_York")
    run.now = NOW
    ada = await lead(client, acc, "Ada Lovelace", company="Analytical Engines")
    r = await run(
        "schedule_meeting",
        entity="lead",
        record="ada lovelace",
        start="2030-01-08T10:00",
        duration_minutes=60,
        title="Demo",
    )
    assert r.status == "ok", r.summary
    assert r.summary == (
        f"Booked “Demo” with lead Ada Lovelace (Analytical Engines, #{ada['id']}) for you, "
        "Tue 8 Jan 2030 10:00–11:00 (America/New_York); a task reminds you."
    )
    timeline = await items(client, acc, f"/api/v1/leads/{ada['id']}/timeline")
    assert [(a["type"], a["subject"], a["duration_minutes"], a["user_id"]) for a in timeline] == [
        ("meeting", "Demo", 60, acc.user_id)
    ]
    assert timeline[0]["occurred_at"].startswith("2030-01-08T15:00:00")
    t = await get(client, acc, f"/api/v1/tasks/{r.data['task_id']}")
    assert (t["title"], t["assignee_id"], t["lead_id"]) == ("Meeting: Demo", acc.user_id, ada["id"])
    assert t["due_at"].startswith("2030-01-08T15:00:00")
    # a planned meeting is not a contact yet
    assert (await get(client, acc, f"/api/v1/leads/{ada['id']}"))["last_contacted_at"] is None
    scheduled = [a for a in r.actions if a.undoable]
    assert [a.op for a in scheduled] == ["scheduled"]
    assert scheduled[0].after == {"activity_id": timeline[0]["id"], "task_id": t["id"]}


async def test_a_clash_offers_the_next_free_slots(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db, timezone="America/New_York")
    run.now = NOW
    agent, _ = await as_member(client, db, acc, "agent")
    ada = await lead(client, acc, "Ada Byron")
    bob = await contact(client, acc, "Bob Babbage")
    first = await run(
        "schedule_meeting",
        entity="lead",
        record=ada["id"],
        start="2030-01-08T10:00",
        duration_minutes=60,
        title="Demo",
    )
    assert first.status == "ok"
    r = await run(
        "schedule_meeting", entity="contact", record="Bob Babbage", start="2030-01-08T10:30"
    )
    assert (r.status, r.field) == ("clarify", "start")
    assert r.question == (
        "You have “Demo” Tue 8 Jan 2030 10:00–11:00 at that time. The next free slots: "
        "Tue 8 Jan 11:00; Tue 8 Jan 11:30; Tue 8 Jan 12:00. Which one?"
    )
    assert [o.args["start"] for o in r.options] == [
        "2030-01-08T11:00",
        "2030-01-08T11:30",
        "2030-01-08T12:00",
    ]
    assert r.options[0].args["record"] == "Bob Babbage" and r.options[0].args["entity"] == "contact"
    assert r.data["conflicts"][0]["subject"] == "Demo"
    assert await items(client, acc, f"/api/v1/contacts/{bob['id']}/timeline") == []
    ok = await run("schedule_meeting", **r.options[0].args)
    assert ok.status == "ok", ok.summary
    # the same time is free for another attendee
    other = await run(
        "schedule_meeting",
        entity="contact",
        record=bob["id"],
        start="2030-01-08T10:30",
        attendee="Agent User",
    )
    assert other.status == "ok" and "for Agent User" in other.summary
    assert (await get(client, acc, f"/api/v1/tasks/{other.data['task_id']}"))[
        "assignee_id"
    ] == agent.user_id
    # late on a Friday: the next slots are on Monday morning
    late = await run(
        "schedule_meeting",
        entity="lead",
        record=ada["id"],
        start="2030-01-11T17:00",
        duration_minutes=60,
        title="Late",
    )
    assert late.status == "ok"
    r = await run("schedule_meeting", entity="lead", record=ada["id"], start="2030-01-11T17:30")
    assert [o.args["start"] for o in r.options] == [
        "2030-01-14T09:00",
        "2030-01-14T09:30",
        "2030-01-14T10:00",
    ]


async def test_booking_needs_a_time_in_the_future(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db, timezone="America/New_York")
    run.now = NOW
    await lead(client, acc, "Tim Berners")
    r = await run("schedule_meeting", entity="lead", record="Tim Berners", start="2030-01-09")
    assert (r.status, r.field) == ("clarify", "start")
    assert r.question == "At what time on Wed 9 Jan 2030? Free then: 09:00, 09:30, 10:00, 10:30."
    assert r.options[0].args["start"] == "2030-01-09T09:00"
    booked = await run("schedule_meeting", **r.options[0].args)
    assert booked.status == "ok"
    r = await run("schedule_meeting", entity="lead", record="Tim Berners", start="2030-01-09")
    assert [o.args["start"][11:] for o in r.options] == ["09:30", "10:00", "10:30", "11:00"]
    r = await run("schedule_meeting", entity="lead", record="Tim Berners", start="2030-01-04T10:00")
    assert (r.status, r.field) == ("invalid", "start")
    assert "in the past" in r.summary


def test_free_slots_skip_busy_times_evenings_and_weekends() -> None:
    taken = [
        Busy(
            datetime(2030, 1, 8, 14, 0, tzinfo=UTC), datetime(2030, 1, 8, 16, 0, tzinfo=UTC), "", 1
        )
    ]
    slots = free_slots(
        taken, datetime(2030, 1, 8, 13, 40, tzinfo=UTC), timedelta(minutes=30), NY, NOW
    )
    # 08:40 New York rounds up to 09:00; 09:00–11:00 is busy
    assert [s.astimezone(NY).strftime("%a %H:%M") for s in slots] == [
        "Tue 11:00",
        "Tue 11:30",
        "Tue 12:00",
    ]
    friday = datetime(2030, 1, 11, 22, 50, tzinfo=UTC)  # 17:50 Friday
    slots = free_slots([], friday, timedelta(minutes=60), NY, NOW, count=1)
    assert slots[0].astimezone(NY).strftime("%a %d %H:%M") == "Mon 14 09:00"


async def test_follow_up_sequence_stops_when_the_contact_replies(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    agent, _ = await as_member(client, db, acc, "agent")
    carla = await contact(
        client, acc, "Carla Reply", email="carla@example.com", owner_id=agent.user_id
    )
    r = await run("start_follow_up_sequence", entity="contact", record="carla reply")
    assert r.status == "ok", r.summary
    ids = r.data["task_ids"]
    assert len(ids) == 3 and r.data["channel"] == "email"
    tasks = [await get(client, acc, f"/api/v1/tasks/{i}") for i in ids]
    assert [t["title"] for t in tasks] == [
        "Follow-up 1/3: email Carla Reply",
        "Follow-up 2/3: email Carla Reply",
        "Follow-up 3/3: email Carla Reply",
    ]
    assert all(t["assignee_id"] == agent.user_id and t["contact_id"] == carla["id"] for t in tasks)
    assert [t["blocked_by"] for t in tasks] == [[], [ids[0]], [ids[1]]]
    created = datetime.fromisoformat(tasks[0]["created_at"])
    for t, days in zip(tasks, (1, 3, 7), strict=True):
        due = datetime.fromisoformat(t["due_at"])
        assert abs(due - created - timedelta(days=days)) < timedelta(minutes=1)
    assert "it stops when Carla Reply replies" in r.summary
    again = await run("start_follow_up_sequence", entity="contact", record=carla["id"])
    assert (again.status, again.field) == ("invalid", "record")

    # an outbound email is no reply
    out = await activity(client, acc, "email", contact_id=carla["id"], direction="outbound")
    session = await db.session(write=True)
    try:
        assert await stop_on_reply(session, acc.organization_id, out["id"]) == []
        await session.commit()
    finally:
        await session.close()
    # an inbound email is: the event consumer cancels the sequence's unfinished tasks
    await activity(
        client, acc, "email", contact_id=carla["id"], direction="inbound", subject="Re: hi"
    )
    for _ in range(150):
        left = await items(client, acc, "/api/v1/tasks", contact_id=carla["id"])
        if not left:
            break
        await asyncio.sleep(0.1)
    assert left == []
    timeline = await items(client, acc, f"/api/v1/contacts/{carla['id']}/timeline")
    assert timeline[0]["subject"] == "Follow-up sequence stopped"
    assert "3 unfinished follow-up tasks were cancelled" in timeline[0]["body"]


async def test_a_lead_sequence_stops_on_a_reply_to_its_contact(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    dan = await contact(client, acc, "Dan Contact", phone="+12025550143", preferred_channel="phone")
    l1 = await lead(client, acc, "Dan's lead", phone="+12025550143", contact_id=dan["id"])
    r = await run("start_follow_up_sequence", entity="lead", record=l1["id"], steps=[2, 5])
    assert r.status == "ok" and r.data["channel"] == "call"
    r2 = await run("start_follow_up_sequence", entity="contact", record=dan["id"], steps=[1])
    assert r2.data["channel"] == "call"
    # the reply is logged on the contact: the lead's sequence stops too (the event consumer)
    await activity(client, acc, "call", contact_id=dan["id"], direction="inbound")
    for _ in range(150):
        left = await items(client, acc, "/api/v1/tasks", category="follow-up sequence")
        if not left:
            break
        await asyncio.sleep(0.1)
    assert left == []
    for task_id in r.data["task_ids"] + r2.data["task_ids"]:
        await get(client, acc, f"/api/v1/tasks/{task_id}", status=404)
    notes = await items(client, acc, f"/api/v1/leads/{l1['id']}/timeline")
    assert [n["subject"] for n in notes] == ["Follow-up sequence stopped"]
    assert "2 unfinished follow-up tasks were cancelled" in notes[0]["body"]
    notes = await items(client, acc, f"/api/v1/contacts/{dan['id']}/timeline", type="note")
    assert [n["subject"] for n in notes] == ["Follow-up sequence stopped"]
    assert "1 unfinished follow-up task was cancelled" in notes[0]["body"]
