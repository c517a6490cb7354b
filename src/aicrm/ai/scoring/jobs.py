"""Background scoring and training.

- the `ai.scoring` events consumer queues a score for leads whose scoring inputs changed
  (created; updated in a field the features read; moved; an activity logged on them; a lead
  import) and for deals that already have a win probability (so it follows their stage), and a
  retrain when enough new outcomes arrived since the last training. Its own
  `lead.scored` / `deal.scored` / `insight.*` events are not among those, so scoring never
  wakes itself;
- `ai.score_lead` (automation's "request AI scoring") / `ai.score_deal`: one record;
- `ai.score_leads` / `ai.score_deals`: given ids, or every open record `BATCH` at a time (each
  job queues the next, so no transaction is long);
- `ai.train_lead_scoring` / `ai.train_win_probability`: fit with a read session (SQLite's write
  lock is taken only to save), store the version (active when it beats the rules), re-score;
- `ai.retrain_lead_scoring` / `ai.retrain_win_probability` (periodic, AI_RETRAIN_EVERY): one
  training job per organization; an organization with no new outcome since its last training
  keeps its model and is only re-scored (recency features move with time).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aicrm.ai import insights
from aicrm.ai.scoring import deals as dl
from aicrm.ai.scoring import leads as ld
from aicrm.ai.scoring import repository as repo
from aicrm.ai.scoring import service
from aicrm.config import get_settings
from aicrm.errors import Conflict
from aicrm.events.relay import consumer
from aicrm.jobs import JobContext, enqueue, job, periodic
from aicrm.kit.principal import system_principal
from aicrm.models import Deal, Lead, OutboxEvent, utcnow

SCORE_LEAD = "ai.score_lead"
SCORE_LEADS = "ai.score_leads"
TRAIN_LEADS = "ai.train_lead_scoring"
RETRAIN_LEADS = "ai.retrain_lead_scoring"
SCORE_DEAL = "ai.score_deal"
SCORE_DEALS = "ai.score_deals"
TRAIN_DEALS = "ai.train_win_probability"
RETRAIN_DEALS = "ai.retrain_win_probability"
BATCH = 250
MAX_IDS_PER_JOB = 500

# fields whose change can move a score (the features read them)
LEAD_FIELDS = frozenset(
    {
        "value",
        "budget",
        "source",
        "email",
        "phone",
        "company",
        "requirements",
        "notes",
        "timeline",
        "status_id",
        "assignee_id",
        "last_contacted_at",
        "custom",
    }
)
DEAL_FIELDS = frozenset(
    {
        "stage_id",
        "pipeline_id",
        "amount",
        "expected_close_date",
        "owner_id",
        "contact_id",
        "company_id",
        "custom",
    }
)


# -- scoring ---------------------------------------------------------------------------------


@job(SCORE_LEAD, max_attempts=3)
async def score_lead(ctx: JobContext, lead_id: int) -> dict[str, Any]:
    """Score one lead (stored when it changed); closed or deleted leads are skipped."""
    session = await ctx.session()
    out = await service.score_leads(session, ctx.principal, [lead_id], record="changed")
    if not out:
        return {"skipped": "lead not found or not open"}
    return {"score": out[0].score, "priority": out[0].priority, "stored": bool(out[0].insight_id)}


async def _queue_ids(
    ctx: JobContext, name: str, key: str, ids: list[int], record: str
) -> int | None:
    row = await enqueue(
        await ctx.session(),
        name,
        {"ids": ids, "record": record},
        organization_id=ctx.organization_id,
        idempotency_key=f"{name}:{ctx.organization_id}:{key}",
    )
    return row.id if row is not None else None


async def _score_batch(
    ctx: JobContext,
    name: str,
    kind: str,
    ids: list[int] | None,
    all_open: bool,
    after_id: int,
    run: str,
    record: str,
) -> dict[str, Any]:
    session = await ctx.session()
    scorer = service.score_leads if kind == "lead" else service.score_deals
    mode = record if record in ("always", "changed", "never") else "changed"
    if ids:
        now, rest = ids[:BATCH], ids[BATCH:]
        out = await scorer(session, ctx.principal, now, record=mode)  # type: ignore[arg-type]
        if rest:
            await _queue_ids(ctx, name, f"{run or ctx.job_id}:{now[-1]}", rest, mode)
        return {
            "scored": len(out),
            "stored": sum(1 for o in out if o.insight_id),
            "left": len(rest),
        }
    if not all_open:
        return {"scored": 0}
    out = await scorer(  # type: ignore[arg-type]
        session, ctx.principal, after_id=after_id, limit=BATCH, record=mode
    )
    last = max((getattr(o, f"{kind}_id") for o in out), default=None)
    if last is not None and len(out) >= BATCH:
        await enqueue(
            session,
            name,
            {"all_open": True, "after_id": last, "run": run, "record": mode},
            organization_id=ctx.organization_id,
            idempotency_key=f"{name}:{ctx.organization_id}:{run or ctx.job_id}:{last}",
        )
    return {
        "scored": len(out),
        "stored": sum(1 for o in out if o.insight_id),
        "next_after_id": last if len(out) >= BATCH else None,
    }


@job(SCORE_LEADS, max_attempts=3, timeout=900)
async def score_leads(
    ctx: JobContext,
    ids: list[int] | None = None,
    all_open: bool = False,
    after_id: int = 0,
    run: str = "",
    record: str = "changed",
) -> dict[str, Any]:
    """Score the given leads, or every open lead BATCH at a time (queuing the next batch)."""
    return await _score_batch(ctx, SCORE_LEADS, "lead", ids, all_open, after_id, run, record)


@job(SCORE_DEAL, max_attempts=3)
async def score_deal(ctx: JobContext, deal_id: int) -> dict[str, Any]:
    session = await ctx.session()
    out = await service.score_deals(session, ctx.principal, [deal_id], record="changed")
    if not out:
        return {"skipped": "deal not found or not open"}
    return {"probability": out[0].probability, "stored": bool(out[0].insight_id)}


@job(SCORE_DEALS, max_attempts=3, timeout=900)
async def score_deals(
    ctx: JobContext,
    ids: list[int] | None = None,
    all_open: bool = False,
    after_id: int = 0,
    run: str = "",
    record: str = "changed",
) -> dict[str, Any]:
    """Score the given deals, or every open deal BATCH at a time."""
    return await _score_batch(ctx, SCORE_DEALS, "deal", ids, all_open, after_id, run, record)


# -- training --------------------------------------------------------------------------------


async def _train(ctx: JobContext, kind: str, score: bool, run: str, force: bool) -> dict[str, Any]:
    is_lead = kind == ld.KIND
    result: dict[str, Any] = {}
    fitted = None
    async with ctx.read() as reader:
        org = ctx.principal.organization_id
        if is_lead:
            setup = await service.lead_setup(reader, org)
            won, lost = await repo.count_lead_outcomes(reader, org, setup.won, setup.lost)
        else:
            won, lost = await repo.count_deal_outcomes(reader, org)
        latest = await repo.latest_model(reader, org, kind)
        unchanged = (
            latest is not None and int((latest.params or {}).get("n_outcomes") or -1) == won + lost
        )
        if not service.eligible(won, lost):
            result = {"skipped": "too few outcomes", "won": won, "lost": lost}
        elif unchanged and not force:
            result = {
                "skipped": "no new outcomes since the last training",
                "version": latest.version,
            }
        else:
            try:
                fit = service.fit_leads if is_lead else service.fit_deals
                fitted = await fit(reader, ctx.principal)
            except Conflict as exc:
                result = {"skipped": exc.message}
    session = await ctx.session()
    if fitted is not None:
        scorer, metrics = fitted
        row = await service.save_model(session, ctx.principal, kind, scorer, metrics)
        result = {
            "version": row.version,
            "active": row.is_active,
            "auc": metrics.get("auc"),
            "auc_rules": metrics.get("auc_rules"),
        }
    if score:
        name = SCORE_LEADS if is_lead else SCORE_DEALS
        key = run or f"train-{ctx.job_id}"
        await enqueue(
            session,
            name,
            {"all_open": True, "after_id": 0, "run": key, "record": "changed"},
            organization_id=ctx.organization_id,
            idempotency_key=f"{name}:{ctx.organization_id}:{key}:0",
        )
    return result


@job(TRAIN_LEADS, max_attempts=2, timeout=1800)
async def train_lead_scoring(
    ctx: JobContext, score: bool = True, run: str = "", force: bool = True
) -> dict[str, Any]:
    """Train and validate a new lead scoring version, then re-score the open leads."""
    return await _train(ctx, ld.KIND, score, run, force)


@job(TRAIN_DEALS, max_attempts=2, timeout=1800)
async def train_win_probability(
    ctx: JobContext, score: bool = True, run: str = "", force: bool = True
) -> dict[str, Any]:
    """Train and validate a new win probability version, then re-score the open deals."""
    return await _train(ctx, dl.KIND, score, run, force)


async def _retrain_all(
    ctx: JobContext, model: type[Lead] | type[Deal], name: str
) -> dict[str, int]:
    every = get_settings().AI_RETRAIN_EVERY or 86400.0
    slot = int(utcnow().timestamp() // every)
    async with ctx.read() as reader:
        orgs = await repo.organizations_with(reader, model)
    session = await ctx.session()
    queued = 0
    for org_id in orgs:
        row = await enqueue(
            session,
            name,
            {"score": True, "run": f"slot-{slot}", "force": False},
            organization_id=org_id,
            idempotency_key=f"{name}:{org_id}:slot-{slot}",
        )
        queued += row is not None
    return {"organizations": len(orgs), "queued": queued}


@job(RETRAIN_LEADS, max_attempts=3)
async def retrain_lead_scoring(ctx: JobContext) -> dict[str, int]:
    """Queue a lead scoring retrain (and re-score) for every organization with leads."""
    return await _retrain_all(ctx, Lead, TRAIN_LEADS)


@job(RETRAIN_DEALS, max_attempts=3)
async def retrain_win_probability(ctx: JobContext) -> dict[str, int]:
    """Queue a win probability retrain (and re-score) for every organization with deals."""
    return await _retrain_all(ctx, Deal, TRAIN_DEALS)


if get_settings().AI_RETRAIN_EVERY > 0:
    periodic(RETRAIN_LEADS, every=get_settings().AI_RETRAIN_EVERY)
    periodic(RETRAIN_DEALS, every=get_settings().AI_RETRAIN_EVERY)


# -- events ----------------------------------------------------------------------------------


def _changed(event: OutboxEvent, fields: frozenset[str]) -> bool:
    changes = (event.payload or {}).get("changes") or {}
    return any(k in fields for k in changes)


class _Org:
    def __init__(self) -> None:
        self.leads: set[int] = set()
        self.deals: set[int] = set()
        self.all_leads = False
        self.lead_outcomes = False
        self.deal_outcomes = False


def _route(event: OutboxEvent, org: _Org) -> None:
    t, eid, payload = event.type, event.entity_id, event.payload or {}
    if t in ("lead.created", "lead.status_changed") or (
        t == "lead.updated" and _changed(event, LEAD_FIELDS)
    ):
        if eid:
            org.leads.add(eid)
    if t in ("lead.status_changed", "lead.converted"):
        org.lead_outcomes = True
    if t in ("deal.created", "deal.stage_changed") or (
        t == "deal.updated" and _changed(event, DEAL_FIELDS)
    ):
        if eid:
            org.deals.add(eid)
    if t in ("deal.won", "deal.lost"):
        org.deal_outcomes = True
    if t == "activity.created":
        if isinstance(payload.get("lead_id"), int):
            org.leads.add(payload["lead_id"])
        if isinstance(payload.get("deal_id"), int):
            org.deals.add(payload["deal_id"])
    if t == "import.completed" and event.entity_type == "lead" and payload.get("created", 1):
        org.all_leads = org.lead_outcomes = True


@consumer("ai.scoring")
async def on_events(ctx: JobContext, events: list[OutboxEvent]) -> None:
    """Queue scoring for records whose inputs changed and retraining after new outcomes."""
    orgs: dict[int, _Org] = defaultdict(_Org)
    for event in events:
        if event.organization_id is not None:
            _route(event, orgs[event.organization_id])
    work = {
        o: w
        for o, w in orgs.items()
        if w.leads or w.deals or w.all_leads or w.lead_outcomes or w.deal_outcomes
    }
    if not work:
        return
    session = await ctx.session()
    base = f"consume-{ctx.job_id}"
    for org_id, w in work.items():
        if w.all_leads:
            await enqueue(
                session,
                SCORE_LEADS,
                {"all_open": True, "after_id": 0, "run": base, "record": "changed"},
                organization_id=org_id,
                idempotency_key=f"{SCORE_LEADS}:{org_id}:{base}:all",
            )
        deals: set[int] = set()
        if w.deals:
            # a deal is re-scored once it has a score (pressed "Score now", a bulk or nightly
            # run), so its win probability follows its stage; new deals wait for those
            known = await insights.latest_by_entity(
                session, system_principal(org_id), dl.KIND, "deal", sorted(w.deals)
            )
            deals = set(known)
        for kind, ids, name in (("lead", w.leads, SCORE_LEADS), ("deal", deals, SCORE_DEALS)):
            if kind == "lead" and w.all_leads:
                continue
            ordered = sorted(ids)
            for start in range(0, len(ordered), MAX_IDS_PER_JOB):
                part = ordered[start : start + MAX_IDS_PER_JOB]
                await enqueue(
                    session,
                    name,
                    {"ids": part, "record": "changed"},
                    organization_id=org_id,
                    idempotency_key=f"{name}:{org_id}:{base}:{start}",
                )
        if w.lead_outcomes:
            setup = await service.lead_setup(session, org_id)
            won, lost = await repo.count_lead_outcomes(session, org_id, setup.won, setup.lost)
            latest = await repo.latest_model(session, org_id, ld.KIND)
            if service.eligible(won, lost) and service.retrain_due(won + lost, latest):
                await enqueue(
                    session,
                    TRAIN_LEADS,
                    {"score": True, "run": f"outcomes-{won + lost}", "force": False},
                    organization_id=org_id,
                    idempotency_key=f"{TRAIN_LEADS}:{org_id}:n{won + lost}",
                )
        if w.deal_outcomes:
            won, lost = await repo.count_deal_outcomes(session, org_id)
            latest = await repo.latest_model(session, org_id, dl.KIND)
            if service.eligible(won, lost) and service.retrain_due(won + lost, latest):
                await enqueue(
                    session,
                    TRAIN_DEALS,
                    {"score": True, "run": f"outcomes-{won + lost}", "force": False},
                    organization_id=org_id,
                    idempotency_key=f"{TRAIN_DEALS}:{org_id}:n{won + lost}",
                )
