"""Deletes need a confirmation turn that names the record; the last change can be undone from
the chat or the endpoint; a viewer cannot delete by chat; every action is audited with the
conversation id (offline mode)."""

from __future__ import annotations

import httpx

from aicrm.db import Database
from tests.assistant_chat.common import (
    audit_for_request,
    audit_rows,
    lead,
    lead_exists,
    say,
)
from tests.fixtures.factories import member, register


async def test_delete_asks_naming_the_record_and_only_yes_deletes(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Confirm Co")
    doomed = await lead(client, owner, name="Doris Doomed", company="Gone Ltd")

    ask = await say(client, owner, "delete the lead Doris Doomed")
    assert ask["awaiting"] == "confirmation"
    assert "Doris Doomed" in ask["question"] and "Doris Doomed" in ask["content"]
    assert ask["actions"] == []
    assert await lead_exists(client, owner, doomed["id"])
    r = await client.get("/api/v1/chat/history", headers=owner.headers)
    assert r.json()["awaiting"] == "confirmation"

    done = await say(client, owner, "yes")
    assert done["awaiting"] is None
    assert [(c["op"], c["entity_id"]) for c in done["actions"]] == [("deleted", doomed["id"])]
    assert not await lead_exists(client, owner, doomed["id"])

    # the service's own audit row names the conversation and the message that confirmed it
    conversation_id = done["_task"]["conversation_id"]
    rows = await audit_rows(client, owner, entity_type="lead", entity_id=doomed["id"])
    delete = next(r for r in rows if r["action"] == "delete")
    assert delete["request_id"].startswith(f"chat:{conversation_id}:")
    assert delete["actor_user_id"] == owner.user_id
    # and the assistant's own rows carry the tool, the arguments and the outcome
    mine = await audit_rows(
        client, owner, entity_type="assistant_conversation", entity_id=conversation_id
    )
    calls = [(r["action"], r["after"]["status"], r["after"]["confirmed"]) for r in mine]
    assert ("assistant.delete_record", "confirm", False) in calls
    assert ("assistant.delete_record", "ok", True) in calls
    assert all(r["after"]["arguments"]["entity"] == "lead" for r in mine)
    assert all(r["request_id"].startswith(f"chat:{conversation_id}:") for r in mine)
    assert len(await audit_for_request(db, f"chat:{conversation_id}:")) >= 3


async def test_no_or_any_other_reply_cancels_the_delete(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Cancel Co")
    kept = await lead(client, owner, name="Karl Kept")

    assert (await say(client, owner, "delete lead Karl Kept"))["awaiting"] == "confirmation"
    cancelled = await say(client, owner, "no")
    assert "nothing" in cancelled["content"].lower() and cancelled["actions"] == []
    assert await lead_exists(client, owner, kept["id"])

    assert (await say(client, owner, "delete lead Karl Kept"))["awaiting"] == "confirmation"
    await say(client, owner, "how many leads do we have?")
    late = await say(client, owner, "yes")
    assert late["actions"] == []
    assert await lead_exists(client, owner, kept["id"])


async def test_a_viewer_cannot_delete_by_chat(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Viewer Co")
    viewer = await member(client, owner, "viewer")
    target = await lead(client, owner, name="Vera Viewed")

    reply = await say(client, viewer, "delete lead Vera Viewed")
    assert reply["awaiting"] is None and reply["actions"] == []
    assert "viewer" in reply["content"].lower() or "may not" in reply["content"].lower()
    again = await say(client, viewer, "yes")
    assert again["actions"] == []
    assert await lead_exists(client, owner, target["id"])
    # nor change anything
    changed = await say(client, viewer, "move Vera Viewed to Won")
    assert changed["actions"] == []
    r = await client.get(f"/api/v1/leads/{target['id']}", headers=owner.headers)
    assert r.json()["status"] == "New"
    # but may read
    found = await say(client, viewer, "find lead Vera Viewed")
    assert "Vera Viewed" in found["content"]


async def test_undo_from_the_chat_reverses_the_last_change(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Undo Co")
    ann = await lead(client, owner, name="Ann Undo")

    moved = await say(client, owner, "move Ann Undo to Proposal", session_id="u")
    assert moved["actions"][0]["undoable"] is True
    r = await client.get(f"/api/v1/leads/{ann['id']}", headers=owner.headers)
    assert r.json()["status"] == "Proposal"

    undone = await say(client, owner, "undo", session_id="u")
    assert "Ann Undo" in undone["content"] or "undo" in undone["content"].lower()
    r = await client.get(f"/api/v1/leads/{ann['id']}", headers=owner.headers)
    assert r.json()["status"] == "New"
    nothing = await say(client, owner, "undo", session_id="u")
    assert "nothing to undo" in nothing["content"].lower()

    # the history shows the card as undone
    r = await client.get("/api/v1/chat/history?session_id=u", headers=owner.headers)
    cards = [c for m in r.json()["messages"] for c in m["actions"]]
    assert cards and cards[0]["undone"] is True and cards[0]["undoable"] is False
    # and the undo is audited with the conversation
    conversation_id = moved["_task"]["conversation_id"]
    mine = await audit_rows(
        client, owner, entity_type="assistant_conversation", entity_id=conversation_id
    )
    assert "assistant.undo" in [r["action"] for r in mine]


async def test_undo_endpoint_and_undoing_a_delete(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Undo API Co")
    bea = await lead(client, owner, name="Bea Back", company="Return Inc", value=5000)

    await say(client, owner, "delete lead Bea Back", session_id="d")
    deleted = await say(client, owner, "yes", session_id="d")
    assert [c["op"] for c in deleted["actions"]] == ["deleted"]
    assert not await lead_exists(client, owner, bea["id"])

    r = await client.post("/api/v1/chat/undo", json={"session_id": "d"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [c["op"] for c in out["undone"]] == ["deleted"]
    assert out["message"]["role"] == "assistant" and out["summary"]
    r = await client.get("/api/v1/leads", params={"q": "Bea Back"}, headers=owner.headers)
    assert r.status_code == 200
    back = [x for x in r.json()["items"] if x["name"] == "Bea Back"]
    assert back and back[0]["company"] == "Return Inc" and back[0]["value"] == 5000

    r = await client.post("/api/v1/chat/undo", json={"session_id": "d"}, headers=owner.headers)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/api/v1/chat/undo", json={"session_id": "never"}, headers=owner.headers)
    assert r.status_code == 404
