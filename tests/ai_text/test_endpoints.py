"""POST /api/v1/ai/analyze and /api/v1/ai/sentiment-analysis through the real app."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import Account, member, register

ANALYZE = "/api/v1/ai/analyze"
SENTIMENT = "/api/v1/ai/sentiment-analysis"


async def analyze(client: httpx.AsyncClient, acc: Account, **body: Any) -> dict[str, Any]:
    r = await client.post(ANALYZE, json=body, headers=acc.headers)
    assert r.status_code == 200, r.text
    return r.json()


def of_type(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in result["entities"] if e["type"] == kind]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("How much does the Business plan cost for 12 users per month?", "pricing"),
        (
            "Please cancel my subscription at the end of this month, we're switching providers.",
            "cancellation",
        ),
        (
            "The app crashes every time I open the reports page, I get a 500 error.",
            "technical_issue",
        ),
        ("Can we book a call next Wednesday at 10am to see a demo?", "booking_request"),
        (
            "I was charged twice on my credit card for the March invoice, please refund one.",
            "billing",
        ),
        ("Congratulations! You won a free iPhone, click here to claim your prize now!!!", "spam"),
    ],
)
async def test_clear_messages_get_the_right_intent(
    client: httpx.AsyncClient, text: str, intent: str
) -> None:
    acc = await register(client)
    result = await analyze(client, acc, text=text)
    assert result["intent"]["label"] == intent
    assert 0 < result["intent"]["confidence"] <= 1
    assert intent not in result["intent"]["alternatives"]
    assert set(result["model_versions"]) >= {"intent", "sentiment", "language"}


async def test_sentiment_follows_the_tone_of_the_message(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.post(
        SENTIMENT,
        json={
            "texts": [
                "Thank you so much, your support team was fantastic!!",
                "I'm not happy at all, this is the third time the sync broke. Terrible service.",
                "Please send the invoice to our accounts department.",
            ]
        },
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    pos, neg, neu = body["items"]
    assert pos["label"] == "positive" and pos["score"] > 0.3
    assert neg["label"] == "negative" and neg["score"] < -0.3
    assert neu["label"] == "neutral" and abs(neu["score"]) < 0.5
    assert pos["score"] > neu["score"] > neg["score"]
    assert body["model_version"]

    one = await client.post(SENTIMENT, json={"text": "not happy with this"}, headers=acc.headers)
    assert one.status_code == 200
    assert one.json()["label"] == "negative" and one.json()["model_version"]


async def test_entities_come_back_normalised(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    text = (
        "Hello, my name is Carlos Ruiz from Brightwave Ltd. We have a budget of $75k and would "
        "like to start with the Pro Plann. Can we talk tomorrow at 3pm? Reach me at "
        "Carlos.Ruiz@Brightwave.io or +44 20 7946 0991.\n\nBest regards,\nCarlos Ruiz"
    )
    result = await analyze(
        client,
        acc,
        text=text,
        products=["Pro Plan", "Telephony Add-on"],
        timezone="Europe/London",
        reference_time="2025-03-04T10:00:00Z",
    )
    assert of_type(result, "email")[0]["value"] == "carlos.ruiz@brightwave.io"
    assert of_type(result, "phone")[0]["value"] == "+442079460991"
    money = of_type(result, "money")[0]
    assert money["value"] == {"amount": 75000.0, "currency": "USD"}
    when = of_type(result, "datetime")[0]
    assert when["value"] == "2025-03-05T15:00:00+00:00"
    assert {e["value"] for e in of_type(result, "company")} == {"Brightwave Ltd"}
    assert {e["value"] for e in of_type(result, "person")} == {"Carlos Ruiz"}
    assert [e["value"] for e in of_type(result, "product")] == ["Pro Plan"]
    for e in result["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]


async def test_the_organizations_timezone_and_currency_apply(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    r = await client.patch(
        "/api/v1/organizations/current",
        json={"timezone": "America/New_York", "default_currency": "EUR"},
        headers=acc.headers,
    )
    assert r.status_code == 200, r.text
    # 02:00 UTC on the 5th is still the evening of the 4th in New York
    result = await analyze(
        client,
        acc,
        text="Could we meet tomorrow at 9am? Our budget is 20k.",
        reference_time="2025-03-05T02:00:00Z",
    )
    assert of_type(result, "datetime")[0]["value"] == "2025-03-05T09:00:00-05:00"
    money = of_type(result, "money")[0]
    assert money["value"] == {"amount": 20000.0, "currency": "EUR"}
    assert money["assumed_currency"] is True


async def test_an_outage_is_urgent_and_a_suggestion_is_not(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    outage = await analyze(
        client,
        acc,
        text="URGENT: the whole platform is down since this morning, nobody on our team can "
        "log in and we are losing sales. Please fix ASAP!!",
    )
    assert outage["urgency"]["level"] in ("high", "urgent")
    assert outage["intent"]["label"] == "technical_issue"
    features = {r["feature"] for r in outage["urgency"]["reasons"]}
    assert {"urgent_words", "outage"} <= features

    calm = await analyze(
        client,
        acc,
        text="No rush at all, but it would be nice to have a dark mode in the app some day.",
    )
    assert calm["urgency"]["level"] == "low"
    assert calm["urgency"]["score"] < outage["urgency"]["score"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bonjour, je voudrais annuler mon abonnement à la fin du mois, merci.", "fr"),
        ("Hola, ¿podrían enviarme la factura del mes pasado? Muchas gracias.", "es"),
        ("Guten Tag, unser Server ist seit heute Morgen nicht erreichbar.", "de"),
        ("Hi, could you send me the latest price list?", "en"),
    ],
)
async def test_language_is_detected(client: httpx.AsyncClient, text: str, code: str) -> None:
    acc = await register(client)
    result = await analyze(client, acc, text=text)
    assert result["language"]["code"] == code
    assert result["language"]["confidence"] > 0.5


async def test_a_batch_keeps_the_order_and_long_texts_get_a_summary(
    client: httpx.AsyncClient,
) -> None:
    acc = await register(client)
    long_text = " ".join(
        [
            "Hello team, I hope you are well.",
            "Our warehouse staff use the mobile app to scan deliveries every morning.",
            "Since the update on Monday the scanner screen freezes after the first delivery.",
            "We tried reinstalling the app on three phones and the scanner still freezes.",
            "Our drivers now write deliveries on paper, which takes a lot of time.",
            "Could your engineers look at the scanner problem in the mobile app?",
            "I can send screenshots and logs from the phones if that helps.",
            "Thank you.",
        ]
    )
    body = await analyze(client, acc, texts=["Thanks!", long_text, "What does the Pro plan cost?"])
    items = body["items"]
    assert len(items) == 3 and body["model_versions"]
    assert items[2]["intent"]["label"] == "pricing"
    assert items[0]["summary"] is None
    assert items[1]["summary"] and len(items[1]["summary"]) < len(long_text)
    assert "scanner" in items[1]["summary"]


async def test_every_call_is_audited_without_the_text(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    secret = "Please cancel my account, my card number is 4111 1111 1111 1111"
    await analyze(client, acc, text=secret)
    r = await client.get("/api/v1/audit-log", params={"action": "ai.analyze"}, headers=acc.headers)
    assert r.status_code == 200, r.text
    entries = r.json()["items"]
    assert len(entries) == 1
    after = entries[0]["after"]
    assert after["model_versions"]["intent"]
    assert after["inputs"][0]["chars"] == len(secret) and len(after["inputs"][0]["sha256"]) == 64
    assert after["outputs"][0]["intent"] == "cancellation"
    # the card number nowhere (a bare "4111" can occur in a random request id's hex)
    assert "4111 1111" not in str(entries[0]) and "card number" not in str(entries[0])


async def test_readers_may_analyse_and_strangers_may_not(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    r = await client.post(ANALYZE, json={"text": "hello"}, headers=viewer.headers)
    assert r.status_code == 200
    r = await client.post(ANALYZE, json={"text": "hello"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (ANALYZE, {"text": ""}, "text"),
        (ANALYZE, {"text": "   \n "}, "text"),
        (ANALYZE, {"text": "x" * 20001}, "text"),
        (ANALYZE, {}, "text"),
        (ANALYZE, {"texts": ["ok"] * 101}, "texts"),
        (ANALYZE, {"texts": []}, "texts"),
        (ANALYZE, {"texts": ["fine", ""]}, "texts.1"),
        (ANALYZE, {"text": "a", "texts": ["b"]}, "texts"),
        (ANALYZE, {"text": "hello", "timezone": "Mars/Olympus"}, "timezone"),
        (ANALYZE, {"text": "hello", "region": "USA"}, "region"),
        (ANALYZE, {"text": "hello", "colour": "red"}, "colour"),
        (SENTIMENT, {"text": ""}, "text"),
        (SENTIMENT, {"texts": ["ok"] * 101}, "texts"),
        (SENTIMENT, {}, "text"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    acc = await register(client)
    r = await client.post(path, json=body, headers=acc.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}


async def test_dates_resolve_into_the_future(client: httpx.AsyncClient) -> None:
    acc = await register(client)
    result = await analyze(
        client,
        acc,
        text="Are you free on Friday, or else on the 21st?",
        timezone="UTC",
        reference_time="2025-03-04T10:00:00Z",  # a Tuesday
    )
    values = [date.fromisoformat(e["value"]) for e in of_type(result, "date")]
    assert values == [date(2025, 3, 7), date(2025, 3, 21)]
    assert all(v >= datetime(2025, 3, 4).date() for v in values)
