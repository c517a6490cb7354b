"""Leads, their per-organization status pipeline and the kanban board."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.customfields import service as custom_fields
from aicrm.errors import Conflict, Invalid, PreconditionFailed
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.kit.text import normalize_email, normalize_phone
from aicrm.leads.repository import FILTERS, SORTABLE, LeadRepo, LeadStatusRepo
from aicrm.leads.schemas import (
    Kanban,
    KanbanColumn,
    LeadCreate,
    LeadMove,
    LeadOut,
    LeadStatusCreate,
    LeadStatusUpdate,
    LeadUpdate,
)
from aicrm.models import Company, Contact, Lead, LeadStatus, Organization
from aicrm.orgs import service as org_service
from aicrm.tags import service as tags

ENTITY = "lead"


# -- statuses ------------------------------------------------------------------------------


async def statuses(session: AsyncSession, principal: Principal) -> list[LeadStatus]:
    return await LeadStatusRepo.from_session(session, principal).ordered()


async def status_by_name(
    session: AsyncSession, principal: Principal, name: str, *, field: str = "status"
) -> LeadStatus:
    found = await LeadStatusRepo.from_session(session, principal).by_name(name)
    if found is None:
        names = [s.name for s in await statuses(session, principal)]
        raise Invalid(f"unknown status {name!r}; this pipeline has {names}", field=field)
    return found


async def create_status(
    session: AsyncSession, principal: Principal, data: LeadStatusCreate
) -> LeadStatus:
    repo = LeadStatusRepo.from_session(session, principal)
    await repo.lock_board()
    if await repo.by_name(data.name):
        raise Conflict(
            f"status {data.name!r} exists", errors=[{"field": "name", "message": "already exists"}]
        )
    existing = await repo.ordered()
    pos = len(existing) if data.position is None else min(data.position, len(existing))
    for s in existing:
        if s.position >= pos:
            s.position += 1
    row = await repo.add(
        LeadStatus(
            name=data.name, color=data.color, position=pos, is_won=data.is_won, is_lost=data.is_lost
        )
    )
    await _renumber_statuses(repo)
    await audit.created(session, principal, "lead_status", row)
    return row


async def _renumber_statuses(repo: LeadStatusRepo) -> None:
    for i, s in enumerate(sorted(await repo.ordered(), key=lambda s: (s.position, s.id))):
        s.position = i
    await repo.session.flush()


async def update_status(
    session: AsyncSession, principal: Principal, status_id: int, data: LeadStatusUpdate
) -> LeadStatus:
    repo = LeadStatusRepo.from_session(session, principal)
    await repo.lock_board()
    row = await repo.get(status_id)
    before = snapshot(row)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") and changes["name"].lower() != row.name.lower():
        if await repo.by_name(changes["name"]):
            raise Conflict(
                f"status {changes['name']!r} exists",
                errors=[{"field": "name", "message": "already exists"}],
            )
    for k in ("name", "color", "is_won", "is_lost"):
        if changes.get(k) is not None:
            setattr(row, k, changes[k])
    if changes.get("position") is not None:
        others = [s for s in await repo.ordered() if s.id != row.id]
        pos = min(changes["position"], len(others))
        others.insert(pos, row)
        for i, s in enumerate(others):
            s.position = i
    await session.flush()
    await audit.updated(session, principal, "lead_status", row, before)
    return row


async def delete_status(session: AsyncSession, principal: Principal, status_id: int) -> None:
    repo = LeadStatusRepo.from_session(session, principal)
    await repo.lock_board()
    row = await repo.get(status_id)
    if await LeadRepo.from_session(session, principal).column_size(row.id):
        raise Conflict(f"status {row.name!r} still has leads; move them first")
    if len(await repo.ordered()) <= 1:
        raise Conflict("A pipeline needs at least one status")
    await audit.deleted(session, principal, "lead_status", row)
    await repo.delete(row)
    await _renumber_statuses(repo)


# -- leads ---------------------------------------------------------------------------------


async def to_out(session: AsyncSession, principal: Principal, rows: list[Lead]) -> list[LeadOut]:
    names = {s.id: s.name for s in await statuses(session, principal)}
    tag_map = await tags.tags_for(session, principal, ENTITY, [r.id for r in rows])
    out = []
    for lead in rows:
        data = {c: getattr(lead, c) for c in LeadOut.model_fields if c not in ("status", "tags")}
        out.append(
            LeadOut(**data, status=names.get(lead.status_id, "?"), tags=tag_map.get(lead.id, []))
        )
    return out


async def list_leads(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[LeadOut], str | None]:
    params = dict(params)
    if "status" in params:
        raw = params.pop("status")
        wanted = raw if isinstance(raw, list) else str(raw).split(",")
        params["status_id__in"] = [
            str((await status_by_name(session, principal, n)).id) for n in wanted if n
        ]
    repo = LeadRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, lead_id: int) -> Lead:
    return await LeadRepo.from_session(session, principal).get(lead_id)


async def _apply(
    session: AsyncSession, principal: Principal, lead: Lead, changes: dict[str, Any]
) -> None:
    org = await session.get(Organization, principal.organization_id)
    region = org.default_region if org else "US"
    errors: list[dict[str, Any]] = []
    if "email" in changes:
        try:
            lead.email = normalize_email(changes["email"], field="email")
        except Invalid as exc:
            errors.extend(exc.errors)
    if "phone" in changes:
        try:
            lead.phone = normalize_phone(changes["phone"], region=region, field="phone")
        except Invalid as exc:
            errors.extend(exc.errors)
    if "custom" in changes:
        try:
            lead.custom = await custom_fields.validate(
                session,
                principal,
                ENTITY,
                changes["custom"],
                existing=lead.custom or {},
                region=region,
            )
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid("Some fields are invalid", errors=errors)
    repo = LeadRepo.from_session(session, principal)
    if "assignee_id" in changes:
        await org_service.ensure_member(
            session, principal, changes["assignee_id"], field="assignee_id"
        )
        lead.assignee_id = changes["assignee_id"]
    if "contact_id" in changes:
        await repo.exists_in_org(Contact, changes["contact_id"], field="contact_id")
        lead.contact_id = changes["contact_id"]
    if "company_id" in changes:
        await repo.exists_in_org(Company, changes["company_id"], field="company_id")
        lead.company_id = changes["company_id"]
    for k in (
        "name",
        "company",
        "notes",
        "source",
        "value",
        "quality_score",
        "priority",
        "requirements",
        "timeline",
        "budget",
    ):
        if k in changes:
            v = changes[k]
            if v is None and k in ("name", "notes", "value", "priority", "requirements"):
                continue
            setattr(lead, k, v.value if hasattr(v, "value") else v)


async def create(session: AsyncSession, principal: Principal, data: LeadCreate) -> Lead:
    """Create a lead at the end of its status column (or at `card_order`)."""
    statuses_repo = LeadStatusRepo.from_session(session, principal)
    await statuses_repo.lock_board()
    if data.status:
        status = await status_by_name(session, principal, data.status)
    else:
        status = (await statuses_repo.ordered())[0]
    lead = Lead(
        status_id=status.id, notes="", requirements="", value=0, priority="medium", custom={}
    )
    changes = data.model_dump(exclude_unset=True)
    await _apply(session, principal, lead, changes)
    if "custom" not in changes:
        lead.custom = await custom_fields.validate(session, principal, ENTITY, {}, existing={})
    repo = LeadRepo.from_session(session, principal)
    size = await repo.column_size(status.id)
    pos = size if data.card_order is None else min(data.card_order, size)
    await repo.shift(status.id, from_order=pos, delta=1)
    lead.card_order = pos
    await repo.add(lead)
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, lead.id, data.tags)
    await audit.created(session, principal, ENTITY, lead)
    await events.emit(
        session,
        principal,
        "lead.created",
        entity_type=ENTITY,
        entity_id=lead.id,
        payload={
            "status": status.name,
            "value": float(lead.value or 0),
            "assignee_id": lead.assignee_id,
        },
    )
    return lead


def _check_version(lead: Lead, expected: int | None) -> None:
    if expected is not None and expected != lead.version:
        raise PreconditionFailed(
            f"lead {lead.id} changed since version {expected} (now {lead.version}); reload and retry",
            current_version=lead.version,
        )


async def _place(
    session: AsyncSession, principal: Principal, lead: Lead, target: LeadStatus, order: int | None
) -> None:
    """Move a card within or across columns; the caller holds the board lock."""
    await LeadRepo.from_session(session, principal).place(lead, target.id, order)


async def move(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    data: LeadMove,
    *,
    if_match: int | None = None,
) -> Lead:
    """Drag and drop: put the lead at `card_order` in the `status` column."""
    await LeadStatusRepo.from_session(session, principal).lock_board()
    lead = await LeadRepo.from_session(session, principal).get(lead_id, for_update=True)
    _check_version(lead, data.version if data.version is not None else if_match)
    target = await status_by_name(session, principal, data.status)
    before = snapshot(lead)
    old_status_id = lead.status_id
    await _place(session, principal, lead, target, data.card_order)
    lead.version += 1
    await session.flush()
    await audit.updated(session, principal, ENTITY, lead, before)
    if old_status_id != target.id:
        old = next(
            (s.name for s in await statuses(session, principal) if s.id == old_status_id), None
        )
        await events.emit(
            session,
            principal,
            "lead.status_changed",
            entity_type=ENTITY,
            entity_id=lead.id,
            payload={"from": old, "to": target.name, "card_order": lead.card_order},
        )
    else:
        await events.emit(
            session,
            principal,
            "lead.reordered",
            entity_type=ENTITY,
            entity_id=lead.id,
            payload={"status": target.name, "card_order": lead.card_order},
        )
    return lead


async def update(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    data: LeadUpdate,
    *,
    if_match: int | None = None,
) -> Lead:
    await LeadStatusRepo.from_session(session, principal).lock_board()
    lead = await LeadRepo.from_session(session, principal).get(lead_id, for_update=True)
    _check_version(lead, data.version if data.version is not None else if_match)
    before = snapshot(lead)
    changes = data.model_dump(exclude_unset=True)
    await _apply(session, principal, lead, changes)
    old_status_id = lead.status_id
    if changes.get("status"):
        target = await status_by_name(session, principal, changes["status"])
        if target.id != lead.status_id:
            await _place(session, principal, lead, target, None)
    lead.version += 1
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, lead.id, data.tags)
    await session.flush()
    await audit.updated(session, principal, ENTITY, lead, before)
    await events.emit(
        session,
        principal,
        "lead.updated",
        entity_type=ENTITY,
        entity_id=lead.id,
        payload=events.changes(before, lead),
    )
    if old_status_id != lead.status_id:
        names = {s.id: s.name for s in await statuses(session, principal)}
        await events.emit(
            session,
            principal,
            "lead.status_changed",
            entity_type=ENTITY,
            entity_id=lead.id,
            payload={"from": names.get(old_status_id), "to": names.get(lead.status_id)},
        )
    return lead


async def delete(session: AsyncSession, principal: Principal, lead_id: int) -> None:
    await LeadStatusRepo.from_session(session, principal).lock_board()
    repo = LeadRepo.from_session(session, principal)
    lead = await repo.get(lead_id, for_update=True)
    await audit.deleted(session, principal, ENTITY, lead)
    status_id, order = lead.status_id, lead.card_order
    await repo.delete(lead)
    await repo.shift(status_id, from_order=order + 1, delta=-1)
    await events.emit(session, principal, "lead.deleted", entity_type=ENTITY, entity_id=lead_id)


async def kanban(
    session: AsyncSession,
    principal: Principal,
    *,
    per_column: int = 200,
    params: dict[str, Any] | None = None,
) -> Kanban:
    """Columns in pipeline order, each with its cards in card order."""
    repo = LeadRepo.from_session(session, principal)
    stats = await repo.column_stats()
    cols = []
    all_statuses = await statuses(session, principal)
    for s in all_statuses:
        rows = await repo.column(s.id, per_column)
        n, total = stats.get(s.id, (0, 0.0))
        cols.append(
            KanbanColumn(
                status=s.name,
                status_id=s.id,
                color=s.color,
                is_won=s.is_won,
                is_lost=s.is_lost,
                count=n,
                total_value=total,
                leads=await to_out(session, principal, rows),
            )
        )
    return Kanban(columns=cols)


async def mark_contacted(
    session: AsyncSession, principal: Principal, lead_id: int, at: datetime
) -> None:
    """Record the latest touch on a lead (activities call this)."""
    lead = await LeadRepo.from_session(session, principal).get_or_none(lead_id)
    if lead is not None and (lead.last_contacted_at is None or lead.last_contacted_at < at):
        lead.last_contacted_at = at


async def mark_converted(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    contact_id: int,
    company_id: int | None,
    deal_id: int | None,
) -> Lead:
    """Link a lead to the contact, company and deal it was converted into."""
    lead = await LeadRepo.from_session(session, principal).get(lead_id, for_update=True)
    before = snapshot(lead)
    lead.contact_id = contact_id
    lead.company_id = company_id
    lead.converted_deal_id = deal_id
    lead.converted_at = datetime.now(UTC)
    lead.version += 1
    await session.flush()
    await audit.updated(session, principal, ENTITY, lead, before)
    await events.emit(
        session,
        principal,
        "lead.converted",
        entity_type=ENTITY,
        entity_id=lead.id,
        payload={"contact_id": contact_id, "company_id": company_id, "deal_id": deal_id},
    )
    return lead
