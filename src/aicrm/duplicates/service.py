"""Organization-wide duplicate scans and merging contacts or companies into one survivor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.companies import service as company_service
from aicrm.contacts import service as contact_service
from aicrm.duplicates import detection
from aicrm.duplicates.repository import CompanyMergeRepo, ContactMergeRepo
from aicrm.duplicates.schemas import (
    CompanyMergeOut,
    ContactMergeOut,
    DuplicateEntity,
    DuplicateGroup,
    DuplicateRecord,
    DuplicateScan,
    MergeIn,
    Reason,
)
from aicrm.errors import Invalid, NotFound
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import diff, snapshot
from aicrm.kit.text import fold
from aicrm.models import Company, Contact

COMPANY_NAME_THRESHOLD = 92

# Fields a merge may take from another record (`fields` in the request). "name" moves the whole
# name (first, last, full); the others are single columns.
CONTACT_FIELDS = {
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_id",
    "title",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "status",
    "lifetime_value",
    "churn_risk",
    "owner_id",
    "preferred_channel",
    "timezone",
    "notes",
}
COMPANY_FIELDS = {
    "name",
    "domain",
    "website",
    "industry",
    "size",
    "annual_revenue",
    "phone",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "description",
    "owner_id",
}
# filled from a duplicate when the primary has no value
_CONTACT_FILL = CONTACT_FIELDS - {"name", "first_name", "last_name", "email", "phone"}
_COMPANY_FILL = COMPANY_FIELDS - {"name"}


# -- scan ------------------------------------------------------------------------------------


class _Groups:
    """Groups in discovery order, dropping any that an earlier group already contains."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[tuple[Reason, str, float, list[int]]] = []
        self.truncated = False
        self._groups_of: dict[int, list[set[int]]] = {}  # id → member sets of its groups

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add(self, reason: Reason, key: str, score: float, ids: list[int]) -> None:
        members = set(ids)
        if any(members <= g for g in self._groups_of.get(ids[0], ())):
            return
        if self.full:
            self.truncated = True
            return
        self.items.append((reason, key, score, sorted(ids)))
        for i in ids:
            self._groups_of.setdefault(i, []).append(members)


async def scan(
    session: AsyncSession, principal: Principal, entity: DuplicateEntity, *, limit: int
) -> DuplicateScan:
    """Groups of likely duplicates across the organization, strongest reasons first."""
    groups = _Groups(limit)
    if entity is DuplicateEntity.contact:
        repo: ContactMergeRepo | CompanyMergeRepo = ContactMergeRepo.from_session(
            session, principal
        )
        await _scan_contacts(repo, groups)  # type: ignore[arg-type]
    else:
        repo = CompanyMergeRepo.from_session(session, principal)
        await _scan_companies(repo, groups)  # type: ignore[arg-type]
    summaries = await repo.summaries([i for g in groups.items for i in g[3]])
    out = []
    for reason, key, score, ids in groups.items:
        records = [
            DuplicateRecord.model_validate(summaries[i], from_attributes=True)
            for i in ids
            if i in summaries
        ]
        out.append(DuplicateGroup(reason=reason, key=key, score=score, ids=ids, records=records))
    return DuplicateScan(entity=entity, groups=out, truncated=groups.truncated)


async def _exact(repo: Any, groups: _Groups, column: Any, reason: Reason, *extra: Any) -> None:
    if groups.full:
        groups.truncated = True
        return
    found, more = await repo.exact_groups(column, groups.limit - len(groups.items), *extra)
    for key, ids in found.items():
        groups.add(reason, key, 100.0, ids)
    groups.truncated |= more


async def _scan_contacts(repo: ContactMergeRepo, groups: _Groups) -> None:
    await _exact(repo, groups, Contact.email, Reason.email)
    await _exact(repo, groups, Contact.phone, Reason.phone)
    # fuzzy names are only compared within one company (the block), streamed company by company
    async for block in repo.name_blocks():
        if groups.full:
            groups.truncated = True
            break
        clusters = detection.name_clusters(block, detection.NAME_THRESHOLD)
        if clusters:
            names = dict(block)
            for ids, score in clusters:
                groups.add(Reason.name_company, names[ids[0]], score, ids)
    # without a company only an identical name is strong enough to suggest a duplicate
    await _exact(repo, groups, Contact.name_key, Reason.name, Contact.company_id.is_(None))


