"""What the AI engine knows about one organization: providers and models in use
(`status`), its insights (list, resolve), and how right its predictions turned out
(`accuracy`: each stored prediction joined with the outcome that came after it)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai import insights
from aicrm.ai.schemas import (
    Accuracy,
    AccuracyKind,
    AccuracyPoint,
    AIStatus,
    ModelStatus,
    ProviderStatus,
)
from aicrm.config import get_settings
from aicrm.errors import Invalid
from aicrm.jobs import enqueue
from aicrm.kit.principal import Principal
from aicrm.models import (
    AIClassifier,
    AIInsight,
    AIModel,
    AuditLog,
    Contact,
    Deal,
    Job,
    Lead,
    LeadStatus,
    utcnow,
)

# churn predictions count as "retained" once the customer is still active this long after
RETENTION_HORIZON = timedelta(days=90)
MAX_OUTCOMES = 20000


def provider_status() -> ProviderStatus:
    from aicrm.ai.providers import chat, embedder

    settings = get_settings()
    try:
        emb = embedder().describe()
    except Exception as exc:  # noqa: BLE001 - status reports a broken provider instead of failing
        emb = {"provider": settings.AI_EMBEDDINGS, "error": str(exc)[:300]}
    return ProviderStatus(
        embeddings=emb,
        chat=chat().describe(),
        offline=not settings.LLM_BASE_URL and settings.AI_EMBEDDINGS in ("", "wordllama"),
    )


async def status(session: AsyncSession, principal: Principal) -> AIStatus:
    org = principal.organization_id
    models = (
        await session.execute(
            select(AIModel)
            .where(AIModel.organization_id == org, AIModel.is_active.is_(True))
            .order_by(AIModel.kind)
        )
    ).scalars()
    classifiers = await session.scalar(
        select(func.count()).select_from(AIClassifier).where(AIClassifier.organization_id == org)
    )
    counts = (
        await session.execute(
            select(AIInsight.kind, func.count())
            .where(
                AIInsight.organization_id == org,
                AIInsight.is_current.is_(True),
                AIInsight.status == "open",
            )
            .group_by(AIInsight.kind)
        )
    ).all()
    return AIStatus(
        providers=provider_status(),
        models=[ModelStatus.model_validate(m) for m in models],
        classifiers=classifiers or 0,
        insights={k: n for k, n in counts},
    )


async def list_insights(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    entity_type: str | None,
    entity_id: int | None,
    status: str | None,
    current: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AIInsight], str | None]:
    repo = insights.InsightRepo(session, principal)
    stmt = repo.select()
    if kind:
        stmt = stmt.where(AIInsight.kind.in_(kind.split(",")))
    if entity_type:
        stmt = stmt.where(AIInsight.entity_type == entity_type)
    if entity_id is not None:
        if not entity_type:
            raise Invalid("entity_id needs entity_type", field="entity_type")
        stmt = stmt.where(AIInsight.entity_id == entity_id)
    if status:
        stmt = stmt.where(AIInsight.status == status)
    if current is not None:
        stmt = stmt.where(AIInsight.is_current.is_(current))
    return await repo.page(
        stmt, sort="-id", sortable={"id": AIInsight.id}, cursor=cursor, limit=limit
    )


# -- accuracy ----------------------------------------------------------------------------


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(set(y.tolist())) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, p)), 4)


def _binary_summary(pairs: Sequence[tuple[datetime, float, int, str]]) -> dict[str, Any]:
    """pairs: (predicted_at, probability, outcome 0/1, model_version)."""

    def figures(rows: Sequence[tuple[datetime, float, int, str]]) -> dict[str, Any]:
        y = np.array([r[2] for r in rows], dtype=float)
        p = np.clip(np.array([r[1] for r in rows], dtype=float), 0.0, 1.0)
        return {
            "n": len(rows),
            "auc": _auc(y, p),
            "brier": round(float(np.mean((p - y) ** 2)), 4) if rows else None,
            "accuracy": round(float(np.mean((p >= 0.5) == (y == 1))), 4) if rows else None,
        }

    by_month: dict[str, list[tuple[datetime, float, int, str]]] = defaultdict(list)
    for row in pairs:
        by_month[row[0].strftime("%Y-%m")].append(row)
    return {
        **figures(pairs),
        "by_period": [
            AccuracyPoint(period=m, **figures(rows)) for m, rows in sorted(by_month.items())
        ],
        "by_model_version": dict(Counter(r[3] for r in pairs)),
    }


async def _predictions(
    session: AsyncSession, org: int, kind: str, entity_type: str, ids: Iterable[int]
) -> dict[int, list[AIInsight]]:
    """Every stored prediction of `kind` for the given records (current or superseded)."""
    out: dict[int, list[AIInsight]] = defaultdict(list)
    ids = list(ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = (
            await session.execute(
                select(AIInsight)
                .where(
                    AIInsight.organization_id == org,
                    AIInsight.kind == kind,
                    AIInsight.entity_type == entity_type,
                    AIInsight.entity_id.in_(chunk),
                )
                .order_by(AIInsight.created_at)
            )
        ).scalars()
        for row in rows:
            out[row.entity_id or 0].append(row)
    return out


def _last_before(preds: Sequence[AIInsight], moment: datetime) -> AIInsight | None:
    """The last prediction made before the outcome was known (later ones saw the answer)."""
    before = [p for p in preds if p.created_at < moment and p.value is not None]
    return before[-1] if before else None


async def _closed_at_from_audit(
    session: AsyncSession,
    org: int,
    entity_type: str,
    field: str,
    ids: Sequence[int],
    values: set[Any],
) -> dict[int, datetime]:
    """When each record's `field` last changed into one of `values`, from the audit log."""
    found: dict[int, datetime] = {}
    for start in range(0, len(ids), 1000):
        chunk = list(ids[start : start + 1000])
        rows = (
            await session.execute(
                select(AuditLog.entity_id, AuditLog.after, AuditLog.created_at)
                .where(
                    AuditLog.organization_id == org,
                    AuditLog.entity_type == entity_type,
                    AuditLog.action.in_(("update", "create")),
                    AuditLog.entity_id.in_(chunk),
                )
                .order_by(AuditLog.created_at)
            )
        ).all()
        for entity_id, after, at in rows:
            if after and after.get(field) in values and entity_id is not None:
                found[entity_id] = at
    return found


