"""Lifetime value from purchase histories (won deals): the BG/NBD summary, the per-organization
fit, and what lands on the contact."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from aicrm.ai.customers import lifetime
from aicrm.ai.customers.repository import Purchase
from aicrm.models import Deal
from tests.ai_customers.common import customer, insights
from tests.fixtures.factories import Account, create, register
from tests.fixtures.server import LiveServer

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def test_summary_merges_same_day_purchases_and_counts_weeks() -> None:
    start = NOW - timedelta(weeks=20)
    history = lifetime.summarize(
        [
            Purchase(start, 100.0, 1),
            Purchase(start + timedelta(hours=2), 50.0, 2),  # same day: one purchase of 150
            Purchase(start + timedelta(weeks=4), 80.0, 3),
            Purchase(start + timedelta(weeks=10), 120.0, 4),
            Purchase(NOW + timedelta(days=3), 999.0, 5),  # after "now": not yet
        ],
        NOW,
    )
    assert history is not None
    assert history.x == 2 and history.purchases == 3
    assert abs(history.t_x - 10) < 1e-9 and abs(history.T - 20) < 1e-9
    assert history.zbar == 100.0  # mean of the repeat purchases only
    assert history.total == 350.0
    assert lifetime.summarize([], NOW) is None


def _histories(n: int, seed: int = 3) -> list[lifetime.History]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        first = NOW - timedelta(weeks=rng.uniform(30, 60))
        rate = rng.choice([0.02, 0.1, 0.3])  # purchases per week while active
        life = rng.uniform(5, 80)
        purchases = [Purchase(first, rng.uniform(50, 150), i * 100)]
        t = first
        while True:
            t += timedelta(weeks=rng.expovariate(rate))
            if t > NOW or (t - first).days / 7 > life:
                break
            purchases.append(Purchase(t, rng.uniform(50, 150), i * 100 + len(purchases)))
        h = lifetime.summarize(purchases, NOW)
        assert h is not None
        out.append(h)
    return out


def test_fit_uses_bgnbd_with_enough_buyers_and_ranks_sensibly() -> None:
    model = lifetime.fit(_histories(300))
    assert model is not None and model.algorithm == lifetime.MODEL_ALGORITHM
    assert model.bg is not None and set(model.percentiles) >= {"p40", "p80"}
    # same purchase count and age: the one who bought recently is worth more and more alive
    recent = lifetime.History(6, 38.0, 40.0, 100.0, 7, 700.0, NOW, NOW)
    lapsed = lifetime.History(6, 8.0, 40.0, 100.0, 7, 700.0, NOW, NOW)
    a, b = lifetime.predict(model, recent), lifetime.predict(model, lapsed)
    assert a.value > b.value and a.probability_alive > b.probability_alive
    assert a.method == lifetime.MODEL_ALGORITHM and a.confidence > 0.5


def test_few_buyers_fall_back_to_averages_with_lower_confidence() -> None:
    model = lifetime.fit(_histories(8))
    assert model is not None and model.algorithm == lifetime.FALLBACK_ALGORITHM
    pred = lifetime.predict(model, lifetime.History(3, 20.0, 25.0, 80.0, 4, 320.0, NOW, NOW))
    assert pred.value > 0 and pred.expected_purchases > 0
    assert pred.method == lifetime.FALLBACK_ALGORITHM and pred.confidence < 0.5
    assert lifetime.fit([]) is None


async def _won(client: httpx.AsyncClient, acc: Account, contact_id: int, amount: float) -> int:
    deal = await create(
        client,
        acc,
        "/api/v1/deals",
        {"name": "Order", "amount": amount, "contact_id": contact_id, "stage": "Closed Won"},
    )
    return int(deal["id"])


async def _backdate(server: LiveServer, closed: dict[int, datetime]) -> None:
    """Won deals close "now" through the API; the history of earlier purchases is set the way
    an import of past orders would leave it."""
    engine = create_async_engine(server.database_url)
    try:
        async with engine.begin() as conn:
            for deal_id, at in closed.items():
                await conn.execute(update(Deal).where(Deal.id == deal_id).values(closed_at=at))
    finally:
        await engine.dispose()


async def test_lifetime_value_from_won_deals(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    acc = await register(client)
    now = datetime.now(UTC)
    rng = random.Random(11)
    closed: dict[int, datetime] = {}
    people = {}
    # a loyal customer (monthly, still buying), a lapsed one, and enough others to fit BG/NBD
    plans = {"loyal": [4 * k for k in range(12)], "lapsed": [40, 44, 48]}
    for i in range(22):
        plans[f"other{i}"] = sorted(rng.sample(range(1, 50), rng.choice([1, 1, 2, 3])))
    orders: list[tuple[int, int, float]] = []
    for name, weeks_ago in plans.items():
        fields: dict[str, object] = {"first_name": name.title()}
        if name == "other0":
            fields["lifetime_value"] = 1234  # entered by a person
        c = await customer(client, acc, **fields)
        people[name] = c
        orders += [(c["id"], w, 100 + rng.randint(0, 50)) for w in weeks_ago]
    gate = asyncio.Semaphore(6)

    async def order(contact_id: int, weeks: int, amount: float) -> None:
        async with gate:
            deal_id = await _won(client, acc, contact_id, amount)
        closed[deal_id] = now - timedelta(weeks=weeks, hours=1)

    await asyncio.gather(*(order(*o) for o in orders))
    await _backdate(live_server, closed)

    loyal = (await insights(client, acc, people["loyal"]["id"]))["lifetime_value"]
    lapsed = (await insights(client, acc, people["lapsed"]["id"]))["lifetime_value"]
    assert loyal["purchases"] == 12 and loyal["historical_value"] > 1200
    assert loyal["method"] == lifetime.MODEL_ALGORITHM
    assert loyal["value"] > lapsed["value"] > 0
    assert loyal["probability_alive"] > lapsed["probability_alive"]
    assert loyal["label"] == "high"
    assert loyal["expected_purchases"] > 1
    assert any("purchase" in r["text"] for r in loyal["reasons"])

    # the predicted value fills an empty lifetime_value, never one a person entered
    contact = (
        await client.get(f"/api/v1/contacts/{people['loyal']['id']}", headers=acc.headers)
    ).json()
    assert abs(contact["lifetime_value"] - loyal["value"]) < 0.01
    entered = await insights(client, acc, people["other0"]["id"])
    assert entered["lifetime_value"]["recorded_value"] == 1234
    contact = (
        await client.get(f"/api/v1/contacts/{people['other0']['id']}", headers=acc.headers)
    ).json()
    assert contact["lifetime_value"] == 1234

    # the organization's model and its parameters are visible in the AI status
    r = await client.get("/api/v1/ai/status", headers=acc.headers)
    if r.status_code == 200:
        clv = [m for m in r.json()["models"] if m["kind"] == "clv"]
        assert clv and "bgnbd" in clv[0]["metrics"]
