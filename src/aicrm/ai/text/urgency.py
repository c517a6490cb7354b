"""How soon a message needs a person: low / normal / high / urgent, a score and its reasons.

Rules over the text combined with what the other models found: explicit urgency words, an
outage or something blocking work, business impact, a deadline among the extracted dates,
shouting (capitals, "!!!"), a repeated chase, the intent (a technical issue or a churn signal
weighs more, spam nothing) and strong negative sentiment — more so together with a complaint.
Each rule that fires adds (or removes) a fixed amount and is reported as a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aicrm.ai.text.entities import Entity

LEVELS = ("low", "normal", "high", "urgent")
BASE = 0.2
VERSION = "urgency-rules-1"

_RULES: list[tuple[str, re.Pattern[str], float, str]] = [
    (
        "urgent_words",
        re.compile(
            r"\b(?:asap|a\.s\.a\.p|urgent(?:ly)?|emergency|immediately|right\s+away|critical|"
            r"as\s+soon\s+as\s+possible|time[- ]sensitive|top\s+priority|sev[- ]?1|p1|blocker|"
            r"dringend|urgente?|sofort|inmediatamente|tout\s+de\s+suite)\b",
            re.I,
        ),
        0.35,
        "Says it is urgent",
    ),
    (
        "outage",
        re.compile(
            r"\b(?:outage|(?:is|are|went|been|still|all|whole\s+\w+)\s+down|down\s+(?:again|since|for)|"
            r"not\s+working|stopped\s+working|doesn'?t\s+work|can'?t\s+(?:log\s*in|access|login|"
            r"connect)|cannot\s+(?:log\s*in|access|connect)|unavailable|crash(?:es|ed|ing)?|"
            r"broken|locked\s+out|error\s+\d{3}|\b5\d\d\b\s+error)",
            re.I,
        ),
        0.25,
        "Something is down or broken",
    ),
    (
        "impact",
        re.compile(
            r"\b(?:whole\s+(?:team|company|office)|all\s+(?:our\s+)?(?:users|customers|agents|staff)|"
            r"nobody\s+can|no\s+one\s+can|customers\s+can'?t|in\s+production|production\s+is|"
            r"losing\s+(?:money|sales|revenue|customers|orders|data)|blocking|blocked|"
            r"can'?t\s+(?:work|pay|sell))\b",
            re.I,
        ),
        0.2,
        "Stops their business",
    ),
    (
        "deadline_words",
        re.compile(
            r"\b(?:deadline|by\s+(?:today|tonight|tomorrow|eod|end\s+of\s+(?:the\s+)?day)|"
            r"end\s+of\s+(?:the\s+)?day|eod|cob|before\s+(?:our|the)\s+\w+\s+(?:meeting|launch|"
            r"demo)|tonight|this\s+afternoon|within\s+the\s+hour)\b",
            re.I,
        ),
        0.15,
        "Mentions a deadline",
    ),
    (
        "chasing",
        re.compile(
            r"\b(?:(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th))\s+time|still\s+(?:waiting|"
            r"no\s+(?:reply|response|answer)|broken|not)|no\s+(?:one|body)\s+(?:has\s+)?"
            r"(?:replied|responded|answered|called)|(?:again|yet\s+again)[.!?]|chasing|"
            r"following\s+up\s+again|escalate)\b",
            re.I,
        ),
        0.1,
        "Chasing an earlier request",
    ),
    (
        "no_rush",
        re.compile(
            r"\b(?:no\s+rush|no\s+hurry|not\s+urgent|whenever\s+(?:you|it)|at\s+your\s+"
            r"(?:convenience|leisure)|when\s+you\s+(?:get|have)\s+a\s+(?:chance|moment|minute)|"
            r"low\s+priority|no\s+deadline|in\s+the\s+coming\s+weeks)\b",
            re.I,
        ),
        -0.3,
        "Says there is no rush",
    ),
]
_INTENT_WEIGHT = {
    "technical_issue": (0.15, "A technical issue"),
    "cancellation": (0.2, "Wants to cancel (churn risk)"),
    "complaint": (0.1, "A complaint"),
    "billing": (0.05, "A billing question"),
    "booking_request": (0.0, ""),
    "feedback": (-0.1, "Feedback, no action awaited"),
    "other": (-0.1, "No request to act on"),
}
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_WORD = re.compile(r"\b[A-Za-z]{3,}\b")
_ACRONYMS = frozenset({"ASAP", "API", "CRM", "CSV", "PDF", "SMS", "SSO", "URL", "USD", "EUR"})
_ACRONYMS |= {"GBP", "VAT", "CEO", "CTO", "CFO", "EOD", "COB", "FYI", "IT", "UK", "USA", "SLA"}


@dataclass(frozen=True)
class Urgency:
    level: str
    score: float
    reasons: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "score": self.score, "reasons": self.reasons}


def _level(score: float) -> str:
    if score >= 0.75:
        return "urgent"
    if score >= 0.5:
        return "high"
    if score >= 0.25:
        return "normal"
    return "low"


def _deadline(entities: Sequence[Entity], now: datetime) -> tuple[float, str] | None:
    """The nearest future date among the entities (`now` is the local time), as a rule."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    soonest: float | None = None
    for e in entities:
        try:
            if e.type == "datetime":
                when = datetime.fromisoformat(e.value)
                when = when if when.tzinfo else when.replace(tzinfo=now.tzinfo)
                hours = (when - now).total_seconds() / 3600
            elif e.type == "date":
                days = (date.fromisoformat(e.value) - now.date()).days
                hours = (days + 1) * 24.0 - now.hour  # until the end of that day
            else:
                continue
        except (TypeError, ValueError):
            continue
        if hours >= 0:
            soonest = hours if soonest is None else min(soonest, hours)
    if soonest is None:
        return None
    if soonest <= 24:
        return 0.25, "A date within 24 hours"
    if soonest <= 72:
        return 0.1, "A date within three days"
    return None


