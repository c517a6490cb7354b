"""Lead scoring and deal win probability: score now, score in bulk, train, report status.

Scoring is the same code for one record and for thousands: rows are loaded in one pass, turned
into a feature matrix (numpy) and scored by the organization's active model, or by the cold-start
rules while it has none. Each score is stored through `aicrm.ai.insights.record` (audited, with
its inputs); a lead's `quality_score` and `priority` follow (its `version` does not move: a
prediction is not an edit), and `lead.scored` / `deal.scored` is emitted.

A person's choice wins over the model's: when a lead's priority differs from what the last score
set (someone changed it), a new score leaves the priority alone.

Bulk scoring (`record="changed"`) stores a new insight only when the score moved by
`MIN_CHANGE` points, the priority changed or the model changed, so a nightly re-score of an
unchanged pipeline writes almost nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.ai import insights, modelstore
from aicrm.ai.scoring import deals as dl
from aicrm.ai.scoring import leads as ld
from aicrm.ai.scoring import model as ml
from aicrm.ai.scoring import repository as repo
from aicrm.ai.scoring.features import Records
from aicrm.ai.scoring.schemas import (
    DealProbability,
    DealScoreOut,
    LeadScoreOut,
    LeadScoringStatus,
    ModelVersionOut,
    Outcomes,
    WinProbabilityStatus,
)
from aicrm.config import get_settings
from aicrm.deals import service as deal_service
from aicrm.errors import Conflict
from aicrm.kit.principal import Principal
from aicrm.leads import service as lead_service
from aicrm.models import AIModel, Deal, Lead, utcnow

Record = Literal["always", "changed", "never"]
MIN_CHANGE = 2  # score points
TOP_REASONS = 4
RULES_CACHE_S = 300.0
LEAD_OUTCOME = "won: the lead reached a won status or was converted; lost: a lost status"
DEAL_OUTCOME = "won: the deal was won; lost: the deal was lost"

_rules_cache: dict[tuple[str, int], tuple[float, ld.RulesContext]] = {}


def min_per_class() -> int:
    return max(5, get_settings().AI_MIN_OUTCOMES // 8)


def eligible(won: int, lost: int) -> bool:
    return won + lost >= get_settings().AI_MIN_OUTCOMES and min(won, lost) >= min_per_class()


def _version_out(row: AIModel | None) -> ModelVersionOut | None:
    return ModelVersionOut.model_validate(row) if row is not None else None


# == leads =====================================================================================


@dataclass
class LeadSetup:
    ctx: ld.Context
    won: set[int]
    lost: set[int]


async def lead_setup(session: AsyncSession, org_id: int) -> LeadSetup:
    statuses = await repo.lead_statuses(session, org_id)
    open_ = [s for s in statuses if not s.is_won and not s.is_lost]
    span = max(len(open_) - 1, 1)
    ctx = ld.Context(
        status_rank={s.id: i / span for i, s in enumerate(open_)},
        status_names={s.id: s.name for s in statuses},
        user_names=await repo.user_names(session, org_id),
        custom_labels=await repo.custom_labels(session, org_id, "lead"),
        currency=await repo.currency(session, org_id),
    )
    return LeadSetup(
        ctx, {s.id for s in statuses if s.is_won}, {s.id for s in statuses if s.is_lost}
    )


async def _rules_context(session: AsyncSession, org_id: int, setup: LeadSetup) -> ld.RulesContext:
    """The rules' view of the organization (typical value, source conversion), cached briefly."""
    now = time.monotonic()
    key = (str(session.get_bind().url), org_id)  # one process may serve several databases
    hit = _rules_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    ctx = ld.RulesContext()
    values = [
        float(v)
        for v in (
            await session.execute(
                select(Lead.value)
                .where(Lead.organization_id == org_id, Lead.value > 0)
                .limit(20000)
            )
        ).scalars()
    ]
    ctx.median_value = float(np.median(values)) if values else 0.0
    closed = setup.won | setup.lost
    won_expr = Lead.converted_at.is_not(None)
    if setup.won:
        won_expr = won_expr | Lead.status_id.in_(list(setup.won))
    cond = won_expr if not closed else won_expr | Lead.status_id.in_(list(closed))
    stmt = (
        select(Lead.source, func.count(), func.sum(case((won_expr, 1), else_=0)))
        .where(Lead.organization_id == org_id, cond)
        .group_by(Lead.source)
    )
    total_won = total = 0.0
    for source, n, won in (await session.execute(stmt)).all():
        key = ld.norm(source)
        w0, n0 = ctx.sources.get(key, (0.0, 0.0))
        ctx.sources[key] = (w0 + float(won or 0), n0 + float(n))
        total_won, total = total_won + float(won or 0), total + float(n)
    ctx.base_rate = total_won / total if total else 0.0
    _rules_cache[key] = (now + RULES_CACHE_S, ctx)
    return ctx