async def _lead_accuracy(session: AsyncSession, org: int) -> AccuracyKind:
    statuses = (
        await session.execute(
            select(LeadStatus.id, LeadStatus.is_won, LeadStatus.is_lost).where(
                LeadStatus.organization_id == org
            )
        )
    ).all()
    won = {s for s, w, _ in statuses if w}
    closed = won | {s for s, _, lost in statuses if lost}
    leads = (
        await session.execute(
            select(Lead.id, Lead.status_id, Lead.converted_at, Lead.updated_at)
            .where(
                Lead.organization_id == org,
                (Lead.status_id.in_(closed)) | (Lead.converted_at.is_not(None)),
            )
            .limit(MAX_OUTCOMES)
        )
    ).all()
    ids = [lead.id for lead in leads]
    moved = await _closed_at_from_audit(session, org, "lead", "status_id", ids, closed)
    preds = await _predictions(session, org, "lead_score", "lead", ids)
    pairs = []
    for lead_id, status_id, converted_at, updated_at in leads:
        outcome = 1 if (status_id in won or converted_at is not None) else 0
        moment = converted_at or moved.get(lead_id) or updated_at
        p = _last_before(preds.get(lead_id, []), moment)
        if p is not None:
            pairs.append((p.created_at, float(p.value or 0) / 100.0, outcome, p.model_version))
    return AccuracyKind(
        kind="lead_score", outcome="lead won/converted (1) or lost (0)", **_binary_summary(pairs)
    )


async def _deal_accuracy(session: AsyncSession, org: int) -> AccuracyKind:
    deals = (
        await session.execute(
            select(Deal.id, Deal.status, Deal.closed_at)
            .where(
                Deal.organization_id == org,
                Deal.status.in_(("won", "lost")),
                Deal.closed_at.is_not(None),
            )
            .limit(MAX_OUTCOMES)
        )
    ).all()
    preds = await _predictions(session, org, "win_probability", "deal", [d.id for d in deals])
    pairs = []
    for deal_id, status, closed_at in deals:
        p = _last_before(preds.get(deal_id, []), closed_at)
        if p is not None:
            pairs.append((p.created_at, float(p.value or 0), int(status == "won"), p.model_version))
    return AccuracyKind(
        kind="win_probability", outcome="deal won (1) or lost (0)", **_binary_summary(pairs)
    )


