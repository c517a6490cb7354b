"""Contacts (customers): normalised identities, custom fields, tags, duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.companies import service as company_service
from aicrm.contacts.repository import FILTERS, SORTABLE, ContactRepo
from aicrm.contacts.schemas import ContactCreate, ContactOut, ContactUpdate
from aicrm.customfields import service as custom_fields
from aicrm.duplicates import detection
from aicrm.errors import Conflict, Invalid, PreconditionFailed
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.kit.text import fold, normalize_email, normalize_phone, split_name
from aicrm.models import Company, Contact, Organization
from aicrm.orgs import service as org_service
from aicrm.tags import service as tags

ENTITY = "contact"


async def to_out(
    session: AsyncSession, principal: Principal, rows: list[Contact]
) -> list[ContactOut]:
    tag_map = await tags.tags_for(session, principal, ENTITY, [c.id for c in rows])
    out = []
    for c in rows:
        item = ContactOut.model_validate(c)
        item.tags = tag_map.get(c.id, [])
        out.append(item)
    return out


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[ContactOut], str | None]:
    repo = ContactRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, contact_id: int) -> Contact:
    return await ContactRepo.from_session(session, principal).get(contact_id)


async def _region(session: AsyncSession, principal: Principal) -> str:
    org = await session.get(Organization, principal.organization_id)
    return org.default_region if org else "US"


def _collect(
    primary: str | None, many: list[str] | None, existing_primary: str | None, existing: list[str]
) -> tuple[str | None, list[str]]:
    values = list(existing)
    if many is not None:
        values = list(many)
    if primary is not None:
        values = [primary] + [v for v in values if v != primary]
    first = values[0] if values else None
    if primary is None and many is None:
        first = existing_primary
    return first, values


async def _apply(
    session: AsyncSession,
    principal: Principal,
    contact: Contact,
    data: ContactCreate | ContactUpdate,
) -> None:
    changes = data.model_dump(exclude_unset=True)
    region = await _region(session, principal)
    errors: list[dict[str, Any]] = []

    if "email" in changes or "emails" in changes:
        raw_primary = changes.get("email")
        raw_many = changes.get("emails")
        norm_many = None
        if raw_many is not None:
            norm_many = []
            for i, e in enumerate(raw_many):
                try:
                    v = normalize_email(e, field=f"emails.{i}")
                except Invalid as exc:
                    errors.extend(exc.errors)
                    continue
                if v and v not in norm_many:
                    norm_many.append(v)
        try:
            norm_primary = (
                normalize_email(raw_primary, field="email") if "email" in changes else None
            )
        except Invalid as exc:
            errors.extend(exc.errors)
            norm_primary = None
        if "email" in changes and raw_primary in (None, "") and norm_many is None:
            contact.email, contact.emails = None, []
        else:
            contact.email, contact.emails = _collect(
                norm_primary, norm_many, contact.email, contact.emails or []
            )

    if "phone" in changes or "phones" in changes:
        raw_primary = changes.get("phone")
        raw_many = changes.get("phones")
        norm_many = None
        if raw_many is not None:
            norm_many = []
            for i, p in enumerate(raw_many):
                try:
                    v = normalize_phone(p, region=region, field=f"phones.{i}")
                except Invalid as exc:
                    errors.extend(exc.errors)
                    continue
                if v and v not in norm_many:
                    norm_many.append(v)
        try:
            norm_primary = (
                normalize_phone(raw_primary, region=region, field="phone")
                if "phone" in changes
                else None
            )
        except Invalid as exc:
            errors.extend(exc.errors)
            norm_primary = None
        if "phone" in changes and raw_primary in (None, "") and norm_many is None:
            contact.phone, contact.phones = None, []
        else:
            contact.phone, contact.phones = _collect(
                norm_primary, norm_many, contact.phone, contact.phones or []
            )

    if "custom" in changes:
        try:
            contact.custom = await custom_fields.validate(
                session,
                principal,
                ENTITY,
                changes["custom"],
                existing=contact.custom or {},
                region=region,
            )
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid("Some fields are invalid", errors=errors)

    if "owner_id" in changes:
        await org_service.ensure_member(session, principal, changes["owner_id"], field="owner_id")
        contact.owner_id = changes["owner_id"]
    if "company_id" in changes:
        repo = ContactRepo.from_session(session, principal)
        await repo.exists_in_org(Company, changes["company_id"], field="company_id")
        contact.company_id = changes["company_id"]
    if changes.get("company_name"):
        contact.company_id = (
            await company_service.find_or_create(session, principal, changes["company_name"])
        ).id

    simple = (
        "title",
        "street",
        "city",
        "region",
        "postal_code",
        "status",
        "lifetime_value",
        "churn_risk",
        "preferred_channel",
        "timezone",
        "notes",
    )
    for k in simple:
        if k in changes:
            v = changes[k]
            if v is None and k in ("status", "preferred_channel", "notes", "lifetime_value"):
                continue
            setattr(contact, k, v.value if hasattr(v, "value") else v)
    if "country" in changes:
        contact.country = changes["country"].upper() if changes["country"] else None

    if "name" in changes or "first_name" in changes or "last_name" in changes:
        first = changes.get("first_name")
        last = changes.get("last_name")
        if changes.get("name") and first is None and last is None:
            first, last = split_name(changes["name"])
        contact.first_name = (first if first is not None else contact.first_name) or ""
        contact.last_name = (last if last is not None else contact.last_name) or ""
        full = changes.get("name") or " ".join(
            p for p in (contact.first_name, contact.last_name) if p
        )
        contact.name = full.strip()
    if not (contact.name or "").strip():
        contact.name = contact.email or contact.phone or ""
    if not contact.name:
        raise Invalid("A contact needs a name, an email or a phone", field="name")
    contact.name_key = fold(contact.name)
    contact.last_name_key = fold(contact.last_name)


async def create(
    session: AsyncSession,
    principal: Principal,
    data: ContactCreate,
    *,
    allow_duplicate: bool = False,
) -> Contact:
    """Create a contact; an existing contact with the same email or phone answers 409 unless allowed."""
    contact = Contact(
        first_name="",
        last_name="",
        name="",
        emails=[],
        phones=[],
        custom={},
        notes="",
        status="lead",
        preferred_channel="email",
        lifetime_value=0,
    )
    await _apply(session, principal, contact, data)
    if "custom" not in data.model_fields_set:
        contact.custom = await custom_fields.validate(session, principal, ENTITY, {}, existing={})
    if not allow_duplicate:
        await _refuse_duplicates(session, principal, contact)
    await ContactRepo.from_session(session, principal).add(contact)
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, contact.id, data.tags)
    await audit.created(session, principal, ENTITY, contact)
    await events.emit(
        session, principal, "contact.created", entity_type=ENTITY, entity_id=contact.id
    )
    return contact


async def _refuse_duplicates(session: AsyncSession, principal: Principal, contact: Contact) -> None:
    matches = await detection.contact_duplicates(
        session,
        principal,
        emails=contact.emails or [],
        phones=contact.phones or [],
        name=contact.name,
        company_id=None,
        exclude_id=contact.id,
    )
    strong = [m for m in matches if m.reason in ("email", "phone")]
    if strong:
        m = strong[0]
        raise Conflict(
            f"Contact {m.id} ({m.name}) has the same {m.reason}; merge, or send allow_duplicate=true",
            errors=[{"field": m.reason, "message": f"already used by contact {m.id}"}],
            duplicates=[
                {"id": d.id, "name": d.name, "reason": d.reason, "score": d.score} for d in strong
            ],
        )


async def update(
    session: AsyncSession,
    principal: Principal,
    contact_id: int,
    data: ContactUpdate,
    *,
    if_match: int | None = None,
) -> Contact:
    """Update a contact; a stale `version` / If-Match answers 412 instead of overwriting."""
    contact = await ContactRepo.from_session(session, principal).get(contact_id, for_update=True)
    expected = data.version if data.version is not None else if_match
    if expected is not None and expected != contact.version:
        raise PreconditionFailed(
            f"contact {contact_id} changed since version {expected} (now {contact.version}); reload and retry",
            current_version=contact.version,
        )
    before = snapshot(contact)
    await _apply(session, principal, contact, data)
    contact.version += 1
    if data.tags is not None:
        await tags.set_tags(session, principal, ENTITY, contact.id, data.tags)
    await session.flush()
    await audit.updated(session, principal, ENTITY, contact, before)
    await events.emit(
        session,
        principal,
        "contact.updated",
        entity_type=ENTITY,
        entity_id=contact.id,
        payload=events.changes(before, contact),
    )
    return contact


async def delete(session: AsyncSession, principal: Principal, contact_id: int) -> None:
    repo = ContactRepo.from_session(session, principal)
    contact = await repo.get(contact_id)
    await audit.deleted(session, principal, ENTITY, contact)
    await events.emit(
        session, principal, "contact.deleted", entity_type=ENTITY, entity_id=contact.id
    )
    await repo.delete(contact)


async def duplicates_of(
    session: AsyncSession, principal: Principal, contact_id: int
) -> list[detection.Match]:
    contact = await get(session, principal, contact_id)
    return await detection.contact_duplicates(
        session,
        principal,
        emails=contact.emails or [],
        phones=contact.phones or [],
        name=contact.name,
        company_id=contact.company_id,
        exclude_id=contact.id,
    )


async def touch_activity(
    session: AsyncSession, principal: Principal, contact_id: int, at: datetime
) -> None:
    """Record that something happened with the contact (activities call this)."""
    contact = await ContactRepo.from_session(session, principal).get_or_none(contact_id)
    if contact is not None and (contact.last_activity_at is None or contact.last_activity_at < at):
        contact.last_activity_at = at
