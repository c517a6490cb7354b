"""Organizations, memberships, invitations and teams."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.auth import security
from aicrm.config import get_settings
from aicrm.errors import Conflict, Invalid, NotFound, PermissionDenied
from aicrm.kit.principal import Principal, Role
from aicrm.kit.snapshot import snapshot
from aicrm.models import (
    Invitation,
    LeadStatus,
    Membership,
    Organization,
    Pipeline,
    PipelineStage,
    Team,
    TeamMember,
    User,
)
from aicrm.notifications.email import queue_email
from aicrm.orgs.repository import InvitationRepo, MembershipRepo, TeamMemberRepo, TeamRepo
from aicrm.orgs.schemas import (
    InvitationCreate,
    MemberOut,
    OrganizationCreate,
    OrganizationUpdate,
    TeamCreate,
    TeamMemberIn,
    TeamMemberOut,
    TeamMemberUpdate,
    TeamOut,
    TeamUpdate,
)

DEFAULT_LEAD_STATUSES = [
    ("New", "#3b82f6", False, False),
    ("Contacted", "#8b5cf6", False, False),
    ("Qualified", "#f59e0b", False, False),
    ("Proposal", "#ec4899", False, False),
    ("Won", "#10b981", True, False),
    ("Lost", "#6b7280", False, True),
]
DEFAULT_STAGES = [
    ("Prospecting", 0.10, False, False),
    ("Qualification", 0.25, False, False),
    ("Proposal", 0.50, False, False),
    ("Negotiation", 0.75, False, False),
    ("Closed Won", 1.0, True, False),
    ("Closed Lost", 0.0, False, True),
]
ROLE_RANK = {Role.viewer: 0, Role.agent: 1, Role.manager: 2, Role.admin: 3, Role.owner: 4}


def _now() -> datetime:
    return datetime.now(UTC)


async def _unique_slug(session: AsyncSession, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "org"
    slug, n = base, 1
    while (await session.execute(select(Organization.id).where(Organization.slug == slug))).first():
        n += 1
        slug = f"{base}-{n}"
    return slug


async def create_organization(
    session: AsyncSession, *, name: str, owner: User, data: OrganizationCreate | None = None
) -> Organization:
    """A new tenant with its owner, the default lead pipeline and the default deal pipeline."""
    org = Organization(
        name=name,
        slug=await _unique_slug(session, name),
        default_region=get_settings().DEFAULT_REGION,
    )
    if data is not None:
        org.default_currency = data.default_currency
        org.default_region = data.default_region or org.default_region
        org.timezone = data.timezone
    session.add(org)
    await session.flush()
    session.add(Membership(organization_id=org.id, user_id=owner.id, role=Role.owner.value))
    for pos, (sname, color, won, lost) in enumerate(DEFAULT_LEAD_STATUSES):
        session.add(
            LeadStatus(
                organization_id=org.id,
                name=sname,
                position=pos,
                color=color,
                is_won=won,
                is_lost=lost,
            )
        )
    pipeline = Pipeline(organization_id=org.id, name="Sales", is_default=True)
    session.add(pipeline)
    await session.flush()
    for pos, (sname, prob, won, lost) in enumerate(DEFAULT_STAGES):
        session.add(
            PipelineStage(
                organization_id=org.id,
                pipeline_id=pipeline.id,
                name=sname,
                position=pos,
                probability=prob,
                is_won=won,
                is_lost=lost,
            )
        )
    await session.flush()
    await audit.record(
        session,
        None,
        "create",
        "organization",
        org.id,
        after=snapshot(org),
        organization_id=org.id,
        user_id=owner.id,
    )
    return org


async def my_organizations(session: AsyncSession, user_id: int) -> list[Organization]:
    stmt = (
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.name)
    )
    return list((await session.execute(stmt)).scalars())


async def get_current(session: AsyncSession, principal: Principal) -> Organization:
    org = await session.get(Organization, principal.organization_id)
    if org is None:
        raise NotFound("organization not found")
    return org


async def update_current(
    session: AsyncSession, principal: Principal, data: OrganizationUpdate
) -> Organization:
    org = await get_current(session, principal)
    before = snapshot(org)
    for k, v in data.model_dump(exclude_unset=True).items():
        if v is not None:
            setattr(org, k, v)
    await session.flush()
    await audit.updated(session, principal, "organization", org, before)
    return org


async def ensure_member(
    session: AsyncSession, principal: Principal, user_id: int | None, *, field: str
) -> None:
    """A user id sent by a client (owner, assignee) must belong to the caller's organization."""
    if (
        user_id is not None
        and await MembershipRepo.from_session(session, principal).by_user(user_id) is None
    ):
        raise Invalid(f"user {user_id} is not a member of this organization", field=field)


# -- members -------------------------------------------------------------------------------


