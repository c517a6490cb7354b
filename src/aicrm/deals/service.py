"""Deals, per-organization pipelines with stages, the deal board and lead conversion."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.companies import service as company_service
from aicrm.contacts import service as contact_service
from aicrm.contacts.schemas import ContactCreate
from aicrm.customfields import service as custom_fields
from aicrm.deals.repository import FILTERS, SORTABLE, DealRepo, PipelineRepo, StageRepo
from aicrm.deals.schemas import (
    Board,
    BoardColumn,
    Conversion,
    DealCreate,
    DealMove,
    DealOut,
    DealStatus,
    DealUpdate,
    LeadConvert,
    PipelineCreate,
    PipelineOut,
    PipelineUpdate,
    StageCreate,
    StageOut,
    StageUpdate,
)
from aicrm.duplicates import detection
from aicrm.errors import Conflict, Invalid, NotFound, PreconditionFailed
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.leads import service as lead_service
from aicrm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Organization,
    Pipeline,
    PipelineStage,
)
from aicrm.orgs import service as org_service
from aicrm.tags import service as tags

ENTITY = "deal"
CENT = Decimal("0.01")


# -- pipelines and stages ------------------------------------------------------------------


def _pipeline_out(pipeline: Pipeline, stages: list[PipelineStage]) -> PipelineOut:
    out = PipelineOut.model_validate(pipeline)
    out.stages = [StageOut.model_validate(s) for s in stages]
    return out


async def list_pipelines(session: AsyncSession, principal: Principal) -> list[PipelineOut]:
    """The organization's pipelines (default first), each with its stages in order."""
    pipelines = await PipelineRepo.from_session(session, principal).ordered()
    stages = await StageRepo.from_session(session, principal).of_pipelines(p.id for p in pipelines)
    by_pipeline: dict[int, list[PipelineStage]] = {}
    for s in stages:
        by_pipeline.setdefault(s.pipeline_id, []).append(s)
    return [_pipeline_out(p, by_pipeline.get(p.id, [])) for p in pipelines]


async def get_pipeline(
    session: AsyncSession, principal: Principal, pipeline_id: int
) -> PipelineOut:
    """One pipeline with its stages."""
    pipeline = await PipelineRepo.from_session(session, principal).get(pipeline_id)
    stages = await StageRepo.from_session(session, principal).of_pipeline(pipeline.id)
    return _pipeline_out(pipeline, stages)


async def default_pipeline(session: AsyncSession, principal: Principal) -> Pipeline:
    """The pipeline new deals land in when none is named."""
    found = await PipelineRepo.from_session(session, principal).default()
    if found is None:
        raise Conflict("This organization has no deal pipeline; create one first")
    return found


def _check_flags(is_won: bool, is_lost: bool) -> None:
    if is_won and is_lost:
        raise Invalid("A stage is either won or lost, not both", field="is_lost")


def _default_probability(data: StageCreate) -> float:
    if data.probability is not None:
        return data.probability
    return 1.0 if data.is_won else 0.0 if data.is_lost else 0.1


async def _name_free(repo: PipelineRepo, name: str, *, exclude_id: int | None = None) -> None:
    found = await repo.by_name(name)
    if found is not None and found.id != exclude_id:
        raise Conflict(
            f"A pipeline named {name!r} exists",
            errors=[{"field": "name", "message": "already used"}],
        )


def _stage_name_free(
    stages: list[PipelineStage], name: str, *, exclude_id: int | None = None, field: str = "name"
) -> None:
    if any(s.name.lower() == name.strip().lower() and s.id != exclude_id for s in stages):
        raise Conflict(
            f"This pipeline already has a stage named {name!r}",
            errors=[{"field": field, "message": "already used"}],
        )


async def _make_default(session: AsyncSession, principal: Principal, pipeline: Pipeline) -> None:
    repo = PipelineRepo.from_session(session, principal)
    for other in await repo.ordered():
        if other.id != pipeline.id and other.is_default:
            other.is_default = False
    pipeline.is_default = True
    await session.flush()


