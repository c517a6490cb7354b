"""Insights: the one place AI decisions are stored, audited and announced.

Every predictive feature (lead score, churn risk, lifetime value, win probability, next best
action, forecasts, pattern scans) ends in `record()`, which

- stores the decision as an `AIInsight` (value, label, confidence, reasons, recommendations,
  model and version) and marks the previous one of the same kind for the same record as no longer
  current — kept, so `/api/v1/ai/accuracy` can later join predictions with outcomes;
- writes an audit entry (`ai.<kind>`) with the inputs the model saw and its version;
- emits `insight.created` (pushed to websocket clients as `ai_insight`).

Reasons are a list of `{"feature": str, "text": str, "impact": float}`: `text` is what a user
reads ("No contact in 21 days"), `impact` is signed (positive raises the value).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.errors import Invalid
from aicrm.kit.principal import Principal
from aicrm.kit.repository import Repo
from aicrm.kit.snapshot import jsonable
from aicrm.models import AIInsight, utcnow

STATUSES = ("open", "dismissed", "acted")
SEVERITIES = ("info", "low", "medium", "high")


class InsightRepo(Repo[AIInsight]):
    model: ClassVar[type[AIInsight]] = AIInsight
    entity = "insight"

    def current(self) -> Select[Any]:
        return self.select().where(AIInsight.is_current.is_(True))


async def record(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str,
    model: str,
    model_version: str | int,
    entity_type: str | None = None,
    entity_id: int | None = None,
    value: float | None = None,
    label: str | None = None,
    confidence: float | None = None,
    title: str = "",
    reasons: Sequence[dict[str, Any]] = (),
    recommendations: Sequence[Any] = (),
    data: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    severity: str = "info",
    fingerprint: str | None = None,
    emit: bool = True,
) -> AIInsight:
    """Store one AI decision (see the module docstring). `inputs` go to the audit log only."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    org_id = principal.organization_id
    supersede = update(AIInsight).where(
        AIInsight.organization_id == org_id,
        AIInsight.kind == kind,
        AIInsight.is_current.is_(True),
    )
    if entity_type is not None:
        supersede = supersede.where(
            AIInsight.entity_type == entity_type, AIInsight.entity_id == entity_id
        )
    elif fingerprint is not None:
        supersede = supersede.where(
            AIInsight.entity_type.is_(None), AIInsight.fingerprint == fingerprint
        )
    else:
        supersede = None  # organization-wide findings without a key accumulate
    if supersede is not None:
        await session.execute(
            supersede.values(is_current=False).execution_options(synchronize_session=False)
        )
    insight = AIInsight(
        organization_id=org_id,
        kind=kind,
        entity_type=entity_type,
        entity_id=entity_id,
        title=title[:300],
        value=None if value is None else float(value),
        label=label,
        confidence=None if confidence is None else round(float(confidence), 4),
        reasons=jsonable(list(reasons)),
        recommendations=jsonable(list(recommendations)),
        data=jsonable(dict(data or {})),
        model=model,
        model_version=str(model_version),
        severity=severity,
        status="open",
        is_current=True,
        fingerprint=fingerprint,
    )
    session.add(insight)
    await session.flush()
    await audit.record(
        session,
        principal,
        f"ai.{kind}",
        entity_type or "organization",
        entity_id if entity_type else org_id,
        after={
            "insight_id": insight.id,
            "value": insight.value,
            "label": label,
            "confidence": insight.confidence,
            "model": model,
            "model_version": str(model_version),
            "inputs": jsonable(inputs or {}),
        },
    )
    if emit:
        await events.emit(
            session,
            principal,
            "insight.created",
            entity_type=entity_type,
            entity_id=entity_id,
            payload={"insight": to_dict(insight)},
        )
    return insight


def to_dict(insight: AIInsight) -> dict[str, Any]:
    return {
        "id": insight.id,
        "kind": insight.kind,
        "entity_type": insight.entity_type,
        "entity_id": insight.entity_id,
        "title": insight.title,
        "value": insight.value,
        "label": insight.label,
        "confidence": insight.confidence,
        "reasons": insight.reasons,
        "recommendations": insight.recommendations,
        "data": insight.data,
        "model": insight.model,
        "model_version": insight.model_version,
        "severity": insight.severity,
        "status": insight.status,
        "is_current": insight.is_current,
        "created_at": insight.created_at,
    }


async def current_for(
    session: AsyncSession,
    principal: Principal,
    entity_type: str,
    entity_id: int,
    kinds: Sequence[str] | None = None,
) -> list[AIInsight]:
    """The current insights about one record (one per kind), newest first."""
    repo = InsightRepo(session, principal)
    stmt = repo.current().where(
        AIInsight.entity_type == entity_type, AIInsight.entity_id == entity_id
    )
    if kinds:
        stmt = stmt.where(AIInsight.kind.in_(list(kinds)))
    rows = (await session.execute(stmt.order_by(AIInsight.id.desc()))).scalars()
    return list(rows)


async def latest_by_entity(
    session: AsyncSession, principal: Principal, kind: str, entity_type: str, ids: Sequence[int]
) -> dict[int, AIInsight]:
    """The current insight of `kind` for each of `ids` (e.g. score badges on a board)."""
    if not ids:
        return {}
    repo = InsightRepo(session, principal)
    stmt = repo.current().where(
        AIInsight.kind == kind,
        AIInsight.entity_type == entity_type,
        AIInsight.entity_id.in_(list(ids)),
    )
    return {i.entity_id: i for i in (await session.execute(stmt)).scalars() if i.entity_id}


async def resolve(
    session: AsyncSession, principal: Principal, insight_id: int, status: str, note: str = ""
) -> AIInsight:
    """Dismiss an insight or mark it acted on (audited, announced)."""
    if status not in ("dismissed", "acted", "open"):
        raise Invalid("status must be one of dismissed, acted, open", field="status")
    repo = InsightRepo(session, principal)
    insight = await repo.get(insight_id, for_update=True)
    before = insight.status
    insight.status = status
    insight.resolved_at = None if status == "open" else utcnow()
    insight.resolved_by_id = None if status == "open" else principal.user_id
    if note:
        insight.data = {**(insight.data or {}), "note": note[:2000]}
    await session.flush()
    await audit.record(
        session,
        principal,
        f"insight.{status}",
        "insight",
        insight.id,
        before={"status": before},
        after={"status": status, "note": note[:2000] or None},
    )
    await events.emit(
        session,
        principal,
        {"dismissed": "insight.dismissed", "acted": "insight.acted"}.get(
            status, "insight.reopened"
        ),
        entity_type=insight.entity_type,
        entity_id=insight.entity_id,
        payload={"insight": to_dict(insight)},
    )
    return insight


async def open_fingerprints(
    session: AsyncSession, principal: Principal, since: datetime | None = None
) -> set[str]:
    """Fingerprints of open, current organization-level findings (scans skip repeats)."""
    repo = InsightRepo(session, principal)
    stmt = select(AIInsight.fingerprint).where(
        AIInsight.organization_id == repo.org_id,
        AIInsight.is_current.is_(True),
        AIInsight.status == "open",
        AIInsight.fingerprint.is_not(None),
    )
    if since is not None:
        stmt = stmt.where(AIInsight.created_at >= since)
    return {f for f in (await session.execute(stmt)).scalars() if f}
