"""The websocket /ws over the real server: authentication, channel authorisation, events from real
changes, per-user notifications, slow clients and heartbeats."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from aicrm.db import Database
from aicrm.kit.principal import system_principal
from aicrm.notifications.service import notify
from aicrm.realtime.bus import get_bus
from aicrm.realtime.hub import Hub
from tests.fixtures.factories import create, member, register
from tests.realtime.helpers import (
    drain_events,
    open_ws,
    recv_json,
    recv_until,
    subscribe,
)


async def _closed_with(ws: object, timeout: float = 10.0) -> tuple[int | None, str]:
    """Read until the server closes; the close code and reason it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd else None), (exc.rcvd.reason if exc.rcvd else "")


async def test_authentication_is_required(client: httpx.AsyncClient, base_url: str) -> None:
    async with open_ws(base_url) as ws:
        code, reason = await _closed_with(ws)
    assert code == 4401
    assert "token" in reason
    async with open_ws(base_url, "not-a-jwt") as ws:
        assert (await _closed_with(ws))[0] == 4401
    async with open_ws(base_url, "aicrm_notarealkey") as ws:
        assert (await _closed_with(ws))[0] == 4401


async def test_api_key_and_cookie_authenticate(client: httpx.AsyncClient, base_url: str) -> None:
    a = await register(client, org="Keys Co")
    key = (await create(client, a, "/api/v1/api-keys", {"name": "ws", "scopes": ["read"]}))["key"]
    async with open_ws(base_url, key) as ws:
        reply = await subscribe(ws, f"organization:{a.organization_id}")
        assert reply["type"] == "subscribed"

    cookie = {"Cookie": f"aicrm_access={a.access_token}"}
    # the web UI's cookie from a page of this site
    async with open_ws(base_url, additional_headers=cookie, origin=base_url) as ws:
        assert (await subscribe(ws, f"user:{a.user_id}"))["type"] == "subscribed"
    # the same cookie sent by a page of another site: cross-site websocket hijacking refused
    async with open_ws(base_url, additional_headers=cookie, origin="http://evil.example.com") as ws:
        code, reason = await _closed_with(ws)
    assert code == 4403
    assert "Origin" in reason


async def test_subscriptions_are_authorised(client: httpx.AsyncClient, base_url: str) -> None:
    a = await register(client, org="Channel A")
    colleague = await member(client, a, "viewer")
    b = await register(client, org="Channel B")
    lead_a = await create(client, a, "/api/v1/leads", {"name": "A's lead"})
    lead_b = await create(client, b, "/api/v1/leads", {"name": "B's lead"})
    deal_b = await create(client, b, "/api/v1/deals", {"name": "B's deal"})
    task_a = await create(client, a, "/api/v1/tasks", {"title": "A's task"})
    async with open_ws(base_url, a.access_token) as ws:
        allowed = [
            f"organization:{a.organization_id}",
            f"user:{a.user_id}",
            f"lead:{lead_a['id']}",
            f"task:{task_a['id']}",
        ]
        for channel in allowed:
            assert await subscribe(ws, channel) == {"type": "subscribed", "channel": channel}
        refused = {
            f"organization:{b.organization_id}": "own organization",
            f"user:{b.user_id}": "own user",
            f"user:{colleague.user_id}": "own user",
            f"lead:{lead_b['id']}": "not found",
            f"deal:{deal_b['id']}": "not found",
            "lead:999999999": "not found",
            "ticket:1": "",
            "galaxy:1": "unknown channel",
            "organization": "must look like",
            "lead:-1": "must look like",
        }
        for channel, detail in refused.items():
            reply = await subscribe(ws, channel)
            assert reply["type"] == "error", (channel, reply)
            assert detail in reply["detail"], (channel, reply)
        await ws.send(json.dumps({"type": "unsubscribe", "channel": f"lead:{lead_a['id']}"}))
        assert await recv_until(ws, "unsubscribed") == {
            "type": "unsubscribed",
            "channel": f"lead:{lead_a['id']}",
        }
        await ws.send("not json")
        assert (await recv_until(ws, "error"))["detail"] == "not JSON"
        await ws.send(json.dumps({"type": "dance"}))
        assert "subscribe" in (await recv_until(ws, "error"))["detail"]
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv_until(ws, "pong") == {"type": "pong"}


