"""The streaming variant: server-sent events with action cards as changes commit, the reply's
text in deltas, the question when it asks back, `done` with the stored message, and `error`
with a problem+json body."""

from __future__ import annotations

import httpx
import pytest

from aicrm.assistant import engine
from tests.assistant_chat.common import final, lead, lead_exists, stream
from tests.fixtures.factories import register


async def test_a_command_streams_its_action_text_and_done(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Stream Co")
    jo = await lead(client, owner, name="Jo Stream", company="Flow Ltd")

    events = await stream(client, owner, "move Jo Stream to Contacted", session_id="st")

    kinds = [e for e, _ in events]
    assert kinds[0] == "action" and kinds[-1] == "done"
    assert "text" in kinds and "question" not in kinds and "error" not in kinds
    action = events[0][1]
    assert action["entity_type"] == "lead" and action["entity_id"] == jo["id"]
    assert action["link"] == f"/leads/{jo['id']}" and action["undoable"] is True
    text = "".join(d["delta"] for e, d in events if e == "text")
    done = events[-1][1]
    assert done["session_id"] == "st" and isinstance(done["conversation_id"], int)
    assert done["message"]["content"] == text and "Contacted" in text
    assert done["message"]["actions"][0]["id"] == action["id"]
    # the streamed turn is in the conversation's memory like a queued one
    r = await client.get("/api/v1/chat/history?session_id=st", headers=owner.headers)
    assert [m["role"] for m in r.json()["messages"]] == ["user", "assistant"]


async def test_a_delete_streams_a_question_then_yes_streams_the_deletion(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Stream Delete Co")
    gone = await lead(client, owner, name="Gil Gone")

    events = await stream(client, owner, "delete lead Gil Gone")
    questions = [d for e, d in events if e == "question"]
    assert len(questions) == 1 and questions[0]["awaiting"] == "confirmation"
    assert "Gil Gone" in questions[0]["question"]
    assert "action" not in [e for e, _ in events]
    assert final(events)["awaiting"] == "confirmation"
    assert await lead_exists(client, owner, gone["id"])

    events = await stream(client, owner, "yes")
    actions = [d for e, d in events if e == "action"]
    assert [(a["op"], a["entity_id"]) for a in actions] == [("deleted", gone["id"])]
    assert not await lead_exists(client, owner, gone["id"])


async def test_a_failing_turn_streams_a_problem_and_frees_the_conversation(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await register(client, org="Stream Error Co")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine fell over")

    # the live server runs in this process: make the engine itself fail for this one turn
    monkeypatch.setattr(engine, "run_turn", broken)
    events = await stream(client, owner, "hello", session_id="e")
    monkeypatch.undo()

    assert [e for e, _ in events] == ["error"]
    problem = events[0][1]
    assert problem["status"] == 500 and problem["title"] == "Internal error"
    assert "fell over" not in problem["detail"]  # internals stay in the log
    r = await client.get("/api/v1/chat/history?session_id=e", headers=owner.headers)
    data = r.json()
    assert data["busy"] is False
    assert [(m["role"], m["status"]) for m in data["messages"]] == [("user", "failed")]
    events = await stream(client, owner, "hello", session_id="e")
    assert final(events)["role"] == "assistant"


async def test_streaming_needs_auth_and_csrf_for_cookies(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Stream Auth Co")
    r = await client.post("/api/v1/chat/stream", json={"message": "hi"})
    assert r.status_code == 401
    r = await client.post(
        "/api/v1/chat/stream",
        json={"message": "hi"},
        headers={"Cookie": f"aicrm_access={owner.access_token}"},
    )
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    events = await stream(
        client,
        owner,
        "hello",
        headers={
            "X-CSRF-Token": "t0ken",
            "Cookie": f"aicrm_access={owner.access_token}; aicrm_csrf=t0ken",
        },
    )
    assert final(events)["role"] == "assistant"
