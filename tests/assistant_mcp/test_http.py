"""The MCP server over streamable HTTP at /mcp, driven by the `mcp` SDK's own client."""

from __future__ import annotations

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from aicrm.assistant import tools
from aicrm.kit.principal import SCOPE_PERMISSIONS
from tests.assistant_mcp.common import (
    call,
    lead,
    org_with_keys,
    over_http,
    unique,
)
from tests.fixtures.factories import register


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


READ, WRITE = SCOPE_PERMISSIONS["read"], SCOPE_PERMISSIONS["write"]
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


async def test_missing_or_invalid_key_is_refused(client: httpx.AsyncClient, base_url: str) -> None:
    org = await org_with_keys(client)
    for headers in (
        {},
        {"Authorization": "Bearer aicrm_not-a-real-key"},
        {"X-API-Key": "aicrm_not-a-real-key"},
        # a user's login token is not an organization API key
        org.owner.headers,
    ):
        r = await client.post("/mcp", json=LIST, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
    # stateless: no server-initiated stream to GET, no session to DELETE
    key = {"Authorization": f"Bearer {org.read_key}"}
    for method in ("GET", "DELETE"):
        assert (await client.request(method, "/mcp", headers=key)).status_code == 405
    # the SDK's client gets no session with a bad key (its error sits in task-group wrappers)
    with pytest.raises(BaseException) as raised:  # noqa: PT011
        async with over_http(base_url, "aicrm_not-a-real-key") as session:
            await session.list_tools()
    assert any(isinstance(e, MCPError) for e in leaves(raised.value)), repr(raised.value)
    # a revoked key stops working at once
    r = await client.delete(f"/api/v1/api-keys/{org.write_key_id}", headers=org.owner.headers)
    assert r.status_code == 200
    r = await client.post("/mcp", json=LIST, headers={"Authorization": f"Bearer {org.write_key}"})
    assert r.status_code == 401


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_listed_by_scope(client: httpx.AsyncClient, base_url: str, mode: str) -> None:
    """`auto` speaks the 2026 per-request protocol, `legacy` the initialize handshake that
    today's desktop clients use; both list the registry's tools, filtered by the key's scopes."""
    org = await org_with_keys(client)
    registry = tools.load()
    async with over_http(base_url, org.write_key, mode=mode) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
    assert {"search_records", "get_record", "create_lead", "delete_record"} <= set(listed)
    assert set(listed) == {n for n, t in registry.items() if t.permission in WRITE}
    for name, t in listed.items():
        spec = registry[name]
        assert t.description == spec.description
        schema = spec.args.model_json_schema()
        assert t.input_schema["type"] == "object"
        assert set(t.input_schema.get("required", [])) == set(schema.get("required", []))
        extra = set(t.input_schema["properties"]) - set(schema["properties"])
        assert extra == ({"confirm"} if spec.destructive else set()), name
        assert t.annotations is not None
        assert t.annotations.read_only_hint is (not spec.mutating)
        assert t.annotations.destructive_hint is spec.destructive
    assert listed["delete_record"].input_schema["properties"]["confirm"]["type"] == "boolean"

    async with over_http(base_url, org.read_key, mode=mode) as session:
        names = {t.name for t in (await session.list_tools()).tools}
    assert "search_records" in names and "get_record" in names
    assert "create_lead" not in names and "delete_record" not in names
    assert names == {n for n, t in registry.items() if t.permission in READ}
    assert not any(registry[n].mutating for n in names)


async def test_create_then_search(client: httpx.AsyncClient, base_url: str) -> None:
    org = await org_with_keys(client)
    name = unique("Mona Lisa")
    async with over_http(base_url, org.write_key) as session:
        is_error, created = await call(
            session, "create_lead", {"name": name, "value": 75000, "source": "website"}
        )
        assert not is_error and created["status"] == "ok", created
        assert name in created["summary"]
        action = created["actions"][0]
        assert action["op"] == "created" and action["entity_type"] == "lead"
        lead_id = action["entity_id"]
        is_error, found = await call(session, "search_records", {"entity": "lead", "query": name})
        assert not is_error and found["status"] == "ok"
        assert [i["id"] for i in found["data"]["items"]] == [lead_id]
        is_error, got = await call(session, "get_record", {"entity": "lead", "record": name})
        assert not is_error and got["data"]["id"] == lead_id
    # committed: the REST API sees it, and the audit log names the API key
    r = await client.get(f"/api/v1/leads/{lead_id}", headers=org.owner.headers)
    assert r.status_code == 200 and r.json()["name"] == name
    assert float(r.json()["value"]) == 75000 and r.json()["source"] == "website"
    r = await client.get(
        "/api/v1/audit-log",
        params={"entity_type": "lead", "entity_id": lead_id, "action": "create"},
        headers=org.owner.headers,
    )
    entries = r.json()["items"]  # (background scoring may add entries of its own)
    assert len(entries) == 1
    assert entries[0]["actor_api_key_id"] == org.write_key_id


async def test_read_key_cannot_create(client: httpx.AsyncClient, base_url: str) -> None:
    org = await org_with_keys(client)
    name = unique("Not Allowed")
    async with over_http(base_url, org.read_key) as session:
        is_error, result = await call(session, "create_lead", {"name": name})
        assert is_error and result["status"] == "denied", result
        # reading is fine
        is_error, result = await call(session, "search_records", {"entity": "lead"})
        assert not is_error and result["status"] == "ok"
    r = await client.get("/api/v1/leads", params={"q": name}, headers=org.owner.headers)
    assert r.json()["items"] == []


async def test_another_organizations_record_is_unreachable(
    client: httpx.AsyncClient, base_url: str
) -> None:
    mine = await org_with_keys(client)
    other = await register(client)
    name = unique("Bravo Secret")
    theirs = await lead(client, other, name, value=1000)
    async with over_http(base_url, mine.write_key) as session:
        for arguments in (
            {"entity": "lead", "record": theirs["id"]},
            {"entity": "lead", "record": name},
        ):
            is_error, result = await call(session, "get_record", arguments)
            assert is_error and result["status"] == "not_found", result
            assert "data" not in result and "options" not in result  # nothing of theirs
        is_error, result = await call(session, "search_records", {"entity": "lead", "query": name})
        assert not is_error and result["data"]["items"] == []
        is_error, result = await call(
            session,
            "update_record",
            {"entity": "lead", "record": theirs["id"], "fields": {"value": 1}},
        )
        assert is_error and result["status"] == "not_found", result
        for _ in range(2):  # asked, then "confirmed": still nothing of theirs is reachable
            is_error, result = await call(
                session,
                "delete_record",
                {"entity": "lead", "record": theirs["id"], "confirm": True},
            )
            assert is_error and result["status"] == "not_found", result
    r = await client.get(f"/api/v1/leads/{theirs['id']}", headers=other.headers)
    assert r.status_code == 200 and float(r.json()["value"]) == 1000


async def test_bad_arguments_name_the_field(client: httpx.AsyncClient, base_url: str) -> None:
    org = await org_with_keys(client)
    async with over_http(base_url, org.write_key) as session:
        for arguments, field in (
            ({"name": "Jane", "value": "lots"}, "value"),
            ({"name": "Jane", "colour": "blue"}, "colour"),
            ({"value": 10}, "name"),
            ({"name": "Jane", "confirm": True}, "confirm"),  # only destructive tools confirm
        ):
            is_error, result = await call(session, "create_lead", arguments)
            assert is_error and result["status"] == "invalid", result
            assert result["field"] == field, result
        is_error, result = await call(session, "search_records", {"entity": "spaceship"})
        assert is_error and result["field"] == "entity", result
        is_error, result = await call(
            session, "delete_record", {"entity": "lead", "record": 1, "confirm": "yes"}
        )
        assert is_error and result["field"] == "confirm", result
        is_error, result = await call(session, "no_such_tool", {})
        assert is_error and result["status"] == "unsupported", result


async def test_delete_needs_confirmation(client: httpx.AsyncClient, base_url: str) -> None:
    org = await org_with_keys(client)
    name = unique("Doomed Lead")
    doomed = await lead(client, org.owner, name)
    target = {"entity": "lead", "record": doomed["id"]}

    async def exists() -> bool:
        r = await client.get(f"/api/v1/leads/{doomed['id']}", headers=org.owner.headers)
        return r.status_code == 200

    async with over_http(base_url, org.write_key) as session:
        # a "confirm: true" out of the blue is only the first call: it asks
        is_error, result = await call(session, "delete_record", {**target, "confirm": True})
        assert not is_error and result["status"] == "confirm", result
        assert name in result["question"]
        assert await exists()
    # another key of the same organization cannot use that answer
    other_key = (
        await client.post(
            "/api/v1/api-keys",
            json={"name": "second", "scopes": ["write"]},
            headers=org.owner.headers,
        )
    ).json()["key"]
    async with over_http(base_url, other_key) as session:
        is_error, result = await call(session, "delete_record", {**target, "confirm": True})
        assert result["status"] == "confirm" and await exists()

    async with over_http(base_url, org.write_key) as session:
        is_error, result = await call(session, "delete_record", dict(target))
        assert not is_error and result["status"] == "confirm", result
        assert "confirm" in result["to_confirm"] and await exists()
        # the answer holds for these arguments only
        is_error, result = await call(
            session, "delete_record", {"entity": "contact", "record": doomed["id"], "confirm": True}
        )
        assert result["status"] != "ok" and await exists()
        is_error, result = await call(session, "delete_record", {**target, "confirm": True})
        assert not is_error and result["status"] == "ok", result
        assert result["actions"][0]["op"] == "deleted"
    assert not await exists()