async def _scan_companies(repo: CompanyMergeRepo, groups: _Groups) -> None:
    await _exact(repo, groups, Company.domain, Reason.domain)
    await _exact(repo, groups, Company.phone, Reason.phone)
    if groups.full:
        groups.truncated = True
        return
    names = await repo.names()
    lookup = dict(names)
    clusters = detection.name_clusters(names, COMPANY_NAME_THRESHOLD, drop=detection.LEGAL_FORMS)
    for ids, score in sorted(clusters, key=lambda c: (-c[1], c[0][0])):
        groups.add(Reason.name, lookup[ids[0]], score, ids)


# -- merge -----------------------------------------------------------------------------------


def _check_request(data: MergeIn, allowed: set[str]) -> list[int]:
    dups = list(dict.fromkeys(data.duplicate_ids))
    errors: list[dict[str, Any]] = []
    if data.primary_id in dups:
        errors.append(
            {"field": "duplicate_ids", "message": "must not contain primary_id"},
        )
    sources = {data.primary_id, *dups}
    for field, source in data.fields.items():
        base = field.removeprefix("custom.")
        if field not in allowed and not (field.startswith("custom.") and base):
            errors.append(
                {
                    "field": f"fields.{field}",
                    "message": f"cannot pick {field!r}; choose from {sorted(allowed)} or custom.<key>",
                }
            )
        elif source not in sources:
            errors.append(
                {
                    "field": f"fields.{field}",
                    "message": f"{source} is neither primary_id nor one of duplicate_ids",
                }
            )
    if errors:
        raise Invalid("The merge request is invalid", errors=errors)
    return dups


async def _load(
    repo: ContactMergeRepo | CompanyMergeRepo, primary_id: int, dups: list[int]
) -> tuple[Any, list[Any]]:
    found = await repo.lock([primary_id, *dups])
    missing = [i for i in [primary_id, *dups] if i not in found]
    if missing:
        raise NotFound(
            f"{repo.entity} {', '.join(map(str, missing))} not found",
            errors=[{"field": "duplicate_ids", "message": f"not found: {missing}"}],
        )
    return found[primary_id], [found[i] for i in dups]


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _union(first: str | None, lists: list[list[str]]) -> tuple[str | None, list[str]]:
    values: list[str] = [first] if first else []
    for items in lists:
        for v in items or []:
            if v and v not in values:
                values.append(v)
    return (values[0] if values else None), values


