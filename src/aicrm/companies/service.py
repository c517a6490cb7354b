"""Companies."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.companies.repository import FILTERS, SORTABLE, CompanyRepo
from aicrm.companies.schemas import CompanyCreate, CompanyOut, CompanyUpdate
from aicrm.customfields import service as custom_fields
from aicrm.errors import PreconditionFailed
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.kit.text import fold, normalize_phone
from aicrm.models import Company
from aicrm.orgs import service as org_service
from aicrm.tags import service as tags

ENTITY = "company"


async def to_out(
    session: AsyncSession, principal: Principal, rows: list[Company], *, counts: bool = False
) -> list[CompanyOut]:
    ids = [c.id for c in rows]
    tag_map = await tags.tags_for(session, principal, ENTITY, ids)
    count_map = (
        await CompanyRepo.from_session(session, principal).contact_counts(ids) if counts else {}
    )
    out = []
    for c in rows:
        item = CompanyOut.model_validate(c)
        item.tags = tag_map.get(c.id, [])
        if counts:
            item.contact_count = count_map.get(c.id, 0)
        out.append(item)
    return out


async def list_companies(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[CompanyOut], str | None]:
    repo = CompanyRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, company_id: int) -> Company:
    return await CompanyRepo.from_session(session, principal).get(company_id)


async def _apply(
    session: AsyncSession, principal: Principal, company: Company, changes: dict[str, Any]
) -> None:
    if "owner_id" in changes:
        await org_service.ensure_member(session, principal, changes["owner_id"], field="owner_id")
    if changes.get("phone"):
        changes["phone"] = normalize_phone(changes["phone"], field="phone")
    if "domain" in changes and changes["domain"]:
        changes["domain"] = changes["domain"].lower()
    if "country" in changes and changes["country"]:
        changes["country"] = changes["country"].upper()
    if "custom" in changes:
        changes["custom"] = await custom_fields.validate(
            session, principal, ENTITY, changes["custom"], existing=company.custom or {}
        )
    for k, v in changes.items():
        if k in ("tags", "version"):
            continue
        if v is None and k in ("name", "description"):
            continue
        setattr(company, k, v)
    company.name_key = fold(company.name)


async def create(session: AsyncSession, principal: Principal, data: CompanyCreate) -> Company:
    """Create a company; tags and custom fields are validated in the same transaction."""
    company = Company(description="", custom={})
    changes = data.model_dump(exclude_unset=True)
    if "custom" not in changes:
        changes["custom"] = {}
    await _apply(session, principal, company, changes)
    await CompanyRepo.from_session(session, principal).add(company)
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, company.id, data.tags)
    await audit.created(session, principal, ENTITY, company)
    await events.emit(
        session, principal, "company.created", entity_type=ENTITY, entity_id=company.id
    )
    return company


async def find_or_create(session: AsyncSession, principal: Principal, name: str) -> Company:
    """The company with this name (case/accents ignored), created if missing."""
    repo = CompanyRepo.from_session(session, principal)
    existing = await repo.by_name_key(fold(name))
    if existing:
        return existing
    return await create(session, principal, CompanyCreate(name=name))


async def update(
    session: AsyncSession,
    principal: Principal,
    company_id: int,
    data: CompanyUpdate,
    *,
    if_match: int | None = None,
) -> Company:
    company = await CompanyRepo.from_session(session, principal).get(company_id, for_update=True)
    expected = data.version if data.version is not None else if_match
    if expected is not None and expected != company.version:
        raise PreconditionFailed(
            f"company {company_id} changed since version {expected} (now {company.version})",
            current_version=company.version,
        )
    before = snapshot(company)
    changes = data.model_dump(exclude_unset=True)
    await _apply(session, principal, company, changes)
    company.version += 1
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, company.id, data.tags)
    await session.flush()
    await audit.updated(session, principal, ENTITY, company, before)
    await events.emit(
        session,
        principal,
        "company.updated",
        entity_type=ENTITY,
        entity_id=company.id,
        payload=events.changes(before, company),
    )
    return company


async def delete(session: AsyncSession, principal: Principal, company_id: int) -> None:
    repo = CompanyRepo.from_session(session, principal)
    company = await repo.get(company_id)
    await audit.deleted(session, principal, ENTITY, company)
    await events.emit(
        session, principal, "company.deleted", entity_type=ENTITY, entity_id=company.id
    )
    await repo.delete(company)
