"""Kanban moves by chat: a lead to another status, a deal to another stage (won/lost rules)."""

from __future__ import annotations

import httpx

from aicrm.db import Database
from tests.assistant_tools.common import create, deal, get, items, lead, org


async def test_update_lead_status(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    first = await lead(client, acc, "Quinn Queued", status="Qualified")
    x = await lead(client, acc, "Walter White", company="Grey Matter")
    r = await run("update_lead_status", lead="walter white", status="qualifed")
    assert r.status == "ok", r.summary
    assert r.summary == f"Moved lead Walter White (Grey Matter, #{x['id']}) from New to Qualified."
    stored = await get(client, acc, f"/api/v1/leads/{x['id']}")
    assert (stored["status"], stored["card_order"]) == ("Qualified", 1)  # end of the column
    assert (await get(client, acc, f"/api/v1/leads/{first['id']}"))["card_order"] == 0
    [action] = r.actions
    assert action.op == "moved"
    assert action.before == {"status": "New", "card_order": 0}
    assert action.after == {"status": "Qualified", "card_order": 1}
    log = await items(
        client, acc, "/api/v1/audit-log", entity_type="lead", entity_id=x["id"], action="update"
    )
    assert [e["actor_user_id"] for e in log] == [acc.user_id]

    again = await run("update_lead_status", lead=x["id"], status="Qualified")
    assert again.status == "ok" and not again.actions and "already in Qualified" in again.summary
    r = await run("update_lead_status", lead=x["id"], status="won")  # the won column's other name
    assert (await get(client, acc, f"/api/v1/leads/{x['id']}"))["status"] == "Won"
    r = await run("update_lead_status", lead=x["id"], status="Banana Split")
    assert r.status == "not_found" and "Banana Split" in r.summary


async def test_move_deal_stage_with_the_close_rules(
    client: httpx.AsyncClient, db: Database
) -> None:
    acc, run = await org(client, db)
    d = await deal(client, acc, "Acme expansion", amount=48000)
    r = await run("move_deal_stage", deal="acme expansion", stage="proposal")
    assert r.status == "ok", r.summary
    assert r.summary == (
        f"Moved deal Acme expansion ($48,000, #{d['id']}) from Prospecting to Proposal."
    )
    r = await run("move_deal_stage", deal=d["id"], stage="closed won")
    assert r.summary.endswith("from Proposal to Closed Won — won.")
    stored = await get(client, acc, f"/api/v1/deals/{d['id']}")
    assert stored["status"] == "won" and stored["closed_at"]
    assert r.actions[0].before["status"] == "open" and r.actions[0].after["status"] == "won"

    # a lost stage needs a reason: the tool asks for it and moves nothing
    r = await run("move_deal_stage", deal=d["id"], stage="lost")
    assert (r.status, r.field) == ("clarify", "lost_reason")
    assert (
        r.question
        == f"Why was deal Acme expansion ($48,000, #{d['id']}) lost? I need a reason to move it to Closed Lost."
    )
    assert (await get(client, acc, f"/api/v1/deals/{d['id']}"))["stage"] == "Closed Won"
    r = await run("move_deal_stage", deal=d["id"], stage="Closed Lost", lost_reason="Budget cut")
    assert r.status == "ok" and r.summary.endswith("— lost.")
    stored = await get(client, acc, f"/api/v1/deals/{d['id']}")
    assert (stored["status"], stored["won_lost_reason"]) == ("lost", "Budget cut")
    r = await run("move_deal_stage", deal=d["id"], stage="Negotiation")
    assert r.summary.endswith("— reopened.")


async def test_move_deal_in_another_pipeline(client: httpx.AsyncClient, db: Database) -> None:
    acc, run = await org(client, db)
    pipeline = await create(
        client,
        acc,
        "/api/v1/pipelines",
        {
            "name": "Enterprise",
            "stages": [
                {"name": "Discovery"},
                {"name": "Pilot"},
                {"name": "Signed", "is_won": True},
            ],
        },
    )
    d = await deal(client, acc, "Mega pilot", amount=1, pipeline_id=pipeline["id"])
    r = await run("move_deal_stage", deal="Mega pilot", stage="pilot")
    assert r.status == "ok", r.summary
    stored = await get(client, acc, f"/api/v1/deals/{d['id']}")
    assert (stored["pipeline"], stored["stage"]) == ("Enterprise", "Pilot")
    # a stage of the default pipeline is not one of this deal's
    r = await run("move_deal_stage", deal=d["id"], stage="Sales/Proposal")
    assert (r.status, r.field) == ("invalid", "stage")