async def test_lead_move_reaches_its_organization_only(
    client: httpx.AsyncClient, base_url: str
) -> None:
    a = await register(client, org="Movers A")
    colleague = await member(client, a, "agent")
    b = await register(client, org="Movers B")
    lead = await create(client, a, "/api/v1/leads", {"name": "Moving lead", "value": 1200})
    async with (
        open_ws(base_url, a.access_token) as ws_org,
        open_ws(base_url, colleague.access_token) as ws_lead,
        open_ws(base_url, b.access_token) as ws_other,
    ):
        assert (await subscribe(ws_org, f"organization:{a.organization_id}"))["type"] == (
            "subscribed"
        )
        assert (await subscribe(ws_org, f"lead:{lead['id']}"))["type"] == "subscribed"
        assert (await subscribe(ws_lead, f"lead:{lead['id']}"))["type"] == "subscribed"
        assert (await subscribe(ws_other, f"organization:{b.organization_id}"))["type"] == (
            "subscribed"
        )

        r = await client.put(
            f"/api/v1/leads/{lead['id']}/status",
            json={"status": "Qualified", "card_order": 0},
            headers=colleague.headers,
        )
        assert r.status_code == 200, r.text

        first = await recv_until(ws_org, "lead_updated")
        second = await recv_until(ws_org, "lead_updated")
        assert {first["channel"], second["channel"]} == {
            f"organization:{a.organization_id}",
            f"lead:{lead['id']}",
        }
        for message in (first, second):
            assert message["event"] == "lead.status_changed"
            assert message["entity_type"] == "lead"
            assert message["entity_id"] == lead["id"]
            assert message["data"]["from"] == "New"
            assert message["data"]["to"] == "Qualified"
            assert message["data"]["actor_user_id"] == colleague.user_id
            assert message["ts"]
        on_lead = await recv_until(ws_lead, "lead_updated")
        assert on_lead["channel"] == f"lead:{lead['id']}"
        assert on_lead["event_id"] == first["event_id"]
        # another organization hears nothing
        assert await drain_events(ws_other) == []


async def test_notification_goes_only_to_its_user(
    client: httpx.AsyncClient, base_url: str, db: Database
) -> None:
    a = await register(client, org="Notify Co")
    colleague = await member(client, a, "agent")
    async with (
        open_ws(base_url, a.access_token) as ws_owner,
        open_ws(base_url, colleague.access_token) as ws_colleague,
    ):
        for ws, acc in ((ws_owner, a), (ws_colleague, colleague)):
            assert (await subscribe(ws, f"user:{acc.user_id}"))["type"] == "subscribed"
            assert (await subscribe(ws, f"organization:{a.organization_id}"))["type"] == (
                "subscribed"
            )

        # committed in this test's thread and event loop, not the server's: the hub hops over
        session = await db.session()
        try:
            await notify(
                session,
                system_principal(a.organization_id),
                user_ids=[colleague.user_id],
                type_="automation.notify",
                title="Look at this",
                link="/leads",
            )
            await session.commit()
        finally:
            await session.close()

        message = await recv_until(ws_colleague, "notification")
        assert message["channel"] == f"user:{colleague.user_id}"
        assert message["event"] == "notification.created"
        assert message["data"]["title"] == "Look at this"
        assert message["data"]["user_id"] == colleague.user_id
        assert await drain_events(ws_colleague) == []  # not on the organization channel too
        assert await drain_events(ws_owner) == []


