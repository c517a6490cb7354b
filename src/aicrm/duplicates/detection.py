"""Duplicate detection: exact email or phone, or a fuzzy name within the same company."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.principal import Principal
from aicrm.kit.text import fold
from aicrm.models import Company, Contact

NAME_THRESHOLD = 88


@dataclass(frozen=True)
class Match:
    id: int
    name: str
    reason: str  # email | phone | name+company | name
    score: float


async def contact_duplicates(
    session: AsyncSession,
    principal: Principal,
    *,
    emails: list[str],
    phones: list[str],
    name: str,
    company_id: int | None,
    exclude_id: int | None = None,
) -> list[Match]:
    """Candidates for a contact about to be written; strongest reasons first."""
    org = principal.organization_id
    base = select(
        Contact.id,
        Contact.name,
        Contact.email,
        Contact.phone,
        Contact.emails,
        Contact.phones,
        Contact.company_id,
        Contact.name_key,
    ).where(Contact.organization_id == org, Contact.deleted_at.is_(None))
    if exclude_id:
        base = base.where(Contact.id != exclude_id)
    found: dict[int, Match] = {}
    if emails or phones:
        conds = []
        if emails:
            conds.append(Contact.email.in_(emails))
        if phones:
            conds.append(Contact.phone.in_(phones))
        for row in (await session.execute(base.where(or_(*conds)).limit(20))).all():
            reason = "email" if row.email in emails else "phone"
            found[row.id] = Match(row.id, row.name, reason, 100.0)
    key = fold(name)
    if key and company_id is not None:
        # fuzzy name among the same company's contacts (bounded set, indexed)
        rows = (
            await session.execute(base.where(Contact.company_id == company_id).limit(2000))
        ).all()
        for row in rows:
            if row.id in found:
                continue
            score = fuzz.token_sort_ratio(key, row.name_key)
            if score >= NAME_THRESHOLD:
                found[row.id] = Match(row.id, row.name, "name+company", float(score))
    elif key:
        first = key.split(" ")[0]
        rows = (
            await session.execute(
                base.where(
                    and_(Contact.name_key >= first, Contact.name_key < first + "\U0010ffff")
                ).limit(500)
            )
        ).all()
        for row in rows:
            if row.id in found:
                continue
            score = fuzz.token_sort_ratio(key, row.name_key)
            if score >= 97:
                found[row.id] = Match(row.id, row.name, "name", float(score))
    order = {"email": 0, "phone": 1, "name+company": 2, "name": 3}
    return sorted(found.values(), key=lambda m: (order[m.reason], -m.score, m.id))


async def company_duplicates(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    domain: str | None,
    exclude_id: int | None = None,
) -> list[Match]:
    org = principal.organization_id
    base = select(Company.id, Company.name, Company.domain, Company.name_key).where(
        Company.organization_id == org, Company.deleted_at.is_(None)
    )
    if exclude_id:
        base = base.where(Company.id != exclude_id)
    found: dict[int, Match] = {}
    if domain:
        for row in (await session.execute(base.where(Company.domain == domain).limit(20))).all():
            found[row.id] = Match(row.id, row.name, "domain", 100.0)
    key = fold(name)
    if key:
        first = key[:3]
        rows = (
            await session.execute(
                base.where(
                    and_(Company.name_key >= first, Company.name_key < first + "\U0010ffff")
                ).limit(1000)
            )
        ).all()
        for row in rows:
            if row.id in found:
                continue
            score = fuzz.token_sort_ratio(key, row.name_key)
            if score >= 92:
                found[row.id] = Match(row.id, row.name, "name", float(score))
    return sorted(found.values(), key=lambda m: (m.reason != "domain", -m.score, m.id))
