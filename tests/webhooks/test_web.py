"""Settings → Webhooks pages over real HTTP with cookie sign-in, CSRF and HTMX requests."""

from __future__ import annotations

import html
import re

import httpx

from tests.fixtures.factories import member, register
from tests.web.test_pages import HX, csrf_of, web_login
from tests.webhooks.helpers import HOOKS, delivery_settled, make_hook
from tests.webhooks.receiver import Receiver


async def test_webhook_pages_end_to_end(client: httpx.AsyncClient, base_url: str) -> None:
    owner = await register(client, org="Hook pages")
    web = await web_login(base_url, owner)
    try:
        r = await web.get("/settings/webhooks")
        assert r.status_code == 200 and "No webhooks yet" in r.text
        r = await web.get("/settings/webhooks/new")
        assert r.status_code == 200
        assert 'value="deal.won"' in r.text and 'value="*"' in r.text

        # a bad URL and no events: the form comes back with both fields flagged
        r = await web.post(
            "/settings/webhooks",
            data={"csrf_token": csrf_of(web), "url": "ftp://nope", "other": ""},
        )
        assert r.status_code == 422
        assert "field-error" in r.text and "http:// or https://" in r.text
        # no CSRF token, no change
        r = await web.post("/settings/webhooks", data={"url": "https://example.com/x"})
        assert r.status_code == 403

        async with Receiver() as rx:
            r = await web.post(
                "/settings/webhooks",
                data={
                    "csrf_token": csrf_of(web),
                    "url": rx.url,
                    "description": "Billing sync",
                    "event_types": ["lead.created", "deal.won"],
                    "other": "task.*, *.deleted",
                    "active": "1",
                },
            )
            assert r.status_code == 303, r.text
            hook_id = int(r.headers["location"].rsplit("/", 1)[1])
            hook = (await client.get(f"{HOOKS}/{hook_id}", headers=owner.headers)).json()
            assert hook["event_types"] == ["lead.created", "deal.won", "task.*", "*.deleted"]
            assert hook["description"] == "Billing sync"

            page = await web.get(f"/settings/webhooks/{hook_id}")
            assert page.status_code == 200
            assert hook["secret"] in page.text and rx.url in page.text
            assert "Nothing sent yet" in page.text

            # send test: the log comes back with the new delivery, which then succeeds
            r = await web.post(
                f"/settings/webhooks/{hook_id}/test", headers={**HX, "X-CSRF-Token": csrf_of(web)}
            )
            assert r.status_code == 200 and "webhook.test" in r.text
            assert 'hx-trigger="every 2s"' in r.text  # refreshes itself while in flight
            delivery_id = int(re.search(r'id="delivery-(\d+)"', r.text).group(1))
            await delivery_settled(client, owner, hook_id, delivery_id)
            log = await web.get(f"/settings/webhooks/{hook_id}/deliveries", headers=HX)
            assert "Succeeded" in log.text and '{"ok":true}' in html.unescape(log.text)

            r = await web.post(
                f"/settings/webhooks/{hook_id}/deliveries/{delivery_id}/replay",
                headers={**HX, "X-CSRF-Token": csrf_of(web)},
            )
            assert r.status_code == 200 and f"replay of #{delivery_id}" in r.text
            await rx.wait_for(lambda rx: len(rx.requests) >= 2)

            r = await web.get(
                f"/settings/webhooks/{hook_id}/deliveries", params={"status": "failed"}, headers=HX
            )
            assert "No deliveries in this state" in r.text

        r = await web.post(
            f"/settings/webhooks/{hook_id}/rotate", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 200
        new_secret = (await client.get(f"{HOOKS}/{hook_id}", headers=owner.headers)).json()[
            "secret"
        ]
        assert new_secret != hook["secret"] and new_secret in r.text

        r = await web.post(
            f"/settings/webhooks/{hook_id}/active",
            data={"csrf_token": csrf_of(web), "active": "0"},
            headers=HX,
        )
        assert r.status_code == 200 and "Paused" in r.text

        edit = await web.get(f"/settings/webhooks/{hook_id}/edit")
        assert edit.status_code == 200 and "task.*, *.deleted" in edit.text
        r = await web.post(
            f"/settings/webhooks/{hook_id}",
            data={
                "csrf_token": csrf_of(web),
                "url": "https://example.com/new",
                "description": "Moved",
                "event_types": ["*"],
                "version": "1",
            },
        )
        assert r.status_code == 422 and "changed since version 1" in r.text
        version = (await client.get(f"{HOOKS}/{hook_id}", headers=owner.headers)).json()["version"]
        r = await web.post(
            f"/settings/webhooks/{hook_id}",
            data={
                "csrf_token": csrf_of(web),
                "url": "https://example.com/new",
                "description": "Moved",
                "event_types": ["*", "deal.won"],
                "version": str(version),
            },
        )
        assert r.status_code == 303, r.text
        now = (await client.get(f"{HOOKS}/{hook_id}", headers=owner.headers)).json()
        assert now["url"] == "https://example.com/new" and now["event_types"] == ["*"]

        listing = await web.get("/settings/webhooks")
        assert "https://example.com/new" in listing.text and "Paused" in listing.text

        r = await web.post(
            f"/settings/webhooks/{hook_id}/delete", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/settings/webhooks"
        assert (await web.get(f"/settings/webhooks/{hook_id}")).status_code == 404
    finally:
        await web.aclose()


async def test_webhook_pages_need_settings_and_hide_other_tenants(
    client: httpx.AsyncClient, base_url: str
) -> None:
    owner = await register(client, org="Hook owner web")
    agent = await member(client, owner, "agent")
    stranger = await register(client, org="Other web")
    hook = await make_hook(client, owner, "http://127.0.0.1:9/x", ["*"], active=False)
    web = await web_login(base_url, agent)
    try:
        for path in ("/settings/webhooks", f"/settings/webhooks/{hook['id']}"):
            r = await web.get(path)
            assert r.status_code == 403 and hook["secret"] not in r.text
        r = await web.post(
            f"/settings/webhooks/{hook['id']}/rotate", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 403
    finally:
        await web.aclose()
    web = await web_login(base_url, stranger)
    try:
        for path in (
            f"/settings/webhooks/{hook['id']}",
            f"/settings/webhooks/{hook['id']}/edit",
            f"/settings/webhooks/{hook['id']}/deliveries",
        ):
            r = await web.get(path)
            assert r.status_code == 404 and hook["secret"] not in r.text
        r = await web.post(
            f"/settings/webhooks/{hook['id']}/test", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 404
    finally:
        await web.aclose()
    after = (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).json()
    assert after["secret"] == hook["secret"] and after["version"] == 1
