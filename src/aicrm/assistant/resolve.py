"""Names in commands → records of the caller's organization: indexed candidates, fuzzy scores.

`find(session, principal, "lead", "jon smith")` returns the closest leads, best first;
`one(...)` returns the single record meant, or raises `NotFound` (nothing close) or `Ambiguous`
(several close matches, or only weak ones: the caller asks which one).

Candidates never come from reading a whole table into Python. Leads, deals, contacts and
companies are found by index range scans on folded name keys (`name_key` from the name's start,
`after_first_word(name_key)` from its second word, `last_name_key` for contacts), each branch
capped, all in one UNION ALL statement; a typo is caught by branches that pair one exact word
with the first letter of another. Members, lead statuses, stages and teams are an
organization's short lists and are read whole (by the organization's index). Candidates are
then scored with rapidfuzz:

- 100    the same words (after folding and dropping punctuation);
- 90–99  every typed word is a word of the name ("John" → "John Smith"), more for more of it;
- 85–90  every typed word begins a word of the name ("Sam" → "Samuel Adams");
- ≤ 95%  of rapidfuzz's token_set/token_sort ratio, or of the mean word-by-word ratio,
         otherwise (typos: "Jhon Smith", "Grahm").

A unique exact match wins; otherwise matches within `MARGIN` of the best are "close" and two
close ones are ambiguous (among deals, open ones are meant over closed ones: "the Acme deal");
a best match between `SUGGEST` and `ACCEPT` is only a suggestion (Ambiguous with one option:
"did you mean …?"); below `SUGGEST`, `one` raises NotFound. A leading article and the entity's
own noun are ignored ("the Acme deal" → "acme" for deals); deals are also named by their
company; the won/lost status or stage also answers to "won", "closed won", "lost", "dead".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, Select, and_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.errors import AICRMError, Invalid, NotFound
from aicrm.kit.principal import Principal
from aicrm.kit.text import fold, prefix_upper_bound
from aicrm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    LeadStatus,
    Membership,
    Pipeline,
    PipelineStage,
    Team,
    User,
)
from aicrm.models.name_keys import after_first_word

ENTITY_TYPES = (
    "lead",
    "contact",
    "company",
    "deal",
    "member",
    "lead_status",
    "stage",
    "team",
)
MIN_SCORE = 70.0  # below: not a candidate at all
ACCEPT = 82.0  # `one` takes a lone best match from here up
SUGGEST = 78.0  # `one` offers a weaker best match as "did you mean …?" from here up
MARGIN = 5.0  # matches within this of the best are "close"
CAP = 40  # rows per index branch
MAX_TOKENS = 4

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_ID_REF = re.compile(r"^#?\s*(\d{1,18})$")
_SELF = {"me", "myself", "i", "mine"}


@dataclass
class Match:
    entity_type: str
    id: int
    label: str
    score: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "id": self.id,
            "label": self.label,
            "score": round(self.score, 1),
            "extra": self.extra,
        }


class Ambiguous(AICRMError):
    """Several records match a name closely (or only weakly): the caller should ask which."""

    status = 409
    title = "Ambiguous reference"

    def __init__(self, entity_type: str, ref: str | int, matches: list[Match]) -> None:
        self.entity_type = entity_type
        self.ref = ref
        self.matches = matches
        noun = _NOUN.get(entity_type, entity_type)
        if len(matches) == 1:
            msg = f"No {noun} is called {ref!r}; did you mean {matches[0].label}?"
        else:
            labels = "; ".join(m.label for m in matches)
            msg = f"{len(matches)} {_PLURAL.get(noun, noun + 's')} match {ref!r}: {labels}"
        super().__init__(msg, matches=[m.to_dict() for m in matches])


_NOUN = {"lead_status": "lead status", "stage": "deal stage"}
_PLURAL = {"company": "companies", "lead status": "lead statuses"}
_ASCII = str.maketrans({"ø": "o", "æ": "ae", "å": "a", "ß": "ss", "ł": "l", "đ": "d", "œ": "oe"})


# -- scoring ---------------------------------------------------------------------------------


def norm(text: str | None) -> str:
    """Folded, punctuation as spaces, squeezed: what scores compare."""
    return " ".join(_NON_WORD.sub(" ", fold(text).translate(_ASCII)).replace("_", " ").split())


def score(query: str, name: str) -> float:
    """How well normalised `query` names normalised `name` (0–100); see the module doc."""
    if not query or not name:
        return 0.0
    if query == name:
        return 100.0
    q_words, n_words = query.split(), name.split()
    coverage = min(1.0, len(query.replace(" ", "")) / max(1, len(name.replace(" ", ""))))
    remaining = list(n_words)
    subset = True
    for w in q_words:
        if w in remaining:
            remaining.remove(w)
        else:
            subset = False
            break
    if subset:
        return 90.0 + 9.0 * coverage
    remaining = list(n_words)
    prefixes = True
    for w in q_words:
        hit = next((n for n in remaining if len(w) >= 3 and n.startswith(w)), None)
        if hit is None:
            prefixes = False
            break
        remaining.remove(hit)
    if prefixes:
        return 85.0 + 5.0 * coverage
    # word by word: each typed word against its closest word of the name ("grahm" ~ "graham");
    # a typed word with no counterpart counts 0
    remaining = list(n_words)
    total = 0.0
    all_found = True
    for w in q_words:
        if not remaining:
            all_found = False
            continue
        best_w = max(remaining, key=lambda n: fuzz.ratio(w, n))
        r = fuzz.ratio(w, best_w)
        if r < 75:
            all_found = False
        total += r
        remaining.remove(best_w)
    whole = fuzz.token_sort_ratio(query, name)
    if all_found:
        whole = max(whole, fuzz.token_set_ratio(query, name))
    return 0.95 * max(whole, total / len(q_words))


def _ranked(query: str, named: list[tuple[Any, list[str]]]) -> list[tuple[float, Any]]:
    """(score, item) best first for items each with one or more names; below MIN dropped."""
    out = []
    for item, names in named:
        s = max((score(query, norm(n)) for n in names if n), default=0.0)
        if s >= MIN_SCORE:
            out.append((s, item))
    out.sort(key=lambda p: -p[0])
    return out


# -- candidates by index ---------------------------------------------------------------------


def _prefix(col: Any, key: str) -> ColumnElement[bool]:
    return and_(col >= key, col < prefix_upper_bound(key))


def _branch(
    model: Any, org_id: int, live: list[ColumnElement[bool]], order: Any, *where: Any
) -> Select[Any]:
    sub = (
        select(model.id)
        .where(model.organization_id == org_id, *live, *where)
        .order_by(order)
        .limit(CAP)
        .subquery()
    )
    return select(sub.c.id)


def _words(key: str) -> list[str]:
    seen: list[str] = []
    for w in key.split():
        w = w.strip(".,;:!?'\"()[]")
        if len(w) >= 2 and w not in seen:
            seen.append(w)
    return seen[:MAX_TOKENS]


def _candidate_ids(
    model: Any,
    org_id: int,
    key: str,
    first_col: Any,
    later_col: Any,
    live: list[ColumnElement[bool]],
) -> Select[Any] | None:
    """UNION ALL of capped index range scans that can hold the record `key` names."""
    words = _words(key)
    if not key:
        return None
    branches = [_branch(model, org_id, live, first_col, _prefix(first_col, key))]
    for w in words:
        branches.append(_branch(model, org_id, live, first_col, _prefix(first_col, w)))
        branches.append(_branch(model, org_id, live, later_col, _prefix(later_col, w)))
    if len(words) == 1 and len(words[0]) >= 5:
        # one word with a typo after its third letter ("Grahm")
        stem = words[0][:3]
        branches.append(_branch(model, org_id, live, first_col, _prefix(first_col, stem)))
        branches.append(_branch(model, org_id, live, later_col, _prefix(later_col, stem)))
    # one typo: a word exact, another only by its first letter
    if len(words) >= 2:
        a, b = words[0], words[-1]
        branches.append(
            _branch(
                model, org_id, live, later_col, _prefix(later_col, b), _prefix(first_col, a[:1])
            )
        )
        branches.append(
            _branch(
                model, org_id, live, first_col, _prefix(first_col, a), _prefix(later_col, b[:1])
            )
        )
    return union_all(*branches)


async def _ids(session: AsyncSession, stmt: Select[Any] | None) -> list[int]:
    if stmt is None:
        return []
    return list(dict.fromkeys((await session.execute(stmt)).scalars()))


def _money(v: Any) -> str:
    try:
        return f"${float(v or 0):,.0f}"
    except (TypeError, ValueError):
        return str(v)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    return float(v) if isinstance(v, Decimal | int | float) else None


# -- per entity ------------------------------------------------------------------------------


async def _leads(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    if ids is None:
        if "@" in key:
            stmt = select(Lead.id).where(Lead.organization_id == org_id, Lead.email == key)
            ids = await _ids(session, stmt)
        else:
            ids = await _ids(
                session,
                _candidate_ids(
                    Lead, org_id, key, Lead.name_key, after_first_word(Lead.name_key), []
                ),
            )
    if not ids:
        return []
    rows = await session.execute(
        select(
            Lead.id, Lead.name, Lead.company, Lead.email, Lead.value, LeadStatus.name.label("st")
        )
        .join(LeadStatus, LeadStatus.id == Lead.status_id)
        .where(Lead.organization_id == org_id, Lead.id.in_(ids))
    )
    out = []
    for r in rows:
        label = f"{r.name} ({r.company})" if r.company else r.name
        extra = {"company": r.company, "email": r.email, "status": r.st, "value": _num(r.value)}
        names = [r.email] if "@" in key else [r.name]
        out.append(((r.id, label, extra), names))
    return out


async def _contacts(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    live = [Contact.deleted_at.is_(None)]
    if ids is None:
        if "@" in key:
            stmt = select(Contact.id).where(
                Contact.organization_id == org_id, Contact.email == key, *live
            )
            ids = await _ids(session, stmt)
        else:
            ids = await _ids(
                session,
                _candidate_ids(Contact, org_id, key, Contact.name_key, Contact.last_name_key, live),
            )
    if not ids:
        return []
    rows = await session.execute(
        select(Contact.id, Contact.name, Contact.email, Contact.title, Company.name.label("co"))
        .outerjoin(Company, Company.id == Contact.company_id)
        .where(Contact.organization_id == org_id, Contact.id.in_(ids), *live)
    )
    out = []
    for r in rows:
        label = f"{r.name} ({r.co})" if r.co else r.name
        extra = {"company": r.co, "email": r.email, "title": r.title}
        names = [r.email] if "@" in key else [r.name]
        out.append(((r.id, label, extra), names))
    return out


async def _company_ids(session: AsyncSession, org_id: int, key: str) -> list[int]:
    live = [Company.deleted_at.is_(None)]
    return await _ids(
        session,
        _candidate_ids(
            Company, org_id, key, Company.name_key, after_first_word(Company.name_key), live
        ),
    )


async def _companies(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    if ids is None:
        ids = await _company_ids(session, org_id, key)
    if not ids:
        return []
    rows = await session.execute(
        select(Company.id, Company.name, Company.domain, Company.city).where(
            Company.organization_id == org_id, Company.id.in_(ids), Company.deleted_at.is_(None)
        )
    )
    return [
        ((r.id, r.name, {"domain": r.domain, "city": r.city}), [r.name, r.domain or ""])
        for r in rows
    ]


async def _deals(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    if ids is None:
        ids = await _ids(
            session,
            _candidate_ids(Deal, org_id, key, Deal.name_key, after_first_word(Deal.name_key), []),
        )
        # "the Acme deal": the deals of the companies the words name
        company_ids = await _company_ids(session, org_id, key)
        if company_ids:
            scored = _ranked(norm(key), await _companies(session, org_id, key, company_ids))
            best = [item[0] for s, item in scored if s >= ACCEPT][:5]
            if best:
                stmt = (
                    select(Deal.id)
                    .where(Deal.organization_id == org_id, Deal.company_id.in_(best))
                    .order_by(Deal.id.desc())
                    .limit(CAP)
                )
                ids = list(dict.fromkeys(ids + await _ids(session, stmt)))
    if not ids:
        return []
    rows = await session.execute(
        select(
            Deal.id,
            Deal.name,
            Deal.amount,
            Deal.status,
            PipelineStage.name.label("stage"),
            Company.name.label("co"),
        )
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .outerjoin(Company, Company.id == Deal.company_id)
        .where(Deal.organization_id == org_id, Deal.id.in_(ids))
    )
    out = []
    for r in rows:
        label = f"{r.name} ({r.stage}, {_money(r.amount)})"
        extra = {
            "company": r.co,
            "stage": r.stage,
            "status": r.status,
            "amount": _num(r.amount),
        }
        # a deal is also named by its company: "Acme" for "Acme Corp — Renewal"
        names = [r.name] + ([r.co] if r.co else [])
        out.append(((r.id, label, extra), names))
    return out


async def _members(
    session: AsyncSession, principal: Principal, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    stmt = (
        select(User.id, User.full_name, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == principal.organization_id)
    )
    if ids is not None:
        stmt = stmt.where(User.id.in_(ids))
    out = []
    for r in await session.execute(stmt):
        label = r.full_name or r.email
        extra = {"email": r.email, "role": r.role}
        local = r.email.split("@", 1)[0].replace(".", " ")
        out.append(((r.id, label, extra), [r.full_name, r.email, local]))
    return out


_WON_WORDS = {"won", "win", "closed won", "closed-won", "close won", "closed and won"}
_LOST_WORDS = {
    "lost",
    "lose",
    "closed lost",
    "closed-lost",
    "close lost",
    "dead",
    "closed and lost",
}


async def _lead_statuses(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    stmt = select(LeadStatus).where(LeadStatus.organization_id == org_id)
    if ids is not None:
        stmt = stmt.where(LeadStatus.id.in_(ids))
    rows = list((await session.execute(stmt.order_by(LeadStatus.position))).scalars())
    return _flagged(rows, lambda r: {"is_won": r.is_won, "is_lost": r.is_lost})


def _flagged(rows: list[Any], extra: Any) -> list[tuple[Any, list[str]]]:
    """Statuses/stages: the won (lost) one is also called "won", "closed won" (…)."""
    out = []
    for r in rows:
        names = [r.name]
        if r.is_won:
            names += sorted(_WON_WORDS)
        if r.is_lost:
            names += sorted(_LOST_WORDS)
        out.append(((r.id, r.name, extra(r)), names))
    return out


async def _stages(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> tuple[list[tuple[Any, list[str]]], str]:
    """Stages of the default pipeline, or of the one named in "pipeline/stage"."""
    pipelines = list(
        (
            await session.execute(
                select(Pipeline).where(Pipeline.organization_id == org_id).order_by(Pipeline.id)
            )
        ).scalars()
    )
    stmt = select(PipelineStage).where(PipelineStage.organization_id == org_id)
    if ids is not None:
        stmt = stmt.where(PipelineStage.id.in_(ids))
    elif "/" in key:
        pname, key = (p.strip() for p in key.split("/", 1))
        ranked = _ranked(norm(pname), [(p, [p.name]) for p in pipelines])
        if not ranked:
            return [], key
        stmt = stmt.where(PipelineStage.pipeline_id == ranked[0][1].id)
    else:
        default = next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None)
        if default is None:
            return [], key
        stmt = stmt.where(PipelineStage.pipeline_id == default.id)
    names = {p.id: p.name for p in pipelines}
    rows = list(
        (await session.execute(stmt.order_by(PipelineStage.pipeline_id, PipelineStage.position)))
        .scalars()
        .all()
    )
    return (
        _flagged(
            rows,
            lambda r: {
                "pipeline": names.get(r.pipeline_id),
                "pipeline_id": r.pipeline_id,
                "is_won": r.is_won,
                "is_lost": r.is_lost,
                "probability": r.probability,
            },
        ),
        key,
    )


async def _teams(
    session: AsyncSession, org_id: int, key: str, ids: list[int] | None = None
) -> list[tuple[Any, list[str]]]:
    stmt = select(Team).where(Team.organization_id == org_id)
    if ids is not None:
        stmt = stmt.where(Team.id.in_(ids))
    rows = (await session.execute(stmt)).scalars()
    return [((r.id, r.name, {"kind": r.kind}), [r.name, f"{r.name} team"]) for r in rows]


async def _named(
    session: AsyncSession,
    principal: Principal,
    entity_type: str,
    key: str,
    ids: list[int] | None = None,
) -> tuple[list[tuple[Any, list[str]]], str]:
    org = principal.organization_id
    if entity_type == "lead":
        return await _leads(session, org, key, ids), key
    if entity_type == "contact":
        return await _contacts(session, org, key, ids), key
    if entity_type == "company":
        return await _companies(session, org, key, ids), key
    if entity_type == "deal":
        return await _deals(session, org, key, ids), key
    if entity_type == "member":
        return await _members(session, principal, key, ids), key
    if entity_type == "lead_status":
        return await _lead_statuses(session, org, key, ids), key
    if entity_type == "stage":
        return await _stages(session, org, key, ids)
    if entity_type == "team":
        return await _teams(session, org, key, ids), key
    raise Invalid(
        f"cannot look up {entity_type!r}; one of {', '.join(ENTITY_TYPES)}", field="entity"
    )


def _id_of(ref: int | str) -> int | None:
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    m = _ID_REF.match(str(ref).strip())
    return int(m.group(1)) if m else None


_NOUNS = {
    "lead": ("lead", "prospect"),
    "contact": ("contact", "customer", "person"),
    "company": ("company", "account", "organization", "organisation"),
    "deal": ("deal", "opportunity", "opp"),
    "team": ("team",),
    "stage": ("stage",),
    "lead_status": ("status", "column"),
}


def _bare(key: str, entity_type: str) -> str:
    """ "the Acme deal" → "acme": a leading article and the entity's own noun at either end."""
    words = key.split()
    nouns = _NOUNS.get(entity_type, ())
    if len(words) > 1 and words[0] in ("the", "a", "an"):
        words = words[1:]
    if len(words) > 1 and words[-1] in nouns:
        words = words[:-1]
    if len(words) > 1 and words[0] in nouns:
        words = words[1:]
    return " ".join(words)


