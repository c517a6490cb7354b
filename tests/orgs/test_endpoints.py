from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import PASSWORD, create, member, register, unique_email


async def test_invitation_flow_and_switching(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Inviting Org")
    other = await register(client, org="Home Org")
    inv = await create(
        client, owner, "/api/v1/invitations", {"email": other.email, "role": "manager"}
    )
    # the token is also emailed through the outbox; accepting switches to the new org
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": inv["token"]}, headers=other.headers
    )
    assert r.status_code == 200
    switched = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = (await client.get("/api/v1/auth/me", headers=switched)).json()
    assert me["active_organization_id"] == owner.organization_id and me["role"] == "manager"
    assert {m["organization_name"] for m in me["memberships"]} == {"Inviting Org", "Home Org"}
    # switch back
    r = await client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": other.organization_id},
        headers=switched,
    )
    assert r.status_code == 200 and r.json()["organization_id"] == other.organization_id
    # an invitation cannot be reused, and cannot be used by someone else
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": inv["token"]}, headers=other.headers
    )
    assert r.status_code == 422
    # switching to an organization you are not in answers 404
    stranger = await register(client)
    r = await client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": owner.organization_id},
        headers=stranger.headers,
    )
    assert r.status_code == 404


async def test_invitation_for_another_email_is_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    inv = await create(
        client, owner, "/api/v1/invitations", {"email": unique_email(), "role": "agent"}
    )
    r = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": PASSWORD, "invitation_token": inv["token"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "invitation_token"
    # nothing half-written: the account was not created either
    r = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}
    )
    assert r.status_code == 401


