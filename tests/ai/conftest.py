"""A handle on the test server's database, to store insights the way the AI features do
(aicrm.ai.insights.record) without depending on any one feature."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from aicrm.ai import insights
from aicrm.db import Database
from aicrm.kit.principal import system_principal
from tests.fixtures.factories import Account


async def store_insight(db: Database, organization_id: int, **fields: Any) -> int:
    session = await db.session()
    try:
        fields.setdefault("model", "test")
        fields.setdefault("model_version", "1")
        row = await insights.record(session, system_principal(organization_id), **fields)
        await session.commit()
        return row.id
    finally:
        await session.close()


async def scored(client: httpx.AsyncClient, acc: Account, lead_ids: list[int]) -> None:
    """Wait until the background scorer has stored its first score of each new lead, so the
    insights a test stores afterwards are the latest ones."""
    for _ in range(200):
        found = []
        for lead_id in lead_ids:
            r = await client.get(
                "/api/v1/ai/insights",
                params={"entity_type": "lead", "entity_id": lead_id, "kind": "lead_score"},
                headers=acc.headers,
            )
            found.append(bool(r.json()["items"]))
        if all(found):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"leads {lead_ids} were never scored")
