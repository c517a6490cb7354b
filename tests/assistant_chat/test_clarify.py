"""Two records match: the assistant asks which one (options with the arguments that pick them)
and the user's next turn — a number, an ordinal or the option's label — completes the command,
offline and with a model (which is not asked again: the choice is the user's)."""

from __future__ import annotations

import httpx

from tests.ai.fake_openai import FakeOpenAI, tool_calls_reply
from tests.assistant_chat.common import lead, say, stream
from tests.fixtures.factories import Account, register


async def _twins(client: httpx.AsyncClient, acc: Account) -> tuple[dict, dict]:
    a = await lead(client, acc, name="John Smith", company="Acme")
    b = await lead(client, acc, name="John Smith", company="Globex")
    return a, b


async def _status(client: httpx.AsyncClient, acc: Account, lead_id: int) -> str:
    r = await client.get(f"/api/v1/leads/{lead_id}", headers=acc.headers)
    return str(r.json()["status"])


async def test_offline_asks_which_one_and_a_number_picks_it(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Twins Co")
    a, b = await _twins(client, owner)

    ask = await say(client, owner, "move John Smith to Won")
    assert ask["awaiting"] == "clarification" and ask["actions"] == []
    assert len(ask["options"]) == 2
    picked = {o["args"].get("lead") for o in ask["options"]}
    assert picked == {a["id"], b["id"]}
    assert "1." in ask["content"] and "2." in ask["content"]
    second = ask["options"][1]["args"]["lead"]

    done = await say(client, owner, "the second one")
    assert [c["entity_id"] for c in done["actions"]] == [second]
    assert await _status(client, owner, second) == "Won"
    first = a["id"] if second == b["id"] else b["id"]
    assert await _status(client, owner, first) == "New"


async def test_a_new_command_instead_of_an_answer_drops_the_question(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Twins Drop Co")
    a, b = await _twins(client, owner)
    assert (await say(client, owner, "move John Smith to Won"))["awaiting"] == "clarification"
    await say(client, owner, "hello")
    later = await say(client, owner, "2")
    assert later["actions"] == []
    assert {await _status(client, owner, x["id"]) for x in (a, b)} == {"New"}


async def test_with_a_model_the_users_pick_runs_without_asking_the_model(
    client: httpx.AsyncClient, model: FakeOpenAI
) -> None:
    owner = await register(client, org="Twins LLM Co")
    a, b = await _twins(client, owner)
    model.script(tool_calls_reply(("update_lead_status", {"lead": "John Smith", "status": "Lost"})))

    events = await stream(client, owner, "John Smith went cold, mark him lost")
    question = [d for e, d in events if e == "question"]
    assert question and question[0]["awaiting"] == "clarification"
    labels = [o["label"] for o in question[0]["options"]]
    assert len(model.chat_bodies) == 1
    globex = next(i for i, label in enumerate(labels) if "Globex" in label)

    done = await say(client, owner, labels[globex])
    assert len(model.chat_bodies) == 1
    assert [c["entity_id"] for c in done["actions"]] == [b["id"]]
    assert await _status(client, owner, b["id"]) == "Lost"
    assert await _status(client, owner, a["id"]) == "New"