# -- the interface -------------------------------------------------------------------------


async def find(
    session: AsyncSession,
    principal: Principal,
    entity_type: str,
    ref: int | str,
    *,
    limit: int = 5,
) -> list[Match]:
    """The records of `entity_type` that `ref` (an id, "#42", or a name) may mean, best first;
    [] when nothing is close."""
    if entity_type not in ENTITY_TYPES:
        raise Invalid(
            f"cannot look up {entity_type!r}; one of {', '.join(ENTITY_TYPES)}", field="entity"
        )
    ident = _id_of(ref)
    if ident is not None:
        if ident <= 0 or ident > 2**63 - 1:
            return []
        named, _ = await _named(session, principal, entity_type, "", [ident])
        return [Match(entity_type, i, label, 100.0, extra) for (i, label, extra), _n in named]
    text = str(ref).strip()
    if entity_type == "member" and text.lower() in _SELF and principal.user_id is not None:
        named, _ = await _named(session, principal, entity_type, "", [principal.user_id])
        return [Match(entity_type, i, label, 100.0, extra) for (i, label, extra), _n in named]
    key = _bare(fold(text), entity_type)
    if not key:
        return []
    named, key = await _named(session, principal, entity_type, key)
    ranked = _ranked(norm(key), named)
    return [Match(entity_type, i, label, s, extra) for s, (i, label, extra) in ranked[:limit]]