async def _churn_accuracy(session: AsyncSession, org: int) -> AccuracyKind:
    contacts = (
        await session.execute(
            select(Contact.id, Contact.status)
            .where(
                Contact.organization_id == org,
                Contact.status.in_(("customer", "churned")),
                Contact.deleted_at.is_(None),
            )
            .limit(MAX_OUTCOMES)
        )
    ).all()
    churned_ids = [c.id for c in contacts if c.status == "churned"]
    churned_at = await _closed_at_from_audit(
        session, org, "contact", "status", churned_ids, {"churned"}
    )
    preds = await _predictions(session, org, "churn_risk", "contact", [c.id for c in contacts])
    now = utcnow()
    pairs = []
    for contact_id, status in contacts:
        history = preds.get(contact_id, [])
        if status == "churned":
            p = _last_before(history, churned_at.get(contact_id, now))
            outcome = 1
        else:  # still a customer: predictions older than the horizon have a known outcome
            p = _last_before(history, now - RETENTION_HORIZON)
            outcome = 0
        if p is not None:
            value = float(p.value or 0)
            pairs.append(
                (p.created_at, value / 100.0 if value > 1 else value, outcome, p.model_version)
            )
    return AccuracyKind(
        kind="churn_risk",
        outcome=f"customer churned (1), or still a customer {RETENTION_HORIZON.days} days later (0)",
        **_binary_summary(pairs),
    )


async def _forecast_accuracy(session: AsyncSession, org: int) -> AccuracyKind:
    """Each stored forecast's expected revenue for a month that has ended, against the revenue
    actually won that month (the last forecast made before the month started)."""
    rows = (
        await session.execute(
            select(AIInsight)
            .where(AIInsight.organization_id == org, AIInsight.kind == "forecast")
            .order_by(AIInsight.created_at)
        )
    ).scalars()
    predicted: dict[str, tuple[float, str]] = {}
    now = utcnow()
    current_month = now.strftime("%Y-%m")
    for ins in rows:
        made = ins.created_at.strftime("%Y-%m")
        for m in (ins.data or {}).get("months") or []:
            month = str(m.get("month", ""))[:7]
            if month and month > made and month < current_month and m.get("expected") is not None:
                predicted[month] = (float(m["expected"]), ins.model_version)
    if not predicted:
        return AccuracyKind(
            kind="forecast",
            outcome="revenue won in the month",
            n=0,
            by_period=[],
            by_model_version={},
        )
    first = min(predicted)
    start = datetime.strptime(first, "%Y-%m").replace(tzinfo=UTC)
    won = (
        await session.execute(
            select(Deal.closed_at, Deal.amount).where(
                Deal.organization_id == org, Deal.status == "won", Deal.closed_at >= start
            )
        )
    ).all()
    actual: dict[str, float] = defaultdict(float)
    for closed_at, amount in won:
        actual[closed_at.strftime("%Y-%m")] += float(amount or 0)
    points, errors, totals = [], 0.0, 0.0
    for month, (expected, _version) in sorted(predicted.items()):
        act = actual.get(month, 0.0)
        err = abs(expected - act)
        errors += err
        totals += act
        points.append(
            AccuracyPoint(
                period=month, n=1, mae=round(err, 2), wape=round(err / act, 4) if act else None
            )
        )
    return AccuracyKind(
        kind="forecast",
        outcome="revenue won in the month",
        n=len(points),
        mae=round(errors / len(points), 2),
        wape=round(errors / totals, 4) if totals else None,
        by_period=points,
        by_model_version=dict(Counter(v for _, v in predicted.values())),
    )


ACCURACY = {
    "lead_score": _lead_accuracy,
    "win_probability": _deal_accuracy,
    "churn_risk": _churn_accuracy,
    "forecast": _forecast_accuracy,
}


async def accuracy(
    session: AsyncSession, principal: Principal, kinds: Sequence[str] | None = None
) -> Accuracy:
    chosen = list(kinds or ACCURACY)
    unknown = [k for k in chosen if k not in ACCURACY]
    if unknown:
        raise Invalid(f"kind must be among {sorted(ACCURACY)}", field="kind")
    return Accuracy(
        generated_at=utcnow(),
        kinds=[await ACCURACY[k](session, principal.organization_id) for k in chosen],
    )


async def queue_refresh(session: AsyncSession, principal: Principal) -> Job:
    """Queue `ai.refresh_organization` for the caller's organization."""
    from aicrm.ai.jobs import REFRESH_ORGANIZATION

    job = await enqueue(
        session,
        REFRESH_ORGANIZATION,
        {"run": f"api-{utcnow().strftime('%Y%m%dT%H%M%S%f')}"},
        organization_id=principal.organization_id,
    )
    assert job is not None  # no idempotency key: always queued
    await session.flush()
    return job
