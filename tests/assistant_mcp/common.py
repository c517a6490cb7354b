"""Helpers of the MCP tests: an organization with API keys (made through the REST API, as an
administrator would), and the `mcp` SDK's own client over streamable HTTP or stdio."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.fixtures.factories import Account, create, register

AICRM = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aicrm"


@dataclass
class Org:
    owner: Account
    read_key: str
    write_key: str
    write_key_id: int


async def api_key(client: httpx.AsyncClient, owner: Account, *scopes: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/api-keys",
        json={"name": f"mcp {' '.join(scopes)}", "scopes": list(scopes)},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def org_with_keys(client: httpx.AsyncClient) -> Org:
    owner = await register(client, org=f"MCP Org {uuid.uuid4().hex[:6]}")
    read = await api_key(client, owner, "read")
    write = await api_key(client, owner, "write")
    return Org(owner, read["key"], write["key"], write["id"])


async def lead(client: httpx.AsyncClient, owner: Account, name: str, **fields: Any) -> dict:
    return await create(client, owner, "/api/v1/leads", {"name": name, **fields})


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def over_http(base_url: str, key: str, *, mode: str = "auto") -> AsyncIterator[Client]:
    """An MCP client session on the app's /mcp with `key` as the bearer token."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as session:
            yield session


def stdio_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "DATA_DIR": os.environ["DATA_DIR"],
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


@asynccontextmanager
async def over_stdio(
    env: dict[str, str], errlog: IO[str], *, args: tuple[str, ...] = ()
) -> AsyncIterator[Client]:
    """`aicrm mcp` spawned as a subprocess (as Claude Desktop does), the SDK client on its
    stdin/stdout; the server's stderr goes to `errlog`."""
    params = StdioServerParameters(command=str(AICRM), args=["mcp", *args], env=env)
    async with Client(stdio_client(params, errlog=errlog)) as session:
        yield session


def payload(result: CallToolResult) -> dict[str, Any]:
    """The tool's ToolResult.to_dict(): the structured content, the same JSON as the text."""
    assert result.structured_content is not None
    assert len(result.content) == 1 and result.content[0].type == "text"
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def call(session: Client, name: str, arguments: dict[str, Any]) -> tuple[bool, dict]:
    result = await session.call_tool(name, arguments)
    return bool(result.is_error), payload(result)
