"""Notification ids for the tenant-isolation walk (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import Account, member
from tests.notifications.common import assign_task, wait_for


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    """A notification of `account`: another member of its organization assigns it a task."""
    colleague = await member(client, account, "agent")
    task = await assign_task(client, colleague, account, "Isolation check")
    items = await wait_for(
        client, account, lambda items: any(i["entity_id"] == task["id"] for i in items)
    )
    return {"notification_id": next(i["id"] for i in items if i["entity_id"] == task["id"])}
