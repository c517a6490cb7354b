"""The permission matrix in the README, enforced: every role against every kind of action."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import member, register, unique_email

# action -> roles allowed (mirrors the README table)
MATRIX = {
    "read records": {"owner", "admin", "manager", "agent", "viewer"},
    "create/update records": {"owner", "admin", "manager", "agent"},
    "delete records": {"owner", "admin", "manager"},
    "manage teams": {"owner", "admin", "manager"},
    "read audit log": {"owner", "admin", "manager"},
    "invite and manage members": {"owner", "admin"},
    "organization settings, pipelines, custom fields": {"owner", "admin"},
    "API keys": {"owner", "admin"},
}


async def _attempt(
    client: httpx.AsyncClient, action: str, headers: dict[str, str], owner_headers: dict[str, str]
) -> int:
    if action == "read records":
        return (await client.get("/api/v1/contacts", headers=headers)).status_code
    if action == "create/update records":
        return (
            await client.post("/api/v1/contacts", json={"name": "Matrix"}, headers=headers)
        ).status_code
    if action == "delete records":
        c = (
            await client.post("/api/v1/contacts", json={"name": "Doomed"}, headers=owner_headers)
        ).json()
        return (await client.delete(f"/api/v1/contacts/{c['id']}", headers=headers)).status_code
    if action == "manage teams":
        return (
            await client.post("/api/v1/teams", json={"name": unique_email("team")}, headers=headers)
        ).status_code
    if action == "read audit log":
        return (await client.get("/api/v1/audit-log", headers=headers)).status_code
    if action == "invite and manage members":
        return (
            await client.post(
                "/api/v1/invitations",
                json={"email": unique_email(), "role": "viewer"},
                headers=headers,
            )
        ).status_code
    if action == "organization settings, pipelines, custom fields":
        body = {
            "entity_type": "lead",
            "key": "k" + unique_email()[5:12].replace("-", ""),
            "label": "K",
            "field_type": "text",
        }
        return (await client.post("/api/v1/custom-fields", json=body, headers=headers)).status_code
    if action == "API keys":
        return (
            await client.post(
                "/api/v1/api-keys", json={"name": "k", "scopes": ["read"]}, headers=headers
            )
        ).status_code
    raise AssertionError(action)


async def test_permission_matrix(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    accounts = {"owner": owner}
    for role in ("admin", "manager", "agent", "viewer"):
        accounts[role] = await member(client, owner, role)
    failures = []
    for action, allowed in MATRIX.items():
        for role, acc in accounts.items():
            code = await _attempt(client, action, acc.headers, owner.headers)
            ok = code < 400
            if ok != (role in allowed) or (not ok and code != 403):
                failures.append((action, role, code))
    assert failures == []
