"""Free-text analysis: language, intent, sentiment, urgency and entities of messages."""

from __future__ import annotations

from fastapi import APIRouter

from aicrm.ai.text import service
from aicrm.ai.text.schemas import (
    AnalysisBatchOut,
    AnalysisOut,
    AnalyzeIn,
    SentimentBatchOut,
    SentimentIn,
    SentimentOut,
    SentimentResultOut,
)
from aicrm.auth.deps import Reader, Session
from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=TxRoute)


@router.post("/analyze", response_model=AnalysisOut | AnalysisBatchOut)
async def analyze(
    data: AnalyzeIn, principal: Reader, session: Session
) -> AnalysisOut | AnalysisBatchOut:
    """Analyse `text` (or up to 100 `texts`): language, intent with runners-up, sentiment,
    urgency with reasons, entities with normalised values, a summary of long texts, and the
    model versions. Nothing is stored but an audit entry (input hashes, not the text)."""
    results, batch = await service.analyze(session, principal, data)
    items = [AnalysisOut.model_validate(r.to_dict()) for r in results]
    if batch:
        return AnalysisBatchOut(items=items, model_versions=results[0].model_versions)
    return items[0]


@router.post("/sentiment-analysis", response_model=SentimentResultOut | SentimentBatchOut)
async def sentiment_analysis(
    data: SentimentIn, principal: Reader, session: Session
) -> SentimentResultOut | SentimentBatchOut:
    """Sentiment of `text` (or up to 100 `texts`): score −1..1, label, confidence."""
    results, batch, version = await service.sentiment(session, principal, data)
    if batch:
        return SentimentBatchOut(
            items=[SentimentOut.model_validate(r.to_dict()) for r in results],
            model_version=version,
        )
    return SentimentResultOut(**results[0].to_dict(), model_version=version)
