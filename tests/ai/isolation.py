"""Insight ids for the tenant-isolation walk (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import httpx

from aicrm.config import get_settings
from aicrm.db import Database
from tests.ai.conftest import store_insight
from tests.fixtures.factories import Account


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    import os

    url = os.environ.get("AICRM_TEST_DATABASE_URL") or ""
    if not url:
        return {}
    db = Database(get_settings(), url=url)
    try:
        insight = await store_insight(
            db,
            account.organization_id,
            kind="lead_score",
            entity_type="lead",
            entity_id=ids["lead_id"],
            value=50,
        )
    finally:
        await db.dispose()
    return {"insight_id": insight}
