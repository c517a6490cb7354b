"""Talking to the chat API like a client: send and poll, stream and parse the events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import func, select

from aicrm.db import Database
from aicrm.models import AssistantMessage, AuditLog
from tests.fixtures.factories import Account

DONE = {"SUCCESS", "FAILURE"}


async def send(
    client: httpx.AsyncClient, acc: Account, text: str, session_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"message": text}
    if session_id:
        body["session_id"] = session_id
    r = await client.post("/api/v1/chat", json=body, headers=acc.headers)
    assert r.status_code == 202, r.text
    return r.json()


async def wait(client: httpx.AsyncClient, acc: Account, task_id: str) -> dict[str, Any]:
    seen = []
    for _ in range(400):
        r = await client.get(f"/api/v1/chat/status/{task_id}", headers=acc.headers)
        assert r.status_code == 200, r.text
        data = r.json()
        seen.append(data["status"])
        if data["status"] in DONE:
            data["_seen"] = seen
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never finished: {seen[-5:]}")


async def say(
    client: httpx.AsyncClient, acc: Account, text: str, session_id: str | None = None
) -> dict[str, Any]:
    """One turn through the queued API: the assistant's message (status SUCCESS asserted)."""
    accepted = await send(client, acc, text, session_id)
    done = await wait(client, acc, accepted["task_id"])
    assert done["status"] == "SUCCESS", done
    msg = done["result"]["message"]
    msg["_task"] = done
    return msg


async def stream(
    client: httpx.AsyncClient,
    acc: Account,
    text: str,
    session_id: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> list[tuple[str, Any]]:
    """One turn through the streaming API: the server-sent events, in order."""
    body: dict[str, Any] = {"message": text}
    if session_id:
        body["session_id"] = session_id
    events: list[tuple[str, Any]] = []
    async with client.stream(
        "POST", "/api/v1/chat/stream", json=body, headers=headers or acc.headers
    ) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        event, data = "message", []
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                events.append((event, json.loads("\n".join(data))))
                event, data = "message", []
    return events


def final(events: list[tuple[str, Any]]) -> dict[str, Any]:
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done", events
    return events[-1][1]["message"]


async def lead(client: httpx.AsyncClient, acc: Account, **fields: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/leads", json=fields, headers=acc.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def lead_exists(client: httpx.AsyncClient, acc: Account, lead_id: int) -> bool:
    r = await client.get(f"/api/v1/leads/{lead_id}", headers=acc.headers)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


async def audit_rows(
    client: httpx.AsyncClient, acc: Account, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/audit-log", params={"limit": 200, **params}, headers=acc.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def stored_messages(db: Database, conversation_id: int) -> int:
    async with db.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(AssistantMessage)
                .where(AssistantMessage.conversation_id == conversation_id)
            )
            or 0
        )


async def audit_for_request(db: Database, prefix: str) -> list[AuditLog]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditLog).where(AuditLog.request_id.like(f"{prefix}%")).order_by(AuditLog.id)
        )
        return list(rows)
