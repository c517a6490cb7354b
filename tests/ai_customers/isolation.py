"""Customer ids for the tenant-isolation walk (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import Account, create


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    """A customer (a contact with status customer) of `account`, with insights computed."""
    contact = await create(
        client, account, "/api/v1/contacts", {"name": "Iso Customer", "status": "customer"}
    )
    r = await client.get(f"/api/v1/customers/{contact['id']}/insights", headers=account.headers)
    assert r.status_code == 200, r.text
    return {"customer_id": contact["id"]}


BODIES = {("POST", "/api/v1/customers/{customer_id}/next-best-action/task"): {"option": 0}}
