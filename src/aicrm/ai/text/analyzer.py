"""`analyze()`: language, intent, sentiment, urgency, entities and a summary of one message.

A pure function over models loaded once per process (`get_analyzer()`, `warm()`): no database,
no network. Intent and sentiment models are English; other languages get their language and
entities right and an intent/sentiment of lower reliability.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aicrm.ai.text import entities as entities_
from aicrm.ai.text import urgency as urgency_
from aicrm.ai.text.entities import Entity
from aicrm.ai.text.intent import Intent, IntentModel, load_builtin
from aicrm.ai.text.language import Language, LanguageModel
from aicrm.ai.text.sentiment import Sentiment, SentimentModel
from aicrm.ai.text.urgency import Urgency
from aicrm.logging import get_logger

log = get_logger("aicrm.ai")

SUMMARY_MIN_CHARS = 400
# the models read the first part of very long texts (quoted threads add noise, not signal)
MODEL_CHARS = 5000


@dataclass(frozen=True)
class Analysis:
    language: Language
    intent: Intent
    sentiment: Sentiment
    urgency: Urgency
    entities: list[Entity]
    summary: str | None
    model_versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language.to_dict(),
            "intent": self.intent.to_dict(),
            "sentiment": self.sentiment.to_dict(),
            "urgency": self.urgency.to_dict(),
            "entities": [e.to_dict() for e in self.entities],
            "summary": self.summary,
            "model_versions": dict(self.model_versions),
        }


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
_WORDS = re.compile(r"[a-zà-ÿ']{3,}")
_BOILERPLATE = re.compile(
    r"^(?:hi|hello|hey|dear|good\s+(?:morning|afternoon)|thanks|thank\s+you|best|regards|kind\s+"
    r"regards|cheers|sent\s+from)\b",
    re.I,
)
_STOP = frozenset(
    """the and for that this with you your our are was were have has had not but can will would
    could should from they them their there here what when which who how all any been being into
    about just also very more some than then its it's i'm we're you're please thanks""".split()
)


def summarize(text: str, max_sentences: int = 2) -> str | None:
    """Extractive: the sentences whose words recur most in the message, in their order."""
    if len(text) < SUMMARY_MIN_CHARS:
        return None
    sentences = [
        s.strip()
        for s in _SENTENCE.split(text)
        if len(s.strip()) > 20 and not _BOILERPLATE.match(s.strip())
    ]
    if len(sentences) <= max_sentences:
        return None  # nothing to leave out
    counts = Counter(w for s in sentences for w in _WORDS.findall(s.lower()) if w not in _STOP)
    scored = []
    for i, s in enumerate(sentences):
        words = [w for w in _WORDS.findall(s.lower()) if w not in _STOP]
        scored.append((sum(counts[w] for w in set(words)) / (len(words) or 1) ** 0.5, i))
    best = sorted(i for _, i in sorted(scored, reverse=True)[:max_sentences])
    return " ".join(sentences[i] for i in best)


class Analyzer:
    def __init__(self, *, cache_dir: Path | None = None) -> None:
        started = time.perf_counter()
        self.language = LanguageModel(cache_dir=cache_dir)
        loaded = time.perf_counter()
        self.intent: IntentModel = load_builtin(cache_dir)
        trained = time.perf_counter()
        self.sentiment = SentimentModel()
        self.load_seconds = {
            "language": round(loaded - started, 3),
            "intent": round(trained - loaded, 3),
            "sentiment": round(time.perf_counter() - trained, 3),
        }
        self.model_versions = {
            "language": self.language.version,
            "intent": self.intent.version,
            "sentiment": self.sentiment.version,
            "urgency": urgency_.VERSION,
        }

    def analyze_many(
        self,
        texts: Sequence[str],
        *,
        products: Sequence[str] | None = None,
        known_names: Sequence[str] | None = None,
        timezone: str = "UTC",
        region: str = "US",
        currency: str | None = "USD",
        now: datetime | None = None,
        default_language: str = "en",
    ) -> list[Analysis]:
        """Several messages at once (the intent and sentiment models score them in one batch)."""
        if not texts:
            return []
        tz = ZoneInfo(timezone)
        now = now or datetime.now(UTC)
        local_now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(tz)
        heads = [t[:MODEL_CHARS] for t in texts]
        intents = self.intent.predict(heads)
        sentiments = self.sentiment.analyse(heads)
        out = []
        for text, intent, sentiment in zip(texts, intents, sentiments, strict=True):
            language = self.language.detect(text[:MODEL_CHARS], default=default_language)
            found = entities_.extract(
                text,
                now=local_now,
                timezone=timezone,
                region=region,
                currency=currency,
                language=language.code,
                products=products,
                known_names=known_names,
            )
            urgency = urgency_.assess(
                text,
                intent=intent.label,
                sentiment_score=sentiment.score,
                entities=found,
                now=local_now,
            )
            out.append(
                Analysis(
                    language=language,
                    intent=intent,
                    sentiment=sentiment,
                    urgency=urgency,
                    entities=found,
                    summary=summarize(text),
                    model_versions=self.model_versions,
                )
            )
        return out

    def analyze(self, text: str, **options: Any) -> Analysis:
        return self.analyze_many([text], **options)[0]


_lock = threading.Lock()
_analyzer: Analyzer | None = None


def cache_dir() -> Path | None:
    from aicrm.config import get_settings

    return Path(get_settings().DATA_DIR) / "models" / "text"


def get_analyzer() -> Analyzer:
    """The process-wide analyzer, loaded (and the intent model trained or read from the
    DATA_DIR cache) on first use."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                _analyzer = Analyzer(cache_dir=cache_dir())
                log.info(
                    "text_models_ready",
                    versions=_analyzer.model_versions,
                    seconds=_analyzer.load_seconds,
                )
    return _analyzer


def warm() -> None:
    """Load the models and run one message through every path (dateparser and phonenumbers
    load their data lazily on first use)."""
    analyzer = get_analyzer()
    analyzer.analyze(
        "Hi, our dashboard is down since this morning, can we talk tomorrow at 3pm or on "
        "March 5th? Budget is $10k. Call +1 415 555 0132.\n\nThanks,\nDana Smith, Acme Ltd",
        products=["Dashboard"],
        known_names=["Acme"],
    )
    analyzer.analyze(
        "Pouvons-nous nous voir lundi prochain ?", region="FR", timezone="Europe/Paris"
    )


def analyze(
    text: str,
    *,
    products: Sequence[str] | None = None,
    known_names: Sequence[str] | None = None,
    **options: Any,
) -> Analysis:
    """Analyse one message with the process-wide models (see `Analyzer.analyze_many` for the
    options: timezone, region, currency, now, default_language)."""
    return get_analyzer().analyze(text, products=products, known_names=known_names, **options)
