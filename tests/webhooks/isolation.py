"""Ids for the tenant-isolation walker: a webhook of the account and one of its deliveries."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import Account, create

# a port nothing listens on: the test ping fails fast and quietly
UNREACHABLE = "http://127.0.0.1:9/isolation"

BODIES = {
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): {"description": "intruder"},
}


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    hook = await create(
        client,
        account,
        "/api/v1/webhooks",
        {"url": UNREACHABLE, "event_types": ["webhook.none"], "active": False},
    )
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=account.headers)
    assert r.status_code == 202, r.text
    return {"webhook_id": hook["id"], "delivery_id": r.json()["id"]}
