"""Walk every route of the API: another tenant's ids answer 404, whatever the method.

The route list comes from the OpenAPI document, so a new route with an id in its path is
covered automatically — and fails here until its id can be produced below."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.factories import Account, create, register

# Bodies that pass validation, so what answers is the tenant check and not the schema.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/tasks/{task_id}/comments"): {"body": "hello"},
    ("POST", "/api/v1/tasks/{task_id}/dependencies"): {"blocked_by_id": None},
    ("PUT", "/api/v1/leads/{lead_id}/status"): {"status": "New"},
    ("PUT", "/api/v1/deals/{deal_id}/stage"): {"stage": "Proposal"},
    ("POST", "/api/v1/pipelines/{pipeline_id}/stages"): {"name": "Extra"},
    ("POST", "/api/v1/teams/{team_id}/members"): {"user_id": None},
    ("PATCH", "/api/v1/members/{user_id}"): {"role": "viewer"},
    ("POST", "/api/v1/leads/{lead_id}/convert"): {},
}


def _area_modules() -> list[Any]:
    """Areas contribute their own creators: `tests/<area>/isolation.py` with
    `async def resources(client, account, ids) -> dict[str, int]` and optionally `BODIES`."""
    here = Path(__file__).parent
    return [
        importlib.import_module(f"tests.{path.parent.name}.isolation")
        for path in sorted(here.glob("*/isolation.py"))
    ]


async def _resources(client: httpx.AsyncClient, a: Account) -> dict[str, int]:
    ids = await _core_resources(client, a)
    for module in _area_modules():
        ids.update(await module.resources(client, a, dict(ids)))
        BODIES.update(getattr(module, "BODIES", {}))
    return ids


async def _core_resources(client: httpx.AsyncClient, a: Account) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["contact_id"] = (await create(client, a, "/api/v1/contacts", {"name": "Iso Contact"}))["id"]
    ids["company_id"] = (await create(client, a, "/api/v1/companies", {"name": "Iso Co"}))["id"]
    ids["lead_id"] = (await create(client, a, "/api/v1/leads", {"name": "Iso Lead"}))["id"]
    ids["deal_id"] = (await create(client, a, "/api/v1/deals", {"name": "Iso Deal"}))["id"]
    ids["activity_id"] = (
        await create(
            client,
            a,
            "/api/v1/activities",
            {"type": "note", "body": "n", "contact_id": ids["contact_id"]},
        )
    )["id"]
    ids["task_id"] = (await create(client, a, "/api/v1/tasks", {"title": "Iso task"}))["id"]
    ids["blocked_by_id"] = (await create(client, a, "/api/v1/tasks", {"title": "Blocker"}))["id"]
    r = await client.post(
        f"/api/v1/tasks/{ids['task_id']}/dependencies",
        json={"blocked_by_id": ids["blocked_by_id"]},
        headers=a.headers,
    )
    assert r.status_code in (200, 201), r.text
    ids["comment_id"] = (
        await create(client, a, f"/api/v1/tasks/{ids['task_id']}/comments", {"body": "c"})
    )["id"]
    ids["view_id"] = (
        await create(
            client,
            a,
            "/api/v1/views",
            {"name": "Iso view", "entity_type": "contact", "filters": {}},
        )
    )["id"]
    ids["tag_id"] = (await create(client, a, "/api/v1/tags", {"name": "iso"}))["id"]
    ids["field_id"] = (
        await create(
            client,
            a,
            "/api/v1/custom-fields",
            {"entity_type": "contact", "key": "iso", "label": "Iso", "field_type": "text"},
        )
    )["id"]
    ids["status_id"] = (await client.get("/api/v1/lead-statuses", headers=a.headers)).json()[0][
        "id"
    ]
    pipelines = (await client.get("/api/v1/pipelines", headers=a.headers)).json()
    pipelines = pipelines["items"] if isinstance(pipelines, dict) else pipelines
    ids["pipeline_id"] = pipelines[0]["id"]
    ids["stage_id"] = pipelines[0]["stages"][0]["id"]
    ids["team_id"] = (await create(client, a, "/api/v1/teams", {"name": "Iso team"}))["id"]
    ids["user_id"] = a.user_id
    ids["key_id"] = (
        await create(client, a, "/api/v1/api-keys", {"name": "iso", "scopes": ["read"]})
    )["id"]
    ids["inv_id"] = (
        await create(
            client, a, "/api/v1/invitations", {"email": "iso@example.com", "role": "agent"}
        )
    )["id"]
    return ids


async def test_every_id_route_hides_other_tenants(client: httpx.AsyncClient) -> None:
    a = await register(client, org="Isolated A")
    b = await register(client, org="Intruder B")
    ids = await _resources(client, a)
    spec = (await client.get("/openapi.json")).json()
    checked, failures = 0, []
    for path, ops in spec["paths"].items():
        params = [p for p in re.findall(r"\{([^}]+)\}", path) if p.endswith("_id")]
        if not params:
            continue  # e.g. /imports/{entity}: no record id in the path
        missing = [p for p in params if p not in ids]
        assert not missing, f"{path}: add a way to create {missing} in _resources()"
        url = path
        for p in params:
            url = url.replace("{" + p + "}", str(ids[p]))
        for method in ops:
            m = method.upper()
            if m not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            body = BODIES.get((m, path), {} if m in {"POST", "PUT", "PATCH"} else None)
            if isinstance(body, dict):
                # ids inside bodies point at A's records too
                body = {k: (ids.get(k) if v is None else v) for k, v in body.items()}
            r = await client.request(m, url, json=body, headers=b.headers)
            checked += 1
            if r.status_code != 404:
                failures.append((m, path, r.status_code, r.text[:120]))
    assert failures == []
    assert checked > 40
    # and A still has everything: B's attempts changed nothing
    assert (
        await client.get(f"/api/v1/contacts/{ids['contact_id']}", headers=a.headers)
    ).status_code == 200
    assert (
        await client.get(f"/api/v1/tasks/{ids['task_id']}", headers=a.headers)
    ).status_code == 200
