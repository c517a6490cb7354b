"""Helpers for the customer-insights tests: customers, backdated activities, CSV imports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.factories import Account, create


def ago(days: float = 0, *, at_hour: int | None = None) -> datetime:
    when = datetime.now(UTC) - timedelta(days=days)
    if at_hour is not None:
        when = when.replace(hour=at_hour, minute=5, second=0, microsecond=0)
    return when


async def customer(client: httpx.AsyncClient, acc: Account, **fields: Any) -> dict[str, Any]:
    body = {"first_name": "Dana", "last_name": "Cole", "status": "customer", **fields}
    return await create(client, acc, "/api/v1/contacts", body)


async def activity(
    client: httpx.AsyncClient,
    acc: Account,
    contact_id: int,
    when: datetime,
    *,
    type_: str = "call",
    direction: str | None = "outbound",
    outcome: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "contact_id": contact_id,
        "occurred_at": when.isoformat(),
    }
    if direction and type_ in ("call", "email"):
        body["direction"] = direction
    if outcome:
        body["outcome"] = outcome
    return await create(client, acc, "/api/v1/activities", body)


async def insights(
    client: httpx.AsyncClient, acc: Account, contact_id: int, **params: Any
) -> dict[str, Any]:
    r = await client.get(
        f"/api/v1/customers/{contact_id}/insights", params=params, headers=acc.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def import_contacts(
    client: httpx.AsyncClient, acc: Account, header: list[str], rows: list[list[Any]]
) -> dict[str, Any]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    r = await client.post(
        "/api/v1/imports/contacts",
        files={"file": ("customers.csv", out.getvalue().encode(), "text/csv")},
        data={"on_duplicate": "create"},
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["failed"] == 0, report["errors"][:3]
    return report