async def test_role_changes_respect_rank_and_last_owner(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    admin = await member(client, owner, "admin")
    agent = await member(client, owner, "agent")
    # admin cannot make someone owner, nor demote the owner
    r = await client.patch(
        f"/api/v1/members/{agent.user_id}", json={"role": "owner"}, headers=admin.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/members/{owner.user_id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/members/{agent.user_id}", json={"role": "manager"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["role"] == "manager"
    # the last owner cannot step down
    r = await client.patch(
        f"/api/v1/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
    )
    assert r.status_code == 409
    # an agent cannot manage members at all
    r = await client.get("/api/v1/invitations", headers=agent.headers)
    assert (
        r.status_code == 403
    )  # agent was promoted to manager; managers cannot manage members either
    removed = await client.delete(f"/api/v1/members/{agent.user_id}", headers=owner.headers)
    assert removed.status_code == 204
    # a removed member's token stops working for that organization at once
    r = await client.get("/api/v1/contacts", headers=agent.headers)
    assert r.status_code == 401


async def test_teams_with_members_skills_capacity(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    rep = await member(client, owner, "agent")
    team = await create(client, owner, "/api/v1/teams", {"name": "Sales", "kind": "sales"})
    r = await client.post(
        f"/api/v1/teams/{team['id']}/members",
        json={
            "user_id": rep.user_id,
            "skills": ["enterprise", "spanish"],
            "capacity": 25,
            "is_manager": False,
        },
        headers=owner.headers,
    )
    assert r.status_code == 201
    assert r.json()["members"][0]["skills"] == ["enterprise", "spanish"]
    r = await client.patch(
        f"/api/v1/teams/{team['id']}/members/{rep.user_id}",
        json={"capacity": 5},
        headers=owner.headers,
    )
    assert r.json()["members"][0]["capacity"] == 5
    r = await client.post("/api/v1/teams", json={"name": "Sales"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "name"
    r = await client.post(
        "/api/v1/teams", json={"name": "Ops", "kind": "pirates"}, headers=owner.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    # someone from another organization cannot be added
    outsider = await register(client)
    r = await client.post(
        f"/api/v1/teams/{team['id']}/members",
        json={"user_id": outsider.user_id},
        headers=owner.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_id"
    # and another organization cannot see or touch the team
    for method, path in (
        ("GET", f"/api/v1/teams/{team['id']}"),
        ("DELETE", f"/api/v1/teams/{team['id']}"),
        ("PATCH", f"/api/v1/teams/{team['id']}/members/{rep.user_id}"),
    ):
        r = await client.request(
            method, path, json={} if method == "PATCH" else None, headers=outsider.headers
        )
        assert r.status_code == 404, path
    assert (
        await client.post("/api/v1/teams", json={"name": "X"}, headers=rep.headers)
    ).status_code == 403


async def test_api_keys_scoped_hashed_revocable(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    r = await client.post(
        "/api/v1/api-keys", json={"name": "read only", "scopes": ["read"]}, headers=owner.headers
    )
    assert r.status_code == 201
    key = r.json()["key"]
    key_id = r.json()["id"]
    assert key.startswith("aicrm_") and r.json()["prefix"] == key[:12]
    listed = (await client.get("/api/v1/api-keys", headers=owner.headers)).json()
    assert "key" not in listed[0]
    kh = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/contacts", headers=kh)).status_code == 200
    assert (await client.get("/api/v1/contacts", headers={"X-API-Key": key})).status_code == 200
    assert (
        await client.post("/api/v1/contacts", json={"name": "K"}, headers=kh)
    ).status_code == 403
    w = (
        await client.post(
            "/api/v1/api-keys", json={"name": "writer", "scopes": ["write"]}, headers=owner.headers
        )
    ).json()["key"]
    assert (
        await client.post("/api/v1/contacts", json={"name": "K"}, headers={"X-API-Key": w})
    ).status_code == 201
    r = await client.post(
        "/api/v1/api-keys", json={"name": "bad", "scopes": ["root"]}, headers=owner.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scopes"
    assert (
        await client.delete(f"/api/v1/api-keys/{key_id}", headers=owner.headers)
    ).status_code == 200
    assert (await client.get("/api/v1/contacts", headers=kh)).status_code == 401
    other = await register(client)
    assert (
        await client.delete(f"/api/v1/api-keys/{key_id}", headers=other.headers)
    ).status_code == 404
    agent = await member(client, owner, "agent")
    assert (await client.get("/api/v1/api-keys", headers=agent.headers)).status_code == 403
    # an access token is no API key, even while it sits in the credential cache
    token = owner.headers["Authorization"].removeprefix("Bearer ")
    assert (await client.get("/api/v1/contacts", headers=owner.headers)).status_code == 200
    assert (await client.get("/api/v1/contacts", headers={"X-API-Key": token})).status_code == 401


async def test_password_reset_through_outbox(client: httpx.AsyncClient, live_server) -> None:  # noqa: ANN001
    acc = await register(client)
    r = await client.post("/api/v1/auth/password-reset/request", json={"email": acc.email})
    assert r.status_code == 202
    r2 = await client.post("/api/v1/auth/password-reset/request", json={"email": unique_email()})
    assert r2.status_code == 202 and r2.json() == r.json()
    # read the token from the email outbox, as a mail server would deliver it
    from sqlalchemy import select

    from aicrm.db import Database
    from aicrm.models import EmailOutbox

    # the server's engine belongs to the server's event loop: read through our own
    db = Database(url=live_server.database_url)
    async with db.sessionmaker() as s:
        body = (
            await s.execute(
                select(EmailOutbox.body).where(
                    EmailOutbox.to_email == acc.email, EmailOutbox.kind == "password_reset"
                )
            )
        ).scalar_one()
    await db.dispose()
    token = body.split("Reset token: ")[1].split()[0]
    r = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "a brand new password"},
    )
    assert r.status_code == 204
    assert (
        await client.post("/api/v1/auth/login", json={"email": acc.email, "password": PASSWORD})
    ).status_code == 401
    assert (
        await client.post(
            "/api/v1/auth/login", json={"email": acc.email, "password": "a brand new password"}
        )
    ).status_code == 200
    # old refresh tokens died with the reset, and the token is single-use
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": acc.refresh_token})
    ).status_code == 401
    r = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "another password"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "token"


async def test_cookie_auth_requires_csrf_on_writes(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    cookies = {"aicrm_access": acc.access_token, "aicrm_csrf": "csrf-value-123"}
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies=cookies) as browser:
        assert (await browser.get("/api/v1/contacts")).status_code == 200
        r = await browser.post("/api/v1/contacts", json={"name": "No CSRF"})
        assert r.status_code == 403
        r = await browser.post(
            "/api/v1/contacts",
            json={"name": "With CSRF"},
            headers={"X-CSRF-Token": "csrf-value-123"},
        )
        assert r.status_code == 201
        r = await browser.post(
            "/api/v1/contacts", json={"name": "Wrong CSRF"}, headers={"X-CSRF-Token": "other"}
        )
        assert r.status_code == 403


async def test_organization_settings_need_admin(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Settings Org")
    manager = await member(client, owner, "manager")
    r = await client.patch(
        "/api/v1/organizations/current", json={"name": "Renamed"}, headers=manager.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        "/api/v1/organizations/current",
        json={"name": "Renamed", "default_region": "GB"},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    # the region drives phone normalisation of national numbers
    c = await create(
        client, owner, "/api/v1/contacts", {"name": "UK person", "phone": "020 7946 0958"}
    )
    assert c["phone"] == "+442079460958"
    r = await client.patch(
        "/api/v1/organizations/current", json={"default_currency": "euro"}, headers=owner.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "default_currency"


@pytest.mark.parametrize("path", ["/health", "/ready"])
async def test_health_and_ready(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["x-request-id"]
