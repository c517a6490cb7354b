"""A chat task for the tenant-isolation walk (tests/test_tenant_isolation.py): another
organization polling it must get 404."""

from __future__ import annotations

import httpx

from tests.assistant_chat.common import send, wait
from tests.fixtures.factories import Account


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    accepted = await send(client, account, "hello", session_id="isolation")
    await wait(client, account, accepted["task_id"])
    return {"chat_task_id": int(accepted["task_id"])}
