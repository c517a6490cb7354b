"""Realtime adds no API route with an id in its path: /ws authorises each channel itself
(tests/realtime/test_websocket.py covers other tenants' channels), and the board-card routes
/realtime/cards/{lead,deal}/{id} are web routes (not in the OpenAPI walk), tested for other
tenants' ids in test_websocket.py::test_board_card_endpoint."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import Account


async def resources(
    client: httpx.AsyncClient, account: Account, ids: dict[str, int]
) -> dict[str, int]:
    return {}
