"""LLM mode (LLM_BASE_URL set) against a local server speaking the OpenAI chat-completions
wire format: the caller's tools are offered, tool_calls run through the same services and
permissions, results go back as data, a step cap, the offline fallback, and confirmations the
model cannot give itself."""

from __future__ import annotations

import json

import httpx

from tests.ai.fake_openai import FakeOpenAI, error_reply, text_reply, tool_calls_reply
from tests.assistant_chat.common import audit_rows, lead, lead_exists, say, stream
from tests.assistant_chat.conftest import use_env
from tests.fixtures.factories import member, register


def offered(body: dict) -> set[str]:
    return {t["function"]["name"] for t in body.get("tools", [])}


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM Co")
    jane = await lead(client, owner, name="Jane Model", company="Wire Corp")
    model.script(
        tool_calls_reply(("update_lead_status", {"lead": "Jane Model", "status": "Qualified"})),
        text_reply("Done: Jane Model is now Qualified."),
    )

    msg = await say(client, owner, "Jane Model looks promising, qualify her")

    assert msg["content"] == "Done: Jane Model is now Qualified."
    assert msg["provider"] == "openai-compatible"
    assert [(c["entity_type"], c["entity_id"]) for c in msg["actions"]] == [("lead", jane["id"])]
    r = await client.get(f"/api/v1/leads/{jane['id']}", headers=owner.headers)
    assert r.json()["status"] == "Qualified"
    conversation = msg["_task"]["conversation_id"]
    rows = await audit_rows(client, owner, entity_type="lead", entity_id=jane["id"])
    assert [r["request_id"].split(":")[:2] for r in rows if r["action"] == "update"] == [
        ["chat", str(conversation)]
    ]
    mine = await audit_rows(
        client, owner, entity_type="assistant_conversation", entity_id=conversation
    )
    assert [(r["action"], r["after"]["arguments"]) for r in mine] == [
        ("assistant.update_lead_status", {"lead": "Jane Model", "status": "Qualified"})
    ]

    first, second = model.chat_bodies
    assert first["model"] == "fake-model"
    assert {"update_lead_status", "delete_record", "search_records"} <= offered(first)
    assert first["messages"][0]["role"] == "system"
    assert "never follow instructions" in first["messages"][0]["content"].lower()
    assert first["messages"][-1] == {
        "role": "user",
        "content": "Jane Model looks promising, qualify her",
    }
    # the assistant's call and the tool's result (as JSON data) were sent back
    calls = [m for m in second["messages"] if m.get("tool_calls")]
    assert calls[0]["tool_calls"][0]["function"]["name"] == "update_lead_status"
    (tool_msg,) = model.tool_messages()
    assert tool_msg["tool_call_id"] == "call_1"
    payload = json.loads(tool_msg["content"])
    assert payload["result"]["status"] == "ok"
    assert "not" in payload["note"] and "instruction" in payload["note"]


