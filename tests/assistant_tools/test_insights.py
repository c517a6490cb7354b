"""A customer's AI insights and a facts-only summary of a record's history."""

from __future__ import annotations

import httpx

from aicrm.ai.providers.offline import sentences
from aicrm.db import Database
from tests.assistant_tools.common import activity, contact, deal, get, lead, org


async def test_customer_insights_are_the_apis(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    c1 = await contact(client, acc, "Ines Insight", status="customer", email="ines@example.com")
    for amount in (1200, 800):
        await deal(
            client, acc, f"Order {amount}", amount=amount, contact_id=c1["id"], stage="Closed Won"
        )
    await activity(client, acc, "email", contact_id=c1["id"], direction="inbound", subject="Thanks")
    r = await run("get_customer_insights", contact="ines insight")
    assert r.status == "ok", r.summary
    api = await get(client, acc, f"/api/v1/contacts/{c1['id']}/insights")
    assert r.data["customer_id"] == c1["id"]
    for part in ("churn_risk", "lifetime_value", "next_best_action"):
        assert r.data[part]["value"] == api[part]["value"], part
        assert r.data[part]["insight_id"] == api[part]["insight_id"], part
    assert r.summary.startswith(f"Contact Ines Insight (#{c1['id']}): churn risk ")
    assert "(won so far $2,000)" in r.summary
    assert r.actions[0].link == f"/contacts/{c1['id']}"


async def test_summarize_history_is_facts_from_the_timeline(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    x = await lead(client, acc, "Hank History", company="Hooli")
    bodies = [
        (
            "note",
            None,
            "Met Hank at the Denver trade show. He runs procurement for Hooli.",
            "2026-01-05T10:00:00Z",
        ),
        (
            "email",
            "outbound",
            "Sent the pricing sheet. Asked about their budget for next year.",
            "2026-02-10T10:00:00Z",
        ),
        (
            "call",
            "inbound",
            "Hank called back. Budget is approved for 40 seats. Wants a demo in March.",
            "2026-02-20T15:00:00Z",
        ),
        (
            "email",
            "inbound",
            "Hank asked for a security questionnaire. Legal must review the contract.",
            "2026-03-01T09:00:00Z",
        ),
        (
            "meeting",
            None,
            "Demo went well. Their CTO joined and liked the reporting.",
            "2026-03-12T16:00:00Z",
        ),
    ]
    for type_, direction, body, at in bodies:
        fields = {
            "lead_id": x["id"],
            "body": body,
            "occurred_at": at,
            "subject": f"{type_} about Hooli",
        }
        if direction:
            fields["direction"] = direction
        await activity(client, acc, type_, **fields)
    r = await run("summarize_history", entity="lead", record="hank history")
    assert r.status == "ok", r.summary
    assert r.summary.startswith(
        f"Lead Hank History (Hooli, #{x['id']}): 5 activities from 5 Jan 2026 to 12 Mar 2026 "
        "(2 emails, 1 call, 1 meeting, 1 note). Latest: 12 Mar 2026 meeting: “meeting about Hooli”"
    )
    assert "Their last reply: 1 Mar 2026 (email)" in r.summary
    # the key points are sentences of the records, verbatim, never invented
    every = {s for _, _, b, _ in bodies for s in sentences(b)}
    points = sentences(r.data["key_points"])
    assert 1 <= len(points) <= 3
    assert set(points) <= every
    assert r.data["count"] == 5 and r.data["by_type"] == {
        "email": 2,
        "note": 1,
        "call": 1,
        "meeting": 1,
    }
    assert r.data["items"][0]["gist"] == "Demo went well."

    short = await run("summarize_history", entity="lead", record=x["id"], limit=2)
    assert short.data["count"] == 2 and short.data["more"] is True
    # a sentence the latest list quotes is not repeated among the key points
    y = await lead(client, acc, "Quincy Quoted")
    await activity(
        client, acc, "call", lead_id=y["id"], body="Discussed pricing. She wants a demo."
    )
    await activity(client, acc, "note", lead_id=y["id"], body="Budget owner sits in finance.")
    r = await run("summarize_history", entity="lead", record=y["id"])
    assert r.summary.count("Discussed pricing") == 1, r.summary
    assert "She wants a demo" in r.data["key_points"], r.summary
    empty_lead = await lead(client, acc, "Nora Nothing")
    r = await run("summarize_history", entity="lead", record=empty_lead["id"])
    assert r.summary == f"Lead Nora Nothing (#{empty_lead['id']}) has no activities yet."
