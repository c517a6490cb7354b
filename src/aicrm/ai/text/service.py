"""Text analysis for API callers: organization defaults, validation, and the audit entry.

Nothing about the message is stored except the audit entry every AI decision gets: the model
versions, a SHA-256 and length of each input (not the text — it may be personal data the caller
never meant to keep), and what the models decided.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.text.analyzer import Analysis, get_analyzer
from aicrm.ai.text.schemas import AnalyzeIn, SentimentIn
from aicrm.ai.text.sentiment import Sentiment
from aicrm.audit import service as audit
from aicrm.errors import Invalid
from aicrm.kit.principal import Principal
from aicrm.orgs import service as org_service


def _texts(data: AnalyzeIn | SentimentIn) -> tuple[list[str], bool]:
    """The messages to analyse and whether the caller sent a batch."""
    if data.text is not None and data.texts is not None:
        raise Invalid("Send either text or texts, not both", field="texts")
    if data.texts is not None:
        return list(data.texts), True
    if data.text is None:
        raise Invalid("text is required (or texts, a list of up to 100)", field="text")
    return [data.text], False


def _fingerprint(text: str) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "chars": len(text)}


async def _record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    texts: list[str],
    model_versions: dict[str, str],
    outputs: list[dict[str, Any]],
) -> None:
    await audit.record(
        session,
        principal,
        action,
        "text",
        None,
        after={
            "model_versions": model_versions,
            "inputs": [_fingerprint(t) for t in texts],
            "outputs": outputs,
        },
    )


async def analyze(
    session: AsyncSession, principal: Principal, data: AnalyzeIn
) -> tuple[list[Analysis], bool]:
    """Analyse one message or a batch with the organization's timezone, region and currency
    unless the request names its own."""
    texts, batch = _texts(data)
    org = await org_service.get_current(session, principal)
    timezone = data.timezone or org.timezone or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        field = "timezone" if data.timezone else "organization.timezone"
        raise Invalid(f"Unknown timezone {timezone!r}", field=field) from exc
    now = data.reference_time
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    run = partial(
        get_analyzer().analyze_many,
        texts,
        products=data.products,
        known_names=data.known_names,
        timezone=timezone,
        region=(data.region or org.default_region or "US").upper(),
        currency=(data.currency or org.default_currency or "USD").upper(),
        now=now,
    )
    # a few milliseconds a message: off the event loop, so a batch does not stall others
    results = await asyncio.to_thread(run)
    await _record(
        session,
        principal,
        "ai.analyze",
        texts,
        results[0].model_versions,
        [
            {
                "language": r.language.code,
                "intent": r.intent.label,
                "intent_confidence": r.intent.confidence,
                "sentiment": r.sentiment.label,
                "sentiment_score": r.sentiment.score,
                "urgency": r.urgency.level,
                "entities": len(r.entities),
            }
            for r in results
        ],
    )
    return results, batch


async def sentiment(
    session: AsyncSession, principal: Principal, data: SentimentIn
) -> tuple[list[Sentiment], bool, str]:
    """Sentiment of one message or a batch, with the model version."""
    texts, batch = _texts(data)
    model = (await asyncio.to_thread(get_analyzer)).sentiment
    results = await asyncio.to_thread(model.analyse, texts)
    await _record(
        session,
        principal,
        "ai.sentiment",
        texts,
        {"sentiment": model.version},
        [{"label": r.label, "score": r.score} for r in results],
    )
    return results, batch, model.version
