"""The pieces of text analysis, without the HTTP layer: date rules, entity patterns, urgency
rules, the training corpus, the intent trainer, language and sentiment."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from aicrm.ai.text import corpus, entities, intent, urgency, when
from aicrm.ai.text.analyzer import get_analyzer, summarize
from aicrm.ai.text.entities import Entity
from aicrm.ai.text.sentiment import word_features

# Tuesday 4 March 2025, 10:00 in Berlin
NOW = datetime(2025, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.mark.parametrize(
    ("phrase", "expected", "timed"),
    [
        ("tomorrow at 3pm", datetime(2025, 3, 5, 15, 0), True),
        ("tomorrow", datetime(2025, 3, 5), False),
        ("next Tuesday at 10:30", datetime(2025, 3, 11, 10, 30), True),
        ("Tuesday", datetime(2025, 3, 11), False),  # said on a Tuesday: next week's
        ("Friday 2pm", datetime(2025, 3, 7, 14, 0), True),
        ("March 5th", datetime(2025, 3, 5), False),
        ("5 March", datetime(2025, 3, 5), False),
        ("January 10", datetime(2026, 1, 10), False),  # already past this year
        ("the 21st", datetime(2025, 3, 21), False),
        ("the 2nd", datetime(2025, 4, 2), False),
        ("2025-06-01", datetime(2025, 6, 1), False),
        ("in 2 weeks", datetime(2025, 3, 18), False),
        ("9am", datetime(2025, 3, 5, 9, 0), True),  # passed today: tomorrow
        ("4:30 pm", datetime(2025, 3, 4, 16, 30), True),
        ("this afternoon", datetime(2025, 3, 4, 15, 0), True),
        ("demain à 15h", datetime(2025, 3, 5, 15, 0), True),
        ("this morning", datetime(2025, 3, 4, 9, 0), True),  # passed, but said of today
        ("7:30 tonight", datetime(2025, 3, 4, 19, 30), True),
        ("next Wednesday", datetime(2025, 3, 12), False),  # next week's, not tomorrow
        ("at 4", datetime(2025, 3, 4, 16, 0), True),  # business hours: the afternoon
    ],
)
def test_common_phrases_resolve_into_the_future(
    phrase: str, expected: datetime, timed: bool
) -> None:
    got = when.resolve(phrase, NOW, dmy=True)
    assert got is not None
    assert got[0].replace(tzinfo=None) == expected
    assert got[1] is timed


def test_numeric_dates_follow_the_regions_order() -> None:
    us = when.resolve("03/12/2025", NOW, dmy=False)
    eu = when.resolve("03/12/2025", NOW, dmy=True)
    assert us and us[0].month == 3 and us[0].day == 12
    assert eu and eu[0].month == 12 and eu[0].day == 3


def test_unknown_phrases_fall_back_to_dateparser() -> None:
    assert when.resolve("next month", NOW, dmy=True) is None
    found = entities.dates("Let's revisit this next month.", now=NOW, timezone="Europe/Berlin")
    assert [e.value for e in found] == ["2025-04-04"]


def test_numbers_that_are_not_times_or_companies() -> None:
    text = "Refinance at 1.9% from the US, or switch the date format from US to EU."
    found = entities.extract(text, now=NOW, timezone="Europe/Berlin")
    assert [e for e in found if e.type in ("date", "datetime", "company")] == []


def test_end_of_periods() -> None:
    found = entities.dates(
        "We need it by end of the month, ideally EOD today.", now=NOW, timezone="Europe/Berlin"
    )
    assert [(e.type, e.value) for e in found] == [
        ("date", "2025-03-31"),
        ("datetime", "2025-03-04T17:00:00+01:00"),
    ]


@pytest.mark.parametrize(
    ("raw", "value"),
    [("75,000", 75000), ("75.000", 75000), ("1.234,50", 1234.5), ("2.5", 2.5), ("2,5", 2.5)],
)
def test_numbers_in_either_notation(raw: str, value: float) -> None:
    assert entities.parse_number(raw) == value


@pytest.mark.parametrize(
    ("text", "amount", "currency", "assumed"),
    [
        ("our budget is $75k", 75000, "USD", False),
        ("about 75,000 EUR per year", 75000, "EUR", False),
        ("a budget of 10k", 10000, "GBP", True),
        ("£1.2 million", 1_200_000, "GBP", False),
        ("it costs 99 dollars", 99, "USD", False),
    ],
)
def test_money(text: str, amount: float, currency: str, assumed: bool) -> None:
    (found,) = entities.money(text, "GBP")
    assert found.value == {"amount": amount, "currency": currency}
    assert bool(found.extra.get("assumed_currency")) is assumed


def test_no_money_without_an_amount_worth_one() -> None:
    assert entities.money("we have a budget for 3 users and 20% growth", "USD") == []


def test_phones_use_the_region_for_national_numbers() -> None:
    found = entities.phones("Call 020 7946 0991 or +1 (415) 555-0132", "GB")
    assert [e.value for e in found] == ["+442079460991", "+14155550132"]


def test_people_from_introductions_and_signatures() -> None:
    text = "Hi, I'm Priya Patel from Helix Labs.\n\nKind regards,\nJean-Luc O'Neill"
    found = entities.people(text)
    assert [(e.value, e.source) for e in found] == [
        ("Priya Patel", "introduction"),
        ("Jean-Luc O'Neill", "signature"),
    ]
    assert entities.people("I'm happy with it, thanks") == []
    # the person thanked is not the sender; a web form's Name line stops at its line
    assert entities.people("Thanks Dana, that helps") == []
    form = entities.people("Name: Anna Kowalski\nEmail: anna@example.com")
    assert [(e.value, e.source) for e in form] == [("Anna Kowalski", "form")]


def test_companies_from_suffixes_phrases_and_known_names() -> None:
    text = "We met Nordwind GmbH last week; I work at Kestrel and we partner with acme corporation."
    found = entities.companies(text, known_names=["Acme Corporation"])
    values = {(e.value, e.source) for e in found}
    assert ("Nordwind GmbH", "suffix") in values
    assert ("Kestrel", "phrase") in values
    assert ("Acme Corporation", "known_name") in values


def test_products_match_despite_typos_and_case() -> None:
    found = entities.fuzzy(
        "we use the telephony addon and the CRM",
        ["Telephony Add-on", "CRM", "Dashboards"],
        "product",
    )
    assert [e.value for e in found] == ["Telephony Add-on", "CRM"]


def test_extract_spans_do_not_overlap_and_index_the_text() -> None:
    text = (
        "Hello, my name is Dana Smith. Email dana@acme.io, call +1 415 555 0132, budget $20k, "
        "meeting on March 5th at 2pm.\nThanks,\nDana Smith"
    )
    found = entities.extract(text, now=NOW, timezone="Europe/Berlin", region="US")
    assert {e.type for e in found} >= {"person", "email", "phone", "money", "datetime"}
    spans = sorted((e.start, e.end) for e in found)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(text[e.start : e.end] == e.text for e in found)


def _entity(kind: str, value: str) -> Entity:
    return Entity(kind, value, value, 0, 1)


def test_urgency_rules() -> None:
    now = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    outage = urgency.assess(
        "Our site is DOWN and customers can't pay!!! Fix it ASAP",
        intent="technical_issue",
        sentiment_score=-0.8,
        entities=[],
        now=now,
    )
    assert outage.level == "urgent"
    assert {"urgent_words", "outage", "impact"} <= {r["feature"] for r in outage.reasons}
    soon = urgency.assess(
        "Can you send the contract?",
        intent="support_request",
        sentiment_score=0.0,
        entities=[_entity("datetime", "2025-03-04T16:00:00+00:00")],
        now=now,
    )
    later = urgency.assess(
        "Can you send the contract?",
        intent="support_request",
        sentiment_score=0.0,
        entities=[_entity("date", "2025-04-20")],
        now=now,
    )
    assert soon.score > later.score
    assert any(r["feature"] == "deadline" for r in soon.reasons)
    spam = urgency.assess(
        "URGENT!!! claim your prize", intent="spam", sentiment_score=0.9, entities=[], now=now
    )
    assert spam.level == "low"
    calm = urgency.assess(
        "No rush, whenever you have a moment.",
        intent="feedback",
        sentiment_score=0.3,
        entities=[],
        now=now,
    )
    assert calm.level == "low"


def test_corpus_covers_every_label_and_is_reproducible() -> None:
    texts, labels, groups = corpus.training_set(per_label=60)
    counts = Counter(labels)
    assert set(counts) == set(corpus.LABELS)
    assert min(counts.values()) >= 60
    again = corpus.training_set(per_label=60)
    assert again[0] == texts
    assert len(set(groups)) > len(corpus.LABELS) * 10
    assert corpus.fingerprint() == corpus.fingerprint()


def test_intent_trainer_learns_from_few_examples_with_probabilities() -> None:
    data = {
        "pricing": ["how much is it", "what does it cost", "price per user?", "send a quote"],
        "spam": ["win a free prize", "cheap pills online", "claim your reward", "crypto gains"],
        "booking_request": [
            "book a call monday",
            "schedule a meeting",
            "are you free friday",
            "set up a demo",
        ],
    }
    texts = [t for ts in data.values() for t in ts]
    labels = [lab for lab, ts in data.items() for _ in ts]
    model = intent.train(texts, labels, version="test")
    (pred,) = model.predict(["what's the cost per user"])
    assert pred.label == "pricing"
    assert pred.confidence + sum(pred.alternatives.values()) == pytest.approx(1.0, abs=1e-3)


def test_negation_is_a_different_feature() -> None:
    assert "neg_happy" in word_features("I'm not happy")
    assert "happy" in word_features("I'm happy")
    assert "neg_happy" not in word_features("Not bad. Happy now")
    assert "emopos" in word_features("thanks 😊")


def test_the_shipped_models_load_and_agree_with_common_sense() -> None:
    analyzer = get_analyzer()
    pos, neg = analyzer.sentiment.analyse(["Thanks!! You guys are great 🙏", "not happy at all 😡"])
    assert pos.label == "positive" and neg.label == "negative"
    assert analyzer.language.detect("ok thx").code == "en"
    assert analyzer.language.detect("1234 5678").code == "und"


def test_summary_only_for_long_texts() -> None:
    assert summarize("short message") is None
    text = ". ".join(
        f"Sentence number {i} talks about the invoice and the refund" for i in range(30)
    )
    summary = summarize(text, max_sentences=2)
    assert summary and summary.count("Sentence") == 2
