"""Best time to contact: the hour a customer answers, in their time zone, backed off to the
organization's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from aicrm.ai.customers import timing
from aicrm.ai.customers.repository import ResponseEvent
from tests.ai_customers.common import activity, customer, insights
from tests.fixtures.factories import register

PARIS = ZoneInfo("Europe/Paris")


def paris(days_ago: int, hour: int) -> datetime:
    day = datetime.now(PARIS) - timedelta(days=days_ago)
    return day.replace(hour=hour, minute=10, second=0, microsecond=0)


async def test_best_time_is_the_hour_the_contact_answers(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    c = await customer(client, acc, timezone="Europe/Paris")
    # answers in the late afternoon (Paris time), never in the morning
    for days in (3, 10, 17, 24, 31):
        await activity(client, acc, c["id"], paris(days, 16), outcome="connected")
    for days in (4, 11, 18, 25):
        await activity(client, acc, c["id"], paris(days, 9), outcome="no answer")
    await activity(client, acc, c["id"], paris(12, 16), type_="email", direction="inbound")
    body = await insights(client, acc, c["id"])
    best = body["optimal_timing"]
    assert best["timezone"] == "Europe/Paris"
    assert best["label"] == "personal"
    top = best["best_slots"][0]
    assert top["hour"] == 16 and top["local_time"] == "16:00"
    assert top["expected_response_rate"] > 0.5
    morning = [s for s in best["best_slots"] if s["hour"] == 9]
    assert not morning
    assert any("16:00" in r["text"] for r in best["reasons"])
    # the next such slot, in UTC, is 16:00 in Paris and in the future
    at = datetime.fromisoformat(top["next_at"])
    assert at > datetime.now(UTC) and at.astimezone(PARIS).hour == 16
    # the next best action is timed there too
    assert body["next_best_action"]["title"]


async def test_a_new_contact_gets_the_organizations_best_hour(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    regulars = [await customer(client, acc, first_name=f"R{i}") for i in range(3)]
    for c in regulars:
        for days in (2, 9, 16):
            await activity(
                client,
                acc,
                c["id"],
                datetime.now(UTC).replace(hour=11, minute=0) - timedelta(days=days),
                outcome="connected",
            )
            await activity(
                client,
                acc,
                c["id"],
                datetime.now(UTC).replace(hour=17, minute=0) - timedelta(days=days),
                outcome="no answer",
            )
    newcomer = await customer(client, acc, first_name="New")
    body = await insights(client, acc, newcomer["id"])
    best = body["optimal_timing"]
    assert best["label"] == "organization"
    assert best["best_slots"][0]["hour"] == 11
    assert best["confidence"] < 0.6


def test_outcomes_are_read_as_responses() -> None:
    def ev(type_: str, direction: str | None, outcome: str | None) -> ResponseEvent:
        return ResponseEvent(1, datetime.now(UTC), type_, direction, outcome)

    assert timing.classify(ev("call", "inbound", None)) == 1
    assert timing.classify(ev("meeting", None, None)) == 1
    assert timing.classify(ev("call", "outbound", "Connected")) == 1
    assert timing.classify(ev("email", "outbound", "replied")) == 1
    assert timing.classify(ev("call", "outbound", "no answer")) == 0
    assert timing.classify(ev("call", "outbound", "Left voicemail")) == 0
    assert timing.classify(ev("email", "outbound", None)) is None
    assert timing.classify(ev("note", None, None)) is None