def _small_buffer_socket(base_url: str) -> socket.socket:
    """A client socket with a tiny receive buffer, so a client that stops reading fills the
    server's send path quickly."""
    parts = urlsplit(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    sock.setblocking(False)
    return sock


async def test_slow_client_is_dropped_fast_one_keeps_up(
    client: httpx.AsyncClient, base_url: str, hub: Hub
) -> None:
    a = await register(client, org="Slow Co")
    hub.configure(queue_size=8)
    channel = f"organization:{a.organization_id}"
    pad = "x" * 32_768
    async with (
        open_ws(base_url, a.access_token) as fast,
        open_ws(base_url, a.access_token, sock=_small_buffer_socket(base_url), max_queue=1) as slow,
    ):
        assert (await subscribe(fast, channel))["type"] == "subscribed"
        assert (await subscribe(slow, channel))["type"] == "subscribed"
        dropped_before = hub.dropped_slow
        bus = get_bus()
        sent = 0
        # the slow client reads nothing from here on; publish in rounds smaller than the queue,
        # each read fully by the fast client before the next
        for _ in range(100):
            for _ in range(4):
                bus.publish(
                    {
                        "organization_id": a.organization_id,
                        "channels": [channel],
                        "type": "bulk",
                        "data": {"i": sent, "pad": pad},
                    }
                )
                sent += 1
            for expected in range(sent - 4, sent):
                message = await recv_until(fast, "bulk")
                assert message["data"]["i"] == expected
            if hub.dropped_slow > dropped_before:
                break
        assert hub.dropped_slow > dropped_before, "the slow client was never dropped"
        # the fast client goes on receiving after the slow one is gone
        for _ in range(5):
            bus.publish(
                {
                    "organization_id": a.organization_id,
                    "channels": [channel],
                    "type": "bulk",
                    "data": {"i": sent, "pad": ""},
                }
            )
            sent += 1
        for expected in range(sent - 5, sent):
            assert (await recv_until(fast, "bulk"))["data"]["i"] == expected
        # the slow client, reading at last, finds what fitted in its buffers and then the close
        code, reason = await _closed_with(slow, timeout=20)
        assert code == 1013
        assert "slow" in reason


async def test_heartbeat_keeps_live_clients_and_drops_silent_ones(
    client: httpx.AsyncClient, base_url: str, hub: Hub
) -> None:
    a = await register(client, org="Heartbeat Co")
    hub.configure(heartbeat_seconds=0.3)
    async with (
        open_ws(base_url, a.access_token) as live,
        open_ws(base_url, a.access_token) as silent,
    ):
        # the silent client reads the server's pings but never answers
        silent_closed = asyncio.ensure_future(_closed_with(silent))
        pings = 0
        while not silent_closed.done():
            message = await recv_json(live, timeout=5)
            assert message == {"type": "ping"}
            pings += 1
            await live.send(json.dumps({"type": "pong"}))
        code, reason = await silent_closed
        assert code == 4408
        assert reason == "heartbeat timeout"
        assert pings >= 2
        # the answering client is still there
        for _ in range(3):
            assert (await recv_json(live, timeout=5))["type"] == "ping"
            await live.send(json.dumps({"type": "pong"}))
        await live.send(json.dumps({"type": "ping"}))
        assert (await recv_until(live, "pong"))["type"] == "pong"


@pytest.mark.parametrize("kind", ["lead", "deal"])
async def test_board_card_endpoint(client: httpx.AsyncClient, kind: str) -> None:
    a = await register(client, org="Cards A")
    b = await register(client, org="Cards B")
    body = {"name": "Card me", "value": 500} if kind == "lead" else {"name": "Card me"}
    record = await create(client, a, f"/api/v1/{kind}s", body)
    r = await client.get(
        f"/realtime/cards/{kind}/{record['id']}",
        headers={"Cookie": f"aicrm_access={a.access_token}"},
        follow_redirects=False,
    )
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["id"] == record["id"]
    assert card["version"] == record["version"]
    assert card["card_order"] == record["card_order"]
    assert f'data-id="{record["id"]}"' in card["html"]
    assert "Card me" in card["html"]
    if kind == "lead":
        assert card["column"] == "New"
        assert card["value"] == 500
    else:
        assert card["column"] == str(record["stage_id"])
        assert card["pipeline_id"] == record["pipeline_id"]
    # another tenant's record is not found
    r = await client.get(
        f"/realtime/cards/{kind}/{record['id']}",
        headers={"Cookie": f"aicrm_access={b.access_token}"},
        follow_redirects=False,
    )
    assert r.status_code == 404


async def test_settings_events_reach_only_settings_managers(
    client: httpx.AsyncClient, base_url: str
) -> None:
    a = await register(client, org="Settings Co")
    agent = await member(client, a, "agent")
    channel = f"organization:{a.organization_id}"
    async with (
        open_ws(base_url, a.access_token) as ws_owner,
        open_ws(base_url, agent.access_token) as ws_agent,
    ):
        for ws in (ws_owner, ws_agent):
            assert (await subscribe(ws, channel))["type"] == "subscribed"
        get_bus().publish(
            {
                "organization_id": a.organization_id,
                "channels": [channel],
                "permission": "settings:manage",
                "type": "webhook_updated",
                "event": "webhook.disabled",
                "data": {"url": "https://hooks.example.com/secret-path"},
            }
        )
        message = await recv_until(ws_owner, "webhook_updated")
        assert "permission" not in message
        assert await drain_events(ws_agent) == []


async def test_removed_member_and_revoked_key_are_disconnected(
    client: httpx.AsyncClient, base_url: str, hub: Hub
) -> None:
    a = await register(client, org="Revoke Co")
    leaver = await member(client, a, "agent")
    key = await create(client, a, "/api/v1/api-keys", {"name": "ws", "scopes": ["read"]})
    async with (
        open_ws(base_url, leaver.access_token) as ws_leaver,
        open_ws(base_url, key["key"]) as ws_key,
        open_ws(base_url, a.access_token) as ws_owner,
    ):
        for ws in (ws_leaver, ws_key, ws_owner):
            reply = await subscribe(ws, f"organization:{a.organization_id}")
            assert reply["type"] == "subscribed"
        r = await client.delete(f"/api/v1/members/{leaver.user_id}", headers=a.headers)
        assert r.status_code == 204, r.text
        r = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=a.headers)
        assert r.status_code in (200, 204), r.text
        # the periodic check (every REVALIDATE_SECONDS), run now on the server's loop
        assert hub.loop is not None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(hub.revalidate(), hub.loop))
        for ws in (ws_leaver, ws_key):
            code, reason = await _closed_with(ws)
            assert (code, reason) == (4401, "no longer allowed")
        await ws_owner.send(json.dumps({"type": "ping"}))
        assert (await recv_until(ws_owner, "pong"))["type"] == "pong"
