"""Customer insights: compute, store (through aicrm.ai.insights) and serve them; train and
apply the churn model; keep the per-organization CLV and response-timing models fresh.

Freshness: `customer_insights` returns the stored current insights when all four exist, were
computed less than `STALE_AFTER` ago, and neither the customer's data (its row, activities,
deals, tasks) nor the model versions changed since (a fingerprint kept in each insight's data);
otherwise — or with `refresh` — it computes them now and stores them. Reading therefore may
write: a Reader can trigger it, because an insight is a value derived from records the Reader
may read, and the audit entry records who asked.

The churn risk of a churned customer is not stored: it is a fact, not a prediction, and a
stored 1.0 would count as a correct prediction in /api/v1/ai/accuracy.

Lifetime value: the predicted value is stored in the insight. The contact's `lifetime_value`
field is written only while the AI owns it — when it is 0 (never set) or still holds the value
the AI wrote last — so a figure a person entered is never overwritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai import insights, modelstore
from aicrm.ai.customers import actions, churn, lifetime, signals, timing
from aicrm.ai.customers import repository as repo
from aicrm.ai.customers.schemas import (
    ChurnModelOut,
    ChurnRiskOut,
    ChurnStatus,
    CustomerInsights,
    LifetimeValueOut,
    NextBestActionOut,
    OptimalTimingOut,
    ScoreOut,
    TaskFromAction,
)
from aicrm.config import get_settings
from aicrm.errors import Conflict, Invalid, NotFound
from aicrm.kit.principal import Principal
from aicrm.models import AIInsight, AIModel, Contact, Organization, Task, utcnow
from aicrm.orgs import service as org_service

KINDS = ("churn_risk", "lifetime_value", "next_best_action", "best_time")
CHURN_MODEL = "churn"
CLV_MODEL = "clv"
TIMING_MODEL = "contact_timing"
STALE_AFTER = timedelta(hours=24)
REFIT_AFTER = timedelta(hours=24)  # CLV and timing models, when AI_RETRAIN_EVERY is off
SCORED_STATUSES = ("customer", "inactive")
BATCH = 500
LABEL_DEFINITION = (
    'churned = status "churned"; retained = status "customer"; '
    '"inactive", "lead" and "prospect" are not used for training'
)
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "CA$"}

Upgrade = Callable[[], Awaitable[None]]


def money_formatter(currency: str) -> Callable[[float], str]:
    sign = CURRENCY_SIGNS.get(currency)

    def fmt(value: float) -> str:
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        return f"{sign}{text}" if sign else f"{text} {currency}"

    return fmt


def _refit_after() -> timedelta:
    every = get_settings().AI_RETRAIN_EVERY
    return timedelta(seconds=every) if every and every > 0 else REFIT_AFTER


def _version(row: AIModel | None, fallback: str) -> str:
    return f"v{row.version}" if row is not None else fallback


# -- per-organization models -----------------------------------------------------------------


async def churn_model(
    session: AsyncSession, org_id: int
) -> tuple[AIModel, churn.ChurnEstimator] | None:
    return await modelstore.load_active(session, org_id, CHURN_MODEL)


def _fresh_model(row: AIModel | None, now: datetime) -> bool:
    return row is not None and row.trained_at is not None and now - row.trained_at < _refit_after()


async def clv_model(
    session: AsyncSession, principal: Principal, now: datetime, *, refit: bool = False
) -> tuple[AIModel | None, lifetime.CLVModel | None]:
    """The organization's CLV model, refitted when missing or older than the retrain period
    (needs a write session then). None when nobody has bought anything yet."""
    loaded = await modelstore.load_active(session, principal.organization_id, CLV_MODEL)
    if loaded is not None and not refit and _fresh_model(loaded[0], now):
        return loaded
    histories = [
        h
        for purchases in (await repo.purchases(session, principal, None, before=now)).values()
        if (h := lifetime.summarize(purchases, now)) is not None
    ]
    model = await asyncio.to_thread(lifetime.fit, histories)
    if model is None:
        return (loaded[0], loaded[1]) if loaded is not None else (None, None)
    row = await modelstore.save(
        session,
        principal.organization_id,
        CLV_MODEL,
        model,
        algorithm=model.algorithm,
        metrics=model.metrics(),
        params={"horizon_months": model.horizon_months, "discount": lifetime.MONTHLY_DISCOUNT},
        n_train=model.buyers,
    )
    return row, model


async def timing_model(
    session: AsyncSession, principal: Principal, now: datetime, org: Organization
) -> tuple[AIModel | None, timing.TimingModel | None]:
    """The organization's response history by slot, recounted when older than the retrain
    period."""
    loaded = await modelstore.load_active(session, principal.organization_id, TIMING_MODEL)
    if loaded is not None and _fresh_model(loaded[0], now):
        return loaded
    events = await repo.response_events(session, principal, now)
    if not events:
        return (loaded[0], loaded[1]) if loaded is not None else (None, None)
    tz_of = await repo.contact_timezones(session, principal, sorted({e.contact_id for e in events}))
    counts, contacts = timing.count(events, tz_of, org.timezone or "UTC")
    model = timing.TimingModel(counts=counts, contacts=contacts, timezone=org.timezone or "UTC")
    row = await modelstore.save(
        session,
        principal.organization_id,
        TIMING_MODEL,
        model,
        algorithm=timing.ALGORITHM,
        metrics=model.metrics(),
        params={"prior_strength": timing.PRIOR_STRENGTH},
        n_train=counts.trials,
    )
    return row, model


# -- churn: training and status --------------------------------------------------------------


async def _labelled(
    session: AsyncSession, principal: Principal, now: datetime
) -> tuple[list[dict[str, Any]], list[int], dict[str, signals.FeatureInfo]]:
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    infos: dict[str, signals.FeatureInfo] = {}
    after = 0
    while True:
        contacts = await repo.contacts_page(
            session, principal, statuses=repo.LABELLED, after_id=after, limit=2000
        )
        if not contacts:
            break
        batch = await signals.gather(session, principal, contacts, now)
        rows += batch.rows()
        labels += [1 if c.status == "churned" else 0 for c in contacts]
        infos = batch.infos
        after = contacts[-1].id
    return rows, labels, infos


def _model_out(row: AIModel | None) -> ChurnModelOut | None:
    return ChurnModelOut.model_validate(row) if row is not None else None


async def churn_status(session: AsyncSession, principal: Principal) -> ChurnStatus:
    """Counts of outcomes, whether a model can be trained, the active and the latest model."""
    counts = await repo.count_labels(session, principal)
    org = principal.organization_id
    active = await modelstore.active(session, org, CHURN_MODEL)
    latest = await session.scalar(
        select(AIModel)
        .where(AIModel.organization_id == org, AIModel.kind == CHURN_MODEL)
        .order_by(AIModel.version.desc())
        .limit(1)
    )
    minimum = get_settings().AI_MIN_OUTCOMES
    per_class = churn.min_per_class(minimum)
    return ChurnStatus(
        mode="model" if active is not None else "rules",
        active=_model_out(active),
        latest=_model_out(latest),
        churned=counts["churned"],
        retained=counts["customer"],
        min_outcomes=minimum,
        min_per_class=per_class,
        eligible=eligible(counts),
        label_definition=LABEL_DEFINITION,
    )


def eligible(counts: dict[str, int]) -> bool:
    """Enough churned and retained customers to train on."""
    minimum = get_settings().AI_MIN_OUTCOMES
    per_class = churn.min_per_class(minimum)
    return (
        counts["churned"] + counts["customer"] >= minimum
        and counts["churned"] >= per_class
        and counts["customer"] >= per_class
    )


async def fit_churn(
    session: AsyncSession, principal: Principal, *, now: datetime | None = None
) -> churn.ChurnEstimator:
    """Load every customer with a known outcome and fit + validate a churn model (409 while
    the outcomes are too few). Reads only: jobs run it before taking the write lock."""
    now = now or utcnow()
    counts = await repo.count_labels(session, principal)
    if not eligible(counts):
        minimum = get_settings().AI_MIN_OUTCOMES
        raise Conflict(
            f"Training needs at least {minimum} customers with a known outcome, at least "
            f"{churn.min_per_class(minimum)} of them churned and as many retained; this "
            f"organization has {counts['churned']} churned and {counts['customer']} retained",
            churned=counts["churned"],
            retained=counts["customer"],
        )
    rows, labels, infos = await _labelled(session, principal, now)
    rule_scores = [churn.rules(row)[0] for row in rows]
    try:
        return await asyncio.to_thread(
            churn.train,
            rows,
            labels,
            infos,
            rule_scores=rule_scores,
            seed=principal.organization_id % 1000,
        )
    except ValueError as exc:
        raise Conflict(f"The churn model cannot be trained: {exc}") from exc


async def save_churn(
    session: AsyncSession, principal: Principal, est: churn.ChurnEstimator
) -> ChurnStatus:
    """Store a fitted model as the next version, active when it beats the bar."""
    activate, why = churn.should_activate(est.metrics)
    await modelstore.save(
        session,
        principal.organization_id,
        CHURN_MODEL,
        est,
        algorithm=churn.ALGORITHM,
        metrics={**est.metrics, "activated": activate, "note": why},
        params={"C": est.metrics.get("C"), "label": LABEL_DEFINITION},
        n_train=int(est.metrics.get("n_train", 0)) + int(est.metrics.get("n_holdout", 0)),
        activate=activate,
    )
    return await churn_status(session, principal)


TRAIN_JOB = "ai.customers.train_churn"  # registered in aicrm.ai.customers.jobs


async def queue_training(session: AsyncSession, principal: Principal) -> ChurnStatus:
    """Queue training (then a re-score of every customer) as a background job."""
    from aicrm.jobs import enqueue

    job = await enqueue(
        session,
        TRAIN_JOB,
        {"score": True, "run": f"api-{uuid.uuid4().hex[:12]}"},
        organization_id=principal.organization_id,
    )
    await session.flush()
    out = await churn_status(session, principal)
    out.queued_job_id = job.id if job is not None else None
    return out


async def train_churn(session: AsyncSession, principal: Principal) -> ChurnStatus:
    """Train, validate and (when it beats the bar) activate a new churn model version."""
    return await save_churn(session, principal, await fit_churn(session, principal))


# -- one customer's insights -----------------------------------------------------------------


def _churn_result(
    customer: signals.Customer,
    row: dict[str, Any],
    prediction: tuple[float, list[churn.Reason]] | None,
    model_row: AIModel | None,
) -> dict[str, Any]:
    c = customer.contact
    first = c.first_name or (c.name or "").split(" ")[0]
    verb = actions.verb("phone" if c.phone else c.preferred_channel or "email")
    if c.status == "churned":
        return {
            "value": 1.0,
            "label": "churned",
            "confidence": 1.0,
            "reasons": [{"feature": "profile.status", "text": "Marked as churned", "impact": 1.0}],
            "recommendations": [],
            "model": "status",
            "model_version": "status",
            "mode": "status",
        }
    if prediction is not None and model_row is not None:
        p, reasons = prediction
        conf = churn.confidence((model_row.metrics or {}).get("auc"), p)
        model, version, mode = churn.ALGORITHM, _version(model_row, ""), "model"
        if c.status == "inactive":
            reasons = [*reasons, churn.Reason("profile.status", "Marked inactive", 0.0)]
    else:
        p, reasons, conf = churn.rules(row, c.status)
        model, version, mode = "churn-rules", churn.RULES_VERSION, "rules"
    return {
        "value": round(float(p), 4),
        "label": churn.label_for(p),
        "confidence": conf,
        "reasons": [r.as_dict() for r in reasons],
        "recommendations": churn.recommendations(p, reasons, first, verb),
        "model": model,
        "model_version": version,
        "mode": mode,
    }


def _clv_result(
    customer: signals.Customer,
    model_row: AIModel | None,
    model: lifetime.CLVModel | None,
    now: datetime,
    currency: str,
) -> dict[str, Any]:
    money = money_formatter(currency)
    history = lifetime.summarize(customer.purchases, now)
    recorded = float(customer.contact.lifetime_value or 0)
    base: dict[str, Any] = {
        "currency": currency,
        "horizon_months": lifetime.HORIZON_MONTHS,
        "recorded_value": recorded,
        "historical_value": round(history.total, 2) if history else 0.0,
        "purchases": history.purchases if history else 0,
    }
    if history is None or model is None:
        reasons = [
            {"feature": "purchases.count", "text": "No won deals recorded yet", "impact": 0.0}
        ]
        if recorded:
            reasons.append(
                {
                    "feature": "profile.lifetime_value",
                    "text": f"Lifetime value on the record: {money(recorded)}",
                    "impact": 0.0,
                }
            )
        return {
            **base,
            "value": 0.0,
            "label": "none",
            "confidence": 0.1,
            "reasons": reasons,
            "recommendations": [],
            "expected_purchases": 0.0,
            "probability_alive": None,
            "average_purchase": None,
            "method": "no-history",
            "model": "clv",
            "model_version": _version(model_row, "none"),
        }
    pred = lifetime.predict(model, history)
    return {
        **base,
        "value": round(pred.value, 2),
        "label": lifetime.label_for(model, pred.value),
        "confidence": pred.confidence,
        "reasons": lifetime.reasons(model, history, pred, now, money),
        "recommendations": [],
        "expected_purchases": round(pred.expected_purchases, 3),
        "probability_alive": round(pred.probability_alive, 4),
        "average_purchase": round(pred.average_purchase, 2),
        "method": pred.method,
        "model": pred.method,
        "model_version": _version(model_row, "none"),
    }


def _fingerprint(contact: Contact, stamps: list[Any], versions: dict[str, str]) -> str:
    payload = [
        contact.id,
        contact.updated_at.isoformat() if contact.updated_at else None,
        stamps,
        sorted(versions.items()),
    ]
    return hashlib.sha1(json.dumps(payload, default=str).encode()).hexdigest()[:20]


async def _versions(session: AsyncSession, org_id: int) -> dict[str, str]:
    churn_row = await modelstore.active(session, org_id, CHURN_MODEL)
    clv_row = await modelstore.active(session, org_id, CLV_MODEL)
    timing_row = await modelstore.active(session, org_id, TIMING_MODEL)
    return {
        "churn_risk": f"{churn.ALGORITHM}:{_version(churn_row, '')}"
        if churn_row
        else f"churn-rules:{churn.RULES_VERSION}",
        "lifetime_value": f"{clv_row.algorithm}:{_version(clv_row, '')}" if clv_row else "clv:none",
        "next_best_action": actions.VERSION,
        "best_time": f"{timing.ALGORITHM}:{_version(timing_row, 'none')}",
    }


def _is_fresh(stored: dict[str, AIInsight], status: str, fingerprint: str, now: datetime) -> bool:
    needed = [k for k in KINDS if not (k == "churn_risk" and status == "churned")]
    for kind in needed:
        ins = stored.get(kind)
        if ins is None or (ins.data or {}).get("fingerprint") != fingerprint:
            return False
        if now - ins.created_at > STALE_AFTER:
            return False
    return True


async def _current(
    session: AsyncSession, principal: Principal, contact_id: int
) -> dict[str, AIInsight]:
    """The newest current insight of each kind (two requests racing may both leave one)."""
    out: dict[str, AIInsight] = {}
    for ins in await insights.current_for(session, principal, "contact", contact_id, KINDS):
        out.setdefault(ins.kind, ins)
    return out


async def customer_insights(
    session: AsyncSession,
    principal: Principal,
    contact_id: int,
    *,
    refresh: bool = False,
    upgrade: Upgrade | None = None,
) -> CustomerInsights:
    """Churn risk, lifetime value, next best action and best time for one customer: the stored
    ones when fresh, else computed now and stored. `upgrade` turns a read-only request session
    into a write session (SQLite) before anything is written."""
    now = utcnow()
    contact = await repo.get_contact(session, principal, contact_id)
    org_id = principal.organization_id
    if not refresh:
        stamps = await repo.stamps(session, principal, contact_id)
        fingerprint = _fingerprint(contact, stamps, await _versions(session, org_id))
        stored = await _current(session, principal, contact_id)
        if _is_fresh(stored, contact.status, fingerprint, now):
            return _response(contact, stored, None, refreshed=False)
    if upgrade is not None:
        await upgrade()
        contact = await repo.get_contact(session, principal, contact_id)
    results = await compute(session, principal, contact, now)
    stored = await _current(session, principal, contact_id)
    return _response(contact, stored, results, refreshed=True)


async def compute(
    session: AsyncSession, principal: Principal, contact: Contact, now: datetime
) -> dict[str, dict[str, Any]]:
    """Compute and store the four insights of one customer (needs a write session)."""
    org = await org_service.get_current(session, principal)
    org_id = principal.organization_id
    currency = org.default_currency or "USD"
    clv_row, clv = await clv_model(session, principal, now)
    timing_row, org_timing = await timing_model(session, principal, now, org)
    loaded = await churn_model(session, org_id)
    versions = await _versions(session, org_id)
    stamps = await repo.stamps(session, principal, contact.id)
    fingerprint = _fingerprint(contact, stamps, versions)

    batch = await signals.gather(session, principal, [contact], now)
    customer, row = batch.customers[0], batch.rows()[0]
    prediction = None
    if loaded is not None and contact.status != "churned":
        prediction = loaded[1].explain([row], batch.infos)[0]
    churn_res = _churn_result(customer, row, prediction, loaded[0] if loaded else None)
    clv_res = _clv_result(customer, clv_row, clv, now, currency)

    events = await repo.response_events(session, principal, now, contact_id=contact.id)
    tz_name = contact.timezone or org.timezone or "UTC"
    own, _ = timing.count(events, {contact.id: tz_name}, tz_name)
    timing_res = timing.best_time(
        org_timing,
        own,
        timezone=tz_name,
        timezone_source="contact" if contact.timezone else "organization",
        now=now,
    )
    timing_res["model_version"] = _version(timing_row, "none")
    nba = actions.plan(
        customer,
        now=now,
        churn=churn_res,
        lifetime=clv_res,
        timing=timing_res,
        money=money_formatter(currency),
    )

    previous = await _current(session, principal, contact.id)
    churn_inputs = {k: v for k, v in row.items() if v not in (None, 0.0, "")}
    if contact.status != "churned":
        await insights.record(
            session,
            principal,
            kind="churn_risk",
            model=churn_res["model"],
            model_version=churn_res["model_version"],
            entity_type="contact",
            entity_id=contact.id,
            value=churn_res["value"],
            label=churn_res["label"],
            confidence=churn_res["confidence"],
            title=f"Churn risk {churn_res['label']} ({round(churn_res['value'] * 100)}%)",
            reasons=churn_res["reasons"],
            recommendations=churn_res["recommendations"],
            data={"mode": churn_res["mode"], "fingerprint": fingerprint},
            inputs=churn_inputs,
            severity="high" if churn_res["label"] == "high" else "info",
        )
        await repo.store_scores(session, principal, churn={contact.id: churn_res["value"]})
    wrote = await _maybe_write_lifetime_value(
        session, principal, contact, clv_res, previous.get("lifetime_value")
    )
    await insights.record(
        session,
        principal,
        kind="lifetime_value",
        model=clv_res["model"],
        model_version=clv_res["model_version"],
        entity_type="contact",
        entity_id=contact.id,
        value=clv_res["value"],
        label=clv_res["label"],
        confidence=clv_res["confidence"],
        title=f"Lifetime value (12 months) {money_formatter(currency)(clv_res['value'])}",
        reasons=clv_res["reasons"],
        data={
            **{k: clv_res[k] for k in _CLV_DATA},
            "fingerprint": fingerprint,
            "wrote_lifetime_value": wrote,
        },
        inputs={
            "purchases": clv_res["purchases"],
            "historical_value": clv_res["historical_value"],
        },
    )
    await insights.record(
        session,
        principal,
        kind="best_time",
        model=timing.ALGORITHM,
        model_version=timing_res["model_version"],
        entity_type="contact",
        entity_id=contact.id,
        value=(timing_res["best_slots"][0].get("expected_response_rate") or 0.0)
        if timing_res["best_slots"]
        else None,
        label=timing_res["label"],
        confidence=timing_res["confidence"],
        title=_timing_title(timing_res),
        reasons=timing_res["reasons"],
        data={
            "timezone": timing_res["timezone"],
            "best_slots": timing_res["best_slots"],
            "fingerprint": fingerprint,
        },
        inputs={"contact_trials": own.trials, "contact_responses": own.successes},
    )
    await insights.record(
        session,
        principal,
        kind="next_best_action",
        model=actions.ALGORITHM,
        model_version=actions.VERSION,
        entity_type="contact",
        entity_id=contact.id,
        value=nba["value"],
        label=nba["action"],
        confidence=nba["confidence"],
        title=nba["title"],
        reasons=nba["reasons"],
        recommendations=nba["recommendations"],
        data={
            "action": nba["action"],
            "text": nba["text"],
            "channel": nba["channel"],
            "due_at": nba["due_at"],
            "task": nba["task"],
            "related": nba["related"],
            "fingerprint": fingerprint,
        },
        inputs={
            "churn_risk": churn_res["value"],
            "lifetime_value": clv_res["value"],
            "open_deals": len(customer.open_deals),
            "open_tasks": len(customer.open_tasks),
        },
        severity="medium" if nba["value"] >= 0.6 else "info",
    )
    return {"churn_risk": churn_res}


_CLV_DATA = (
    "currency",
    "horizon_months",
    "expected_purchases",
    "probability_alive",
    "average_purchase",
    "historical_value",
    "purchases",
    "recorded_value",
    "method",
)


def _timing_title(res: dict[str, Any]) -> str:
    if not res["best_slots"]:
        return "Best time to contact: unknown"
    s = res["best_slots"][0]
    return f"Best time to contact: {s['weekday']} {s['local_time']} ({res['timezone']})"


async def _maybe_write_lifetime_value(
    session: AsyncSession,
    principal: Principal,
    contact: Contact,
    clv_res: dict[str, Any],
    previous: AIInsight | None,
) -> float | None:
    """Write the predicted value onto the contact while the AI owns the field (see the module
    docstring); returns what was written, or None."""
    if clv_res["method"] == "no-history":
        return None
    current = round(float(contact.lifetime_value or 0), 2)
    ours = (previous.data or {}).get("wrote_lifetime_value") if previous is not None else None
    if current != 0 and (ours is None or round(float(ours), 2) != current):
        return None  # somebody entered it
    value = round(float(clv_res["value"]), 2)
    if value != current:
        await repo.store_scores(session, principal, lifetime={contact.id: value})
    return value


def _part(ins: AIInsight | None) -> dict[str, Any]:
    if ins is None:
        return {}
    return {
        "value": ins.value,
        "label": ins.label,
        "confidence": ins.confidence,
        "reasons": ins.reasons or [],
        "recommendations": ins.recommendations or [],
        "model": ins.model,
        "model_version": ins.model_version,
        "insight_id": ins.id,
        "generated_at": ins.created_at,
    }


def _response(
    contact: Contact,
    stored: dict[str, AIInsight],
    computed: dict[str, dict[str, Any]] | None,
    *,
    refreshed: bool,
) -> CustomerInsights:
    if contact.status == "churned":
        res = dict((computed or {}).get("churn_risk") or {})
        if not res:
            res = _churn_result(signals.Customer(contact=contact), {}, None, None)
        churn_part = ChurnRiskOut(**res, generated_at=utcnow())
    else:
        ins = stored.get("churn_risk")
        churn_part = ChurnRiskOut(
            **_part(ins), mode=(ins.data or {}).get("mode", "") if ins else ""
        )
    clv_ins = stored.get("lifetime_value")
    clv_data = clv_ins.data if clv_ins is not None else {}
    nba_ins = stored.get("next_best_action")
    nba_data = nba_ins.data if nba_ins is not None else {}
    time_ins = stored.get("best_time")
    time_data = time_ins.data if time_ins is not None else {}
    parts = [churn_part.generated_at] + [
        i.created_at for k, i in stored.items() if k in KINDS and i is not None
    ]
    generated = min(p for p in parts if p is not None) if any(parts) else utcnow()
    return CustomerInsights(
        customer_id=contact.id,
        churn_risk=churn_part,
        lifetime_value=LifetimeValueOut(
            **_part(clv_ins), **{k: clv_data[k] for k in _CLV_DATA if clv_data.get(k) is not None}
        ),
        next_best_action=NextBestActionOut(
            **_part(nba_ins),
            action=nba_data.get("action", "none"),
            title=nba_ins.title if nba_ins else "",
            text=nba_data.get("text", ""),
            channel=nba_data.get("channel", "email"),
            due_at=nba_data.get("due_at"),
            task=nba_data.get("task"),
        ),
        optimal_timing=OptimalTimingOut(
            **_part(time_ins),
            timezone=time_data.get("timezone", "UTC"),
            best_slots=time_data.get("best_slots", []),
        ),
        generated_at=generated,
        refreshed=refreshed,
        model_versions={
            "churn_risk": f"{churn_part.model}:{churn_part.model_version}",
            "lifetime_value": f"{clv_ins.model}:{clv_ins.model_version}" if clv_ins else "",
            "next_best_action": f"{nba_ins.model}:{nba_ins.model_version}" if nba_ins else "",
            "best_time": f"{time_ins.model}:{time_ins.model_version}" if time_ins else "",
        },
    )


# -- acting on the next best action ----------------------------------------------------------


async def task_from_action(
    session: AsyncSession, principal: Principal, contact_id: int, data: TaskFromAction
) -> Task:
    """Create the task the current next best action suggests (or one of its alternatives) and
    mark the insight acted on."""
    from aicrm.tasks import service as task_service
    from aicrm.tasks.schemas import TaskCreate

    await repo.get_contact(session, principal, contact_id)
    current = await insights.current_for(
        session, principal, "contact", contact_id, ["next_best_action"]
    )
    if not current:
        raise NotFound(
            f"contact {contact_id} has no next best action yet; "
            f"GET /api/v1/customers/{contact_id}/insights first"
        )
    ins = current[0]
    options = ins.recommendations or []
    if data.option >= len(options):
        raise Invalid(f"option must be below {len(options)}", field="option")
    suggestion = options[data.option].get("task")
    if not suggestion:
        raise Invalid(
            "this option is not a task to create (" + str(options[data.option].get("text")) + ")",
            field="option",
        )
    fields = {
        "title": data.title or suggestion["title"],
        "due_at": data.due_at or suggestion.get("due_at"),
        "priority": (data.priority.value if data.priority else suggestion.get("priority"))
        or "medium",
        "category": suggestion.get("category"),
        "contact_id": contact_id,
        "deal_id": suggestion.get("deal_id"),
        "assignee_id": data.assignee_id or suggestion.get("assignee_id") or principal.user_id,
        "description": options[data.option].get("text", ""),
    }
    task = await task_service.create(
        session, principal, TaskCreate(**{k: v for k, v in fields.items() if v is not None})
    )
    await insights.resolve(session, principal, ins.id, "acted", f"Created task {task.id}")
    return task


# -- bulk ------------------------------------------------------------------------------------


async def score_batch(
    session: AsyncSession,
    principal: Principal,
    contacts: Sequence[Contact],
    *,
    now: datetime,
    loaded: tuple[AIModel, churn.ChurnEstimator] | None,
    clv: tuple[AIModel | None, lifetime.CLVModel | None],
    currency: str,
) -> dict[str, Any]:
    """Churn risk and lifetime value for a batch of customers, stored as insights when they
    changed (a new label, a move of a point or more, a new model version, or a week old)."""
    batch = await signals.gather(session, principal, contacts, now)
    rows = batch.rows()
    explained = loaded[1].explain(rows, batch.infos) if loaded is not None else [None] * len(rows)
    ids = [c.id for c in contacts]
    prev_churn = await insights.latest_by_entity(session, principal, "churn_risk", "contact", ids)
    prev_clv = await insights.latest_by_entity(session, principal, "lifetime_value", "contact", ids)
    out = {"scored": 0, "recorded": 0, "by_label": {}, "lifetime_values": 0}
    churn_scores: dict[int, float] = {}
    for customer, row, pred in zip(batch.customers, rows, explained, strict=True):
        c = customer.contact
        if c.status == "churned":
            continue
        res = _churn_result(customer, row, pred, loaded[0] if loaded else None)
        out["scored"] += 1
        out["by_label"][res["label"]] = out["by_label"].get(res["label"], 0) + 1
        churn_scores[c.id] = res["value"]
        prev = prev_churn.get(c.id)
        if _unchanged(prev, res, now):
            continue
        await insights.record(
            session,
            principal,
            kind="churn_risk",
            model=res["model"],
            model_version=res["model_version"],
            entity_type="contact",
            entity_id=c.id,
            value=res["value"],
            label=res["label"],
            confidence=res["confidence"],
            title=f"Churn risk {res['label']} ({round(res['value'] * 100)}%)",
            reasons=res["reasons"],
            recommendations=res["recommendations"],
            data={"mode": res["mode"], "bulk": True},
            inputs={k: v for k, v in row.items() if v not in (None, 0.0, "")},
            severity="high" if res["label"] == "high" else "info",
            # announce what changed, not every nightly re-score
            emit=(prev is not None and prev.label != res["label"])
            or (prev is None and res["label"] == "high"),
        )
        out["recorded"] += 1
    await repo.store_scores(session, principal, churn=churn_scores)
    clv_row, clv_model_ = clv
    if clv_model_ is not None:
        for customer in batch.customers:
            if not customer.purchases:
                continue
            res = _clv_result(customer, clv_row, clv_model_, now, currency)
            out["lifetime_values"] += 1
            prev = prev_clv.get(customer.id)
            if _unchanged(prev, res, now, tolerance=max(1.0, 0.01 * res["value"])):
                continue
            wrote = await _maybe_write_lifetime_value(
                session, principal, customer.contact, res, prev
            )
            await insights.record(
                session,
                principal,
                kind="lifetime_value",
                model=res["model"],
                model_version=res["model_version"],
                entity_type="contact",
                entity_id=customer.id,
                value=res["value"],
                label=res["label"],
                confidence=res["confidence"],
                title=f"Lifetime value (12 months) {money_formatter(currency)(res['value'])}",
                reasons=res["reasons"],
                data={**{k: res[k] for k in _CLV_DATA}, "wrote_lifetime_value": wrote},
                inputs={"purchases": res["purchases"], "historical_value": res["historical_value"]},
                emit=False,
            )
            out["recorded"] += 1
    return out


def _unchanged(
    prev: AIInsight | None, res: dict[str, Any], now: datetime, tolerance: float = 0.01
) -> bool:
    return (
        prev is not None
        and prev.label == res["label"]
        and prev.model_version == res["model_version"]
        and prev.value is not None
        and abs(prev.value - res["value"]) < tolerance
        and now - prev.created_at < timedelta(days=7)
    )


async def score_all(
    session: AsyncSession,
    principal: Principal,
    *,
    after_id: int = 0,
    limit: int | None = None,
    now: datetime | None = None,
) -> tuple[ScoreOut, int | None]:
    """Score customers (statuses customer and inactive) in id order from `after_id`: all of
    them, or `limit` (then the id to continue after is returned, None when done)."""
    started = time.perf_counter()
    now = now or utcnow()
    org = await org_service.get_current(session, principal)
    currency = org.default_currency or "USD"
    loaded = await churn_model(session, principal.organization_id)
    clv = await clv_model(session, principal, now)
    total: dict[str, Any] = {"scored": 0, "recorded": 0, "by_label": {}, "lifetime_values": 0}
    done = 0
    cursor: int | None = after_id
    while cursor is not None:
        size = BATCH if limit is None else min(BATCH, limit - done)
        if size <= 0:
            break
        contacts = await repo.contacts_page(
            session, principal, statuses=SCORED_STATUSES, after_id=cursor, limit=size
        )
        if not contacts:
            cursor = None
            break
        part = await score_batch(
            session, principal, contacts, now=now, loaded=loaded, clv=clv, currency=currency
        )
        for key in ("scored", "recorded", "lifetime_values"):
            total[key] += part[key]
        for label, n in part["by_label"].items():
            total["by_label"][label] = total["by_label"].get(label, 0) + n
        done += len(contacts)
        cursor = contacts[-1].id if len(contacts) == size else None
    out = ScoreOut(
        scored=total["scored"],
        recorded=total["recorded"],
        by_label=total["by_label"],
        mode="model" if loaded is not None else "rules",
        model_version=_version(loaded[0], "") if loaded else churn.RULES_VERSION,
        lifetime_values=total["lifetime_values"],
        duration_s=round(time.perf_counter() - started, 3),
    )
    return out, cursor
