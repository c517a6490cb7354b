"""Property: any interleaving of kanban moves keeps every column dense and duplicate-free."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.factories import register
from tests.fixtures.server import LiveServer

STATUSES = ["New", "Contacted", "Qualified", "Proposal", "Won", "Lost"]
N_LEADS = 6

move = st.tuples(
    st.integers(0, N_LEADS - 1), st.sampled_from(STATUSES), st.one_of(st.none(), st.integers(0, 8))
)
# a batch of moves is sent concurrently; batches run one after another
batches = st.lists(st.lists(move, min_size=1, max_size=4), min_size=1, max_size=4)


def test_any_interleaving_keeps_columns_dense(live_server: LiveServer) -> None:
    state: dict = {}

    async def setup() -> None:
        async with httpx.AsyncClient(base_url=live_server.url) as c:
            acc = await register(c)
            ids = []
            for i in range(N_LEADS):
                r = await c.post("/api/v1/leads", json={"name": f"P{i}"}, headers=acc.headers)
                ids.append(r.json()["id"])
            state.update(acc=acc, ids=ids)

    asyncio.run(setup())

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batches)
    def run(plan: list[list[tuple[int, str, int | None]]]) -> None:
        async def go() -> None:
            acc, ids = state["acc"], state["ids"]
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
                for batch in plan:
                    rs = await asyncio.gather(
                        *(
                            c.put(
                                f"/api/v1/leads/{ids[i]}/status",
                                json={"status": s, "card_order": o},
                                headers=acc.headers,
                            )
                            for i, s, o in batch
                        )
                    )
                    assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
                    cols = (await c.get("/api/v1/leads/kanban", headers=acc.headers)).json()[
                        "columns"
                    ]
                    seen = []
                    for col in cols:
                        orders = [card["card_order"] for card in col["leads"]]
                        assert orders == list(range(len(orders))), (col["status"], orders)
                        seen += [card["id"] for card in col["leads"]]
                    assert sorted(seen) == sorted(ids)

        asyncio.run(go())

    run()
