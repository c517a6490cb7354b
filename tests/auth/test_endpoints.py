from __future__ import annotations

import httpx

from tests.fixtures.factories import PASSWORD, register, unique_email


async def test_register_login_me_and_refresh_rotation(client: httpx.AsyncClient) -> None:
    acc = await register(client, org="Rotation Inc")
    r = await client.post("/api/v1/auth/login", json={"email": acc.email, "password": PASSWORD})
    assert r.status_code == 200
    tokens = r.json()
    assert set(tokens) >= {"access_token", "refresh_token", "token_type"}
    assert tokens["token_type"] == "bearer"

    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == acc.email
    assert me.json()["role"] == "owner"
    assert me.json()["memberships"][0]["organization_name"] == "Rotation Inc"

    first = tokens["refresh_token"]
    r1 = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != first
    # reusing the old token revokes the whole family, including the newest one
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401
    assert reuse.headers["content-type"].startswith("application/problem+json")
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401


async def test_logout_revokes_refresh(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": acc.refresh_token})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": acc.refresh_token})
    assert r.status_code == 401


async def test_wrong_password_then_lockout(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    for _ in range(5):
        r = await client.post(
            "/api/v1/auth/login", json={"email": acc.email, "password": "wrong-password"}
        )
        assert r.status_code == 401
        assert r.json()["detail"] == "Incorrect email or password"
    # the account is now locked, even for the right password
    r = await client.post("/api/v1/auth/login", json={"email": acc.email, "password": PASSWORD})
    assert r.status_code == 423
    assert int(r.headers["retry-after"]) > 0


async def test_login_rate_limit_per_email(client: httpx.AsyncClient) -> None:
    email = unique_email()
    codes = []
    for _ in range(12):
        r = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "whatever-pass"}
        )
        codes.append(r.status_code)
    assert codes[:10] == [401] * 10
    assert codes[-1] == 429


async def test_unknown_and_known_email_answer_alike(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    a = await client.post("/api/v1/auth/login", json={"email": acc.email, "password": "nope-nope"})
    b = await client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "nope-nope"}
    )
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]


async def test_register_validation_names_fields(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "short"}
    )
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"email", "password"}


async def test_duplicate_registration_conflicts(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post("/api/v1/auth/register", json={"email": acc.email, "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "email"


async def test_me_requires_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/auth/me")
    assert r.status_code == 401
    r = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401