async def create_pipeline(
    session: AsyncSession, principal: Principal, data: PipelineCreate
) -> PipelineOut:
    """A new pipeline with its stages (the standard sales stages when none are given)."""
    repo = PipelineRepo.from_session(session, principal)
    await repo.lock_all()
    await _name_free(repo, data.name)
    specs = data.stages
    if specs is None:
        specs = [
            StageCreate(name=n, probability=p, is_won=w, is_lost=lost)
            for n, p, w, lost in org_service.DEFAULT_STAGES
        ]
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.is_won and spec.is_lost:
            errors.append({"field": f"stages.{i}.is_lost", "message": "won or lost, not both"})
        if spec.name.lower() in seen:
            errors.append({"field": f"stages.{i}.name", "message": "used twice"})
        seen.add(spec.name.lower())
    if errors:
        raise Invalid("Some stages are invalid", errors=errors)
    # a pipeline is created as the default when the organization has none
    make_default = data.is_default or await repo.default() is None
    pipeline = await repo.add(Pipeline(name=data.name, is_default=False))
    if make_default:
        await _make_default(session, principal, pipeline)
    stages_repo = StageRepo.from_session(session, principal)
    for pos, spec in enumerate(specs):
        await stages_repo.add(
            PipelineStage(
                pipeline_id=pipeline.id,
                name=spec.name,
                position=pos,
                probability=_default_probability(spec),
                is_won=spec.is_won,
                is_lost=spec.is_lost,
            )
        )
    await audit.created(session, principal, "pipeline", pipeline)
    return await get_pipeline(session, principal, pipeline.id)


async def update_pipeline(
    session: AsyncSession, principal: Principal, pipeline_id: int, data: PipelineUpdate
) -> PipelineOut:
    """Rename a pipeline or make it the default."""
    repo = PipelineRepo.from_session(session, principal)
    await repo.lock_all()
    pipeline = await repo.get(pipeline_id)
    before = snapshot(pipeline)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") and changes["name"] != pipeline.name:
        await _name_free(repo, changes["name"], exclude_id=pipeline.id)
        pipeline.name = changes["name"]
    if changes.get("is_default") is True and not pipeline.is_default:
        await _make_default(session, principal, pipeline)
    elif changes.get("is_default") is False and pipeline.is_default:
        raise Invalid(
            "There is always one default pipeline; make another pipeline the default instead",
            field="is_default",
        )
    await session.flush()
    await audit.updated(session, principal, "pipeline", pipeline, before)
    return await get_pipeline(session, principal, pipeline.id)


async def delete_pipeline(session: AsyncSession, principal: Principal, pipeline_id: int) -> None:
    """Delete a pipeline without deals; the default pipeline stays."""
    repo = PipelineRepo.from_session(session, principal)
    await repo.lock_all()
    pipeline = await repo.get(pipeline_id)
    await StageRepo.from_session(session, principal).lock_board([pipeline.id])
    if pipeline.is_default:
        raise Conflict("The default pipeline cannot be deleted; make another one the default first")
    if await DealRepo.from_session(session, principal).in_pipeline(pipeline.id):
        raise Conflict(f"Pipeline {pipeline.name!r} still has deals; move or delete them first")
    await audit.deleted(session, principal, "pipeline", pipeline)
    await StageRepo.from_session(session, principal).delete_of_pipeline(pipeline.id)
    await repo.delete(pipeline)


async def _renumber(stages: list[PipelineStage]) -> None:
    for i, s in enumerate(stages):
        s.position = i


