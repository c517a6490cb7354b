"""Text understanding: language, intent, sentiment, urgency and entities of a message.

    from aicrm.ai.text import analyze
    result = analyze("Our dashboard is down, please call me ASAP", products=["Dashboards"])
    result.intent.label, result.urgency.level, result.to_dict()

Models load once per process (`get_analyzer()`; `warm()` at start-up). HTTP:
`POST /api/v1/ai/analyze` and `POST /api/v1/ai/sentiment-analysis` (aicrm.ai.text.endpoints).
"""

from __future__ import annotations

from aicrm.ai.text.analyzer import Analysis, Analyzer, analyze, get_analyzer, warm
from aicrm.ai.text.entities import Entity
from aicrm.ai.text.intent import Intent
from aicrm.ai.text.language import Language
from aicrm.ai.text.sentiment import Sentiment
from aicrm.ai.text.urgency import Urgency

__all__ = [
    "Analysis",
    "Analyzer",
    "Entity",
    "Intent",
    "Language",
    "Sentiment",
    "Urgency",
    "analyze",
    "get_analyzer",
    "warm",
]
