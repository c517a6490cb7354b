from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.factories import Account, create, member, register

TASKS = "/api/v1/tasks"


def _fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json().get("errors", [])}


async def _task(client: httpx.AsyncClient, acc: Account, **body: Any) -> dict[str, Any]:
    return await create(client, acc, TASKS, {"title": "Task", **body})


async def _list(client: httpx.AsyncClient, acc: Account, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(TASKS, params=params, headers=acc.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_crud_versions_and_completion(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    lead = await create(client, owner, "/api/v1/leads", {"name": "Acme lead"})
    contact = await create(client, owner, "/api/v1/contacts", {"name": "Ada Lovelace"})
    team = await create(client, owner, "/api/v1/teams", {"name": "Support"})
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    t = await _task(
        client,
        owner,
        title="Call Ada back",
        description="About the renewal",
        priority="urgent",
        category="call",
        assignee_id=agent.user_id,
        team_id=team["id"],
        due_at=due.isoformat(),
        estimate_hours=1.5,
        lead_id=lead["id"],
        contact_id=contact["id"],
    )
    assert t["status"] == "todo" and t["priority"] == "urgent" and t["version"] == 1
    assert t["created_by_id"] == owner.user_id and t["assignee_id"] == agent.user_id
    assert datetime.fromisoformat(t["due_at"]) == due
    assert t["completed_at"] is None and t["overdue"] is False
    assert t["blocked_by"] == [] and t["blocks"] == []

    r = await client.get(f"{TASKS}/{t['id']}", headers=agent.headers)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'

    r = await client.patch(
        f"{TASKS}/{t['id']}", json={"status": "done", "version": 1}, headers=agent.headers
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["version"] == 2 and done["completed_at"] is not None

    stale = await client.patch(
        f"{TASKS}/{t['id']}", json={"title": "Lost update", "version": 1}, headers=owner.headers
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    stale = await client.patch(
        f"{TASKS}/{t['id']}",
        json={"title": "Lost update"},
        headers={**owner.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 412

    r = await client.patch(
        f"{TASKS}/{t['id']}",
        json={"status": "in_progress", "assignee_id": None, "due_at": None},
        headers={**owner.headers, "If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["completed_at"] is None and reopened["assignee_id"] is None
    assert reopened["due_at"] is None and reopened["title"] == "Call Ada back"

    assert (await client.delete(f"{TASKS}/{t['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{TASKS}/{t['id']}", headers=owner.headers)).status_code == 404


async def test_validation_names_the_field(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    other = await register(client)
    r = await client.post(TASKS, json={"description": "no title"}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"title"}
    r = await client.post(
        TASKS, json={"title": "x", "status": "nope", "priority": "asap"}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"status", "priority"}
    r = await client.post(TASKS, json={"title": "x", "estimate_hours": -1}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"estimate_hours"}
    r = await client.post(TASKS, json={"title": "x", "titel": "typo"}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"titel"}
    # a user of another organization is not a possible assignee
    r = await client.post(
        TASKS, json={"title": "x", "assignee_id": other.user_id}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"assignee_id"}
    for field in ("team_id", "lead_id", "contact_id", "deal_id"):
        r = await client.post(TASKS, json={"title": "x", field: 2**62}, headers=owner.headers)
        assert r.status_code == 422 and _fields(r) == {field}, (field, r.text)
        r = await client.post(TASKS, json={"title": "x", field: 2**64}, headers=owner.headers)
        assert r.status_code == 422 and _fields(r) == {field}, (field, r.text)
    assert await _list(client, owner) == []
    r = await client.get(TASKS, params={"colour": "red"}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"colour"}
    r = await client.get(TASKS, params={"overdue": "maybe"}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"overdue"}
    r = await client.get(TASKS, params={"sort": "priority"}, headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"sort"}


async def test_list_filters_search_and_flags(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    lead = await create(client, owner, "/api/v1/leads", {"name": "Lead"})
    team = await create(client, owner, "/api/v1/teams", {"name": "Sales"})
    now = datetime.now(UTC)
    late = await _task(
        client,
        owner,
        title="Send quote",
        due_at=(now - timedelta(days=1)).isoformat(),
        assignee_id=owner.user_id,
        priority="high",
    )
    soon = await _task(
        client,
        owner,
        title="Prepare demo",
        due_at=(now + timedelta(days=3)).isoformat(),
        assignee_id=agent.user_id,
        category="demo",
        lead_id=lead["id"],
    )
    late_done = await _task(
        client,
        owner,
        title="Old quote",
        due_at=(now - timedelta(days=5)).isoformat(),
        status="done",
    )
    loose = await _task(client, owner, title="100% coverage", team_id=team["id"])

    def ids(items: list[dict[str, Any]]) -> set[int]:
        return {i["id"] for i in items}

    assert late_done["completed_at"] is not None
    assert ids(await _list(client, owner, overdue="true")) == {late["id"]}
    assert ids(await _list(client, owner, overdue="false")) == {
        soon["id"],
        late_done["id"],
        loose["id"],
    }
    assert ids(await _list(client, owner, mine="true")) == {late["id"]}
    assert ids(await _list(client, agent, mine="true")) == {soon["id"]}
    assert ids(await _list(client, owner, status="done")) == {late_done["id"]}
    assert ids(await _list(client, owner, status__in="todo,done")) == {
        late["id"],
        soon["id"],
        late_done["id"],
        loose["id"],
    }
    assert ids(await _list(client, owner, assignee_id=agent.user_id)) == {soon["id"]}
    assert ids(await _list(client, owner, priority="high")) == {late["id"]}
    assert ids(await _list(client, owner, category="demo")) == {soon["id"]}
    assert ids(await _list(client, owner, lead_id=lead["id"])) == {soon["id"]}
    assert ids(await _list(client, owner, team_id=team["id"])) == {loose["id"]}
    assert ids(await _list(client, owner, due_at__lte=now.isoformat())) == {
        late["id"],
        late_done["id"],
    }
    assert ids(await _list(client, owner, q="QUOTE")) == {late["id"], late_done["id"]}
    # wildcards in the search are literal characters
    assert ids(await _list(client, owner, q="100%")) == {loose["id"]}
    assert await _list(client, owner, q="%") == [t for t in await _list(client, owner, q="100%")]
    overdue_item = (await _list(client, owner, overdue="true"))[0]
    assert overdue_item["overdue"] is True


async def test_due_date_sort_pages_through_empty_dates(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    now = datetime.now(UTC)
    made = []
    for i, days in enumerate([3, None, 1, None, 2, 1]):
        due = (now + timedelta(days=days)).isoformat() if days is not None else None
        made.append((await _task(client, owner, title=f"t{i}", due_at=due))["id"])

    async def walk(sort: str) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = await client.get(TASKS, params=params, headers=owner.headers)
            assert r.status_code == 200, r.text
            seen += [i["id"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return seen

    t0, t1, t2, t3, t4, t5 = made
    assert await walk("due_at") == [t2, t5, t4, t0, t1, t3]
    assert await walk("-due_at") == [t3, t1, t0, t4, t5, t2]
    assert await walk("-created_at") == list(reversed(made))


async def test_dependencies_refuse_cycles_and_show_both_ways(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    a, b, c = [await _task(client, owner, title=n) for n in "ABC"]

    async def depend(task: dict[str, Any], on: dict[str, Any]) -> httpx.Response:
        return await client.post(
            f"{TASKS}/{task['id']}/dependencies",
            json={"blocked_by_id": on["id"]},
            headers=owner.headers,
        )

    r = await depend(a, b)  # A waits for B
    assert r.status_code == 201, r.text
    assert r.json()["blocked_by"] == [b["id"]]
    assert (await depend(b, c)).status_code == 201  # B waits for C
    again = await depend(a, b)
    assert again.status_code == 201 and again.json()["blocked_by"] == [b["id"]]

    cycle = await depend(c, a)  # C waits for A would close A→B→C→A
    assert cycle.status_code == 422 and _fields(cycle) == {"blocked_by_id"}
    assert (await depend(b, a)).status_code == 422
    self_loop = await depend(a, a)
    assert self_loop.status_code == 422 and _fields(self_loop) == {"blocked_by_id"}
    missing = await client.post(
        f"{TASKS}/{a['id']}/dependencies", json={"blocked_by_id": 2**62}, headers=owner.headers
    )
    assert missing.status_code == 422 and _fields(missing) == {"blocked_by_id"}

    listed = {t["id"]: t for t in await _list(client, owner)}
    assert listed[a["id"]]["blocked_by"] == [b["id"]] and listed[a["id"]]["blocks"] == []
    assert listed[b["id"]]["blocked_by"] == [c["id"]] and listed[b["id"]]["blocks"] == [a["id"]]
    assert listed[c["id"]]["blocked_by"] == [] and listed[c["id"]]["blocks"] == [b["id"]]

    r = await client.delete(f"{TASKS}/{b['id']}/dependencies/{c['id']}", headers=owner.headers)
    assert r.status_code == 204
    r = await client.delete(f"{TASKS}/{b['id']}/dependencies/{c['id']}", headers=owner.headers)
    assert r.status_code == 404
    # with B no longer waiting for C, C may now wait for A
    assert (await depend(c, a)).status_code == 201

    # deleting a task removes its edges from the others
    assert (await client.delete(f"{TASKS}/{b['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{TASKS}/{a['id']}", headers=owner.headers)).json()[
        "blocked_by"
    ] == []


async def test_done_waits_for_blockers(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    blocker1 = await _task(client, owner, title="Sign contract")
    blocker2 = await _task(client, owner, title="Pay invoice")
    main = await _task(client, owner, title="Kick off")
    for blocker in (blocker1, blocker2):
        r = await client.post(
            f"{TASKS}/{main['id']}/dependencies",
            json={"blocked_by_id": blocker["id"]},
            headers=owner.headers,
        )
        assert r.status_code == 201

    r = await client.patch(f"{TASKS}/{main['id']}", json={"status": "done"}, headers=owner.headers)
    assert r.status_code == 409
    assert r.json()["blocked_by"] == sorted([blocker1["id"], blocker2["id"]])
    assert _fields(r) == {"status"}
    assert (await client.get(f"{TASKS}/{main['id']}", headers=owner.headers)).json()[
        "status"
    ] == "todo"

    await client.patch(f"{TASKS}/{blocker1['id']}", json={"status": "done"}, headers=owner.headers)
    r = await client.patch(f"{TASKS}/{main['id']}", json={"status": "done"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["blocked_by"] == [blocker2["id"]]

    await client.patch(f"{TASKS}/{blocker2['id']}", json={"status": "done"}, headers=owner.headers)
    r = await client.patch(f"{TASKS}/{main['id']}", json={"status": "done"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "done"

    # a finished task cannot be made to wait for an unfinished one
    fresh = await _task(client, owner, title="Follow-up")
    r = await client.post(
        f"{TASKS}/{main['id']}/dependencies",
        json={"blocked_by_id": fresh["id"]},
        headers=owner.headers,
    )
    assert r.status_code == 409 and _fields(r) == {"blocked_by_id"}


async def test_comments_and_who_may_delete_them(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    agent = await member(client, owner, "agent")
    agent2 = await member(client, owner, "agent")
    manager = await member(client, owner, "manager")
    t = await _task(client, owner)
    path = f"{TASKS}/{t['id']}/comments"

    c1 = await create(client, agent, path, {"body": "Called, no answer"})
    c2 = await create(client, agent, path, {"body": "Left a voicemail"})
    assert c1["author_id"] == agent.user_id and c1["task_id"] == t["id"]
    r = await client.post(path, json={"body": ""}, headers=agent.headers)
    assert r.status_code == 422 and _fields(r) == {"body"}

    r = await client.get(path, params={"limit": 1}, headers=agent2.headers)
    assert [c["id"] for c in r.json()["items"]] == [c1["id"]]
    r = await client.get(path, params={"cursor": r.json()["next_cursor"]}, headers=agent2.headers)
    assert [c["id"] for c in r.json()["items"]] == [c2["id"]]

    assert (await client.delete(f"{path}/{c1['id']}", headers=agent2.headers)).status_code == 403
    assert (await client.delete(f"{path}/{c1['id']}", headers=agent.headers)).status_code == 204
    assert (await client.delete(f"{path}/{c2['id']}", headers=manager.headers)).status_code == 204
    assert (await client.delete(f"{path}/{c2['id']}", headers=manager.headers)).status_code == 404
    assert (await client.get(path, headers=owner.headers)).json()["items"] == []

    # a comment id is only found under its own task
    other = await _task(client, owner)
    c3 = await create(client, agent, path, {"body": "Third"})
    r = await client.delete(f"{TASKS}/{other['id']}/comments/{c3['id']}", headers=owner.headers)
    assert r.status_code == 404


async def test_viewer_may_read_but_not_write(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    agent = await member(client, owner, "agent")
    a = await _task(client, owner)
    b = await _task(client, owner)
    comment = await create(client, owner, f"{TASKS}/{a['id']}/comments", {"body": "hi"})
    await create(client, owner, f"{TASKS}/{a['id']}/dependencies", {"blocked_by_id": b["id"]})

    assert (await client.get(f"{TASKS}/{a['id']}", headers=viewer.headers)).status_code == 200
    assert (
        await client.get(f"{TASKS}/{a['id']}/comments", headers=viewer.headers)
    ).status_code == 200
    attempts = [
        client.post(TASKS, json={"title": "x"}, headers=viewer.headers),
        client.patch(f"{TASKS}/{a['id']}", json={"title": "x"}, headers=viewer.headers),
        client.delete(f"{TASKS}/{a['id']}", headers=viewer.headers),
        client.post(
            f"{TASKS}/{b['id']}/dependencies",
            json={"blocked_by_id": a["id"]},
            headers=viewer.headers,
        ),
        client.delete(f"{TASKS}/{a['id']}/dependencies/{b['id']}", headers=viewer.headers),
        client.post(f"{TASKS}/{a['id']}/comments", json={"body": "x"}, headers=viewer.headers),
        client.delete(f"{TASKS}/{a['id']}/comments/{comment['id']}", headers=viewer.headers),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 403, (r.request.method, r.request.url, r.status_code)
    # agents write but deleting a task takes a manager
    assert (
        await client.patch(f"{TASKS}/{a['id']}", json={"title": "y"}, headers=agent.headers)
    ).status_code == 200
    assert (await client.delete(f"{TASKS}/{a['id']}", headers=agent.headers)).status_code == 403


async def test_other_tenant_gets_404_and_cannot_link(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    intruder = await register(client)
    a = await _task(client, owner)
    b = await _task(client, owner)
    await create(client, owner, f"{TASKS}/{a['id']}/dependencies", {"blocked_by_id": b["id"]})
    comment = await create(client, owner, f"{TASKS}/{a['id']}/comments", {"body": "private"})
    lead = await create(client, owner, "/api/v1/leads", {"name": "Their lead"})
    contact = await create(client, owner, "/api/v1/contacts", {"name": "Their contact"})
    team = await create(client, owner, "/api/v1/teams", {"name": "Their team"})
    mine = await _task(client, intruder)

    h = intruder.headers
    routes = [
        client.get(f"{TASKS}/{a['id']}", headers=h),
        client.patch(f"{TASKS}/{a['id']}", json={"title": "pwned"}, headers=h),
        client.delete(f"{TASKS}/{a['id']}", headers=h),
        client.post(
            f"{TASKS}/{a['id']}/dependencies", json={"blocked_by_id": mine["id"]}, headers=h
        ),
        client.delete(f"{TASKS}/{a['id']}/dependencies/{b['id']}", headers=h),
        client.get(f"{TASKS}/{a['id']}/comments", headers=h),
        client.post(f"{TASKS}/{a['id']}/comments", json={"body": "x"}, headers=h),
        client.delete(f"{TASKS}/{a['id']}/comments/{comment['id']}", headers=h),
        client.delete(f"{TASKS}/{mine['id']}/comments/{comment['id']}", headers=h),
    ]
    for route in routes:
        r = await route
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code)
    assert all(t["id"] != a["id"] for t in await _list(client, intruder))

    links = {
        "lead_id": lead["id"],
        "contact_id": contact["id"],
        "team_id": team["id"],
        "assignee_id": owner.user_id,
    }
    for field, value in links.items():
        r = await client.post(TASKS, json={"title": "x", field: value}, headers=h)
        assert r.status_code == 422 and _fields(r) == {field}, (field, r.text)
        r = await client.patch(f"{TASKS}/{mine['id']}", json={field: value}, headers=h)
        assert r.status_code == 422 and _fields(r) == {field}, (field, r.text)
    r = await client.post(
        f"{TASKS}/{mine['id']}/dependencies", json={"blocked_by_id": a["id"]}, headers=h
    )
    assert r.status_code == 422 and _fields(r) == {"blocked_by_id"}

    # the owner's data is untouched
    after = (await client.get(f"{TASKS}/{a['id']}", headers=owner.headers)).json()
    assert after["title"] == "Task" and after["blocked_by"] == [b["id"]]
    assert (
        len(
            (await client.get(f"{TASKS}/{a['id']}/comments", headers=owner.headers)).json()["items"]
        )
        == 1
    )


async def test_concurrent_edges_never_close_a_cycle(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    ring = [await _task(client, owner, title=f"ring {i}") for i in range(4)]

    async def depend(i: int) -> int:
        task, on = ring[i], ring[(i + 1) % len(ring)]
        r = await client.post(
            f"{TASKS}/{task['id']}/dependencies",
            json={"blocked_by_id": on["id"]},
            headers=owner.headers,
        )
        return r.status_code

    codes = await asyncio.gather(*(depend(i) for i in range(len(ring))))
    assert sorted(codes) == [201, 201, 201, 422]
    edges = sum(len(t["blocked_by"]) for t in await _list(client, owner))
    assert edges == 3