def _open_deals(close: list[Match]) -> list[Match]:
    """ "the Acme deal": among close matches, the open deals are meant over closed ones."""
    if len(close) > 1 and close[0].entity_type == "deal":
        open_ = [m for m in close if m.extra.get("status") == "open"]
        if open_:
            return open_
    return close


def pick(matches: list[Match]) -> Match | list[Match]:
    """The one match meant, or the close matches to ask about."""
    matches = [m for m in matches if m.score >= SUGGEST]
    if not matches:
        return []
    exact = [m for m in matches if m.score >= 100.0]
    if len(exact) > 1:
        exact = _open_deals(exact)
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        return exact
    best = matches[0]
    close = _open_deals([m for m in matches if m.score >= best.score - MARGIN])
    if len(close) == 1 and best.score >= ACCEPT:
        return close[0]
    return close


async def one(
    session: AsyncSession, principal: Principal, entity_type: str, ref: int | str
) -> Match:
    """The single record `ref` means: NotFound when nothing is close, Ambiguous when several
    are (or only a weak match exists: the question is "did you mean …?")."""
    matches = await find(session, principal, entity_type, ref)
    chosen = pick(matches)
    if isinstance(chosen, Match):
        return chosen
    if not chosen:
        noun = _NOUN.get(entity_type, entity_type)
        raise NotFound(f"No {noun} matches {str(ref)!r}")
    raise Ambiguous(entity_type, ref, chosen)