async def create_stage(
    session: AsyncSession, principal: Principal, pipeline_id: int, data: StageCreate
) -> PipelineOut:
    """Add a stage at `position` (end if omitted)."""
    pipeline = await PipelineRepo.from_session(session, principal).get(pipeline_id)
    repo = StageRepo.from_session(session, principal)
    await repo.lock_board([pipeline.id])
    _check_flags(data.is_won, data.is_lost)
    stages = await repo.of_pipeline(pipeline.id)
    _stage_name_free(stages, data.name)
    pos = len(stages) if data.position is None else min(data.position, len(stages))
    row = await repo.add(
        PipelineStage(
            pipeline_id=pipeline.id,
            name=data.name,
            position=pos,
            probability=_default_probability(data),
            is_won=data.is_won,
            is_lost=data.is_lost,
        )
    )
    stages.insert(pos, row)
    await _renumber(stages)
    await session.flush()
    await audit.created(session, principal, "pipeline_stage", row)
    return await get_pipeline(session, principal, pipeline.id)


async def _stage_of(
    session: AsyncSession, principal: Principal, pipeline_id: int, stage_id: int
) -> tuple[Pipeline, PipelineStage, list[PipelineStage]]:
    pipeline = await PipelineRepo.from_session(session, principal).get(pipeline_id)
    repo = StageRepo.from_session(session, principal)
    await repo.lock_board([pipeline.id])
    stages = await repo.of_pipeline(pipeline.id)
    row = next((s for s in stages if s.id == stage_id), None)
    if row is None:
        raise NotFound(f"stage {stage_id} not found in pipeline {pipeline_id}")
    return pipeline, row, stages


async def update_stage(
    session: AsyncSession,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    data: StageUpdate,
) -> PipelineOut:
    """Rename, reorder or re-weight a stage; won/lost flags change only on an empty stage."""
    pipeline, row, stages = await _stage_of(session, principal, pipeline_id, stage_id)
    before = snapshot(row)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "name" in changes:
        _stage_name_free(stages, changes["name"], exclude_id=row.id)
        row.name = changes["name"]
    is_won = changes.get("is_won", row.is_won)
    is_lost = changes.get("is_lost", row.is_lost)
    _check_flags(is_won, is_lost)
    if (is_won, is_lost) != (row.is_won, row.is_lost):
        # the deals' status follows their stage, and a lost deal needs a reason we cannot invent
        if await DealRepo.from_session(session, principal).column_size(row.id):
            field = "is_won" if is_won != row.is_won else "is_lost"
            raise Conflict(
                f"Stage {row.name!r} has deals; move them before making it won or lost",
                errors=[{"field": field, "message": "the stage has deals"}],
            )
        row.is_won, row.is_lost = is_won, is_lost
    if "probability" in changes:
        row.probability = changes["probability"]
    if "position" in changes:
        others = [s for s in stages if s.id != row.id]
        others.insert(min(changes["position"], len(others)), row)
        await _renumber(others)
    await session.flush()
    await audit.updated(session, principal, "pipeline_stage", row, before)
    return await get_pipeline(session, principal, pipeline.id)


async def delete_stage(
    session: AsyncSession, principal: Principal, pipeline_id: int, stage_id: int
) -> PipelineOut:
    """Delete an empty stage; the stages after it move up."""
    pipeline, row, stages = await _stage_of(session, principal, pipeline_id, stage_id)
    if await DealRepo.from_session(session, principal).column_size(row.id):
        raise Conflict(f"Stage {row.name!r} still has deals; move them first")
    if len(stages) <= 1:
        raise Conflict("A pipeline needs at least one stage")
    await audit.deleted(session, principal, "pipeline_stage", row)
    await StageRepo.from_session(session, principal).delete(row)
    await _renumber([s for s in stages if s.id != row.id])
    await session.flush()
    return await get_pipeline(session, principal, pipeline.id)


# -- deals ---------------------------------------------------------------------------------


def _weighted(amount: Any, probability: float) -> float:
    return round(float(amount or 0) * probability, 2)


