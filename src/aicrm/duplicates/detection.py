"""Duplicate detection: exact email or phone, or a fuzzy name within the same company."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rapidfuzz import fuzz, process
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


# -- organization-wide scans -----------------------------------------------------------------

# A block up to this size is compared pair by pair (≤ 45k comparisons in C); bigger blocks use
# a sorted neighbourhood so one huge company cannot make the scan quadratic.
FULL_BLOCK = 300
WINDOW = 20


_PUNCT = re.compile(r"[^\w\s]+")
# legal forms say nothing about which company it is: "Initech" and "Initech, Inc." are one
LEGAL_FORMS = frozenset(
    "inc incorporated llc ltd limited co corp corporation company gmbh ag sa sas sarl bv nv "
    "plc pty srl spa oy ab as kg".split()
)


def token_key(name_key: str, *, drop: frozenset[str] = frozenset()) -> str:
    """Punctuation-free tokens in sorted order, so plain `ratio` on two keys behaves like
    `token_sort_ratio` on the names."""
    tokens = [t for t in _PUNCT.sub("", name_key).split() if t not in drop]
    return " ".join(sorted(tokens))


def _pairs_full(keys: list[str], threshold: float) -> Iterator[tuple[int, int, float]]:
    for i in range(len(keys) - 1):
        for _choice, score, j in process.extract(
            keys[i], keys[i + 1 :], scorer=fuzz.ratio, score_cutoff=threshold, limit=None
        ):
            yield i, i + 1 + j, score


def _pairs_window(
    keys: list[str], threshold: float, window: int
) -> Iterator[tuple[int, int, float]]:
    # two orders: sorted tokens catch differences at the end of a name, the reversed string
    # catches those at its start
    for order_key in (keys, [k[::-1] for k in keys]):
        order = sorted(range(len(keys)), key=order_key.__getitem__)
        for pos in range(len(order) - 1):
            i = order[pos]
            near = order[pos + 1 : pos + 1 + window]
            for _choice, score, j in process.extract(
                keys[i],
                [keys[n] for n in near],
                scorer=fuzz.ratio,
                score_cutoff=threshold,
                limit=None,
            ):
                yield i, near[j], score


def name_clusters(
    items: list[tuple[int, str]],
    threshold: float,
    *,
    window: int = WINDOW,
    drop: frozenset[str] = frozenset(),
) -> list[tuple[list[int], float]]:
    """Clusters of ids whose folded names are at least `threshold` alike (transitively), each
    with its weakest link's score; a blocked comparison, never all pairs of a large input.
    Tokens in `drop` are ignored."""
    if len(items) < 2:
        return []
    keys = [token_key(name, drop=drop) or name for _, name in items]
    pairs = (
        _pairs_full(keys, threshold)
        if len(keys) <= FULL_BLOCK
        else _pairs_window(keys, threshold, window)
    )
    parent = list(range(len(keys)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    weakest: dict[int, float] = {}
    for a, b, score in pairs:
        ra, rb = find(a), find(b)
        low = min(score, weakest.get(ra, 100.0), weakest.get(rb, 100.0))
        if ra != rb:
            parent[rb] = ra
            weakest.pop(rb, None)
        weakest[ra] = low
    members: dict[int, list[int]] = {}
    for idx in range(len(keys)):
        members.setdefault(find(idx), []).append(items[idx][0])
    return [
        (sorted(ids), round(weakest.get(root, 100.0), 1))
        for root, ids in members.items()
        if len(ids) > 1
    ]