def _merge_custom(primary: Any, dups: list[Any], picks: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for d in reversed(dups):
        merged.update(d.custom or {})
    merged.update(primary.custom or {})  # the primary wins, then earlier duplicates
    for field, src in picks.items():
        if field.startswith("custom."):
            key = field.removeprefix("custom.")
            if key in (src.custom or {}):
                merged[key] = src.custom[key]
            else:
                merged.pop(key, None)
    return merged


async def _finish(
    session: AsyncSession,
    principal: Principal,
    repo: ContactMergeRepo | CompanyMergeRepo,
    primary: Any,
    dups: list[Any],
    before: dict[int, dict[str, Any]],
) -> dict[str, int]:
    ids = [d.id for d in dups]
    moved = await repo.repoint(ids, primary.id)
    tags_moved = await repo.move_taggings(ids, primary.id)
    if tags_moved:
        moved["tagging.entity_id"] = tags_moved
    now = datetime.now(UTC)
    for d in dups:
        d.deleted_at = now
        d.merged_into_id = primary.id
        d.version += 1
    primary.version += 1
    await session.flush()
    entity = repo.entity
    for rec in (primary, *dups):
        b, a = diff(before[rec.id], snapshot(rec))
        if rec is primary:
            a = {**a, "merged_ids": ids, "moved": moved}
        await audit.record(session, principal, "merge", entity, rec.id, before=b, after=a)
    await events.emit(
        session,
        principal,
        f"{entity}.merged",
        entity_type=entity,
        entity_id=primary.id,
        payload={"primary_id": primary.id, "duplicate_ids": ids, "moved": moved},
    )
    return moved


async def merge_contacts(
    session: AsyncSession, principal: Principal, data: MergeIn
) -> ContactMergeOut:
    """Merge duplicates into the primary contact; everything attached to them moves with them."""
    dups_ids = _check_request(data, CONTACT_FIELDS)
    repo = ContactMergeRepo.from_session(session, principal)
    primary, dups = await _load(repo, data.primary_id, dups_ids)
    records = {r.id: r for r in (primary, *dups)}
    before = {r.id: snapshot(r) for r in records.values()}
    picks = {f: records[src] for f, src in data.fields.items() if src != primary.id}

    for field in sorted(_CONTACT_FILL):
        if field in picks:
            setattr(primary, field, getattr(picks[field], field))
        elif _blank(getattr(primary, field)):
            donor = next((d for d in dups if not _blank(getattr(d, field))), None)
            if donor is not None:
                setattr(primary, field, getattr(donor, field))
    if "name" in picks:
        src = picks["name"]
        primary.first_name, primary.last_name, primary.name = (
            src.first_name,
            src.last_name,
            src.name,
        )
    elif "first_name" in picks or "last_name" in picks:
        if "first_name" in picks:
            primary.first_name = picks["first_name"].first_name
        if "last_name" in picks:
            primary.last_name = picks["last_name"].last_name
        primary.name = " ".join(p for p in (primary.first_name, primary.last_name) if p) or (
            primary.name
        )
    primary.name_key = fold(primary.name)
    primary.last_name_key = fold(primary.last_name)

    email_first = picks["email"].email if "email" in picks else primary.email
    primary.email, primary.emails = _union(
        email_first, [primary.emails or []] + [d.emails or [] for d in dups]
    )
    phone_first = picks["phone"].phone if "phone" in picks else primary.phone
    primary.phone, primary.phones = _union(
        phone_first, [primary.phones or []] + [d.phones or [] for d in dups]
    )
    primary.custom = _merge_custom(primary, dups, picks)
    seen = [r.last_activity_at for r in records.values() if r.last_activity_at is not None]
    primary.last_activity_at = max(seen) if seen else None

    moved = await _finish(session, principal, repo, primary, dups, before)
    out = (await contact_service.to_out(session, principal, [primary]))[0]
    return ContactMergeOut(**out.model_dump(), merged_ids=[d.id for d in dups], moved=moved)


async def merge_companies(
    session: AsyncSession, principal: Principal, data: MergeIn
) -> CompanyMergeOut:
    """Merge duplicate companies into the primary; contacts, leads, deals and activities move."""
    dups_ids = _check_request(data, COMPANY_FIELDS)
    repo = CompanyMergeRepo.from_session(session, principal)
    primary, dups = await _load(repo, data.primary_id, dups_ids)
    records = {r.id: r for r in (primary, *dups)}
    before = {r.id: snapshot(r) for r in records.values()}
    picks = {f: records[src] for f, src in data.fields.items() if src != primary.id}

    for field in sorted(_COMPANY_FILL):
        if field in picks:
            setattr(primary, field, getattr(picks[field], field))
        elif _blank(getattr(primary, field)):
            donor = next((d for d in dups if not _blank(getattr(d, field))), None)
            if donor is not None:
                setattr(primary, field, getattr(donor, field))
    if "name" in picks:
        primary.name = picks["name"].name
    primary.name_key = fold(primary.name)
    primary.custom = _merge_custom(primary, dups, picks)

    moved = await _finish(session, principal, repo, primary, dups, before)
    out = (await company_service.to_out(session, principal, [primary], counts=True))[0]
    return CompanyMergeOut(**out.model_dump(), merged_ids=[d.id for d in dups], moved=moved)