async def list_members(session: AsyncSession, principal: Principal) -> list[MemberOut]:
    rows = await MembershipRepo.from_session(session, principal).with_users()
    return [
        MemberOut(
            user_id=u.id,
            email=u.email,
            full_name=u.full_name,
            role=Role(m.role),
            joined_at=m.created_at,
        )
        for m, u in rows
    ]


def _check_can_grant(principal: Principal, target_role: Role, current: Role | None = None) -> None:
    if ROLE_RANK[target_role] > ROLE_RANK[principal.role]:
        raise PermissionDenied(f"A {principal.role} cannot grant the {target_role} role")
    if current is not None and ROLE_RANK[current] > ROLE_RANK[principal.role]:
        raise PermissionDenied(f"A {principal.role} cannot change a {current}")


async def update_member(
    session: AsyncSession, principal: Principal, user_id: int, role: Role
) -> MemberOut:
    repo = MembershipRepo.from_session(session, principal)
    m = await repo.by_user(user_id)
    if m is None:
        raise NotFound(f"member {user_id} not found")
    current = Role(m.role)
    _check_can_grant(principal, role, current)
    if current == Role.owner and role != Role.owner and await repo.owners() <= 1:
        raise Conflict(
            "An organization needs at least one owner",
            errors=[{"field": "role", "message": "last owner"}],
        )
    before = {"role": m.role}
    m.role = role.value
    await audit.record(
        session, principal, "update", "member", user_id, before=before, after={"role": m.role}
    )
    user = await session.get(User, user_id)
    assert user is not None
    return MemberOut(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=role,
        joined_at=m.created_at,
    )


async def remove_member(session: AsyncSession, principal: Principal, user_id: int) -> None:
    repo = MembershipRepo.from_session(session, principal)
    m = await repo.by_user(user_id)
    if m is None:
        raise NotFound(f"member {user_id} not found")
    current = Role(m.role)
    _check_can_grant(principal, current, current)
    if current == Role.owner and await repo.owners() <= 1:
        raise Conflict("An organization needs at least one owner")
    await repo.delete(m)
    await audit.record(
        session, principal, "delete", "member", user_id, before={"role": current.value}
    )


# -- invitations ---------------------------------------------------------------------------


async def invite(
    session: AsyncSession, principal: Principal, data: InvitationCreate
) -> tuple[Invitation, str]:
    _check_can_grant(principal, data.role)
    email = data.email.lower()
    existing = (
        await session.execute(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == principal.organization_id, User.email == email)
        )
    ).first()
    if existing:
        raise Conflict(
            f"{email} is already a member",
            errors=[{"field": "email", "message": "already a member"}],
        )
    token = security.new_secret(32)
    inv = Invitation(
        email=email,
        role=data.role.value,
        token_hash=security.sha256(token),
        invited_by_id=principal.user_id,
        expires_at=_now() + timedelta(days=7),
    )
    await InvitationRepo.from_session(session, principal).add(inv)
    org = await get_current(session, principal)
    await queue_email(
        session,
        organization_id=org.id,
        to_email=email,
        kind="invitation",
        subject=f"You are invited to {org.name} on aicrm",
        body=f"You have been invited to join {org.name} as {data.role.value}.\n\n"
        f"Invitation token: {token}\n(valid for 7 days)",
    )
    await audit.record(
        session, principal, "create", "invitation", inv.id, after={"email": email, "role": inv.role}
    )
    return inv, token


async def list_invitations(session: AsyncSession, principal: Principal) -> list[Invitation]:
    repo = InvitationRepo.from_session(session, principal)
    return list((await session.execute(repo.select().order_by(Invitation.id.desc()))).scalars())


async def revoke_invitation(session: AsyncSession, principal: Principal, inv_id: int) -> Invitation:
    inv = await InvitationRepo.from_session(session, principal).get(inv_id)
    if inv.accepted_at is None and inv.revoked_at is None:
        inv.revoked_at = _now()
        await audit.record(session, principal, "revoke", "invitation", inv.id)
    return inv


async def accept_invitation(session: AsyncSession, user: User, token: str) -> int:
    """Join the invitation's organization; the invitation must be addressed to this user."""
    inv = (
        await session.execute(
            select(Invitation).where(Invitation.token_hash == security.sha256(token))
        )
    ).scalar_one_or_none()
    if inv is None or inv.revoked_at or inv.accepted_at or inv.expires_at <= _now():
        raise Invalid("The invitation is invalid or expired", field="invitation_token")
    if inv.email.lower() != user.email.lower():
        raise Invalid("The invitation was sent to another email address", field="invitation_token")
    already = (
        await session.execute(
            select(Membership.id).where(
                Membership.organization_id == inv.organization_id, Membership.user_id == user.id
            )
        )
    ).first()
    if not already:
        session.add(Membership(organization_id=inv.organization_id, user_id=user.id, role=inv.role))
    inv.accepted_at = _now()
    await session.flush()
    await audit.record(
        session,
        None,
        "accept",
        "invitation",
        inv.id,
        organization_id=inv.organization_id,
        user_id=user.id,
    )
    return inv.organization_id


