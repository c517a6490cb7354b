"""Classifier ids for the tenant-isolation walk (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import httpx

from tests.ai_classifiers.common import create, examples, unique_name
from tests.fixtures.factories import Account

BODIES = {
    ("POST", "/api/v1/ai/classifiers/{classifier_id}/predict"): {"texts": ["my card is lost"]},
    ("POST", "/api/v1/ai/classifiers/{classifier_id}/examples"): {
        "examples": [{"text": "where is my card", "label": "card_arrival"}]
    },
    ("POST", "/api/v1/ai/classifiers/{classifier_id}/train"): {},
}


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    clf = await create(client, account, {"name": unique_name("iso"), "examples": examples(5)})
    return {"classifier_id": clf["id"]}
