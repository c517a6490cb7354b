"""Demo data for `aicrm seed-demo`: two organizations that look lived-in.

Everything is drawn from `random.Random(seed)` in a fixed order and never from database ids, so
the same seed gives the same content on SQLite and PostgreSQL; dates are offsets from today at
00:00 UTC so the data always looks recent. Rows are written through the ORM models, one
transaction per organization."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import seed_data as words
from aicrm.audit import service as audit
from aicrm.auth.security import hash_password
from aicrm.db import Database
from aicrm.kit.text import fold, normalize_phone
from aicrm.models import (
    Activity,
    Company,
    Contact,
    Deal,
    Lead,
    LeadStatus,
    Membership,
    Organization,
    Pipeline,
    PipelineStage,
    Tag,
    Tagging,
    Task,
    TaskComment,
    TaskDependency,
    Team,
    TeamMember,
    User,
)
from aicrm.models.base import Base
from aicrm.orgs import service as org_service

DEMO_PASSWORD = "demo-password"
DEMO_LOGIN = {"email": "admin@demo.example", "password": DEMO_PASSWORD}

T = TypeVar("T")


@dataclass(frozen=True)
class Staff:
    full_name: str
    email: str
    role: str  # owner | admin | manager | agent | viewer
    team: str | None = None
    is_manager: bool = False
    skills: tuple[str, ...] = ()
    capacity: int = 10
    timezone: str = "America/New_York"


@dataclass(frozen=True)
class TeamSpec:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class OrgSpec:
    name: str
    staff: tuple[Staff, ...]
    teams: tuple[TeamSpec, ...]
    companies: int
    contacts: int
    leads: int
    deals: int
    activities: int
    tasks: int
    comments: int
    tags: tuple[tuple[str, str], ...]
    onboarding_chains: int = 0
    demo_chains: int = 0


# full name, email, role, team, team manager, skills, capacity (open items), time zone
_NORTHWIND_STAFF = (
    ("Alex Admin", "admin@demo.example", "owner", None, False, (), 10, "America/New_York"),
    ("Sam Carter", "sam.carter@demo.example", "manager", "Sales", True, ("enterprise", "negotiation"), 15, "America/New_York"),
    ("Priya Nair", "priya.nair@demo.example", "agent", "Sales", False, ("enterprise", "integrations"), 20, "America/Los_Angeles"),
    ("Diego Morales", "diego.morales@demo.example", "agent", "Sales", False, ("smb", "spanish"), 25, "America/Mexico_City"),
    ("Hannah Schultz", "hannah.schultz@demo.example", "agent", "Sales", False, ("smb", "german", "events"), 25, "Europe/Berlin"),
    ("Marcus Reid", "marcus.reid@demo.example", "agent", "Sales", False, ("enterprise", "renewals"), 20, "America/Chicago"),
    ("Grace Liu", "grace.liu@demo.example", "admin", "Support", True, ("billing", "enterprise"), 12, "America/New_York"),
    ("Omar Haddad", "omar.haddad@demo.example", "agent", "Support", False, ("billing", "smb"), 30, "Europe/London"),
    ("Lucía Romero", "lucia.romero@demo.example", "agent", "Support", False, ("spanish", "smb", "onboarding"), 30, "Europe/Madrid"),
    ("Ken Watanabe", "ken.watanabe@demo.example", "manager", "Technical", True, ("integrations", "api", "sso"), 10, "America/Los_Angeles"),
    ("Nadia Petrova", "nadia.petrova@demo.example", "agent", "Technical", False, ("integrations", "data-migration"), 15, "Europe/Berlin"),
    ("Victor Lang", "victor.lang@demo.example", "viewer", None, False, (), 10, "America/New_York"),
)  # fmt: skip
_GLOBEX_STAFF = (
    ("Olivia Owens", "owner@globex.example", "owner", "Sales", True, ("enterprise",), 10, "America/New_York"),
    ("Raj Malhotra", "raj.malhotra@globex.example", "agent", "Sales", False, ("smb",), 20, "Asia/Kolkata"),
    ("Emma Lindgren", "emma.lindgren@globex.example", "agent", "Support", False, ("billing",), 25, "Europe/Stockholm"),
)  # fmt: skip

NORTHWIND = OrgSpec(
    name="Northwind Demo",
    staff=tuple(Staff(*row) for row in _NORTHWIND_STAFF),
    teams=(
        TeamSpec("Sales", "sales", "New business and expansion."),
        TeamSpec("Support", "support", "Customer questions, billing and escalations."),
        TeamSpec("Technical", "technical", "Integrations, SSO and data migrations."),
    ),
    companies=120,
    contacts=500,
    leads=150,
    deals=80,
    activities=1500,
    tasks=60,
    comments=16,
    tags=(
        ("vip", "#f59e0b"),
        ("newsletter", "#3b82f6"),
        ("partner", "#10b981"),
        ("decision-maker", "#8b5cf6"),
        ("at-risk", "#ef4444"),
        ("hot", "#f97316"),
        ("webinar", "#06b6d4"),
        ("expansion", "#84cc16"),
    ),
    onboarding_chains=4,
    demo_chains=4,
)

GLOBEX = OrgSpec(
    name="Globex Demo",
    staff=tuple(Staff(*row) for row in _GLOBEX_STAFF),
    teams=(
        TeamSpec("Sales", "sales", "Everything that sells."),
        TeamSpec("Support", "support", "Everything that breaks."),
    ),
    companies=10,
    contacts=40,
    leads=10,
    deals=6,
    activities=80,
    tasks=6,
    comments=2,
    tags=(("vip", "#f59e0b"), ("newsletter", "#3b82f6")),
    demo_chains=1,
)

LEAD_STATUS_WEIGHTS = {
    "New": 35,
    "Contacted": 30,
    "Qualified": 28,
    "Proposal": 20,
    "Won": 20,
    "Lost": 17,
}
STAGE_WEIGHTS = {
    "Prospecting": 12,
    "Qualification": 12,
    "Proposal": 11,
    "Negotiation": 9,
    "Closed Won": 22,
    "Closed Lost": 14,
}
# (days ago the lead was created: min, max) by status
LEAD_AGE = {
    "New": (1, 14),
    "Contacted": (3, 30),
    "Qualified": (7, 60),
    "Proposal": (14, 90),
    "Won": (30, 170),
    "Lost": (30, 170),
}
LEAD_ACTIVITY_WEIGHT = {
    "New": 0.3,
    "Contacted": 1.5,
    "Qualified": 2.0,
    "Proposal": 2.5,
    "Won": 2.5,
    "Lost": 1.5,
}
SOURCES = ("website", "referral", "event", "cold_call", "partner", "ads")
SOURCE_WEIGHTS = (30, 18, 14, 12, 10, 16)
CONTACT_STATUSES = ("lead", "prospect", "customer", "churned")
CONTACT_STATUS_WEIGHTS = (20, 25, 45, 10)
CHANNELS = ("email", "phone", "sms", "chat", "whatsapp")
CHANNEL_WEIGHTS = (55, 20, 8, 10, 7)
ACTIVITY_TYPES = ("note", "call", "email", "meeting")
ACTIVITY_TYPE_WEIGHTS = (20, 30, 35, 15)
TASK_CATEGORY_TEAM = {
    "follow-up": "Sales",
    "demo": "Sales",
    "onboarding": "Technical",
    "bug": "Technical",
    "billing": "Support",
}
TASK_PRIORITIES = ("low", "medium", "high", "urgent")
TASK_PRIORITY_WEIGHTS = (25, 40, 25, 10)
DEMO_CHAIN = ("Prepare demo environment for {company}", "Run product demo for {company}")
ONBOARDING_CHAIN = (
    "Kickoff call with {company}",
    "Import contacts for {company}",
    "Configure SSO for {company}",
    "Train the {company} team on the inbox",
)
_ASCII = str.maketrans({"ø": "o", "æ": "ae", "å": "a", "ß": "ss", "ł": "l", "đ": "d"})


def _today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", fold(text).translate(_ASCII))


def _spread(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` by weights (largest remainder), at least one each when total allows."""
    n = len(weights)
    base = [1] * n if total >= n else [0] * n
    left = total - sum(base)
    scale = sum(weights)
    shares = [left * w / scale for w in weights]
    counts = [b + int(s) for b, s in zip(base, shares, strict=True)]
    order = sorted(range(n), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


@dataclass
class _Person:
    contact: Contact
    company: Company | None


@dataclass
class _Ctx:
    """What one organization's build needs to share between its steps."""

    session: AsyncSession
    rng: random.Random
    today: datetime
    spec: OrgSpec
    password_hash: str
    org: Organization | None = None
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    team_users: dict[str, list[User]] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    taggings: list[tuple[str, str, Base]] = field(default_factory=list)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    companies: list[Company] = field(default_factory=list)
    company_contacts: dict[int, list[Contact]] = field(default_factory=dict)
    contacts: list[_Person] = field(default_factory=list)
    leads: list[tuple[Lead, str]] = field(default_factory=list)
    deals: list[tuple[Deal, str]] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    dependencies: list[TaskDependency] = field(default_factory=list)
    comments: list[TaskComment] = field(default_factory=list)
    city_of: dict[int, tuple[str, str, str, str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def org_id(self) -> int:
        assert self.org is not None
        return self.org.id

    def at(self, days_ago: float, *, hour_from: int = 8, hour_to: int = 18) -> datetime:
        """A working-hours moment `days_ago` days before today."""
        day = self.today - timedelta(days=int(days_ago))
        return day + timedelta(
            hours=self.rng.randint(hour_from, hour_to - 1), minutes=self.rng.randrange(60)
        )

    def between(self, start: datetime, end: datetime) -> datetime:
        if end <= start:
            return start
        span = (end - start).total_seconds()
        return start + timedelta(seconds=int(self.rng.random() * span))

    def workday_between(self, start: datetime, end: datetime) -> datetime:
        """A moment in working hours (mostly on weekdays) between start and end."""
        if end <= start:
            return start
        first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        days = (end - first_day).days
        for _ in range(8):
            moment = first_day + timedelta(
                days=self.rng.randint(0, days),
                hours=self.rng.randint(8, 17),
                minutes=self.rng.randrange(60),
                seconds=self.rng.randrange(60),
            )
            if moment.weekday() >= 5 and self.rng.random() < 0.85:
                continue
            if start <= moment <= end:
                return moment
        return self.between(start, end)

    def phone(self, country: str, templates: Sequence[str]) -> str:
        """A unique, valid number from the city's templates, in E.164."""
        for _ in range(500):
            tpl = self.rng.choice(templates)
            raw = "".join(str(self.rng.randrange(10)) if ch == "X" else ch for ch in tpl)
            e164 = normalize_phone(raw, region=country)
            assert e164 is not None
            if e164 not in self.phones and phonenumbers.is_valid_number(phonenumbers.parse(e164)):
                self.phones.add(e164)
                return e164
        raise RuntimeError(f"no free demo phone number left for {templates}")

    def email(self, local: str, domain: str) -> str:
        candidate = f"{local}@{domain}"
        n = 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def sales(self) -> list[User]:
        return self.team_users.get("Sales") or list(self.users.values())

    def tag(self, name: str, obj: Base, entity_type: str) -> None:
        if name in self.tags:
            self.taggings.append((name, entity_type, obj))

    async def add(self, rows: Sequence[Base]) -> None:
        self.session.add_all(rows)
        await self.session.flush()


def _pick(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


def _postal_code(rng: random.Random, country: str) -> str:
    def digits(n: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(n))

    def letter() -> str:
        return rng.choice("ABCDEFGHJKLMNPRSTUVWXY")

    if country == "CA":
        return f"{letter()}{digits(1)}{letter()} {digits(1)}{letter()}{digits(1)}"
    if country == "GB":
        return f"{letter()}{letter()}{digits(1)} {digits(1)}{letter()}{letter()}"
    if country == "NL":
        return f"{rng.randint(1000, 1109)} {letter()}{letter()}"
    if country == "IE":
        return f"D{rng.randint(1, 24):02d} {letter()}{digits(3)}"
    if country == "AU":
        return digits(4)
    return digits(5)


# -- steps ---------------------------------------------------------------------------------


async def _people(ctx: _Ctx, extra_members: Sequence[tuple[User, str]]) -> None:
    """Staff users, the organization (with its default pipelines), memberships, teams, tags."""
    spec = ctx.spec
    owner_spec = next(s for s in spec.staff if s.role == "owner")
    for s in spec.staff:
        ctx.users[s.email] = User(
            email=s.email,
            full_name=s.full_name,
            password_hash=ctx.password_hash,
            timezone=s.timezone,
            created_at=ctx.at(ctx.rng.randint(200, 400)),
        )
    await ctx.add(list(ctx.users.values()))
    ctx.org = await org_service.create_organization(
        ctx.session, name=spec.name, owner=ctx.users[owner_spec.email]
    )
    for u in ctx.users.values():
        u.active_organization_id = ctx.org.id
    members: list[Base] = [
        Membership(organization_id=ctx.org.id, user_id=ctx.users[s.email].id, role=s.role)
        for s in spec.staff
        if s.role != "owner"
    ]
    members += [
        Membership(organization_id=ctx.org.id, user_id=u.id, role=role) for u, role in extra_members
    ]
    teams = [
        Team(organization_id=ctx.org.id, name=t.name, kind=t.kind, description=t.description)
        for t in spec.teams
    ]
    await ctx.add(members + teams)
    ctx.teams = {t.name: t for t in teams}
    team_members = []
    for s in spec.staff:
        if s.team is None:
            continue
        user = ctx.users[s.email]
        ctx.team_users.setdefault(s.team, []).append(user)
        team_members.append(
            TeamMember(
                organization_id=ctx.org.id,
                team_id=ctx.teams[s.team].id,
                user_id=user.id,
                skills=list(s.skills),
                capacity=s.capacity,
                is_manager=s.is_manager,
            )
        )
    tags = [Tag(organization_id=ctx.org.id, name=n, color=c) for n, c in spec.tags]
    await ctx.add(team_members + tags)
    ctx.tags = {t.name: t for t in tags}


async def _companies(ctx: _Ctx) -> None:
    rng = ctx.rng
    industries = sorted(words.COMPANY_SECOND)
    seen: set[str] = set()
    sizes = words.COMPANY_SIZES
    sales = ctx.sales()
    rows = []
    while len(rows) < ctx.spec.companies:
        industry = rng.choice(industries)
        name = f"{rng.choice(words.COMPANY_FIRST)} {rng.choice(words.COMPANY_SECOND[industry])}"
        if name in seen:
            continue
        seen.add(name)
        label, lo, hi = _pick(rng, sizes, (20, 30, 25, 15, 10))
        city = rng.choice(words.CITIES)
        cname, region, country, _tz, templates = city
        domain = re.sub(r"[^a-z0-9]+", "-", fold(name).translate(_ASCII)).strip("-") + ".example"
        company = Company(
            organization_id=ctx.org_id,
            name=name,
            name_key=fold(name),
            domain=domain,
            website=f"https://www.{domain}",
            industry=industry,
            size=label,
            annual_revenue=_money(round(rng.uniform(lo, hi), -3)),
            phone=ctx.phone(country, templates),
            street=f"{rng.randint(1, 980)} {rng.choice(words.STREETS)}",
            city=cname,
            region=region,
            postal_code=_postal_code(rng, country),
            country=country,
            description=f"{industry} company ({label} employees) based in {cname}.",
            owner_id=rng.choice(sales).id,
            custom={},
            created_at=ctx.at(rng.randint(200, 900)),
        )
        company.updated_at = company.created_at
        rows.append(company)
    await ctx.add(rows)
    ctx.companies = rows
    for c in rows:
        ctx.city_of[c.id] = next(x for x in words.CITIES if x[0] == c.city)
    for c in rng.sample(rows, k=max(1, len(rows) // 12)):
        ctx.tag("partner", c, "company")
    big = [c for c in rows if c.size in ("201-1000", "1000+")]
    for c in rng.sample(big, k=min(len(big), max(1, len(rows) // 15))):
        ctx.tag("vip", c, "company")


async def _contacts(ctx: _Ctx) -> None:
    rng = ctx.rng
    n_companies = len(ctx.companies)
    per_company = [1] * n_companies
    size_weight = {"1-10": 1, "11-50": 2, "51-200": 3, "201-1000": 4, "1000+": 5}
    weights = [size_weight.get(c.size or "", 1) for c in ctx.companies]
    for i in rng.choices(range(n_companies), weights=weights, k=ctx.spec.contacts - n_companies):
        per_company[i] += 1
    partners = {id(obj) for name, _t, obj in ctx.taggings if name == "partner"}
    rows: list[Contact] = []
    for company, count in zip(ctx.companies, per_company, strict=True):
        company_status = _pick(rng, CONTACT_STATUSES, CONTACT_STATUS_WEIGHTS)
        used_names: set[str] = set()
        home = ctx.city_of[company.id]
        for _ in range(count):
            first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            while f"{first} {last}" in used_names:
                first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            used_names.add(f"{first} {last}")
            local = _pick(
                rng,
                (f"{_slug(first)}.{_slug(last)}", f"{_slug(first)[0]}{_slug(last)}", _slug(first)),
                (70, 20, 10),
            )
            city = home if rng.random() < 0.85 else rng.choice(words.CITIES)
            cname, region, country, tz, templates = city
            status = (
                company_status
                if rng.random() < 0.8
                else _pick(rng, CONTACT_STATUSES, CONTACT_STATUS_WEIGHTS)
            )
            ltv = 0.0
            if status == "customer":
                ltv = rng.uniform(1_500, 25_000) * size_weight.get(company.size or "", 1)
            elif status == "churned":  # what they spent before leaving: no hint of the label
                ltv = rng.uniform(1_500, 25_000) * size_weight.get(company.size or "", 1)
            phone = ctx.phone(country, templates)
            title = rng.choice(words.TITLES)
            created = company.created_at + timedelta(days=rng.randint(0, 150))
            created = min(created, ctx.at(rng.randint(181, 200)))
            contact = Contact(
                organization_id=ctx.org_id,
                first_name=first,
                last_name=last,
                name=f"{first} {last}",
                name_key=fold(f"{first} {last}"),
                last_name_key=fold(last),
                email=ctx.email(local, company.domain or "mail.example"),
                phone=phone,
                phones=[phone],
                company_id=company.id,
                title=title,
                street=company.street if city is home else None,
                city=cname,
                region=region,
                postal_code=company.postal_code if city is home else None,
                country=country,
                status=status,
                lifetime_value=_money(round(ltv, -1)),
                churn_risk=None,  # the churn model fills it in on the first start
                owner_id=company.owner_id if rng.random() < 0.8 else rng.choice(ctx.sales()).id,
                preferred_channel=_pick(rng, CHANNELS, CHANNEL_WEIGHTS),
                timezone=tz,
                notes=rng.choice(("", "", "", "Prefers morning calls.", "Met at a trade show.")),
                custom={},
                created_at=created,
            )
            contact.emails = [contact.email]
            contact.updated_at = created
            rows.append(contact)
            ctx.contacts.append(_Person(contact, company))
            if rng.random() < 0.35:
                ctx.tag("newsletter", contact, "contact")
            if status == "customer" and rng.random() < 0.12:
                ctx.tag("vip", contact, "contact")
            if id(company) in partners:
                ctx.tag("partner", contact, "contact")
            if title in ("CEO", "CTO", "CFO", "COO", "Founder") or title.startswith("VP"):
                ctx.tag("decision-maker", contact, "contact")
    await ctx.add(rows)
    for person in ctx.contacts:
        assert person.company is not None
        ctx.company_contacts.setdefault(person.company.id, []).append(person.contact)


async def _leads(ctx: _Ctx, statuses: list[LeadStatus]) -> None:
    rng = ctx.rng
    counts = _spread(ctx.spec.leads, [LEAD_STATUS_WEIGHTS.get(s.name, 10) for s in statuses])
    candidates = [p for p in ctx.contacts if p.contact.status in ("lead", "prospect")]
    rng.shuffle(candidates)
    sales = ctx.sales()
    rows: list[Lead] = []
    for status, count in zip(statuses, counts, strict=True):
        age = LEAD_AGE.get(status.name, (1, 90))
        column: list[Lead] = []
        for _ in range(count):
            person = candidates.pop() if candidates and rng.random() < 0.4 else None
            if person is not None:
                c = person.contact
                name, email, phone = c.name, c.email, c.phone
                company_name = person.company.name if person.company else None
                company_id = person.company.id if person.company else None
            else:
                first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
                name = f"{first} {last}"
                existing = rng.choice(ctx.companies) if rng.random() < 0.2 else None
                if existing is not None:
                    company_name, company_id = existing.name, existing.id
                    domain = existing.domain or "mail.example"
                    city = ctx.city_of[existing.id]
                else:
                    company_name = (
                        f"{rng.choice(words.COMPANY_FIRST)} "
                        f"{rng.choice(words.COMPANY_SECOND[rng.choice(sorted(words.COMPANY_SECOND))])}"
                    )
                    company_id = None
                    domain = (
                        re.sub(r"[^a-z0-9]+", "-", fold(company_name).translate(_ASCII)).strip("-")
                        + ".example"
                    )
                    city = rng.choice(words.CITIES)
                email = ctx.email(f"{_slug(first)}.{_slug(last)}", domain)
                phone = ctx.phone(city[2], city[4]) if rng.random() < 0.7 else None
            value = round(rng.uniform(1_000, 120_000), -2)
            created = ctx.at(rng.randint(*age))
            source = _pick(rng, SOURCES, SOURCE_WEIGHTS)
            lead = Lead(
                organization_id=ctx.org_id,
                name=name,
                company=company_name,
                email=email,
                phone=phone,
                notes=rng.choice(
                    ("", "", "Asked for a call back next week.", "Came via demo form.")
                ),
                status_id=status.id,
                source=source,
                value=_money(value),
                # score and priority are the AI's to set (scheduled scoring on the first start)
                quality_score=None,
                priority="medium",
                requirements=rng.choice(words.REQUIREMENTS) if rng.random() < 0.5 else "",
                timeline=rng.choice(words.TIMELINES) if rng.random() < 0.5 else None,
                budget=_money(round(value * rng.uniform(0.8, 1.5), -2))
                if rng.random() < 0.4
                else None,
                assignee_id=rng.choice(sales).id if rng.random() < 0.9 else None,
                contact_id=person.contact.id if person else None,
                company_id=company_id,
                custom={},
                created_at=created,
            )
            lead.updated_at = created
            column.append(lead)
            if value >= 90_000 and status.name not in ("Won", "Lost"):
                ctx.tag("hot", lead, "lead")
            if source == "event" and rng.random() < 0.5:
                ctx.tag("webinar", lead, "lead")
        # newest first; positions dense 0..n-1 in every column
        column.sort(key=lambda ld: ld.created_at, reverse=True)
        for pos, lead in enumerate(column):
            lead.card_order = pos
            ctx.leads.append((lead, status.name))
        rows += column
    await ctx.add(rows)


async def _deals(ctx: _Ctx, pipeline: Pipeline, stages: list[PipelineStage]) -> None:
    rng = ctx.rng
    counts = _spread(ctx.spec.deals, [STAGE_WEIGHTS.get(s.name, 10) for s in stages])
    won_leads = [ld for ld, st in ctx.leads if st == "Won" and ld.contact_id is not None]
    rng.shuffle(won_leads)
    by_contact = {p.contact.id: p for p in ctx.contacts}
    sales = ctx.sales()
    amount_scale = {"1-10": 0.3, "11-50": 0.6, "51-200": 1.0, "201-1000": 2.0, "1000+": 4.0}
    rows: list[Deal] = []
    conversions: list[tuple[Lead, Deal]] = []
    for stage, count in zip(stages, counts, strict=True):
        column: list[Deal] = []
        for _ in range(count):
            lead = won_leads.pop() if stage.is_won and won_leads and rng.random() < 0.6 else None
            if lead is not None:
                person = by_contact[lead.contact_id]  # type: ignore[index]
                company, contact = person.company, person.contact
            else:
                company = rng.choice(ctx.companies)
                pool = ctx.company_contacts.get(company.id, [])
                contact = rng.choice(pool) if pool else None
            assert company is not None
            product = rng.choice(words.PRODUCTS)
            amount = round(rng.uniform(3_000, 60_000) * amount_scale.get(company.size or "", 1), -2)
            deal = Deal(
                organization_id=ctx.org_id,
                name=f"{company.name} — {product}",
                pipeline_id=pipeline.id,
                stage_id=stage.id,
                amount=_money(amount),
                currency="USD",
                owner_id=company.owner_id if rng.random() < 0.7 else rng.choice(sales).id,
                contact_id=contact.id if contact else None,
                company_id=company.id,
                lead_id=lead.id if lead else None,
                description=lead.requirements if lead else "",
                custom={},
            )
            if stage.is_won or stage.is_lost:
                closed = ctx.at(rng.randint(3, 170))
                deal.closed_at = closed
                deal.status = "won" if stage.is_won else "lost"
                deal.expected_close_date = (closed + timedelta(days=rng.randint(-10, 5))).date()
                deal.created_at = closed - timedelta(days=rng.randint(20, 120))
                if stage.is_lost:
                    deal.won_lost_reason = rng.choice(words.LOST_REASONS)
                elif rng.random() < 0.5:
                    deal.won_lost_reason = rng.choice(
                        ("Best fit for their workflow", "Fast onboarding", "Strong references")
                    )
            else:
                deal.status = "open"
                deal.created_at = ctx.at(rng.randint(5, 120))
                slip = rng.random() < 0.1
                days = -rng.randint(3, 20) if slip else rng.randint(7, 120)
                deal.expected_close_date = (ctx.today + timedelta(days=days)).date()
            if lead is not None:
                conversions.append((lead, deal))
            deal.updated_at = deal.closed_at or deal.created_at
            column.append(deal)
            if "seats" in product.lower() or "upgrade" in product.lower():
                ctx.tag("expansion", deal, "deal")
        column.sort(key=lambda d: (-float(d.amount), d.name))
        for pos, deal in enumerate(column):
            deal.card_order = pos
            ctx.deals.append((deal, stage.name))
        rows += column
    await ctx.add(rows)
    for lead, deal in conversions:
        lead.converted_deal_id = deal.id
        lead.converted_at = deal.created_at
        lead.created_at = min(lead.created_at, deal.created_at - timedelta(days=3))


def _activity_text(ctx: _Ctx, kind: str, name: str, first: str, company: str) -> tuple[str, str]:
    subject, body = ctx.rng.choice(words.ACTIVITY_TEXT[kind])
    values = {
        "name": name,
        "first": first,
        "company": company,
        "seats": ctx.rng.choice((10, 25, 40, 75, 150)),
    }
    return subject.format(**values)[:300], body.format(**values)


async def _activities(ctx: _Ctx) -> None:
    rng = ctx.rng
    horizon = ctx.today - timedelta(days=180)
    staff = [u for u in ctx.users.values()]
    n = ctx.spec.activities
    n_deal, n_lead, n_company = int(n * 0.2), int(n * 0.15), int(n * 0.08)
    n_contact = n - n_deal - n_lead - n_company
    by_contact = {p.contact.id: p for p in ctx.contacts}
    company_name = {c.id: c.name for c in ctx.companies}
    targets: list[tuple[str, Any]] = []
    targets += [("contact", p) for p in rng.choices(ctx.contacts, k=n_contact)]
    targets += [("company", c) for c in rng.choices(ctx.companies, k=n_company)]
    lead_weights = [LEAD_ACTIVITY_WEIGHT.get(st, 1.0) for _l, st in ctx.leads]
    targets += [("lead", ld) for ld, _st in rng.choices(ctx.leads, weights=lead_weights, k=n_lead)]
    if ctx.deals:
        targets += [("deal", d) for d, _st in rng.choices(ctx.deals, k=n_deal)]
    rows: list[Activity] = []
    for kind, target in targets:
        atype = _pick(rng, ACTIVITY_TYPES, ACTIVITY_TYPE_WEIGHTS)
        act = Activity(organization_id=ctx.org_id, type=atype)
        owner_id: int | None
        if kind == "contact":
            c = target.contact
            act.contact_id, act.company_id = c.id, c.company_id
            name, first = c.name, c.first_name
            cname = target.company.name if target.company else "their team"
            start, end = max(c.created_at, horizon), ctx.today
            owner_id = c.owner_id
        elif kind == "company":
            act.company_id = target.id
            name, first, cname = target.name, "team", target.name
            start, end = max(target.created_at, horizon), ctx.today
            owner_id = target.owner_id
            atype = act.type = rng.choice(("note", "meeting"))
        elif kind == "lead":
            act.lead_id, act.contact_id, act.company_id = (
                target.id,
                target.contact_id,
                target.company_id,
            )
            name, first = target.name, target.name.split()[0]
            cname = target.company or "their team"
            start = max(target.created_at, horizon)
            end = target.converted_at or ctx.today
            owner_id = target.assignee_id
        else:
            act.deal_id, act.contact_id, act.company_id = (
                target.id,
                target.contact_id,
                target.company_id,
            )
            person = by_contact.get(target.contact_id)
            name = person.contact.name if person else target.name
            first = person.contact.first_name if person else "there"
            cname = company_name.get(target.company_id, "their team")
            start, end = max(target.created_at, horizon), target.closed_at or ctx.today
            owner_id = target.owner_id
        act.occurred_at = ctx.workday_between(start, min(end, ctx.today))
        act.subject, act.body = _activity_text(ctx, atype, name, first, cname)
        if atype in ("call", "email"):
            act.direction = "outbound" if rng.random() < 0.7 else "inbound"
        if atype == "call":
            act.outcome = rng.choice(words.CALL_OUTCOMES)
            act.duration_minutes = rng.randint(3, 45) if act.outcome == "connected" else 1
        elif atype == "meeting":
            act.duration_minutes = rng.choice((30, 45, 60, 90))
        act.user_id = owner_id if owner_id and rng.random() < 0.75 else rng.choice(staff).id
        act.created_at = act.updated_at = act.occurred_at
        rows.append(act)
    rows.sort(key=lambda a: a.occurred_at)
    await ctx.add(rows)
    ctx.activities = rows
    contacts = {p.contact.id: p.contact for p in ctx.contacts}
    leads = {ld.id: ld for ld, _st in ctx.leads}
    for act in rows:
        if act.contact_id is not None:
            c = contacts[act.contact_id]
            if c.last_activity_at is None or c.last_activity_at < act.occurred_at:
                c.last_activity_at = act.occurred_at
        if act.lead_id is not None and act.type != "note":
            ld = leads[act.lead_id]
            if ld.last_contacted_at is None or ld.last_contacted_at < act.occurred_at:
                ld.last_contacted_at = act.occurred_at


def _task_link(ctx: _Ctx, category: str) -> tuple[dict[str, Any], str, str]:
    """(foreign keys, person name, company name) for a task of this category."""
    rng = ctx.rng
    open_leads = [ld for ld, st in ctx.leads if st not in ("Won", "Lost")]
    open_deals = [d for d, st in ctx.deals if d.status == "open"]
    customers = [p for p in ctx.contacts if p.contact.status == "customer"] or ctx.contacts
    if category in ("follow-up", "demo") and (open_leads or open_deals):
        if open_deals and (not open_leads or rng.random() < 0.4):
            deal = rng.choice(open_deals)
            person = next((p for p in ctx.contacts if p.contact.id == deal.contact_id), None)
            pname = person.contact.name if person else deal.name
            cname = deal.name.split(" — ")[0]
            return {"deal_id": deal.id, "contact_id": deal.contact_id}, pname, cname
        lead = rng.choice(open_leads)
        return (
            {"lead_id": lead.id, "contact_id": lead.contact_id},
            lead.name,
            lead.company or lead.name,
        )
    person = rng.choice(customers)
    cname = person.company.name if person.company else person.contact.name
    return {"contact_id": person.contact.id}, person.contact.name, cname


async def _tasks(ctx: _Ctx) -> None:
    rng = ctx.rng
    managers = {s.team: ctx.users[s.email] for s in ctx.spec.staff if s.is_manager and s.team}
    owner = next(ctx.users[s.email] for s in ctx.spec.staff if s.role == "owner")
    plans: list[list[tuple[str, str]]] = []  # chains of (category, title template)
    plans += [[("onboarding", t) for t in ONBOARDING_CHAIN]] * ctx.spec.onboarding_chains
    demo_chain = [("demo", t) for t in DEMO_CHAIN] + [
        ("follow-up", "Follow up with {name} after the demo")
    ]
    plans += [demo_chain] * ctx.spec.demo_chains
    chained = sum(len(p) for p in plans)
    categories = sorted(TASK_CATEGORY_TEAM)
    for _ in range(max(0, ctx.spec.tasks - chained)):
        category = rng.choice(categories)
        plans.append([(category, rng.choice(words.TASK_TEMPLATES[category]))])

    def team_of(category: str) -> str:
        wanted = TASK_CATEGORY_TEAM[category]
        if category == "bug" and rng.random() < 0.4:
            wanted = "Support"
        return wanted if wanted in ctx.teams else next(iter(ctx.teams))

    chains: list[list[Task]] = []
    for plan in plans:
        category = plan[0][0]
        links, pname, cname = _task_link(ctx, category)
        # in a chain the first `done` steps are finished, the next is under way, the rest wait
        if len(plan) > 1:
            done = rng.randint(0, len(plan) - 1)
            statuses = (
                ["done"] * done
                + [rng.choice(("in_progress", "todo"))]
                + ["blocked"] * (len(plan) - done - 1)
            )
            first_due = rng.randint(-12 + 3 * (len(plan) - done), 10)
        else:
            statuses = [_pick(rng, ("todo", "in_progress", "done"), (45, 25, 30))]
            first_due = rng.randint(-10, 21)
        chain: list[Task] = []
        created = ctx.at(rng.randint(max(3, 5 - first_due), 30))
        for step, ((cat, template), status) in enumerate(zip(plan, statuses, strict=True)):
            team = team_of(cat)
            members = ctx.team_users.get(team) or [owner]
            due = ctx.today + timedelta(days=first_due + step * rng.randint(2, 5), hours=17)
            task = Task(
                organization_id=ctx.org_id,
                title=template.format(name=pname, company=cname)[:300],
                description=f"{cat.replace('-', ' ').capitalize()} for {cname}.",
                status=status,
                priority=_pick(rng, TASK_PRIORITIES, TASK_PRIORITY_WEIGHTS),
                category=cat,
                assignee_id=rng.choice(members).id,
                team_id=ctx.teams[team].id,
                created_by_id=managers.get(team, owner).id,
                due_at=due,
                estimate_hours=rng.choice((0.5, 1.0, 2.0, 3.0, 4.0, 8.0)),
                created_at=min(created, due - timedelta(days=1)),
                **links,
            )
            if status == "done":
                latest = min(due, ctx.today - timedelta(hours=1))
                earliest = chain[-1].completed_at if chain and chain[-1].completed_at else None
                task.completed_at = ctx.between(
                    max(task.created_at, earliest or task.created_at), latest
                )
            task.updated_at = task.completed_at or task.created_at
            chain.append(task)
        chains.append(chain)
    ctx.tasks = [t for chain in chains for t in chain]
    await ctx.add(ctx.tasks)
    for chain in chains:
        for blocker, task in zip(chain, chain[1:], strict=False):
            ctx.dependencies.append(
                TaskDependency(
                    organization_id=ctx.org_id, task_id=task.id, blocked_by_id=blocker.id
                )
            )
    staff = list(ctx.users.values())
    for task in rng.sample(ctx.tasks, k=min(len(ctx.tasks), ctx.spec.comments)):
        author = task.assignee_id if rng.random() < 0.7 else rng.choice(staff).id
        when = ctx.workday_between(task.created_at, ctx.today - timedelta(minutes=5))
        ctx.comments.append(
            TaskComment(
                organization_id=ctx.org_id,
                task_id=task.id,
                author_id=author,
                body=rng.choice(words.COMMENTS),
                created_at=when,
                updated_at=when,
            )
        )
    await ctx.add([*ctx.dependencies, *ctx.comments])


async def _taggings(ctx: _Ctx) -> None:
    rows = [
        Tagging(
            organization_id=ctx.org_id,
            tag_id=ctx.tags[name].id,
            entity_type=entity_type,
            entity_id=obj.id,
        )
        for name, entity_type, obj in ctx.taggings
    ]
    await ctx.add(rows)


async def _workflow(ctx: _Ctx, owner: User) -> None:
    """A working automation rule and a few notifications, so the demo shows both at once."""
    from aicrm.automation import service as automation
    from aicrm.automation.schemas import RuleCreate
    from aicrm.kit.principal import system_principal
    from aicrm.notifications.service import notify

    principal = system_principal(ctx.org_id)
    sales = ctx.teams.get("Sales")
    if sales is not None:
        await automation.create(
            ctx.session,
            principal,
            RuleCreate(
                name="Big qualified leads get a call",
                description="A lead worth more than 10,000 reaching Qualified gets a call task "
                "for the least-loaded sales rep, and the sales managers hear about it.",
                trigger={"type": "event", "event": "lead.status_changed"},
                conditions={
                    "all": [
                        {"field": "status", "op": "changed_to", "value": "Qualified"},
                        {"field": "value", "op": "gt", "value": 10000},
                    ]
                },
                actions=[
                    {
                        "type": "create_task",
                        "title": "Call {{ record.name }} about their requirements",
                        "due_in_days": 1,
                        "priority": "high",
                        "team_id": sales.id,
                    },
                    {
                        "type": "notify",
                        "title": "Qualified: {{ record.name }}",
                        "team_id": sales.id,
                        "team_scope": "managers",
                    },
                ],
            ),
        )
    for task in [t for t in ctx.tasks if t.assignee_id == owner.id][:3]:
        await notify(
            ctx.session,
            principal,
            user_ids=[owner.id],
            type_="task.assigned",
            title=f"Task assigned to you: {task.title}",
            link=f"/tasks/{task.id}",
            entity_type="task",
            entity_id=task.id,
        )
    # the owner hears about the team's latest wins
    won = [d for d, stage in ctx.deals if stage.endswith("Won")][-3:]
    names = {u.id: u.full_name for u in ctx.users.values()}
    for deal in won:
        await notify(
            ctx.session,
            principal,
            user_ids=[owner.id],
            type_="deal.won",
            title=f"Deal won: {deal.name}",
            body=f"Won by {names.get(deal.owner_id, 'the team')}",
            link=f"/deals/{deal.id}",
            entity_type="deal",
            entity_id=deal.id,
        )


async def _build(
    session: AsyncSession,
    spec: OrgSpec,
    rng: random.Random,
    *,
    today: datetime,
    password_hash: str,
    seed: int,
    extra_members: Sequence[tuple[User, str]] = (),
) -> _Ctx:
    ctx = _Ctx(session=session, rng=rng, today=today, spec=spec, password_hash=password_hash)
    await _people(ctx, extra_members)
    statuses = list(
        (
            await session.execute(
                select(LeadStatus)
                .where(LeadStatus.organization_id == ctx.org_id)
                .order_by(LeadStatus.position)
            )
        ).scalars()
    )
    pipeline = (
        await session.execute(
            select(Pipeline).where(Pipeline.organization_id == ctx.org_id, Pipeline.is_default)
        )
    ).scalar_one()
    stages = list(
        (
            await session.execute(
                select(PipelineStage)
                .where(PipelineStage.pipeline_id == pipeline.id)
                .order_by(PipelineStage.position)
            )
        ).scalars()
    )
    await _companies(ctx)
    await _contacts(ctx)
    await _leads(ctx, statuses)
    await _deals(ctx, pipeline, stages)
    await _activities(ctx)
    await _tasks(ctx)
    await _taggings(ctx)
    owner = next(ctx.users[s.email] for s in spec.staff if s.role == "owner")
    await _workflow(ctx, owner)
    await audit.record(
        session,
        None,
        "seed",
        "organization",
        ctx.org_id,
        after={"seed": seed, "counts": _counts(ctx)},
        organization_id=ctx.org_id,
        user_id=owner.id,
    )
    await session.flush()
    return ctx


def _counts(ctx: _Ctx) -> dict[str, int]:
    return {
        "users": len(ctx.spec.staff),
        "teams": len(ctx.teams),
        "companies": len(ctx.companies),
        "contacts": len(ctx.contacts),
        "leads": len(ctx.leads),
        "deals": len(ctx.deals),
        "activities": len(ctx.activities),
        "tasks": len(ctx.tasks),
        "task_dependencies": len(ctx.dependencies),
        "task_comments": len(ctx.comments),
        "tags": len(ctx.tags),
        "taggings": len(ctx.taggings),
    }


async def run_seed(
    *,
    seed: int = 42,
    if_empty: bool = False,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Load the Northwind and Globex demo organizations; with `if_empty`, only into a database
    without users. Scores, churn risk, the forecast and findings are left to the AI: its
    scheduled jobs compute them on the first start."""
    started = time.perf_counter()
    db = Database(url=database_url)
    try:
        async with db.sessionmaker() as session:
            users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
            demo = (
                await session.execute(select(User.id).where(User.email == DEMO_LOGIN["email"]))
            ).first()
        if (if_empty and users) or demo:
            reason = "the demo data is already loaded" if demo else f"{users} users exist"
            return {"skipped": True, "reason": reason, "login": DEMO_LOGIN}

        password_hash = hash_password(DEMO_PASSWORD)
        today = _today()
        async with db.transaction() as session:
            northwind = await _build(
                session,
                NORTHWIND,
                random.Random(seed),
                today=today,
                password_hash=password_hash,
                seed=seed,
            )
            admin = northwind.users[DEMO_LOGIN["email"]]
            nw_org = northwind.org
            nw_counts = _counts(northwind)
        async with db.transaction() as session:
            admin = await session.get(User, admin.id) or admin
            globex = await _build(
                session,
                GLOBEX,
                random.Random(f"globex-{seed}"),
                today=today,
                password_hash=password_hash,
                seed=seed,
                extra_members=[(admin, "viewer")],
            )
            gx_org = globex.org
            gx_counts = _counts(globex)
        assert nw_org is not None
        assert gx_org is not None
        return {
            "organization": nw_org.name,
            "slug": nw_org.slug,
            "login": DEMO_LOGIN,
            "counts": nw_counts,
            "other_organizations": [
                {
                    "organization": gx_org.name,
                    "slug": gx_org.slug,
                    "login": {"email": "owner@globex.example", "password": DEMO_PASSWORD},
                    "counts": gx_counts,
                    "note": f"{DEMO_LOGIN['email']} is a viewer here (organization switcher)",
                }
            ],
            "seed": seed,
            "seconds": round(time.perf_counter() - started, 2),
        }
    finally:
        await db.dispose()