def assess(
    text: str,
    *,
    intent: str | None,
    sentiment_score: float | None,
    entities: Sequence[Entity],
    now: datetime,
) -> Urgency:
    reasons: list[dict[str, Any]] = []

    def add(feature: str, impact: float, why: str) -> None:
        reasons.append({"feature": feature, "text": why, "impact": round(impact, 2)})

    if intent == "spam":
        return Urgency("low", 0.0, [{"feature": "intent", "text": "Spam", "impact": -1.0}])
    for feature, pattern, weight, why in _RULES:
        if pattern.search(text):
            add(feature, weight, why)
    deadline = _deadline(entities, now)
    if deadline and not any(r["feature"] == "no_rush" for r in reasons):
        add("deadline", *deadline)
    if intent in _INTENT_WEIGHT and _INTENT_WEIGHT[intent][0]:
        add("intent", *_INTENT_WEIGHT[intent])
    if sentiment_score is not None and sentiment_score <= -0.5:
        add("sentiment", 0.15, "Strongly negative tone")
        if intent in ("complaint", "cancellation"):
            add("angry_complaint", 0.1, "Angry and complaining")
    words = _WORD.findall(text)
    caps = [w for w in _CAPS_WORD.findall(text) if w not in _ACRONYMS]
    if len(caps) >= 3 or (len(words) >= 3 and len(caps) / len(words) > 0.5):
        add("capitals", 0.1, "Written in capitals")
    if "!!" in text or text.count("!") >= 3:
        add("exclamation", 0.1, "Several exclamation marks")
    score = min(1.0, max(0.0, BASE + sum(r["impact"] for r in reasons)))
    reasons.sort(key=lambda r: -abs(r["impact"]))
    return Urgency(_level(score), round(score, 3), reasons[:5])