# -- teams ---------------------------------------------------------------------------------


async def _team_out(
    session: AsyncSession, principal: Principal, teams: list[Team]
) -> list[TeamOut]:
    rows = await TeamMemberRepo.from_session(session, principal).of_teams([t.id for t in teams])
    by_team: dict[int, list[TeamMemberOut]] = {}
    for tm, u in rows:
        by_team.setdefault(tm.team_id, []).append(
            TeamMemberOut(
                user_id=u.id,
                email=u.email,
                full_name=u.full_name,
                skills=tm.skills or [],
                capacity=tm.capacity,
                is_manager=tm.is_manager,
            )
        )
    return [
        TeamOut(
            id=t.id,
            created_at=t.created_at,
            updated_at=t.updated_at,
            name=t.name,
            kind=t.kind,
            description=t.description,
            members=by_team.get(t.id, []),
        )
        for t in teams
    ]


async def list_teams(session: AsyncSession, principal: Principal) -> list[TeamOut]:
    repo = TeamRepo.from_session(session, principal)
    teams = list((await session.execute(repo.select().order_by(Team.name))).scalars())
    return await _team_out(session, principal, teams)


async def get_team(session: AsyncSession, principal: Principal, team_id: int) -> TeamOut:
    team = await TeamRepo.from_session(session, principal).get(team_id)
    return (await _team_out(session, principal, [team]))[0]


async def _name_free(
    session: AsyncSession, principal: Principal, name: str, exclude: int | None = None
) -> None:
    repo = TeamRepo.from_session(session, principal)
    stmt = repo.select().where(Team.name == name)
    if exclude:
        stmt = stmt.where(Team.id != exclude)
    if (await session.execute(stmt)).first():
        raise Conflict(
            f"A team named {name!r} exists", errors=[{"field": "name", "message": "already used"}]
        )


async def create_team(session: AsyncSession, principal: Principal, data: TeamCreate) -> TeamOut:
    await _name_free(session, principal, data.name)
    team = await TeamRepo.from_session(session, principal).add(Team(**data.model_dump()))
    await audit.created(session, principal, "team", team)
    return await get_team(session, principal, team.id)


async def update_team(
    session: AsyncSession, principal: Principal, team_id: int, data: TeamUpdate
) -> TeamOut:
    team = await TeamRepo.from_session(session, principal).get(team_id)
    before = snapshot(team)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "name" in changes:
        await _name_free(session, principal, changes["name"], exclude=team.id)
    for k, v in changes.items():
        setattr(team, k, v)
    await session.flush()
    await audit.updated(session, principal, "team", team, before)
    return await get_team(session, principal, team.id)


async def delete_team(session: AsyncSession, principal: Principal, team_id: int) -> None:
    repo = TeamRepo.from_session(session, principal)
    team = await repo.get(team_id)
    await audit.deleted(session, principal, "team", team)
    await repo.delete(team)


async def add_team_member(
    session: AsyncSession, principal: Principal, team_id: int, data: TeamMemberIn
) -> TeamOut:
    await TeamRepo.from_session(session, principal).get(team_id)
    if await MembershipRepo.from_session(session, principal).by_user(data.user_id) is None:
        raise Invalid(f"user {data.user_id} is not a member of this organization", field="user_id")
    tm_repo = TeamMemberRepo.from_session(session, principal)
    if await tm_repo.find(team_id, data.user_id):
        raise Conflict(
            "Already in the team", errors=[{"field": "user_id", "message": "already in the team"}]
        )
    tm = await tm_repo.add(TeamMember(team_id=team_id, **data.model_dump()))
    await audit.created(session, principal, "team_member", tm)
    return await get_team(session, principal, team_id)


async def update_team_member(
    session: AsyncSession, principal: Principal, team_id: int, user_id: int, data: TeamMemberUpdate
) -> TeamOut:
    tm = await TeamMemberRepo.from_session(session, principal).find(team_id, user_id)
    if tm is None:
        raise NotFound(f"user {user_id} is not in team {team_id}")
    before = snapshot(tm)
    for k, v in data.model_dump(exclude_unset=True).items():
        if v is not None:
            setattr(tm, k, v)
    await session.flush()
    await audit.updated(session, principal, "team_member", tm, before)
    return await get_team(session, principal, team_id)


async def remove_team_member(
    session: AsyncSession, principal: Principal, team_id: int, user_id: int
) -> None:
    repo = TeamMemberRepo.from_session(session, principal)
    tm = await repo.find(team_id, user_id)
    if tm is None:
        raise NotFound(f"user {user_id} is not in team {team_id}")
    await audit.deleted(session, principal, "team_member", tm)
    await repo.delete(tm)