async def to_out(session: AsyncSession, principal: Principal, rows: list[Deal]) -> list[DealOut]:
    """API shape of deals: stage name, its probability, weighted amount and tags."""
    pipelines = {
        p.id: p
        for p in await PipelineRepo.from_session(session, principal).get_many(
            sorted({d.pipeline_id for d in rows})
        )
    }
    stages = {
        s.id: s
        for s in await StageRepo.from_session(session, principal).get_many(
            sorted({d.stage_id for d in rows})
        )
    }
    tag_map = await tags.tags_for(session, principal, ENTITY, [d.id for d in rows])
    out = []
    for deal in rows:
        stage = stages[deal.stage_id]
        data = {
            c: getattr(deal, c)
            for c in DealOut.model_fields
            if c not in ("pipeline", "stage", "probability", "weighted_amount", "tags")
        }
        out.append(
            DealOut(
                **data,
                pipeline=pipelines[deal.pipeline_id].name,
                stage=stage.name,
                probability=stage.probability,
                weighted_amount=_weighted(deal.amount, stage.probability),
                tags=tag_map.get(deal.id, []),
            )
        )
    return out


async def list_deals(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[DealOut], str | None]:
    """Deals matching the filter language; `stage=Proposal` matches that stage in any pipeline."""
    params = dict(params)
    if "stage" in params:
        raw = params.pop("stage")
        wanted = raw if isinstance(raw, list) else str(raw).split(",")
        stages = StageRepo.from_session(session, principal)
        ids: list[str] = []
        for name in (n for n in wanted if n.strip()):
            found = await stages.named(name)
            if not found:
                raise Invalid(f"no pipeline has a stage named {name!r}", field="stage")
            ids.extend(str(s.id) for s in found)
        params["stage_id__in"] = ids
    repo = DealRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, deal_id: int) -> Deal:
    """One deal of the caller's organization (404 otherwise)."""
    return await DealRepo.from_session(session, principal).get(deal_id)


async def _pipeline_for(
    session: AsyncSession, principal: Principal, pipeline_id: int | None, stage_id: int | None
) -> Pipeline:
    repo = PipelineRepo.from_session(session, principal)
    if pipeline_id is not None:
        found = await repo.get_or_none(pipeline_id)
        if found is None:
            raise Invalid(f"pipeline_id {pipeline_id} does not exist", field="pipeline_id")
        return found
    if stage_id is not None:
        stage = await StageRepo.from_session(session, principal).get_or_none(stage_id)
        if stage is None:
            raise Invalid(f"stage_id {stage_id} does not exist", field="stage_id")
        return await repo.get(stage.pipeline_id)
    return await default_pipeline(session, principal)


async def _resolve_stage(
    session: AsyncSession,
    principal: Principal,
    pipeline: Pipeline,
    stage_id: int | None,
    stage_name: str | None,
) -> PipelineStage:
    stages = await StageRepo.from_session(session, principal).of_pipeline(pipeline.id)
    by_id = by_name = None
    if stage_id is not None:
        by_id = next((s for s in stages if s.id == stage_id), None)
        if by_id is None:
            raise Invalid(
                f"stage_id {stage_id} is not a stage of pipeline {pipeline.name!r}",
                field="stage_id",
            )
    if stage_name is not None:
        key = stage_name.strip().lower()
        by_name = next((s for s in stages if s.name.lower() == key), None)
        if by_name is None:
            raise Invalid(
                f"unknown stage {stage_name!r}; pipeline {pipeline.name!r} has "
                f"{[s.name for s in stages]}",
                field="stage",
            )
    if by_id is not None and by_name is not None and by_id.id != by_name.id:
        raise Invalid("stage and stage_id name different stages; send one", field="stage")
    chosen = by_id or by_name or (stages[0] if stages else None)
    if chosen is None:
        raise Conflict(f"Pipeline {pipeline.name!r} has no stages")
    return chosen