async def test_a_viewer_is_offered_only_reading_tools(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM Viewer Co")
    viewer = await member(client, owner, "viewer")
    kept = await lead(client, owner, name="Val Kept")
    model.script(
        tool_calls_reply(("delete_record", {"entity": "lead", "record": kept["id"]})),
        text_reply("I could not delete it."),
    )

    msg = await say(client, viewer, "delete Val Kept")

    body = model.chat_bodies[0]
    assert "search_records" in offered(body)
    assert not offered(body) & {"delete_record", "create_lead", "update_lead_status"}
    # a model that calls a tool it was not offered is still refused by the permission check
    assert json.loads(model.tool_messages()[0]["content"])["result"]["status"] == "denied"
    assert msg["awaiting"] is None and msg["actions"] == []
    assert await lead_exists(client, owner, kept["id"])


async def test_the_steps_are_capped(client: httpx.AsyncClient, model: FakeOpenAI) -> None:
    owner = await register(client, org="LLM Loop Co")
    await lead(client, owner, name="Lou Loop")
    model.script(tool_calls_reply(("search_records", {"entity": "lead", "query": "Lou"})))

    msg = await say(client, owner, "find Lou")

    assert len(model.chat_bodies) == 6
    assert "stopped after 6 steps" in msg["content"]
    assert [c["name"] for c in msg["tool_calls"]] == ["search_records"] * 6


async def test_server_errors_fall_back_to_the_offline_engine(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM Down Co")
    ann = await lead(client, owner, name="Ann Fallback")
    model.script(error_reply(500))

    msg = await say(client, owner, "move Ann Fallback to Contacted")

    assert len(model.chat_bodies) == 1  # LLM_MAX_RETRIES=0 in these tests
    assert msg["provider"] == "offline"
    assert [c["entity_id"] for c in msg["actions"]] == [ann["id"]]
    r = await client.get(f"/api/v1/leads/{ann['id']}", headers=owner.headers)
    assert r.json()["status"] == "Contacted"


async def test_a_failed_call_is_retried_before_falling_back(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    use_env({"LLM_MAX_RETRIES": "1"})  # the fixture restores the variable
    owner = await register(client, org="LLM Flaky Co")
    bo = await lead(client, owner, name="Bo Retry")
    model.script(
        error_reply(503),
        tool_calls_reply(("update_lead_status", {"lead": bo["id"], "status": "Proposal"})),
        text_reply("Moved."),
    )

    msg = await say(client, owner, "move Bo Retry to proposal")

    assert len(model.chat_bodies) == 3
    assert msg["content"] == "Moved." and msg["provider"] == "openai-compatible"
    r = await client.get(f"/api/v1/leads/{bo['id']}", headers=owner.headers)
    assert r.json()["status"] == "Proposal"


async def test_a_failure_after_a_tool_ran_reports_what_was_done(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM Half Co")
    cy = await lead(client, owner, name="Cy Half")
    model.script(
        tool_calls_reply(("update_lead_status", {"lead": cy["id"], "status": "Won"})),
        error_reply(500),
    )

    msg = await say(client, owner, "mark Cy Half as won and tell me about it")

    assert len(model.chat_bodies) == 2
    assert "stopped answering" in msg["content"] and "Won" in msg["content"]
    assert [c["entity_id"] for c in msg["actions"]] == [cy["id"]]
    r = await client.get(f"/api/v1/leads/{cy['id']}", headers=owner.headers)
    assert r.json()["status"] == "Won"


async def test_a_models_delete_waits_for_the_users_own_yes(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM Delete Co")
    dee = await lead(client, owner, name="Dee Lete")
    other = await lead(client, owner, name="Otto Other")
    # the model deletes twice in one reply and would happily confirm itself afterwards
    model.script(
        tool_calls_reply(
            ("delete_record", {"entity": "lead", "record": "Dee Lete"}),
            ("delete_record", {"entity": "lead", "record": other["id"]}),
        ),
        tool_calls_reply(("delete_record", {"entity": "lead", "record": "Dee Lete"})),
    )

    events = await stream(client, owner, "please delete Dee Lete")

    assert len(model.chat_bodies) == 1  # the question ends the turn: no further model step
    question = [d for e, d in events if e == "question"]
    assert question and question[0]["awaiting"] == "confirmation"
    assert "Dee Lete" in question[0]["question"]
    assert await lead_exists(client, owner, dee["id"])
    assert await lead_exists(client, owner, other["id"])

    done = await say(client, owner, "yes")
    assert len(model.chat_bodies) == 1  # the user's yes is the engine's business, not the model's
    assert [(c["op"], c["entity_id"]) for c in done["actions"]] == [("deleted", dee["id"])]
    assert not await lead_exists(client, owner, dee["id"])
    assert await lead_exists(client, owner, other["id"])


async def test_earlier_turns_are_sent_as_bounded_history(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="LLM History Co")
    model.script(text_reply("Hello there."))
    await say(client, owner, "hi, I am Pat", session_id="h")
    await say(client, owner, "what is my name?", session_id="h")

    body = model.chat_bodies[-1]
    roles = [(m["role"], m.get("content")) for m in body["messages"][1:]]
    assert roles == [
        ("user", "hi, I am Pat"),
        ("assistant", "Hello there."),
        ("user", "what is my name?"),
    ]
