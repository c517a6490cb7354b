"""The chat API end to end over HTTP in offline mode (the default): a message is queued as the
job `assistant.chat`, run by the embedded worker and polled; conversation memory per user and
session, bounded and stored in the database; clear; errors as problem+json; tenancy."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from aicrm.assistant import engine, service
from aicrm.assistant.schemas import ChatIn
from aicrm.db import Database
from aicrm.kit.principal import SCOPE_PERMISSIONS, Principal, Role
from aicrm.models import ApiKey, AssistantConversation, AssistantMessage, Job, utcnow
from tests.assistant_chat.common import lead, say, send, stored_messages, stream, wait
from tests.fixtures.factories import member, register


async def test_a_queued_command_is_run_and_polled_to_its_reply(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Chat Co")
    jane = await lead(client, owner, name="Jane Doe", company="Example Corp", value=1000)

    accepted = await send(client, owner, "move Jane Doe to Qualified")
    assert accepted["status"] == "PENDING"
    assert accepted["session_id"] == "default"
    assert isinstance(accepted["conversation_id"], int)
    done = await wait(client, owner, accepted["task_id"])

    assert done["status"] == "SUCCESS", done
    assert set(done["_seen"]) <= {"PENDING", "PROCESSING", "SUCCESS"}
    assert done["conversation_id"] == accepted["conversation_id"]
    msg = done["result"]["message"]
    assert msg["role"] == "assistant" and "Qualified" in msg["content"]
    assert [c["entity_id"] for c in done["result"]["actions"]] == [jane["id"]]
    card = done["result"]["actions"][0]
    assert card["entity_type"] == "lead" and card["link"] == f"/leads/{jane['id']}"
    assert card["undoable"] is True
    assert [c["name"] for c in msg["tool_calls"]] == ["update_lead_status"]
    r = await client.get(f"/api/v1/leads/{jane['id']}", headers=owner.headers)
    assert r.json()["status"] == "Qualified"
    # the jobs page (administrators) names the reply but does not carry the user's conversation
    r = await client.get(f"/api/v1/jobs/{accepted['task_id']}", headers=owner.headers)
    assert r.status_code == 200 and "Jane" not in r.text, r.text


async def test_history_is_per_session_and_clear_forgets_it(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Memory Co")
    await lead(client, owner, name="Ann Lee")
    await say(client, owner, "move Ann Lee to Contacted", session_id="one")
    await say(client, owner, "hello", session_id="two")

    r = await client.get("/api/v1/chat/history?session_id=one", headers=owner.headers)
    assert r.status_code == 200, r.text
    one = r.json()
    assert [(m["role"], m["content"]) for m in one["messages"]][0] == (
        "user",
        "move Ann Lee to Contacted",
    )
    assert [m["role"] for m in one["messages"]] == ["user", "assistant"]
    assert one["messages"][1]["actions"][0]["entity_type"] == "lead"
    assert one["limit"] >= 10

    r = await client.post("/api/v1/chat/clear", json={"session_id": "one"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["cleared"] == 2
    r = await client.get("/api/v1/chat/history?session_id=one", headers=owner.headers)
    assert r.json()["messages"] == []
    r = await client.get("/api/v1/chat/history?session_id=two", headers=owner.headers)
    assert [m["content"] for m in r.json()["messages"]][0] == "hello"
    # the default session is untouched and clearing it again clears nothing
    r = await client.post("/api/v1/chat/clear", headers=owner.headers)
    assert r.status_code == 200 and r.json()["cleared"] == 0


async def test_memory_is_bounded_to_the_last_messages(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Bounded Co")
    r = await client.get("/api/v1/chat/history", headers=owner.headers)
    limit = r.json()["limit"]
    turns = limit // 2 + 3
    for i in range(turns):
        await stream(client, owner, f"hello number {i}", session_id="long")

    r = await client.get("/api/v1/chat/history?session_id=long", headers=owner.headers)
    data = r.json()
    texts = [m["content"] for m in data["messages"] if m["role"] == "user"]
    assert len(data["messages"]) == limit
    assert "hello number 0" not in texts and "hello number 2" not in texts
    assert texts[-1] == f"hello number {turns - 1}"
    # pruned in the database too, not just hidden
    assert await stored_messages(db, data["conversation_id"]) == limit


async def test_bad_input_is_problem_json_naming_the_field(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Strict Co")
    cases = [
        ({"message": ""}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({}, "message"),
        ({"message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"message": "hi", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        for path in ("/api/v1/chat", "/api/v1/chat/stream"):
            r = await client.post(path, json=body, headers=owner.headers)
            assert r.status_code == 422, (path, body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await client.post("/api/v1/chat/clear", json={"session_id": ""}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "session_id"
    r = await client.get("/api/v1/chat/history?session_id=a%20b", headers=owner.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "session_id"
    for task in ("abc", "0", "99999999999", "%C2%B2"):  # "²" is a digit to str.isdigit()
        r = await client.get(f"/api/v1/chat/status/{task}", headers=owner.headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/api/v1/chat", json={"message": "hi"})
    assert r.status_code == 401


async def test_another_users_or_tenants_task_and_conversation_are_not_found(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Mine Co")
    colleague = await member(client, owner, "manager")
    stranger = await register(client, org="Theirs Co")
    jane = await lead(client, owner, name="Jane Private")

    accepted = await send(client, owner, "hello", session_id="s1")
    await wait(client, owner, accepted["task_id"])
    for other in (colleague, stranger):
        r = await client.get(f"/api/v1/chat/status/{accepted['task_id']}", headers=other.headers)
        assert r.status_code == 404, r.text
        r = await client.get("/api/v1/chat/history?session_id=s1", headers=other.headers)
        assert r.json()["messages"] == []
        r = await client.post("/api/v1/chat/undo", json={"session_id": "s1"}, headers=other.headers)
        assert r.status_code == 404
    # a job id that is not a chat turn is no task of the chat
    r = await client.post("/api/v1/jobs/ping", headers=owner.headers)
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/chat/status/{r.json()['id']}", headers=owner.headers)
    assert r.status_code == 404

    # the same session id of another user is another conversation
    accepted2 = await send(client, colleague, "hello", session_id="s1")
    assert accepted2["conversation_id"] != accepted["conversation_id"]
    await wait(client, colleague, accepted2["task_id"])

    # another organization's records are out of the assistant's reach
    msg = await say(client, stranger, f"delete lead #{jane['id']}")
    assert msg["awaiting"] != "confirmation"
    msg = await say(client, stranger, "move Jane Private to Won")
    assert msg["actions"] == []
    r = await client.get(f"/api/v1/leads/{jane['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "New"


async def test_an_api_key_chats_in_its_own_conversation(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Key Co")
    r = await client.post(
        "/api/v1/api-keys", json={"name": "bot", "scopes": ["write"]}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    await lead(client, owner, name="Kim Key")

    r = await client.post("/api/v1/chat", json={"message": "move Kim Key to Proposal"}, headers=key)
    assert r.status_code == 202, r.text
    task = r.json()["task_id"]
    for _ in range(200):
        r = await client.get(f"/api/v1/chat/status/{task}", headers=key)
        if r.json()["status"] in ("SUCCESS", "FAILURE"):
            break
        await asyncio.sleep(0.05)
    assert r.json()["status"] == "SUCCESS", r.json()
    assert "Proposal" in r.json()["result"]["message"]["content"]
    # the key's conversation is not its creator's
    r = await client.get("/api/v1/chat/history", headers=owner.headers)
    assert r.json()["messages"] == []
    r = await client.get(f"/api/v1/chat/status/{task}", headers=owner.headers)
    assert r.status_code == 404


async def test_a_busy_conversation_refuses_a_second_message(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Busy Co")
    first = await say(client, owner, "hello", session_id="b")
    conversation_id = first["_task"]["conversation_id"]
    async with db.sessionmaker() as session:
        await session.execute(
            update(AssistantConversation)
            .where(AssistantConversation.id == conversation_id)
            .values(busy_until=utcnow() + timedelta(minutes=1))
        )
        await session.commit()
    for path in ("/api/v1/chat", "/api/v1/chat/stream"):
        r = await client.post(
            path, json={"message": "hi", "session_id": "b"}, headers=owner.headers
        )
        assert r.status_code == 409, r.text
        assert r.json()["errors"][0]["field"] == "session_id"
    # nor is it cleared under the turn that is still writing its reply into it
    r = await client.post("/api/v1/chat/clear", json={"session_id": "b"}, headers=owner.headers)
    assert r.status_code == 409, r.text
    # another session of the same user is free
    await say(client, owner, "hello", session_id="c")
    async with db.sessionmaker() as session:
        await session.execute(
            update(AssistantConversation)
            .where(AssistantConversation.id == conversation_id)
            .values(busy_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    await say(client, owner, "hello again", session_id="b")


async def test_a_failed_turn_is_a_failure_and_frees_the_conversation(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await register(client, org="Failing Co")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    # the live server runs in this process: the engine fails for this one turn
    monkeypatch.setattr(engine, "run_turn", broken)
    accepted = await send(client, owner, "hello", session_id="f")
    done = await wait(client, owner, accepted["task_id"])
    monkeypatch.undo()

    assert done["status"] == "FAILURE" and done["result"] is None
    assert done["error"] and "secret internals" not in done["error"]
    r = await client.get("/api/v1/chat/history?session_id=f", headers=owner.headers)
    assert r.json()["busy"] is False
    assert [(m["role"], m["status"]) for m in r.json()["messages"]] == [("user", "failed")]
    # an administrator retrying the dead job does not replay the turn behind the user's back
    r = await client.post(f"/api/v1/jobs/{accepted['task_id']}/retry", headers=owner.headers)
    assert r.status_code == 200, r.text
    retried = await wait(client, owner, accepted["task_id"])
    assert retried["status"] == "FAILURE" and retried["result"] is None
    r = await client.get("/api/v1/chat/history?session_id=f", headers=owner.headers)
    assert [(m["role"], m["status"]) for m in r.json()["messages"]] == [("user", "failed")]
    again = await say(client, owner, "hello", session_id="f")
    assert again["role"] == "assistant"


async def test_a_message_of_a_key_revoked_before_its_turn_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Revoked Co")
    r = await client.post(
        "/api/v1/api-keys", json={"name": "bot", "scopes": ["write"]}, headers=owner.headers
    )
    key_id = r.json()["id"]
    key = Principal(
        organization_id=owner.organization_id,
        role=Role.agent,
        user_id=owner.user_id,
        api_key_id=key_id,
        permissions=SCOPE_PERMISSIONS["write"],
    )
    # queued by the key, and the key revoked in the same breath (before the worker runs it)
    async with db.sessionmaker() as session:
        accepted = await service.send(session, key, ChatIn(message="hello", session_id="k"))
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
        await session.commit()

    for _ in range(200):
        async with db.sessionmaker() as session:
            job = await session.get(Job, int(accepted.task_id))
            assert job is not None
            if job.status not in ("queued", "running"):
                break
        await asyncio.sleep(0.05)
    assert job.status == "dead" and "revoked" in (job.last_error or "")
    async with db.sessionmaker() as session:
        conv = await session.get(AssistantConversation, accepted.conversation_id)
        msg = await session.get(AssistantMessage, accepted.message_id)
        assert conv is not None and msg is not None
        assert conv.busy_until is None and msg.status == "failed"
