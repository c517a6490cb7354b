"""`aicrm mcp` over stdio: the command spawned as a desktop client does, on the test database,
driven by the `mcp` SDK's own client."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.assistant_mcp.common import call, lead, org_with_keys, over_stdio, stdio_env, unique
from tests.fixtures.factories import register


async def test_stdio_end_to_end(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    org = await org_with_keys(client)
    other = await register(client)
    theirs = await lead(client, other, unique("Other Org Lead"))
    name = unique("Stdio Lead")
    errlog = (tmp_path / "stderr.txt").open("w")
    async with over_stdio(stdio_env(database_url, AICRM_API_KEY=org.write_key), errlog) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert {"search_records", "create_lead", "delete_record"} <= names
        is_error, created = await call(s, "create_lead", {"name": name, "value": 1200})
        assert not is_error and created["status"] == "ok", created
        lead_id = created["actions"][0]["entity_id"]
        is_error, found = await call(s, "search_records", {"entity": "lead", "query": name})
        assert [i["id"] for i in found["data"]["items"]] == [lead_id]
        is_error, result = await call(s, "get_record", {"entity": "lead", "record": theirs["id"]})
        assert is_error and result["status"] == "not_found"
        is_error, result = await call(s, "create_lead", {"name": name, "value": -5})
        assert is_error and result["field"] == "value", result
        is_error, result = await call(s, "delete_record", {"entity": "lead", "record": lead_id})
        assert result["status"] == "confirm" and name in result["question"]
        r = await client.get(f"/api/v1/leads/{lead_id}", headers=org.owner.headers)
        assert r.status_code == 200  # committed by the other process, not yet deleted
        is_error, result = await call(
            s, "delete_record", {"entity": "lead", "record": lead_id, "confirm": True}
        )
        assert not is_error and result["status"] == "ok", result
    r = await client.get(f"/api/v1/leads/{lead_id}", headers=org.owner.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/leads/{theirs['id']}", headers=other.headers)
    assert r.status_code == 200


async def test_stdio_read_key_from_the_option(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    org = await org_with_keys(client)
    name = unique("Read Only")
    errlog = (tmp_path / "stderr.txt").open("w")
    env = stdio_env(database_url)  # no AICRM_API_KEY: the key comes from --api-key
    async with over_stdio(env, errlog, args=("--api-key", org.read_key)) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert "search_records" in names and "create_lead" not in names
        is_error, result = await call(s, "create_lead", {"name": name})
        assert is_error and result["status"] == "denied", result
    r = await client.get("/api/v1/leads", params={"q": name}, headers=org.owner.headers)
    assert r.json()["items"] == []


@pytest.mark.parametrize("key", ["aicrm_not-a-real-key", ""])
async def test_stdio_refuses_an_invalid_key(database_url: str, tmp_path: Path, key: str) -> None:
    log = tmp_path / "stderr.txt"
    with log.open("w") as errlog:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the server exits: connection closed
            async with over_stdio(stdio_env(database_url, AICRM_API_KEY=key), errlog) as s:
                await s.list_tools()
    text = log.read_text()
    assert ("Invalid or revoked API key" in text) if key else ("give an API key" in text), text
