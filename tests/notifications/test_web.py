"""Notifications in the web UI over real HTTP with cookie sessions: the bell, the notifications
page, the preferences form and the admins' email outbox."""

from __future__ import annotations

import json

import httpx

from tests.fixtures.factories import Account, member, register
from tests.notifications.common import assign_task, notifications, wait_for
from tests.web.test_pages import csrf_of, web_login

HX = {"HX-Request": "true"}


def _hx(c: httpx.AsyncClient) -> dict[str, str]:
    return {**HX, "X-CSRF-Token": csrf_of(c)}


async def _with_notifications(client: httpx.AsyncClient, n: int) -> tuple[Account, Account]:
    owner = await register(client, org="Bell Co", full_name="Bea Owner")
    agent = await member(client, owner, "agent")
    for i in range(n):
        await assign_task(client, owner, agent, f"Bell task {i}")
    await wait_for(client, agent, lambda items: len(items) == n)
    return owner, agent


async def test_every_page_loads_the_bell_and_its_script(
    client: httpx.AsyncClient, base_url: str
) -> None:
    _, agent = await _with_notifications(client, 2)
    c = await web_login(base_url, agent)
    try:
        home = (await c.get("/")).text
        assert 'hx-get="/notifications/bell"' in home and "data-notif-bell" in home
        assert "/static/notifications.js?v=" in home
        assert (await c.get("/static/notifications.js")).status_code == 200

        bell = await c.get("/notifications/bell", headers=HX)
        assert bell.status_code == 200
        assert 'data-notif-count="2"' in bell.text and "Notifications, 2 unread" in bell.text
        assert "Bell task 1" in bell.text and "Bell task 0" in bell.text
        assert bell.text.index("Bell task 1") < bell.text.index("Bell task 0")  # newest first
        items = await c.get("/notifications/bell?part=items", headers=HX)
        assert "<details" not in items.text and "Bell task 1" in items.text

        r = await c.post("/notifications/read-all?source=bell", headers=_hx(c))
        assert r.status_code == 200
        assert 'data-notif-count="0"' in r.text and " open" in r.text
        assert json.loads(r.headers["HX-Trigger"])["notificationsChanged"] == {"unread": 0}
        assert "You're all caught up" not in r.text  # read ones stay listed
        assert (await c.get("/notifications/bell", headers=HX)).text.count("notif-item unread") == 0
    finally:
        await c.aclose()


async def test_notifications_page_filter_mark_read_and_delete(
    client: httpx.AsyncClient, base_url: str
) -> None:
    owner, agent = await _with_notifications(client, 3)
    # the consumers may create the three notifications in any order: pick them by title
    by_title = {i["title"]: i for i in await notifications(client, agent)}
    titled = {n: next(i for t, i in by_title.items() if f"Bell task {n}" in t) for n in range(3)}
    kept, second, third = titled[0], titled[1], titled[2]
    c = await web_login(base_url, agent)
    try:
        page = await c.get("/notifications")
        assert page.status_code == 200
        assert "3 unread" in page.text and page.text.count('class="list-item unread"') == 3

        r = await c.post(f"/notifications/{second['id']}/read", headers=_hx(c))
        assert r.status_code == 200
        assert f'id="notification-{second["id"]}"' in r.text and "unread" not in r.text
        assert json.loads(r.headers["HX-Trigger"])["notificationsChanged"] == {"unread": 2}

        unread = (await c.get("/notifications?show=unread")).text
        assert "Bell task 2" in unread and "Bell task 0" in unread and "Bell task 1" not in unread

        r = await c.post(f"/notifications/{third['id']}/delete", headers=_hx(c))
        assert r.status_code == 200 and r.text == ""
        assert json.loads(r.headers["HX-Trigger"])["notificationsChanged"] == {"unread": 1}
        assert {i["id"] for i in await notifications(client, agent)} == {kept["id"], second["id"]}

        # a plain form (no JavaScript): mark all read, then back to the page with a message
        r = await c.post("/notifications/read-all", data={"csrf_token": csrf_of(c)})
        assert r.status_code == 303 and r.headers["location"] == "/notifications"
        assert "0 unread" in (await c.get("/notifications")).text

        # somebody else's notification is not there for this user
        mine = await assign_task(client, agent, owner, "For the owner")
        owners = await wait_for(
            client, owner, lambda items: any(i["entity_id"] == mine["id"] for i in items)
        )
        r = await c.post(f"/notifications/{owners[0]['id']}/read", headers=_hx(c))
        assert r.status_code == 404
        assert (await notifications(client, owner, unread="true"))[0]["id"] == owners[0]["id"]
    finally:
        await c.aclose()


async def test_preferences_form(client: httpx.AsyncClient, base_url: str) -> None:
    acc = await register(client)
    c = await web_login(base_url, acc)
    try:
        page = await c.get("/settings/notifications")
        assert page.status_code == 200
        assert 'name="task.assigned:in_app" value="on" checked' in page.text
        assert 'name="task.assigned:email" value="on">' in page.text
        assert "Deal won" in page.text
        # every box unticked except: task.assigned by email only, deal.won in the app
        r = await c.post(
            "/settings/notifications",
            data={
                "csrf_token": csrf_of(c),
                "task.assigned:email": "on",
                "deal.won:in_app": "on",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/settings/notifications"
        prefs = {
            p["type"]: (p["in_app"], p["email"])
            for p in (
                await client.get("/api/v1/notifications/preferences", headers=acc.headers)
            ).json()
        }
        assert prefs["task.assigned"] == (False, True)
        assert prefs["deal.won"] == (True, False)
        assert prefs["deal.lost"] == (False, False)
        page = (await c.get("/settings/notifications")).text
        assert 'name="task.assigned:email" value="on" checked' in page

        r = await c.post("/settings/notifications", data={"deal.won:in_app": "on"})
        assert r.status_code == 403  # no CSRF token
    finally:
        await c.aclose()


async def test_outbox_page_for_admins_only(client: httpx.AsyncClient, base_url: str) -> None:
    owner = await register(client, org="Outbox Co")
    agent = await member(client, owner, "agent")  # its invitation email is in the outbox
    r = await client.post("/api/v1/auth/password-reset/request", json={"email": agent.email})
    assert r.status_code == 202
    admin = await web_login(base_url, owner)
    other = await web_login(base_url, agent)
    try:
        page = await admin.get("/notifications/outbox")
        assert page.status_code == 200
        assert "You are invited to Outbox Co on aicrm" in page.text
        assert "Invitation token:" in page.text  # the body, expandable
        assert page.text.count(agent.email) >= 2
        # the reset email is listed, its secret link is not shown
        assert "Reset your aicrm password" in page.text
        assert "reset-password?token=" not in page.text
        assert "not shown" in page.text

        kept = await admin.get("/notifications/outbox?status=kept")
        assert kept.status_code == 200
        assert (await admin.get("/notifications/outbox?status=bogus")).status_code == 200

        assert (await other.get("/notifications/outbox")).status_code == 403
        # another organization's admin does not see these emails
        stranger = await register(client, org="Elsewhere")
        s = await web_login(base_url, stranger)
        try:
            assert "Outbox Co" not in (await s.get("/notifications/outbox")).text
        finally:
            await s.aclose()
    finally:
        await admin.aclose()
        await other.aclose()