def _close_rules(
    deal: Deal, stage: PipelineStage, reason: str | None, reason_sent: bool
) -> str | None:
    """Derive status, reason and closed_at from the stage; return the event to emit, if any."""
    old = deal.status
    new = DealStatus.won if stage.is_won else DealStatus.lost if stage.is_lost else DealStatus.open
    if reason is not None:
        reason = reason.strip() or None
    if reason_sent:
        deal.won_lost_reason = reason
    elif old != new:
        # a reason explains one outcome: it does not carry over to another
        deal.won_lost_reason = None
    if new is DealStatus.lost and not deal.won_lost_reason:
        raise Invalid(
            f"Stage {stage.name!r} marks the deal lost: say why in won_lost_reason",
            field="won_lost_reason",
        )
    if new is DealStatus.open:
        deal.closed_at = None
    elif old != new or deal.closed_at is None:
        deal.closed_at = datetime.now(UTC)
    deal.status = new.value
    if old == new:
        return None
    return {
        DealStatus.won: "deal.won",
        DealStatus.lost: "deal.lost",
        DealStatus.open: "deal.reopened",
    }[new]


async def _apply(
    session: AsyncSession, principal: Principal, deal: Deal, changes: dict[str, Any]
) -> None:
    errors: list[dict[str, Any]] = []
    if "custom" in changes:
        org = await session.get(Organization, principal.organization_id)
        try:
            deal.custom = await custom_fields.validate(
                session,
                principal,
                ENTITY,
                changes["custom"],
                existing=deal.custom or {},
                region=org.default_region if org else "US",
            )
        except Invalid as exc:
            errors.extend(exc.errors)
    repo = DealRepo.from_session(session, principal)
    for field, model in (("contact_id", Contact), ("company_id", Company), ("lead_id", Lead)):
        if field in changes:
            try:
                await repo.exists_in_org(model, changes[field], field=field)
            except Invalid as exc:
                errors.extend(exc.errors)
    if "owner_id" in changes:
        try:
            await org_service.ensure_member(
                session, principal, changes["owner_id"], field="owner_id"
            )
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid("Some fields are invalid", errors=errors)
    for k in ("owner_id", "contact_id", "company_id", "lead_id", "expected_close_date"):
        if k in changes:
            setattr(deal, k, changes[k])
    if changes.get("name") is not None:
        deal.name = changes["name"]
    if changes.get("description") is not None:
        deal.description = changes["description"]
    if changes.get("currency") is not None:
        deal.currency = changes["currency"]
    if changes.get("amount") is not None:
        deal.amount = Decimal(str(changes["amount"])).quantize(CENT)  # type: ignore[assignment]


def _check_version(deal: Deal, expected: int | None) -> None:
    if expected is not None and expected != deal.version:
        raise PreconditionFailed(
            f"deal {deal.id} changed since version {expected} (now {deal.version}); reload",
            current_version=deal.version,
        )


async def _place(
    session: AsyncSession,
    principal: Principal,
    deal: Deal,
    target: PipelineStage,
    order: int | None,
) -> None:
    """Move a card within or across columns; the caller holds the lock of both boards."""
    deal.pipeline_id = target.pipeline_id
    await DealRepo.from_session(session, principal).place(deal, target.id, order)


async def _locked(
    session: AsyncSession, principal: Principal, deal_id: int, *, also: int | None = None
) -> Deal:
    """The deal, row-locked, after the board lock of its pipeline (and of `also`)."""
    repo = DealRepo.from_session(session, principal)
    stages = StageRepo.from_session(session, principal)
    for _ in range(3):
        pipeline_id = await repo.pipeline_of(deal_id)
        if pipeline_id is None:
            raise NotFound(f"deal {deal_id} not found")
        await stages.lock_board([pipeline_id] + ([also] if also is not None else []))
        deal = await repo.get(deal_id, for_update=True)
        # another transaction may have moved it to another pipeline before we got the lock
        if deal.pipeline_id == pipeline_id:
            return deal
        repo.forget(deal)
    raise Conflict("The deal kept moving between pipelines; retry")


