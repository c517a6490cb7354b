"""No input reaches a 500: every route, odd ids, odd bodies, odd query strings."""

from __future__ import annotations

import re

import httpx

from tests.fixtures.factories import register

ODD_IDS = ["0", "-1", "99999999999999999999", "abc", "1e3"]
ODD_BODIES = [
    None,
    {},
    {"name": None},
    {"name": "x" * 5000},
    [],
    "text",
    {"version": 10**30, "card_order": -5},
]


async def test_every_route_answers_4xx_to_bad_input(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    spec = (await client.get("/openapi.json")).json()
    failures = []
    for path, ops in spec["paths"].items():
        for method in ops:
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            paths = [re.sub(r"\{[^}]+\}", odd, path) for odd in ODD_IDS] if "{" in path else [path]
            for p in paths:
                for body in ODD_BODIES if method != "get" else [None]:
                    r = await client.request(
                        method.upper(),
                        p,
                        json=body,
                        headers=acc.headers,
                        params={"limit": "x", "sort": "??"},
                    )
                    if r.status_code >= 500:
                        failures.append(
                            (method, p, body if body is None else str(body)[:40], r.status_code)
                        )
    assert failures == []


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post(
        "/api/v1/contacts",
        content=b'{"name": "x",',
        headers={**acc.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_unknown_route_is_a_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["status"] == 404
