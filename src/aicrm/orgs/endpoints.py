"""Organizations, members, invitations and teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from aicrm.auth import service as auth_service
from aicrm.auth.deps import CurrentPrincipal, Reader, Session, require
from aicrm.auth.schemas import TokenPair
from aicrm.db import TxRoute
from aicrm.errors import PermissionDenied
from aicrm.kit.principal import Permission, Principal
from aicrm.models import User
from aicrm.orgs import service
from aicrm.orgs.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
    TeamCreate,
    TeamMemberIn,
    TeamMemberUpdate,
    TeamOut,
    TeamUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["organizations"], route_class=TxRoute)
Settings_ = Annotated[Principal, Depends(require(Permission.settings))]
Members_ = Annotated[Principal, Depends(require(Permission.members))]
Teams_ = Annotated[Principal, Depends(require(Permission.teams))]


def _user_id(principal: Principal) -> int:
    if principal.user_id is None or principal.api_key_id is not None:
        raise PermissionDenied("This needs a user session, not an API key")
    return principal.user_id


@router.get("/organizations", response_model=list[OrganizationOut])
async def my_organizations(principal: CurrentPrincipal, session: Session) -> list[OrganizationOut]:
    """Organizations the current user belongs to."""
    return [
        OrganizationOut.model_validate(o)
        for o in await service.my_organizations(session, _user_id(principal))
    ]


@router.post("/organizations", response_model=TokenPair, status_code=status.HTTP_201_CREATED)
async def create_organization(
    data: OrganizationCreate, principal: CurrentPrincipal, session: Session
) -> TokenPair:
    """Found another organization (you become its owner) and switch to it."""
    user = await session.get(User, _user_id(principal))
    assert user is not None
    org = await service.create_organization(session, name=data.name, owner=user, data=data)
    return await auth_service.issue_tokens(session, user, org.id)


@router.get("/organizations/current", response_model=OrganizationOut)
async def current_organization(principal: Reader, session: Session) -> OrganizationOut:
    """The active organization."""
    return OrganizationOut.model_validate(await service.get_current(session, principal))


@router.patch("/organizations/current", response_model=OrganizationOut)
async def update_organization(
    data: OrganizationUpdate, principal: Settings_, session: Session
) -> OrganizationOut:
    """Rename the organization or change its defaults."""
    return OrganizationOut.model_validate(await service.update_current(session, principal, data))


@router.get("/members", response_model=list[MemberOut])
async def list_members(principal: Reader, session: Session) -> list[MemberOut]:
    """Members of the active organization with their roles."""
    return await service.list_members(session, principal)


@router.patch("/members/{user_id}", response_model=MemberOut)
async def update_member(
    user_id: int, data: MemberUpdate, principal: Members_, session: Session
) -> MemberOut:
    """Change a member's role (never above your own; the last owner stays)."""
    return await service.update_member(session, principal, user_id, data.role)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(user_id: int, principal: Members_, session: Session) -> Response:
    """Remove a member from the organization."""
    await service.remove_member(session, principal, user_id)
    return Response(status_code=204)


@router.get("/invitations", response_model=list[InvitationOut])
async def list_invitations(principal: Members_, session: Session) -> list[InvitationOut]:
    """Pending and past invitations."""
    return [
        InvitationOut.model_validate(i) for i in await service.list_invitations(session, principal)
    ]


@router.post("/invitations", response_model=InvitationCreated, status_code=status.HTTP_201_CREATED)
async def invite(
    data: InvitationCreate, principal: Members_, session: Session
) -> InvitationCreated:
    """Invite someone by email with a role; the token is emailed (outbox) and returned once."""
    inv, token = await service.invite(session, principal, data)
    return InvitationCreated.model_validate(
        {**InvitationOut.model_validate(inv).model_dump(), "token": token}
    )


@router.delete("/invitations/{inv_id}", response_model=InvitationOut)
async def revoke_invitation(inv_id: int, principal: Members_, session: Session) -> InvitationOut:
    """Revoke an invitation that was not accepted yet."""
    return InvitationOut.model_validate(await service.revoke_invitation(session, principal, inv_id))


@router.post("/invitations/accept", response_model=TokenPair)
async def accept_invitation(
    data: InvitationAccept, principal: CurrentPrincipal, session: Session
) -> TokenPair:
    """Accept an invitation as the logged-in user and switch to its organization."""
    user = await session.get(User, _user_id(principal))
    assert user is not None
    org_id = await service.accept_invitation(session, user, data.token)
    return await auth_service.issue_tokens(session, user, org_id)


@router.get("/teams", response_model=list[TeamOut])
async def list_teams(principal: Reader, session: Session) -> list[TeamOut]:
    """Teams with their members, skills and capacity."""
    return await service.list_teams(session, principal)


@router.post("/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED)
async def create_team(data: TeamCreate, principal: Teams_, session: Session) -> TeamOut:
    """Create a team (sales, support, technical, …)."""
    return await service.create_team(session, principal, data)


@router.get("/teams/{team_id}", response_model=TeamOut)
async def get_team(team_id: int, principal: Reader, session: Session) -> TeamOut:
    """One team."""
    return await service.get_team(session, principal, team_id)


@router.patch("/teams/{team_id}", response_model=TeamOut)
async def update_team(
    team_id: int, data: TeamUpdate, principal: Teams_, session: Session
) -> TeamOut:
    """Rename or re-describe a team."""
    return await service.update_team(session, principal, team_id, data)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_team(team_id: int, principal: Teams_, session: Session) -> Response:
    """Delete a team (its members stay in the organization)."""
    await service.delete_team(session, principal, team_id)
    return Response(status_code=204)


@router.post(
    "/teams/{team_id}/members", response_model=TeamOut, status_code=status.HTTP_201_CREATED
)
async def add_team_member(
    team_id: int, data: TeamMemberIn, principal: Teams_, session: Session
) -> TeamOut:
    """Put an organization member in a team with skills and capacity."""
    return await service.add_team_member(session, principal, team_id, data)


@router.patch("/teams/{team_id}/members/{user_id}", response_model=TeamOut)
async def update_team_member(
    team_id: int, user_id: int, data: TeamMemberUpdate, principal: Teams_, session: Session
) -> TeamOut:
    """Change a team member's skills, capacity or manager flag."""
    return await service.update_team_member(session, principal, team_id, user_id, data)


@router.delete("/teams/{team_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_team_member(
    team_id: int, user_id: int, principal: Teams_, session: Session
) -> Response:
    """Take someone out of a team."""
    await service.remove_team_member(session, principal, team_id, user_id)
    return Response(status_code=204)