async def _emit_moves(
    session: AsyncSession,
    principal: Principal,
    deal: Deal,
    old_stage_id: int,
    outcome: str | None,
    *,
    reordered: bool,
) -> None:
    if old_stage_id != deal.stage_id:
        names = {
            s.id: s.name
            for s in await StageRepo.from_session(session, principal).get_many(
                [old_stage_id, deal.stage_id]
            )
        }
        await events.emit(
            session,
            principal,
            "deal.stage_changed",
            entity_type=ENTITY,
            entity_id=deal.id,
            payload={
                "from": names.get(old_stage_id),
                "to": names.get(deal.stage_id),
                "from_stage_id": old_stage_id,
                "to_stage_id": deal.stage_id,
                "pipeline_id": deal.pipeline_id,
                "card_order": deal.card_order,
                "status": deal.status,
            },
        )
    elif reordered:
        await events.emit(
            session,
            principal,
            "deal.reordered",
            entity_type=ENTITY,
            entity_id=deal.id,
            payload={"stage_id": deal.stage_id, "card_order": deal.card_order},
        )
    if outcome:
        await events.emit(
            session,
            principal,
            outcome,
            entity_type=ENTITY,
            entity_id=deal.id,
            payload={
                "amount": float(deal.amount or 0),
                "currency": deal.currency,
                "reason": deal.won_lost_reason,
            },
        )


async def create(session: AsyncSession, principal: Principal, data: DealCreate) -> Deal:
    """Create a deal at the end of its stage (default: first stage of the default pipeline)."""
    pipeline = await _pipeline_for(session, principal, data.pipeline_id, data.stage_id)
    await StageRepo.from_session(session, principal).lock_board([pipeline.id])
    stage = await _resolve_stage(session, principal, pipeline, data.stage_id, data.stage)
    org = await session.get(Organization, principal.organization_id)
    deal = Deal(
        name=data.name,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        amount=Decimal("0"),
        currency=org.default_currency if org else "USD",
        status=DealStatus.open.value,
        description="",
        custom={},
        version=1,
        owner_id=principal.user_id,
    )
    changes = data.model_dump(exclude_unset=True)
    if "custom" not in changes:
        changes["custom"] = {}
    await _apply(session, principal, deal, changes)
    outcome = _close_rules(deal, stage, data.won_lost_reason, "won_lost_reason" in changes)
    repo = DealRepo.from_session(session, principal)
    size = await repo.column_size(stage.id)
    pos = size if data.card_order is None else min(data.card_order, size)
    await repo.shift(stage.id, from_order=pos, delta=1)
    deal.card_order = pos
    await repo.add(deal)
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, deal.id, data.tags)
    await audit.created(session, principal, ENTITY, deal)
    await events.emit(
        session,
        principal,
        "deal.created",
        entity_type=ENTITY,
        entity_id=deal.id,
        payload={
            "pipeline_id": pipeline.id,
            "stage": stage.name,
            "amount": float(deal.amount),
            "currency": deal.currency,
        },
    )
    if outcome in ("deal.won", "deal.lost"):
        await _emit_moves(session, principal, deal, deal.stage_id, outcome, reordered=False)
    return deal