async def _lead_records(
    session: AsyncSession,
    org_id: int,
    setup: LeadSetup,
    *,
    ids: Sequence[int] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    lock: bool = False,
) -> tuple[Records, dict[int, repo.LeadMeta]]:
    now = utcnow().timestamp()
    rows, meta = await repo.open_leads(
        session,
        org_id,
        sorted(setup.won | setup.lost),
        now=now,
        ids=ids,
        after_id=after_id,
        limit=limit,
        lock=lock,
    )
    lead_ids = [r.id for r in rows]
    tag_map = await repo.tags(session, org_id, "lead", lead_ids)
    for r in rows:
        r.tags = tag_map.get(r.id, [])
    acts = await repo.activity_counts(session, org_id, "lead_id", lead_ids, np.full(len(rows), now))
    return ld.build(rows, acts, setup.ctx), meta


@dataclass
class LeadPrediction:
    scores: np.ndarray  # 0..100 ints
    probability: np.ndarray | None
    priority: list[str]
    confidence: np.ndarray
    model: str
    model_version: str
    mode: str
    reasons: list[list[dict[str, Any]]] = field(default_factory=list)


def _impact_points(contrib: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Log-odds contributions as approximate score points (slope of the logistic at p)."""
    return contrib * (p * (1 - p))[:, None] * 100.0


def predict_leads(
    records: Records,
    scorer: ml.LinearScorer | None,
    setup: LeadSetup,
    rules: ld.RulesContext,
    *,
    version: str = ld.RULES_VERSION,
    explain: bool = True,
) -> LeadPrediction:
    """Scores, priorities, confidences and (when `explain`) reasons, vectorised."""
    n = len(records)
    if scorer is not None:
        z = scorer.features(records)
        p = scorer.predict_z(z)
        scores = np.rint(p * 100).astype(int)
        prio = ["high" if x >= scorer.high else "low" if x < scorer.low else "medium" for x in p]
        out = LeadPrediction(scores, p, prio, np.maximum(p, 1 - p), ld.MODEL_NAME, version, "model")
        if explain:
            impact = _impact_points(scorer.contributions(z), p)
            top = np.argsort(-np.abs(impact), axis=1)[:, :TOP_REASONS]
            for k in range(n):
                out.reasons.append(
                    [
                        {
                            "feature": scorer.groups[g],
                            "text": ld.describe(scorer.groups[g], records, k, setup.ctx, rules),
                            "impact": round(float(impact[k, g]), 1),
                        }
                        for g in top[k]
                        if abs(impact[k, g]) >= 0.05
                    ]
                )
        return out
    points = ld.rule_points(records, rules)
    total = np.clip(sum(points.values()), 0, 100)
    scores = np.rint(total).astype(int)
    out = LeadPrediction(
        scores,
        None,
        [ld.priority(float(s)) for s in scores],
        ld.rule_confidence(records),
        ld.RULES_MODEL,
        ld.RULES_VERSION,
        "rules",
    )
    if explain:
        out.reasons = [ld.rule_reasons(points, records, k, setup.ctx, rules) for k in range(n)]
    return out


async def _active(
    session: AsyncSession, org_id: int, kind: str
) -> tuple[AIModel | None, ml.LinearScorer | None]:
    found = await modelstore.load_active(session, org_id, kind)
    if found is None:
        return None, None
    row, est = found
    return (row, est) if isinstance(est, ml.LinearScorer) else (None, None)


async def score_leads(
    session: AsyncSession,
    principal: Principal,
    lead_ids: Sequence[int] | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
    record: Record = "always",
) -> list[LeadScoreOut]:
    """Score open leads (the given ids, or the next `limit` after `after_id`) and store the
    results (see the module docstring for `record`). Unknown or closed ids are left out."""
    org_id = principal.organization_id
    setup = await lead_setup(session, org_id)
    records, meta = await _lead_records(
        session, org_id, setup, ids=lead_ids, after_id=after_id, limit=limit, lock=record != "never"
    )
    if len(records) == 0:
        return []
    rules = await _rules_context(session, org_id, setup)
    row, scorer = await _active(session, org_id, ld.KIND)
    pred = predict_leads(
        records, scorer, setup, rules, version=str(row.version) if row else ld.RULES_VERSION
    )
    ids = [int(i) for i in records.ids]
    current = await insights.latest_by_entity(session, principal, ld.KIND, "lead", ids)
    out: list[LeadScoreOut] = []
    writes: list[tuple[int, int, str]] = []
    for k, lead_id in enumerate(ids):
        score, prio = int(pred.scores[k]), pred.priority[k]
        m, prev = meta[lead_id], current.get(lead_id)
        # a person set the priority when it differs from what the last score gave it
        kept = (prev is not None and m.priority != prev.label) or (
            prev is None and m.priority != "medium"
        )
        new_priority = m.priority if kept else prio
        changed = (
            prev is None
            or prev.model_version != pred.model_version
            or prev.label != prio
            or abs((prev.value or 0) - score) >= MIN_CHANGE
            or m.quality_score is None
        )
        insight_id = None
        if record == "always" or (record == "changed" and changed):
            recs = ld.recommendations(records, k, prio)
            probability = None if pred.probability is None else float(pred.probability[k])
            insight = await insights.record(
                session,
                principal,
                kind=ld.KIND,
                model=pred.model,
                model_version=pred.model_version,
                entity_type="lead",
                entity_id=lead_id,
                value=score,
                label=prio,
                confidence=float(pred.confidence[k]),
                title=f"Score {score}/100, {prio} priority",
                reasons=pred.reasons[k],
                recommendations=recs,
                data={"mode": pred.mode, "probability": probability, "priority_kept": kept},
                inputs=ld.features_of(records, k),
            )
            insight_id = insight.id
            if m.quality_score != score or m.priority != new_priority:
                writes.append((lead_id, score, new_priority))
                await events.emit(
                    session,
                    principal,
                    "lead.scored",
                    entity_type="lead",
                    entity_id=lead_id,
                    payload={
                        "score": score,
                        "priority": new_priority,
                        "previous_score": m.quality_score,
                        "confidence": round(float(pred.confidence[k]), 4),
                        "model": pred.model,
                        "model_version": pred.model_version,
                        "insight_id": insight_id,
                    },
                )
        else:
            recs = ld.recommendations(records, k, prio)
        out.append(
            LeadScoreOut(
                lead_id=lead_id,
                score=score,
                priority=prio,
                confidence=round(float(pred.confidence[k]), 4),
                probability=None
                if pred.probability is None
                else round(float(pred.probability[k]), 4),
                reasons=pred.reasons[k],
                recommendations=recs,
                model=pred.model,
                model_version=pred.model_version,
                insight_id=insight_id,
                priority_kept=kept,
            )
        )
    if writes:
        await repo.write_scores(session, org_id, writes)
    return out


async def qualify(session: AsyncSession, principal: Principal, lead_id: int) -> LeadScoreOut:
    """Score one lead now and store the result (404 unknown, 409 when already won or lost)."""
    lead = await lead_service.get(session, principal, lead_id)
    found = await score_leads(session, principal, [lead.id], record="always")
    if not found:
        raise Conflict(
            f"lead {lead_id} is closed (won, lost or converted): only open leads are scored"
        )
    return found[0]


# -- training ----------------------------------------------------------------------------------


async def fit_leads(
    session: AsyncSession, principal: Principal
) -> tuple[ml.LinearScorer, dict[str, Any]]:
    """Load every closed lead as it was when it closed, fit and validate (reads only).
    409 while the outcomes are too few."""
    org_id = principal.organization_id
    setup = await lead_setup(session, org_id)
    won, lost = await repo.count_lead_outcomes(session, org_id, setup.won, setup.lost)
    if not eligible(won, lost):
        raise Conflict(
            f"Training needs {get_settings().AI_MIN_OUTCOMES} closed leads, at least "
            f"{min_per_class()} won and {min_per_class()} lost; this organization has {won} won "
            f"and {lost} lost",
            won=won,
            lost=lost,
        )
    rows, labels, moments = await repo.closed_leads(session, org_id, setup.won, setup.lost)
    tag_map = await repo.tags(session, org_id, "lead", None)
    for r in rows:
        r.tags = tag_map.get(r.id, [])
    acts = await repo.activity_counts(
        session,
        org_id,
        "lead_id",
        [r.id for r in rows],
        np.array(moments, dtype=float),
        whole_org=True,
    )
    records = ld.build(rows, acts, setup.ctx)
    reference, _meta = await _lead_records(session, org_id, setup)
    try:
        return await asyncio.to_thread(
            ml.train,
            records,
            np.array(labels, dtype=np.int64),
            np.array(moments, dtype=float),
            base_groups=ld.BASE_GROUPS,
            rules=ld.rules_for_validation,
            reference=reference,
            min_per_class=min_per_class(),
        )
    except ml.NotEnoughData as exc:
        raise Conflict(f"The lead scoring model cannot be trained: {exc}") from exc


async def save_model(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    scorer: ml.LinearScorer,
    metrics: dict[str, Any],
) -> AIModel:
    """Store the fitted version; active only when it beat the rules (else back to rules)."""
    org_id = principal.organization_id
    activate = bool(metrics.get("beats_rules"))
    if not activate:
        await repo.deactivate(session, org_id, kind)
    _rules_cache.pop((str(session.get_bind().url), org_id), None)
    return await modelstore.save(
        session,
        org_id,
        kind,
        scorer,
        algorithm=ml.ALGORITHM,
        metrics={**metrics, "activated": activate},
        params={"C": metrics.get("C"), "n_outcomes": metrics.get("n_outcomes")},
        n_train=int(metrics.get("n_outcomes") or 0),
        activate=activate,
    )


async def lead_status(session: AsyncSession, principal: Principal) -> LeadScoringStatus:
    """Rules or model, the versions with their validation metrics, outcomes, open leads."""
    org_id = principal.organization_id
    setup = await lead_setup(session, org_id)
    won, lost = await repo.count_lead_outcomes(session, org_id, setup.won, setup.lost)
    active = await modelstore.active(session, org_id, ld.KIND)
    latest = await repo.latest_model(session, org_id, ld.KIND)
    closed = sorted(setup.won | setup.lost)
    open_q = select(Lead.priority, func.count(), func.count(Lead.quality_score)).where(
        Lead.organization_id == org_id, Lead.converted_at.is_(None)
    )
    if closed:
        open_q = open_q.where(Lead.status_id.not_in(closed))
    by_priority = (await session.execute(open_q.group_by(Lead.priority))).all()
    settings = get_settings()
    return LeadScoringStatus(
        mode="model" if active is not None and active.blob else "rules",
        model=ld.MODEL_NAME if active is not None else ld.RULES_MODEL,
        model_version=str(active.version) if active is not None else ld.RULES_VERSION,
        active=_version_out(active),
        latest=_version_out(latest),
        outcomes=Outcomes(won=won, lost=lost),
        min_outcomes=settings.AI_MIN_OUTCOMES,
        eligible=eligible(won, lost),
        retrain_every_s=settings.AI_RETRAIN_EVERY,
        outcome_definition=LEAD_OUTCOME,
        open_leads=sum(n for _p, n, _s in by_priority),
        scored_open_leads=sum(s for _p, _n, s in by_priority),
        priorities={p: n for p, n, _s in by_priority},
    )


def retrain_due(total: int, latest: AIModel | None) -> bool:
    """Enough new outcomes since the last training (or the first time there are enough)."""
    if total < get_settings().AI_MIN_OUTCOMES:
        return False
    if latest is None:
        return True
    before = int((latest.params or {}).get("n_outcomes") or latest.n_train or 0)
    return total - before >= max(10, math.ceil(0.2 * before))


# == deals =====================================================================================


async def _deal_context(session: AsyncSession, org_id: int) -> dl.Context:
    stage_rows = await repo.stages(session, org_id)
    by_pipeline: dict[int, list[Any]] = {}
    for s, name in stage_rows:
        by_pipeline.setdefault(s.pipeline_id, []).append((s, name))
    stages: dict[int, dl.Stage] = {}
    first: dict[int, float] = {}
    for pid, items in by_pipeline.items():
        open_ = [(s, n) for s, n in items if not s.is_won and not s.is_lost]
        span = max(len(open_) - 1, 1)
        if open_:
            first[pid] = float(open_[0][0].probability)
        # only open stages: a closed deal is learnt from the stage it closed from, and one
        # created closed (imported history) has no such stage, not "probability 1.0"
        for i, (s, n) in enumerate(open_):
            stages[s.id] = dl.Stage(s.name, float(s.probability), i / span, n)
    amounts = [
        float(a)
        for a in (
            await session.execute(
                select(Deal.amount)
                .where(Deal.organization_id == org_id, Deal.amount > 0)
                .limit(20000)
            )
        ).scalars()
    ]
    return dl.Context(
        stages=stages,
        first_probability=first,
        user_names=await repo.user_names(session, org_id),
        custom_labels=await repo.custom_labels(session, org_id, "deal"),
        currency=await repo.currency(session, org_id),
        median_amount=float(np.median(amounts)) if amounts else 0.0,
    )


async def _deal_records(
    session: AsyncSession,
    org_id: int,
    ctx: dl.Context,
    *,
    ids: Sequence[int] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    lock: bool = False,
) -> Records:
    now = utcnow().timestamp()
    rows = await repo.open_deals(
        session, org_id, now=now, ids=ids, after_id=after_id, limit=limit, lock=lock
    )
    deal_ids = [r.id for r in rows]
    tag_map = await repo.tags(session, org_id, "deal", deal_ids)
    for r in rows:
        r.tags = tag_map.get(r.id, [])
    acts = await repo.activity_counts(session, org_id, "deal_id", deal_ids, np.full(len(rows), now))
    owners = dl.owner_rates(await repo.owner_history(session, org_id), rows)
    return dl.build(rows, acts, ctx, owners)


@dataclass
class DealPrediction:
    probability: np.ndarray
    confidence: np.ndarray
    model: str
    model_version: str
    mode: str
    reasons: list[list[dict[str, Any]]] = field(default_factory=list)


def predict_deals(
    records: Records,
    scorer: ml.LinearScorer | None,
    ctx: dl.Context,
    *,
    version: str = dl.RULES_VERSION,
    explain: bool = True,
) -> DealPrediction:
    n = len(records)
    if scorer is not None:
        z = scorer.features(records)
        p = scorer.predict_z(z)
        out = DealPrediction(p, np.maximum(p, 1 - p), dl.MODEL_NAME, version, "model")
        if explain:
            impact = _impact_points(scorer.contributions(z), p) / 100.0
            top = np.argsort(-np.abs(impact), axis=1)[:, :TOP_REASONS]
            for k in range(n):
                out.reasons.append(
                    [
                        {
                            "feature": scorer.groups[g],
                            "text": dl.describe(scorer.groups[g], records, k, ctx),
                            "impact": round(float(impact[k, g]), 3),
                        }
                        for g in top[k]
                        if abs(impact[k, g]) >= 0.0005
                    ]
                )
        return out
    p = dl.rule_probability(records)
    out = DealPrediction(p, dl.rule_confidence(records), dl.RULES_MODEL, dl.RULES_VERSION, "rules")
    if explain:
        out.reasons = [dl.rule_reasons(records, k, ctx) for k in range(n)]
    return out


async def score_deals(
    session: AsyncSession,
    principal: Principal,
    deal_ids: Sequence[int] | None = None,
    *,
    after_id: int | None = None,
    limit: int | None = None,
    record: Record = "always",
) -> list[DealScoreOut]:
    """Win probability of open deals, stored like lead scores (see the module docstring)."""
    org_id = principal.organization_id
    ctx = await _deal_context(session, org_id)
    records = await _deal_records(
        session, org_id, ctx, ids=deal_ids, after_id=after_id, limit=limit, lock=record != "never"
    )
    if len(records) == 0:
        return []
    row, scorer = await _active(session, org_id, dl.KIND)
    pred = predict_deals(
        records, scorer, ctx, version=str(row.version) if row else dl.RULES_VERSION
    )
    ids = [int(i) for i in records.ids]
    current = await insights.latest_by_entity(session, principal, dl.KIND, "deal", ids)
    out = []
    for k, deal_id in enumerate(ids):
        p = float(pred.probability[k])
        prev = current.get(deal_id)
        changed = (
            prev is None
            or prev.model_version != pred.model_version
            or abs((prev.value or 0) - p) >= MIN_CHANGE / 100
        )
        recs = dl.recommendations(records, k, p)
        insight_id = None
        if record == "always" or (record == "changed" and changed):
            label = "likely" if p >= 0.6 else "unlikely" if p < 0.3 else "possible"
            insight = await insights.record(
                session,
                principal,
                kind=dl.KIND,
                model=pred.model,
                model_version=pred.model_version,
                entity_type="deal",
                entity_id=deal_id,
                value=round(p, 4),
                label=label,
                confidence=float(pred.confidence[k]),
                title=f"{p:.0%} chance to win",
                reasons=pred.reasons[k],
                recommendations=recs,
                data={"mode": pred.mode},
                inputs=dl.features_of(records, k),
            )
            insight_id = insight.id
            await events.emit(
                session,
                principal,
                "deal.scored",
                entity_type="deal",
                entity_id=deal_id,
                payload={
                    "probability": round(p, 4),
                    "previous": None if prev is None else prev.value,
                    "model": pred.model,
                    "model_version": pred.model_version,
                    "insight_id": insight_id,
                },
            )
        out.append(
            DealScoreOut(
                deal_id=deal_id,
                probability=round(p, 4),
                confidence=round(float(pred.confidence[k]), 4),
                reasons=pred.reasons[k],
                recommendations=recs,
                model=pred.model,
                model_version=pred.model_version,
                insight_id=insight_id,
            )
        )
    return out


async def deal_win_probability(
    session: AsyncSession, principal: Principal, deal_id: int
) -> DealScoreOut:
    """Score one deal now and store the result (404 unknown, 409 when closed)."""
    deal = await deal_service.get(session, principal, deal_id)
    if deal.status != "open":
        raise Conflict(f"deal {deal_id} is {deal.status}: only open deals are scored")
    found = await score_deals(session, principal, [deal.id], record="always")
    if not found:
        raise Conflict(f"deal {deal_id} is not open")
    return found[0]


async def win_probabilities(
    session: AsyncSession,
    principal: Principal,
    deal_ids: Sequence[int],
    *,
    rules: bool = False,
) -> dict[int, float]:
    """Win probability (0..1) of each given open deal, computed now and stored nowhere.

    Stable contract for other features (the sales forecast): deals that are unknown to the
    caller's organization or not open are left out. Without a trained, activated model for the
    organization the answer is `{}` — callers keep their own estimate — unless `rules=True`,
    which gives the cold-start estimate (stage probability adjusted for inactivity and overdue
    close dates). Reads only; safe inside a read-only request.
    """
    if not deal_ids:
        return {}
    org_id = principal.organization_id
    row, scorer = await _active(session, org_id, dl.KIND)
    if scorer is None and not rules:
        return {}
    ctx = await _deal_context(session, org_id)
    records = await _deal_records(session, org_id, ctx, ids=list(deal_ids))
    if len(records) == 0:
        return {}
    pred = predict_deals(records, scorer, ctx, explain=False)
    return {int(i): round(float(p), 4) for i, p in zip(records.ids, pred.probability, strict=True)}


async def fit_deals(
    session: AsyncSession, principal: Principal
) -> tuple[ml.LinearScorer, dict[str, Any]]:
    """Load every closed deal as it was before it closed, fit and validate (reads only)."""
    org_id = principal.organization_id
    won, lost = await repo.count_deal_outcomes(session, org_id)
    if not eligible(won, lost):
        raise Conflict(
            f"Training needs {get_settings().AI_MIN_OUTCOMES} closed deals, at least "
            f"{min_per_class()} won and {min_per_class()} lost; this organization has {won} won "
            f"and {lost} lost",
            won=won,
            lost=lost,
        )
    ctx = await _deal_context(session, org_id)
    rows, labels, moments = await repo.closed_deals(session, org_id)
    tag_map = await repo.tags(session, org_id, "deal", None)
    for r in rows:
        r.tags = tag_map.get(r.id, [])
    acts = await repo.activity_counts(
        session, org_id, "deal_id", [r.id for r in rows], np.array(moments), whole_org=True
    )
    owners = dl.owner_rates(await repo.owner_history(session, org_id), rows)
    records = dl.build(rows, acts, ctx, owners)
    reference = await _deal_records(session, org_id, ctx)
    try:
        return await asyncio.to_thread(
            ml.train,
            records,
            np.array(labels, dtype=np.int64),
            np.array(moments, dtype=float),
            base_groups=dl.BASE_GROUPS,
            rules=dl.rules_for_validation,
            reference=reference,
            min_per_class=min_per_class(),
        )
    except ml.NotEnoughData as exc:
        raise Conflict(f"The win probability model cannot be trained: {exc}") from exc


async def deal_status(
    session: AsyncSession, principal: Principal, *, limit: int = 20
) -> WinProbabilityStatus:
    """Rules or model, metrics, outcomes, and the open deals' current win probability."""
    org_id = principal.organization_id
    won, lost = await repo.count_deal_outcomes(session, org_id)
    active = await modelstore.active(session, org_id, dl.KIND)
    latest = await repo.latest_model(session, org_id, dl.KIND)
    ctx = await _deal_context(session, org_id)
    records = await _deal_records(session, org_id, ctx)
    row, scorer = await _active(session, org_id, dl.KIND)
    pred = predict_deals(records, scorer, ctx, explain=False)
    ids = [int(i) for i in records.ids]
    amounts = records.info["amount"] if len(records) else np.zeros(0)
    ev = amounts * pred.probability if len(records) else np.zeros(0)
    order = np.argsort(-ev)[:limit] if len(records) else []
    names = await repo.deal_names(session, org_id, [ids[k] for k in order])
    deals = []
    for k in order:
        name, amount, cur, stage_id = names.get(ids[k], ("", 0, ctx.currency, None))
        deals.append(
            DealProbability(
                deal_id=ids[k],
                name=name,
                amount=float(amount or 0),
                currency=cur,
                stage=ctx.stages[stage_id].name if stage_id in ctx.stages else "",
                probability=round(float(pred.probability[k]), 4),
                expected_value=round(float(ev[k]), 2),
            )
        )
    settings = get_settings()
    return WinProbabilityStatus(
        mode="model" if scorer is not None else "rules",
        model=dl.MODEL_NAME if active is not None else dl.RULES_MODEL,
        model_version=str(active.version) if active is not None else dl.RULES_VERSION,
        active=_version_out(active),
        latest=_version_out(latest),
        outcomes=Outcomes(won=won, lost=lost),
        min_outcomes=settings.AI_MIN_OUTCOMES,
        eligible=eligible(won, lost),
        retrain_every_s=settings.AI_RETRAIN_EVERY,
        outcome_definition=DEAL_OUTCOME,
        open_deals=len(ids),
        average_probability=round(float(pred.probability.mean()), 4) if ids else None,
        expected_value=round(float(ev.sum()), 2),
        deals=deals,
    )
