"""Ids of automation resources for the tenant-isolation walker (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import asyncio

import httpx

from tests.fixtures.factories import Account, create

RULES = "/api/v1/automation/rules"

# valid bodies, so what answers another tenant is the tenant check, not the schema
BODIES = {
    ("POST", RULES + "/{rule_id}/dry-run"): {"record": {"name": "sample"}},
    ("PATCH", RULES + "/{rule_id}"): {"name": "renamed"},
}


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    """A rule of `account` (tagging new leads) and one entry of its execution log."""
    rule = await create(
        client,
        account,
        RULES,
        {
            "name": "Isolation rule",
            "trigger": {"type": "event", "event": "lead.created"},
            "actions": [{"type": "add_tag", "tags": ["iso"]}],
        },
    )
    await create(client, account, "/api/v1/leads", {"name": "Wakes the isolation rule"})
    for _ in range(200):
        r = await client.get(f"{RULES}/{rule['id']}/runs", headers=account.headers)
        items = r.json()["items"]
        if items:
            return {"rule_id": rule["id"], "run_id": items[0]["id"]}
        await asyncio.sleep(0.05)
    raise AssertionError("the isolation rule never ran")