async def update(
    session: AsyncSession,
    principal: Principal,
    deal_id: int,
    data: DealUpdate,
    *,
    if_match: int | None = None,
) -> Deal:
    """Update fields; a new stage (or pipeline) puts the card at the end of that column and
    applies the won/lost rules. A stale `version` / If-Match answers 412."""
    changes = data.model_dump(exclude_unset=True)
    if await DealRepo.from_session(session, principal).pipeline_of(deal_id) is None:
        raise NotFound(f"deal {deal_id} not found")
    target_pipeline = None
    if changes.get("pipeline_id") is not None:
        target_pipeline = await _pipeline_for(session, principal, changes["pipeline_id"], None)
    deal = await _locked(
        session, principal, deal_id, also=target_pipeline.id if target_pipeline else None
    )
    _check_version(deal, data.version if data.version is not None else if_match)
    before = snapshot(deal)
    old_stage_id = deal.stage_id
    pipeline = target_pipeline or await PipelineRepo.from_session(session, principal).get(
        deal.pipeline_id
    )
    moving = (
        pipeline.id != deal.pipeline_id
        or changes.get("stage_id") is not None
        or changes.get("stage") is not None
    )
    if moving:
        target = await _resolve_stage(
            session,
            principal,
            pipeline,
            changes.get("stage_id"),
            changes.get("stage"),
        )
    else:
        target = await StageRepo.from_session(session, principal).get(deal.stage_id)
    await _apply(session, principal, deal, changes)
    outcome = _close_rules(
        deal, target, changes.get("won_lost_reason"), "won_lost_reason" in changes
    )
    if target.id != deal.stage_id:
        await _place(session, principal, deal, target, None)
    deal.version += 1
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, deal.id, data.tags)
    await session.flush()
    await audit.updated(session, principal, ENTITY, deal, before)
    await events.emit(
        session,
        principal,
        "deal.updated",
        entity_type=ENTITY,
        entity_id=deal.id,
        payload=events.changes(before, deal),
    )
    await _emit_moves(session, principal, deal, old_stage_id, outcome, reordered=False)
    return deal


async def move(
    session: AsyncSession,
    principal: Principal,
    deal_id: int,
    data: DealMove,
    *,
    if_match: int | None = None,
) -> Deal:
    """Drag and drop: put the deal at `card_order` in a stage of its pipeline."""
    deal = await _locked(session, principal, deal_id)
    if data.stage_id is None and data.stage is None:
        raise Invalid("Name the target stage with stage or stage_id", field="stage")
    _check_version(deal, data.version if data.version is not None else if_match)
    pipeline = await PipelineRepo.from_session(session, principal).get(deal.pipeline_id)
    target = await _resolve_stage(session, principal, pipeline, data.stage_id, data.stage)
    before = snapshot(deal)
    old_stage_id = deal.stage_id
    outcome = _close_rules(
        deal, target, data.won_lost_reason, "won_lost_reason" in data.model_fields_set
    )
    await _place(session, principal, deal, target, data.card_order)
    deal.version += 1
    await session.flush()
    await audit.updated(session, principal, ENTITY, deal, before)
    await _emit_moves(session, principal, deal, old_stage_id, outcome, reordered=True)
    return deal


async def delete(session: AsyncSession, principal: Principal, deal_id: int) -> None:
    """Delete a deal and its timeline; the cards below it move up."""
    deal = await _locked(session, principal, deal_id)
    repo = DealRepo.from_session(session, principal)
    await audit.deleted(session, principal, ENTITY, deal)
    stage_id, order = deal.stage_id, deal.card_order
    await tags.set_tags(session, principal, ENTITY, deal.id, [])
    await repo.delete(deal)
    await repo.shift(stage_id, from_order=order + 1, delta=-1)
    await events.emit(session, principal, "deal.deleted", entity_type=ENTITY, entity_id=deal_id)


async def board(
    session: AsyncSession,
    principal: Principal,
    *,
    pipeline_id: int | None = None,
    per_column: int = 200,
) -> Board:
    """Stages in order, each with its cards in card order, counts, totals and weighted totals."""
    if pipeline_id is None:
        pipeline = await default_pipeline(session, principal)
    else:
        pipeline = await PipelineRepo.from_session(session, principal).get(pipeline_id)
    repo = DealRepo.from_session(session, principal)
    stats = await repo.column_stats(pipeline.id)
    columns = []
    for s in await StageRepo.from_session(session, principal).of_pipeline(pipeline.id):
        n, total = stats.get(s.id, (0, 0.0))
        columns.append(
            BoardColumn(
                stage_id=s.id,
                stage=s.name,
                position=s.position,
                probability=s.probability,
                is_won=s.is_won,
                is_lost=s.is_lost,
                count=n,
                total_amount=round(total, 2),
                weighted_amount=_weighted(total, s.probability),
                deals=await to_out(session, principal, await repo.column(s.id, per_column)),
            )
        )
    return Board(
        pipeline_id=pipeline.id,
        pipeline=pipeline.name,
        count=sum(c.count for c in columns),
        total_amount=round(sum(c.total_amount for c in columns), 2),
        weighted_amount=round(sum(c.weighted_amount for c in columns), 2),
        columns=columns,
    )


