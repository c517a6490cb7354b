"""Analytics answers checked against data the test made: periods in the organization's time
zone (New York here, so a deal closed at 03:00 UTC on 1 December counts in November)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from aicrm.assistant.toolset.analytics import window
from aicrm.db import Database
from aicrm.models import Lead
from tests.assistant_tools.common import (
    activity,
    as_member,
    deal,
    lead,
    org,
    set_closed_at,
    set_created_at,
    task,
)

NOW = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)  # Thu 10 Dec 2026, 10:00 in New York
NY = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_periods_are_calendar_periods_in_the_zone() -> None:
    w = window("last_month", NOW, NY)
    assert (w.start, w.end, w.label) == (
        utc("2026-11-01T04:00"),
        utc("2026-12-01T05:00"),
        "last month (November 2026)",
    )
    w = window("this_week", NOW, NY)
    assert (w.start, w.end) == (utc("2026-12-07T05:00"), utc("2026-12-14T05:00"))
    assert w.label == "this week (7 Dec–13 Dec 2026)"
    w = window("last_quarter", NOW, NY)
    assert (w.first_day.isoformat(), w.last_day.isoformat(), w.label) == (  # type: ignore[union-attr]
        "2026-07-01",
        "2026-09-30",
        "last quarter (Q3 2026)",
    )
    w = window("last_7_days", NOW, NY)
    assert (w.start, w.end) == (utc("2026-12-03T15:00"), NOW)
    assert window("today", NOW, NY).start == utc("2026-12-10T05:00")
    assert window("this_year", NOW, NY).end == utc("2027-01-01T05:00")
    assert window("all_time", NOW, NY).start is None
    # ahead, for what is expected to close
    w = window("next_quarter", NOW, NY)
    assert (w.first_day.isoformat(), w.last_day.isoformat(), w.label) == (  # type: ignore[union-attr]
        "2027-01-01",
        "2027-03-31",
        "next quarter (Q1 2027)",
    )
    assert window("next_month", NOW, NY).label == "next month (January 2027)"
    assert window("next_week", NOW, NY).start == utc("2026-12-14T05:00")


async def test_analytics_numbers(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db, timezone="America/New_York")
    run.now = NOW
    agent, _ = await as_member(client, db, acc, "agent")

    won = {
        "W1": (100000, "2026-11-05T12:00", {}),
        "W2": (82400, "2026-11-30T23:30", {"owner_id": agent.user_id}),
        "W3": (50000, "2026-12-01T03:00", {}),  # 30 Nov 22:00 in New York
        "W4": (10000, "2026-11-01T03:00", {}),  # 31 Oct 23:00 in New York
        "W5": (7000, "2026-12-02T15:00", {}),
        "W6": (5000, "2026-11-10T12:00", {"currency": "EUR"}),
    }
    closed: dict[int, datetime] = {}
    for name, (amount, at, extra) in won.items():
        row = await deal(client, acc, name, amount=amount, stage="Closed Won", **extra)
        closed[row["id"]] = utc(at)
    for name, amount, reason in (
        ("L1", 3000, "Price"),
        ("L2", 2000, "Price"),
        ("L3", 1000, "Timing"),
    ):
        row = await deal(
            client, acc, name, amount=amount, stage="Closed Lost", won_lost_reason=reason
        )
        closed[row["id"]] = utc("2026-11-15T12:00")
    await set_closed_at(db, closed)
    await deal(client, acc, "O1", amount=10000, stage="Proposal", expected_close_date="2026-12-20")
    await deal(
        client, acc, "O2", amount=20000, stage="Negotiation", expected_close_date="2027-02-01"
    )
    await deal(client, acc, "O3", amount=5000, stage="Prospecting")

    r = await run("analytics", metric="deals_won", period="last_month")
    assert r.status == "ok", r.summary
    assert r.summary == "You won 4 deals last month (November 2026) for $232,400 (plus €5,000)."
    assert (r.data["count"], r.data["amount"], r.data["other_currencies"]) == (
        4,
        232400.0,
        {"EUR": 5000.0},
    )
    assert r.data["period"]["start"] == "2026-11-01T04:00:00+00:00"
    r = await run("analytics", metric="deals_won", period="last_month", owner="Agent User")
    assert r.summary == "Agent User won 1 deal last month (November 2026) for $82,400."
    r = await run("analytics", metric="deals_won")  # this month by default
    assert (r.data["count"], r.data["amount"]) == (1, 7000.0)

    r = await run("analytics", metric="deals_lost", period="last_month")
    assert r.summary == (
        "You lost 3 deals last month (November 2026) worth $6,000; top reasons: Price (2), "
        "Timing (1)."
    )

    r = await run("analytics", metric="pipeline_value")
    assert (r.data["count"], r.data["amount"], r.data["weighted_amount"]) == (3, 35000.0, 20500.0)
    assert r.summary == (
        "Your open pipeline is 3 deals worth $35,000 ($20,500 weighted by stage probability)."
    )
    r = await run("analytics", metric="pipeline_value", period="this_quarter")
    assert (r.data["count"], r.data["amount"], r.data["weighted_amount"]) == (1, 10000.0, 5000.0)
    assert r.data["without_close_date"] == 1
    r = await run("analytics", metric="top_deals", period="next_quarter")
    assert [d["name"] for d in r.data["deals"]] == ["O2"]
    assert r.summary.startswith("Open deals expected to close next quarter (Q1 2027)")
    assert "closes 1 Feb" in r.summary
    r = await run("analytics", metric="top_deals", limit=2)
    assert [d["name"] for d in r.data["deals"]] == ["O2", "O1"]
    r = await run("analytics", metric="deals_by_stage")
    stages = {s["stage"]: (s["count"], s["amount"]) for s in r.data["stages"]}
    assert stages["Closed Won"] == (6, 254400.0) and stages["Closed Lost"] == (3, 6000.0)
    assert stages["Proposal"] == (1, 10000.0) and stages["Qualification"] == (0, 0.0)

    # leads: creation dates moved back, contacts logged as activities
    leads = {}
    for name, status, source in (
        ("N1", "Won", "web"),
        ("N2", None, "referral"),
        ("N3", None, "web"),
        ("S1", None, None),
        ("S2", None, None),
        ("S3", None, None),
        ("Old won", "Won", None),
    ):
        body = {"source": source} if source else {}
        if status:
            body["status"] = status
        leads[name] = (await lead(client, acc, name, value=1000, **body))["id"]
    await set_created_at(db, Lead, [leads["N1"], leads["N2"]], utc("2026-12-03T12:00"))
    await set_created_at(db, Lead, [leads["N3"]], utc("2026-11-30T23:00"))  # 18:00 on 30 Nov
    await set_created_at(db, Lead, [leads["S1"], leads["S3"]], utc("2026-10-15T12:00"))
    await set_created_at(db, Lead, [leads["S2"], leads["Old won"]], utc("2026-09-01T12:00"))
    await activity(client, acc, "call", lead_id=leads["S1"], occurred_at="2026-11-20T10:00:00Z")
    await activity(client, acc, "email", lead_id=leads["S3"], occurred_at="2026-12-05T10:00:00Z")

    r = await run("analytics", metric="new_leads")
    assert (r.data["count"], r.data["value"]) == (2, 2000.0)
    assert (
        r.summary
        == "2 new leads this month (December 2026), worth $2,000; by source: referral 1, web 1."
    )
    r = await run("analytics", metric="new_leads", period="last_month")
    assert r.data["count"] == 1
    r = await run("analytics", metric="leads_by_status")
    counts = {s["status"]: s["count"] for s in r.data["statuses"]}
    assert counts == {"New": 5, "Contacted": 0, "Qualified": 0, "Proposal": 0, "Won": 2, "Lost": 0}

    r = await run("analytics", metric="stale_leads", days=14)
    assert r.data["count"] == 2
    assert [x["name"] for x in r.data["leads"]] == ["S2", "S1"]
    assert r.summary == (
        f"2 open leads had no contact in the last 14 days: S2 (#{leads['S2']}), never contacted "
        f"(added 1 Sep 2026); S1 (#{leads['S1']}), last contact 20 Nov 2026."
    )
    r = await run("analytics", metric="stale_leads", days=60)
    assert r.data["count"] == 1  # only S2: S1 was called 20 days ago

    r = await run("analytics", metric="conversion_rate", period="this_quarter")
    assert (r.data["leads"], r.data["converted"], r.data["lead_conversion_rate"]) == (5, 1, 0.2)
    assert (r.data["deals_won"], r.data["deals_lost"]) == (6, 3)
    assert r.data["win_rate"] == round(6 / 9, 4)

    await task(client, acc, "T1", due_at="2026-12-01T15:00:00Z")
    await task(client, acc, "T2", due_at="2026-12-09T15:00:00Z", status="done")
    await task(client, acc, "T3", due_at="2026-12-20T15:00:00Z")
    await task(client, acc, "T4", due_at="2026-12-10T14:00:00Z", assignee_id=agent.user_id)
    r = await run("analytics", metric="overdue_tasks")
    assert r.data["count"] == 2
    assert [t["title"] for t in r.data["tasks"]] == ["T1", "T4"]
    r = await run("analytics", metric="overdue_tasks", owner=agent.user_id)
    assert [t["title"] for t in r.data["tasks"]] == ["T4"]
    assert r.summary.startswith("1 overdue task of Agent User: T4 (#")

    r = await run("analytics", metric="forecast")
    assert r.status == "ok", r.summary
    # won so far this quarter in dollars: W1–W5
    assert r.data["won"] == 249400.0
    assert r.data["forecast"] == round(
        r.data["won"] + r.data["expected"] + r.data["new_business"], 2
    )
    r = await run("analytics", metric="forecast", period="last_month")
    assert (r.status, r.field) == ("invalid", "period")


async def test_analytics_stay_in_the_organization(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db, "Quiet Org")
    other, _ = await org(client, db, "Busy Org")
    await deal(client, other, "Their win", amount=99999, stage="Closed Won")
    await lead(client, other, "Their lead")
    r = await run("analytics", metric="deals_won", period="all_time")
    assert (r.data["count"], r.summary) == (0, "You won no deals all time.")
    r = await run("analytics", metric="leads_by_status")
    assert r.data["total"] == 0
    r = await run("analytics", metric="deals_won", owner=other.user_id)
    assert (r.status, r.field) == ("invalid", "owner")
