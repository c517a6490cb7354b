"""Deliveries end to end: events made through the REST API reach a real local receiver, signed,
through failures and retries; 410 stops; repeated failure disables and notifies; replay; the
SSRF guard at send time; the one-off `webhooks.post` job."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
from sqlalchemy import select

from aicrm.models import Job, Notification, utcnow
from aicrm.webhooks.signing import verify
from tests.fixtures.factories import create, member, register
from tests.fixtures.server import LiveServer
from tests.webhooks.helpers import (
    HOOKS,
    deliveries,
    delivery_settled,
    engine_for,
    eventually,
    make_hook,
    server_settings,
)
from tests.webhooks.receiver import Receiver, fail_first


async def test_flaky_receiver_gets_every_delivery_signed(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    async with Receiver(status=fail_first(6)) as rx:
        hook = await make_hook(client, owner, rx.url, ["lead.created"])
        secret = hook["secret"]
        leads = [
            await create(client, owner, "/api/v1/leads", {"name": f"Lead {i}", "value": i * 10})
            for i in range(20)
        ]
        # an event type the webhook does not want
        r = await client.patch(
            f"/api/v1/leads/{leads[0]['id']}", json={"notes": "x"}, headers=owner.headers
        )
        assert r.status_code == 200
        await rx.wait_for(
            lambda rx: len({r.headers["aicrm-webhook-id"] for r in rx.succeeded()}) >= 20
        )

        by_id: dict[str, dict] = {}
        for req in rx.requests:
            assert req.method == "POST" and req.path == "/hook"
            assert req.headers["content-type"] == "application/json"
            assert req.headers["user-agent"] == "aicrm-webhooks/1"
            assert verify(secret, req.headers["aicrm-signature"], req.body)
            body = json.loads(req.body)
            assert str(body["id"]) == req.headers["aicrm-webhook-id"]
            # a retry carries the same id and the same content
            if body["id"] in by_id:
                assert by_id[body["id"]] == body
            by_id[body["id"]] = body
        assert len(by_id) == 20
        assert {b["type"] for b in by_id.values()} == {"lead.created"}
        assert {b["data"]["entity_id"] for b in by_id.values()} == {lead["id"] for lead in leads}
        sample = next(iter(by_id.values()))
        assert sample["organization_id"] == owner.organization_id
        assert sample["data"]["entity_type"] == "lead"
        assert sample["data"]["actor_user_id"] == owner.user_id
        assert set(sample) == {"id", "type", "created_at", "organization_id", "data"}
        assert sum(1 for r in rx.requests if r.status == 500) == 6

        log = await eventually(
            lambda: _all_settled(client, owner, hook["id"], 20), what="the delivery log"
        )
        assert {d["id"] for d in log} == set(by_id)
        assert all(d["status_code"] == 200 and d["latency_ms"] is not None for d in log)
        retried = [d for d in log if d["attempts"] > 1]
        assert retried, "some deliveries needed more than one attempt"
        detail = (
            await client.get(
                f"{HOOKS}/{hook['id']}/deliveries/{retried[0]['id']}", headers=owner.headers
            )
        ).json()
        # every attempt is in the log, the failed ones with their status code and latency
        codes = [a["status_code"] for a in detail["attempt_log"]]
        assert codes[-1] == 200 and set(codes[:-1]) == {500} and len(codes) == detail["attempts"]
        assert all(a["latency_ms"] is not None for a in detail["attempt_log"])
        assert detail["payload"] == by_id[detail["id"]]
        assert detail["response_excerpt"] == '{"ok":true}'
        # the streak was reset by the successes
        hook_now = (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).json()
        assert hook_now["consecutive_failures"] == 0 and hook_now["active"] is True

        # filter and page the log
        ok = await deliveries(client, owner, hook["id"], status="succeeded")
        assert len(ok) == 20
        first = await client.get(
            f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 7}, headers=owner.headers
        )
        page = first.json()
        assert len(page["items"]) == 7 and page["next_cursor"]
        ids = [d["id"] for d in page["items"]]
        assert ids == sorted(ids, reverse=True)


async def _all_settled(
    client: httpx.AsyncClient, acc: object, hook_id: int, n: int
) -> list[dict] | None:
    log = await deliveries(client, acc, hook_id)  # type: ignore[arg-type]
    if len(log) == n and all(d["status"] == "succeeded" for d in log):
        return log
    return None


async def test_tampered_body_fails_verification(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    async with Receiver() as rx:
        hook = await make_hook(client, owner, rx.url, ["*"])
        r = await client.post(f"{HOOKS}/{hook['id']}/test", headers=owner.headers)
        assert r.status_code == 202 and r.json()["event_type"] == "webhook.test"
        await rx.wait_for(lambda rx: len(rx.requests) >= 1)
    req = rx.requests[0]
    header = req.headers["aicrm-signature"]
    assert verify(hook["secret"], header, req.body)
    body = json.loads(req.body)
    assert body["type"] == "webhook.test" and body["data"]["webhook_id"] == hook["id"]
    tampered = req.body.replace(b"webhook.test", b"webhook.tesT")
    assert tampered != req.body
    assert not verify(hook["secret"], header, tampered)
    assert not verify(hook["secret"], header, req.body + b" ")
    assert not verify("whsec_wrong", header, req.body)
    # an old signature is refused even with the right body (replayed capture)
    assert not verify(hook["secret"], header, req.body, now=utcnow().timestamp() + 3600)


async def test_rotated_secret_signs_from_then_on(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    async with Receiver() as rx:
        hook = await make_hook(client, owner, rx.url, ["*"])
        r = await client.post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=owner.headers)
        new_secret = r.json()["secret"]
        await client.post(f"{HOOKS}/{hook['id']}/test", headers=owner.headers)
        await rx.wait_for(lambda rx: len(rx.requests) >= 1)
    req = rx.requests[0]
    assert verify(new_secret, req.headers["aicrm-signature"], req.body)
    assert not verify(hook["secret"], req.headers["aicrm-signature"], req.body)


async def test_response_excerpt_is_bounded_and_storable(client: httpx.AsyncClient) -> None:
    """A large, binary answer (with NUL bytes, which PostgreSQL text refuses) is kept as a
    1 KB excerpt and the delivery still counts as delivered."""
    owner = await register(client)
    async with Receiver() as rx:
        rx.answer = b"ok\x00\xff" + b"x" * 5000
        hook = await make_hook(client, owner, rx.url, ["*"])
        r = await client.post(f"{HOOKS}/{hook['id']}/test", headers=owner.headers)
        done = await delivery_settled(client, owner, hook["id"], r.json()["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    excerpt = done["response_excerpt"]
    assert excerpt.startswith("ok") and "\x00" not in excerpt and len(excerpt) <= 1024
    assert len(rx.requests) == 1


async def test_gone_stops_retries_and_deactivates(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    async with Receiver(status=lambda n: 410) as rx:
        hook = await make_hook(client, owner, rx.url, ["lead.created"])
        await create(client, owner, "/api/v1/leads", {"name": "Gone lead"})
        [d] = await eventually(
            lambda: _deliveries_if(client, owner, hook["id"], "failed"), what="failed delivery"
        )
        assert d["attempts"] == 1 and d["status_code"] == 410
        hook_now = (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).json()
        assert hook_now["active"] is False and "410" in hook_now["disabled_reason"]
        assert hook_now["disabled_at"] is not None
        # new events are not delivered to a deactivated webhook
        await create(client, owner, "/api/v1/leads", {"name": "After gone"})
        # give the worker time to (wrongly) retry: backoff in tests is 0.2-2 s
        await asyncio.sleep(2.5)
        assert len(rx.requests) == 1, [r.status for r in rx.requests]
        assert len(await deliveries(client, owner, hook["id"])) == 1


async def _deliveries_if(
    client: httpx.AsyncClient, acc: object, hook_id: int, status: str
) -> list[dict] | None:
    found = await deliveries(client, acc, hook_id, status=status)  # type: ignore[arg-type]
    return found or None


async def test_repeated_failure_disables_and_notifies_admins(
    client: httpx.AsyncClient, live_server: LiveServer, database_url: str
) -> None:
    owner = await register(client)
    admin = await member(client, owner, "admin")
    agent = await member(client, owner, "agent")
    async with Receiver(status=lambda n: 503) as rx:
        # lead.created only: scoring the new leads adds lead.updated events of its own
        hook = await make_hook(client, owner, rx.url, ["lead.created"])
        with server_settings(live_server, WEBHOOK_DISABLE_AFTER=3):
            for i in range(2):
                await create(client, owner, "/api/v1/leads", {"name": f"Failing {i}"})

            async def disabled() -> dict | None:
                h = (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).json()
                return h if not h["active"] else None

            hook_now = await eventually(disabled, what="the webhook to be disabled")
        assert hook_now["disabled_at"] is not None
        assert "3 failed attempts in a row" in hook_now["disabled_reason"]
        assert "503" in hook_now["disabled_reason"]

        # every delivery ends failed: the pending retries see the disabled webhook and stop
        async def all_failed() -> list[dict] | None:
            log = await deliveries(client, owner, hook["id"])
            return log if len(log) == 2 and all(d["status"] == "failed" for d in log) else None

        log = await eventually(all_failed, what="deliveries to give up")
        # three failures disable it; at most the one attempt already in flight follows
        assert 3 <= len(rx.requests) <= 4
        assert all(d["error"] == "not sent: the webhook is disabled" for d in log)
        assert all(d["status_code"] == 503 for d in log)

    async with engine_for(database_url) as engine, engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Notification.user_id, Notification.type, Notification.link).where(
                    Notification.organization_id == owner.organization_id,
                    Notification.type == "webhook.disabled",
                )
            )
        ).all()
    assert sorted(r.user_id for r in rows) == sorted([owner.user_id, admin.user_id])
    assert agent.user_id not in {r.user_id for r in rows}
    assert rows[0].link == f"/settings/webhooks/{hook['id']}"

    audit = await client.get(
        "/api/v1/audit-log",
        params={"entity_type": "webhook", "entity_id": hook["id"], "action": "update"},
        headers=owner.headers,
    )
    assert audit.json()["items"][0]["after"]["active"] is False

    # re-enable: the failure counter starts over
    r = await client.patch(f"{HOOKS}/{hook['id']}", json={"active": True}, headers=owner.headers)
    assert r.status_code == 200
    again = r.json()
    assert again["active"] is True and again["consecutive_failures"] == 0
    assert again["disabled_at"] is None and again["disabled_reason"] is None


async def test_gives_up_after_max_attempts(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    owner = await register(client)
    async with Receiver(status=lambda n: 500) as rx:
        hook = await make_hook(client, owner, rx.url, ["*"])
        with server_settings(live_server, WEBHOOK_MAX_ATTEMPTS=3):
            r = await client.post(f"{HOOKS}/{hook['id']}/test", headers=owner.headers)
        done = await delivery_settled(client, owner, hook["id"], r.json()["id"])
        assert done["status"] == "failed" and done["attempts"] == 3
        assert done["status_code"] == 500 and done["delivered_at"] is None
        assert [a["status_code"] for a in done["attempt_log"]] == [500, 500, 500]
        assert len(rx.requests) == 3
        hook_now = (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).json()
        assert hook_now["consecutive_failures"] == 3 and hook_now["active"] is True


async def test_glob_subscriptions_get_only_their_events(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    other_org = await register(client)
    async with Receiver() as deals_rx, Receiver() as leads_rx, Receiver() as all_rx:
        await make_hook(client, owner, deals_rx.url, ["deal.*"])
        await make_hook(client, owner, leads_rx.url, ["lead.created", "*.deleted"])
        await make_hook(client, owner, all_rx.url, ["*"])
        paused = await make_hook(client, owner, all_rx.url, ["*"], active=False)
        # another organization's webhook never sees these events
        async with Receiver() as foreign_rx:
            await make_hook(client, other_org, foreign_rx.url, ["*"])
            lead = await create(client, owner, "/api/v1/leads", {"name": "Glob lead"})
            deal = await create(client, owner, "/api/v1/deals", {"name": "Glob deal"})
            r = await client.delete(f"/api/v1/leads/{lead['id']}", headers=owner.headers)
            assert r.status_code == 204
            await leads_rx.wait_for(lambda rx: len(rx.requests) >= 2)
            await deals_rx.wait_for(lambda rx: len(rx.requests) >= 1)
            await all_rx.wait_for(lambda rx: len(rx.requests) >= 3)
            await asyncio.sleep(0.5)
            assert foreign_rx.requests == []

    def types(rx: Receiver) -> set[str]:
        return {json.loads(r.body)["type"] for r in rx.requests}

    assert types(leads_rx) == {"lead.created", "lead.deleted"}
    assert types(deals_rx) == {"deal.created"}
    assert {"lead.created", "deal.created", "lead.deleted"} <= types(all_rx)
    assert not any(t.startswith("notification.") for t in types(all_rx))
    assert all(
        json.loads(r.body)["data"]["entity_id"] in (lead["id"], deal["id"]) for r in all_rx.requests
    )
    assert await deliveries(client, owner, paused["id"]) == []


async def test_replay_sends_the_same_payload_as_a_new_delivery(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    async with Receiver() as rx:
        hook = await make_hook(client, owner, rx.url, ["lead.created"])
        await create(client, owner, "/api/v1/leads", {"name": "Replay me"})
        [original] = await eventually(
            lambda: _deliveries_if(client, owner, hook["id"], "succeeded"), what="first delivery"
        )
        r = await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/{original['id']}/replay", headers=owner.headers
        )
        assert r.status_code == 202, r.text
        replay = r.json()
        assert replay["replay_of_id"] == original["id"] and replay["id"] != original["id"]
        assert replay["status"] == "pending" and replay["event_type"] == "lead.created"
        done = await delivery_settled(client, owner, hook["id"], replay["id"])
        assert done["status"] == "succeeded" and done["attempts"] == 1
        await rx.wait_for(lambda rx: len(rx.requests) >= 2)
    first, second = (json.loads(r.body) for r in rx.requests[:2])
    assert second["id"] == replay["id"] and first["id"] == original["id"]
    assert {k: v for k, v in first.items() if k != "id"} == {
        k: v for k, v in second.items() if k != "id"
    }
    assert rx.requests[1].headers["aicrm-webhook-id"] == str(replay["id"])
    assert verify(hook["secret"], rx.requests[1].headers["aicrm-signature"], rx.requests[1].body)


async def test_send_time_guard_refuses_private_targets(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    """A URL accepted earlier (or whose DNS changed since) is checked again when sent."""
    owner = await register(client)
    async with Receiver() as rx:
        hook = await make_hook(client, owner, rx.url, ["*"])
        with server_settings(live_server, WEBHOOK_ALLOW_PRIVATE=False):
            r = await client.post(f"{HOOKS}/{hook['id']}/test", headers=owner.headers)
            assert r.status_code == 202
            done = await delivery_settled(client, owner, hook["id"], r.json()["id"])
        assert done["status"] == "failed" and done["attempts"] == 1
        assert "refused" in done["error"] and "loopback" in done["error"]
        assert done["status_code"] is None
        assert rx.requests == []


async def test_post_job_signs_retries_and_stops_on_gone(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """`webhooks.post` (the automation "call a webhook" action) queued like helper code does."""
    from aicrm.config import get_settings
    from aicrm.db import Database
    from aicrm.jobs import enqueue

    owner = await register(client)
    db = Database(get_settings(), url=database_url)
    try:
        async with Receiver(status=fail_first(2)) as rx, Receiver(status=lambda n: 410) as gone:
            session = await db.session(write=True)
            try:
                ok_job = await enqueue(
                    session,
                    "webhooks.post",
                    {
                        "url": rx.url,
                        "payload": {"lead_id": 7, "rule": "big deal"},
                        "event_type": "automation.rule_fired",
                        "secret": "whsec_automation",
                    },
                    organization_id=owner.organization_id,
                )
                gone_job = await enqueue(
                    session,
                    "webhooks.post",
                    {"url": gone.url, "payload": {"x": 1}, "event_type": "automation.x"},
                    organization_id=owner.organization_id,
                )
                await session.commit()
            finally:
                await session.close()
            assert ok_job is not None and gone_job is not None

            async def finished(job_id: int) -> Job | None:
                s = await db.session(write=False)
                try:
                    job = await s.get(Job, job_id)
                    return job if job and job.status in ("succeeded", "dead") else None
                finally:
                    await s.close()

            done = await eventually(lambda: finished(ok_job.id), what="webhooks.post")
            dead = await eventually(lambda: finished(gone_job.id), what="webhooks.post 410")
    finally:
        await db.dispose()
    assert done.status == "succeeded" and done.attempts == 3
    assert done.result["status_code"] == 200
    assert [r.status for r in rx.requests] == [500, 500, 200]
    bodies = [json.loads(r.body) for r in rx.requests]
    assert all(b == bodies[0] for b in bodies), "every retry sends the same body"
    assert bodies[0]["id"] == f"job_{ok_job.id}"
    assert bodies[0]["type"] == "automation.rule_fired"
    assert bodies[0]["data"] == {"lead_id": 7, "rule": "big deal"}
    assert bodies[0]["organization_id"] == owner.organization_id
    for r in rx.requests:
        assert r.headers["aicrm-webhook-id"] == f"job_{ok_job.id}"
        assert verify("whsec_automation", r.headers["aicrm-signature"], r.body)
    assert dead.status == "dead" and dead.attempts == 1 and "410" in (dead.last_error or "")
    assert len(gone.requests) == 1 and "aicrm-signature" not in gone.requests[0].headers
    assert utcnow() - done.created_at < timedelta(minutes=5)