# -- lead conversion -----------------------------------------------------------------------


async def _contact_for_lead(
    session: AsyncSession, principal: Principal, lead: Lead, company: Company | None
) -> tuple[Contact, bool]:
    """The contact with the lead's email or phone, else a new one; and whether it is new."""
    emails = [lead.email] if lead.email else []
    phones = [lead.phone] if lead.phone else []
    if emails or phones:
        # looked up before writing: contacts.create would refuse the duplicate with a 409
        matches = await detection.contact_duplicates(
            session, principal, emails=emails, phones=phones, name=lead.name, company_id=None
        )
        strong = [m for m in matches if m.reason in ("email", "phone")]
        if strong:
            return await contact_service.get(session, principal, strong[0].id), False
    contact = await contact_service.create(
        session,
        principal,
        ContactCreate(
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            company_id=company.id if company else None,
        ),
    )
    return contact, True


async def convert_lead(
    session: AsyncSession, principal: Principal, lead_id: int, data: LeadConvert
) -> Conversion:
    """Turn a lead into a contact, a company and a deal in one transaction; mark it converted."""
    lead = await lead_service.get(session, principal, lead_id)
    repo = DealRepo.from_session(session, principal)
    # two conversions of the same lead must not both pass the check below
    await repo.relock(lead)
    if lead.converted_at is not None:
        raise Conflict(
            f"lead {lead_id} was already converted",
            contact_id=lead.contact_id,
            deal_id=lead.converted_deal_id,
        )
    await repo.exists_in_org(Contact, data.contact_id, field="contact_id")
    if data.create_deal and data.pipeline_id is not None:
        await _pipeline_for(session, principal, data.pipeline_id, None)

    company: Company | None = None
    if data.company_name:
        company = await company_service.find_or_create(session, principal, data.company_name)
    elif lead.company_id is not None:
        company = await company_service.get(session, principal, lead.company_id)
    elif lead.company and lead.company.strip():
        company = await company_service.find_or_create(session, principal, lead.company.strip())

    created = False
    if data.contact_id is not None:
        contact = await contact_service.get(session, principal, data.contact_id)
    elif lead.contact_id is not None:
        contact = await contact_service.get(session, principal, lead.contact_id)
    else:
        contact, created = await _contact_for_lead(session, principal, lead, company)
    if company is None and contact.company_id is not None:
        company = await company_service.get(session, principal, contact.company_id)

    deal: Deal | None = None
    if data.create_deal:
        fields: dict[str, Any] = {
            "name": (data.deal_name or (f"{company.name}: {lead.name}" if company else lead.name))[
                :200
            ],
            "amount": data.amount if data.amount is not None else float(lead.value or 0),
            "contact_id": contact.id,
            "company_id": company.id if company else None,
            "lead_id": lead.id,
        }
        if data.pipeline_id is not None:
            fields["pipeline_id"] = data.pipeline_id
        if data.stage is not None:
            fields["stage"] = data.stage
        if lead.assignee_id is not None:
            fields["owner_id"] = lead.assignee_id
        deal = await create(session, principal, DealCreate(**fields))

    lead = await lead_service.mark_converted(
        session,
        principal,
        lead.id,
        contact_id=contact.id,
        company_id=company.id if company else None,
        deal_id=deal.id if deal else None,
    )
    return Conversion(
        lead=(await lead_service.to_out(session, principal, [lead]))[0],
        contact=(await contact_service.to_out(session, principal, [contact]))[0],
        company=(await company_service.to_out(session, principal, [company]))[0]
        if company
        else None,
        deal=(await to_out(session, principal, [deal]))[0] if deal else None,
        contact_created=created,
    )
