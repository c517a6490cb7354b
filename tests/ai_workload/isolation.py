"""Workspace ids for the tenant-isolation walk (tests/test_tenant_isolation.py): a workspace is
the account's organization."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import Account

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/workspaces/{workspace_id}/tasks/auto-assign"): {"execute": True},
    ("POST", "/api/v1/workspaces/{workspace_id}/optimize"): {},
}


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    return {"workspace_id": account.organization_id}
