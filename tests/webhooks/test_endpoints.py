"""The webhooks API: CRUD with versions, secrets, validation, permissions, tenants, the SSRF
guard at save time."""

from __future__ import annotations

import json

import httpx

from tests.fixtures.factories import member, register
from tests.fixtures.server import LiveServer
from tests.webhooks.helpers import HOOKS, make_hook, server_settings

URL = "https://hooks.example.com/aicrm"


def _fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json().get("errors", [])}


async def test_crud_secret_versions_and_audit(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    hook = await make_hook(client, owner, URL, ["deal.*", "lead.created"], description="CRM sync")
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["event_types"] == ["deal.*", "lead.created"]
    assert hook["active"] is True and hook["consecutive_failures"] == 0 and hook["version"] == 1

    r = await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    assert r.json()["secret"] == hook["secret"]

    listed = (await client.get(HOOKS, headers=owner.headers)).json()
    assert [h["id"] for h in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0]

    r = await client.patch(
        f"{HOOKS}/{hook['id']}",
        json={"description": "CRM sync v2", "event_types": ["*"]},
        headers={**owner.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["event_types"] == ["*"]
    stale = await client.patch(
        f"{HOOKS}/{hook['id']}",
        json={"description": "lost"},
        headers={**owner.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    stale = await client.patch(
        f"{HOOKS}/{hook['id']}", json={"description": "lost", "version": 1}, headers=owner.headers
    )
    assert stale.status_code == 412

    rotated = await client.post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=owner.headers)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    assert rotated.json()["version"] == 3

    r = await client.patch(f"{HOOKS}/{hook['id']}", json={"active": False}, headers=owner.headers)
    assert r.json()["active"] is False and r.json()["disabled_at"] is None

    # every change is audited, and no secret ever reaches the audit log
    r = await client.get(
        "/api/v1/audit-log",
        params={"entity_type": "webhook", "entity_id": hook["id"]},
        headers=owner.headers,
    )
    entries = r.json()["items"]
    assert [e["action"] for e in entries] == ["update", "update", "update", "create"]
    dumped = json.dumps(entries)
    assert hook["secret"] not in dumped and new_secret not in dumped
    assert entries[1]["after"] == {"secret": "(rotated)"}

    assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)).status_code == 404


async def test_validation_names_the_field(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    for url in ("ftp://example.com/x", "example.com/hook", "http://", "javascript:alert(1)"):
        r = await client.post(HOOKS, json={"url": url, "event_types": ["*"]}, headers=owner.headers)
        assert r.status_code == 422 and _fields(r) == {"url"}, (url, r.text)
    for patterns in ([], ["Deal.Won"], ["deal..won"], ["deal.won?"], ["deal.**"], ["."], [""]):
        r = await client.post(
            HOOKS, json={"url": URL, "event_types": patterns}, headers=owner.headers
        )
        assert r.status_code == 422 and _fields(r) == {"event_types"}, (patterns, r.text)
    r = await client.post(
        HOOKS, json={"url": URL, "event_types": ["*"], "secret": "mine"}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"secret"}
    hook = await make_hook(client, owner, URL, ["lead.*", "lead.*", "*.created"])
    assert hook["event_types"] == ["lead.*", "*.created"]
    r = await client.patch(
        f"{HOOKS}/{hook['id']}", json={"url": "gopher://x"}, headers=owner.headers
    )
    assert r.status_code == 422 and _fields(r) == {"url"}
    r = await client.get(f"{HOOKS}/{hook['id']}/deliveries?status=lost", headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"status"}
    r = await client.get(f"{HOOKS}/{hook['id']}/deliveries?cursor=zzz", headers=owner.headers)
    assert r.status_code == 422 and _fields(r) == {"cursor"}


async def test_only_settings_admins(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    admin = await member(client, owner, "admin")
    hook = await make_hook(client, admin, URL, ["*"])
    for role in ("viewer", "agent", "manager"):
        acc = await member(client, owner, role)
        calls = [
            client.get(HOOKS, headers=acc.headers),
            client.post(HOOKS, json={"url": URL, "event_types": ["*"]}, headers=acc.headers),
            client.get(f"{HOOKS}/{hook['id']}", headers=acc.headers),
            client.patch(f"{HOOKS}/{hook['id']}", json={"active": False}, headers=acc.headers),
            client.post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=acc.headers),
            client.post(f"{HOOKS}/{hook['id']}/test", headers=acc.headers),
            client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=acc.headers),
            client.delete(f"{HOOKS}/{hook['id']}", headers=acc.headers),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403, (role, r.request.method, r.request.url, r.text)
    r = await client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["active"] is True


async def test_other_tenants_get_404(client: httpx.AsyncClient) -> None:
    a = await register(client, org="Hook owner")
    b = await register(client, org="Hook intruder")
    hook = await make_hook(client, a, "http://127.0.0.1:9/x", ["*"], active=False)
    delivery = (await client.post(f"{HOOKS}/{hook['id']}/test", headers=a.headers)).json()
    base = f"{HOOKS}/{hook['id']}"
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate-secret"),
        ("POST", f"{base}/test"),
        ("GET", f"{base}/deliveries"),
        ("GET", f"{base}/deliveries/{delivery['id']}"),
        ("POST", f"{base}/deliveries/{delivery['id']}/replay"),
    ):
        r = await client.request(
            method, path, json={} if method == "PATCH" else None, headers=b.headers
        )
        assert r.status_code == 404, (method, path, r.text)
    assert (await client.get(HOOKS, headers=b.headers)).json()["items"] == []
    # a delivery id under another of A's own webhooks is not found either
    other = await make_hook(client, a, "http://127.0.0.1:9/y", ["*"], active=False)
    r = await client.get(f"{HOOKS}/{other['id']}/deliveries/{delivery['id']}", headers=a.headers)
    assert r.status_code == 404
    r = await client.get(f"{base}", headers=a.headers)
    assert r.status_code == 200 and r.json()["version"] == 1


async def test_private_targets_refused_unless_allowed(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    owner = await register(client)
    allowed = await make_hook(client, owner, "http://127.0.0.1:9/dev", ["*"], active=False)
    private = (
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://0.0.0.0/x",
        "http://2130706433/x",
    )
    with server_settings(live_server, WEBHOOK_ALLOW_PRIVATE=False):
        for url in private:
            r = await client.post(
                HOOKS, json={"url": url, "event_types": ["*"]}, headers=owner.headers
            )
            assert r.status_code == 422 and _fields(r) == {"url"}, (url, r.text)
        r = await client.patch(
            f"{HOOKS}/{allowed['id']}", json={"url": "http://127.0.0.2/x"}, headers=owner.headers
        )
        assert r.status_code == 422 and _fields(r) == {"url"}
        assert "public" in r.json()["errors"][0]["message"]
        # a public address literal needs no DNS and is accepted
        ok = await client.post(
            HOOKS,
            json={"url": "https://93.184.215.14/hook", "event_types": ["*"]},
            headers=owner.headers,
        )
        assert ok.status_code == 201, ok.text
        # unrelated changes to an existing webhook are not blocked by its stored URL
        r = await client.patch(
            f"{HOOKS}/{allowed['id']}", json={"description": "kept"}, headers=owner.headers
        )
        assert r.status_code == 200
