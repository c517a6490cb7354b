"""Notifications over the REST API: produced from domain events by the notifications consumer
(a job after the commit), read/unread/delete of one's own, and preferences."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register
from tests.notifications.common import NOTIFICATIONS, assign_task, notifications, wait_for

PREFS = f"{NOTIFICATIONS}/preferences"


def _about(entity_id: int, type_: str) -> Any:
    return lambda items: any(i["entity_id"] == entity_id and i["type"] == type_ for i in items)


async def _count(client: httpx.AsyncClient, acc: Account) -> int:
    r = await client.get(f"{NOTIFICATIONS}/unread-count", headers=acc.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def test_assigning_a_task_notifies_the_assignee_not_the_assigner(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org="Notify Co", full_name="Olive Owner")
    agent = await member(client, owner, "agent")
    # a task the owner gives themself first: nobody is told
    mine = await assign_task(client, owner, owner, "Note to self")
    task = await assign_task(client, owner, agent, "Call Ada back")

    items = await wait_for(client, agent, _about(task["id"], "task.assigned"))
    n = next(i for i in items if i["entity_id"] == task["id"])
    assert n["title"] == "Task assigned to you: Call Ada back"
    assert "Olive Owner assigned you this task" in n["body"]
    assert n["link"] == f"/tasks/{task['id']}"
    assert n["entity_type"] == "task" and n["read"] is False and n["read_at"] is None
    assert n["data"]["actor_user_id"] == owner.user_id
    # same event batch or an earlier one: by now the assigner's would be there too
    assert not [i for i in await notifications(client, owner) if i["entity_id"] == mine["id"]]
    assert await notifications(client, owner) == []
    assert await _count(client, agent) == 1

    # reassigning to the same person again says nothing new; to the owner, the owner hears
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": owner.user_id}, headers=agent.headers
    )
    assert r.status_code == 200, r.text
    await wait_for(client, owner, _about(task["id"], "task.assigned"))
    assert len(await notifications(client, agent)) == 1


async def test_read_unread_read_all_delete_and_count(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    tasks = [await assign_task(client, owner, agent, f"Task {n}") for n in range(3)]
    items = await wait_for(client, agent, lambda items: len(items) == 3)
    # newest first
    assert [i["entity_id"] for i in items] == [t["id"] for t in reversed(tasks)]
    assert await _count(client, agent) == 3

    newest, middle, oldest = items
    r = await client.post(f"{NOTIFICATIONS}/{middle['id']}/read", headers=agent.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True and r.json()["read_at"] is not None
    again = await client.post(f"{NOTIFICATIONS}/{middle['id']}/read", headers=agent.headers)
    assert again.json()["read_at"] == r.json()["read_at"]
    assert await _count(client, agent) == 2
    unread = await notifications(client, agent, unread="true")
    assert [i["id"] for i in unread] == [newest["id"], oldest["id"]]
    assert [i["id"] for i in await notifications(client, agent, unread="false")] == [middle["id"]]

    r = await client.get(f"{NOTIFICATIONS}/{oldest['id']}", headers=agent.headers)
    assert r.status_code == 200 and r.json()["title"] == "Task assigned to you: Task 0"

    # keyset pages of one
    r = await client.get(NOTIFICATIONS, params={"limit": 1}, headers=agent.headers)
    page1 = r.json()
    assert [i["id"] for i in page1["items"]] == [newest["id"]] and page1["next_cursor"]
    r = await client.get(
        NOTIFICATIONS, params={"limit": 1, "cursor": page1["next_cursor"]}, headers=agent.headers
    )
    assert [i["id"] for i in r.json()["items"]] == [middle["id"]]
    bad = await client.get(NOTIFICATIONS, params={"cursor": "nope"}, headers=agent.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"

    # read-all up to an id leaves newer ones unread
    r = await client.post(
        f"{NOTIFICATIONS}/read-all", json={"up_to_id": oldest["id"]}, headers=agent.headers
    )
    assert r.status_code == 200 and r.json() == {"updated": 1, "unread": 1}
    r = await client.post(f"{NOTIFICATIONS}/read-all", headers=agent.headers)
    assert r.status_code == 200 and r.json() == {"updated": 1, "unread": 0}
    assert await _count(client, agent) == 0

    r = await client.delete(f"{NOTIFICATIONS}/{newest['id']}", headers=agent.headers)
    assert r.status_code == 204
    assert (
        await client.get(f"{NOTIFICATIONS}/{newest['id']}", headers=agent.headers)
    ).status_code == 404
    assert len(await notifications(client, agent)) == 2


async def test_another_members_notification_is_not_found(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    manager = await member(client, owner, "manager")
    task = await assign_task(client, owner, agent, "Private to the agent")
    items = await wait_for(client, agent, _about(task["id"], "task.assigned"))
    nid = items[0]["id"]
    for method, path in (
        ("GET", f"{NOTIFICATIONS}/{nid}"),
        ("POST", f"{NOTIFICATIONS}/{nid}/read"),
        ("DELETE", f"{NOTIFICATIONS}/{nid}"),
    ):
        for other in (owner, manager):
            r = await client.request(method, path, headers=other.headers)
            assert r.status_code == 404, (method, path, r.status_code)
    # the owner's read-all does not touch the agent's
    await client.post(f"{NOTIFICATIONS}/read-all", headers=owner.headers)
    assert await _count(client, agent) == 1
    assert (
        await client.get(f"{NOTIFICATIONS}/999999999999", headers=agent.headers)
    ).status_code == 404


async def test_another_tenants_notification_is_not_found(client: httpx.AsyncClient) -> None:
    a = await register(client, org="Tenant A")
    agent = await member(client, a, "agent")
    b = await register(client, org="Tenant B")
    task = await assign_task(client, a, agent)
    nid = (await wait_for(client, agent, _about(task["id"], "task.assigned")))[0]["id"]
    assert (await client.get(f"{NOTIFICATIONS}/{nid}", headers=b.headers)).status_code == 404
    assert (await client.post(f"{NOTIFICATIONS}/{nid}/read", headers=b.headers)).status_code == 404
    assert (await client.delete(f"{NOTIFICATIONS}/{nid}", headers=b.headers)).status_code == 404
    assert await notifications(client, b) == []
    assert (await client.get(f"{NOTIFICATIONS}/{nid}", headers=agent.headers)).json()[
        "read"
    ] is False


async def test_preferences_defaults_update_and_unknown_type(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.get(PREFS, headers=acc.headers)
    assert r.status_code == 200
    prefs = {p["type"]: p for p in r.json()}
    for t in ("task.assigned", "task.due_soon", "deal.won", "deal.lost", "webhook.disabled"):
        assert prefs[t]["in_app"] is True and prefs[t]["email"] is False and prefs[t]["label"]

    r = await client.put(
        PREFS,
        json=[
            {"type": "task.assigned", "in_app": False, "email": True},
            {"type": "deal.won", "in_app": True, "email": True},
        ],
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    prefs = {p["type"]: p for p in r.json()}
    assert (prefs["task.assigned"]["in_app"], prefs["task.assigned"]["email"]) == (False, True)
    assert (prefs["deal.won"]["in_app"], prefs["deal.won"]["email"]) == (True, True)
    assert (prefs["deal.lost"]["in_app"], prefs["deal.lost"]["email"]) == (True, False)
    # stored: a fresh read agrees, and another user still has the defaults
    again = {p["type"]: p for p in (await client.get(PREFS, headers=acc.headers)).json()}
    assert again == prefs
    other = await register(client)
    theirs = {p["type"]: p for p in (await client.get(PREFS, headers=other.headers)).json()}
    assert theirs["task.assigned"]["in_app"] is True and theirs["task.assigned"]["email"] is False

    r = await client.put(
        PREFS,
        json=[{"type": "deal.won", "in_app": False}, {"type": "no.such.type", "in_app": False}],
        headers=acc.headers,
    )
    assert r.status_code == 422
    assert "no.such.type" in r.json()["detail"]
    assert r.json()["errors"] == [
        {"field": "1.type", "message": "unknown notification type 'no.such.type'"}
    ]
    # nothing of the refused request was stored
    still = {p["type"]: p for p in (await client.get(PREFS, headers=acc.headers)).json()}
    assert still["deal.won"]["in_app"] is True

    r = await client.put(PREFS, json=[{"type": "deal.won", "sms": True}], headers=acc.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "0.sms"
    r = await client.put(PREFS, json={"type": "deal.won"}, headers=acc.headers)
    assert r.status_code == 422


async def test_preference_off_means_no_notification(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    r = await client.put(
        PREFS, json=[{"type": "task.assigned", "in_app": False}], headers=agent.headers
    )
    assert r.status_code == 200, r.text
    task = await assign_task(client, owner, agent, "Muted")
    # a type the agent kept on, caused after the muted one: once it is there, the muted one
    # would be there too
    deal = await create(
        client, owner, "/api/v1/deals", {"name": "Probe deal", "owner_id": agent.user_id}
    )
    r = await client.put(
        f"/api/v1/deals/{deal['id']}/stage", json={"stage": "Closed Won"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    items = await wait_for(client, agent, _about(deal["id"], "deal.won"))
    assert [i for i in items if (i["entity_type"], i["entity_id"]) == ("task", task["id"])] == []
    assert items[0]["title"] == "Deal won: Probe deal"
    assert items[0]["link"] == f"/deals/{deal['id']}"


async def test_deal_lost_notifies_the_owner_with_the_reason(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    seller = await member(client, owner, "agent")
    deal = await create(
        client, owner, "/api/v1/deals", {"name": "Big one", "owner_id": seller.user_id}
    )
    r = await client.put(
        f"/api/v1/deals/{deal['id']}/stage",
        json={"stage": "Closed Lost", "won_lost_reason": "Went with a competitor"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    items = await wait_for(client, seller, _about(deal["id"], "deal.lost"))
    assert items[0]["title"] == "Deal lost: Big one"
    assert "Went with a competitor" in items[0]["body"]
    # owners closing their own deals are not told
    own = await create(client, seller, "/api/v1/deals", {"name": "My own"})
    r = await client.put(
        f"/api/v1/deals/{own['id']}/stage", json={"stage": "Closed Won"}, headers=seller.headers
    )
    assert r.status_code == 200
    probe = await assign_task(client, owner, seller, "Probe after own deal")
    items = await wait_for(client, seller, _about(probe["id"], "task.assigned"))
    assert not [i for i in items if i["entity_id"] == own["id"]]


async def test_an_api_key_reads_its_creators_inbox(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "admin")
    key = await create(client, agent, "/api/v1/api-keys", {"name": "bot", "scopes": ["read"]})
    task = await assign_task(client, owner, agent, "Seen by the agent's key")
    mine = await wait_for(client, agent, _about(task["id"], "task.assigned"))
    r = await client.get(NOTIFICATIONS, headers={"X-API-Key": key["key"]})
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [i["id"] for i in mine]
    assert (await client.get(NOTIFICATIONS)).status_code == 401
