from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aicrm.kit.repository import Repo, valid_id
from aicrm.models import Invitation, Membership, Team, TeamMember, User


class MembershipRepo(Repo[Membership]):
    model = Membership
    entity = "member"

    async def by_user(self, user_id: int) -> Membership | None:
        if not valid_id(user_id):
            return None
        stmt = self.select().where(Membership.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def with_users(self) -> list[Any]:
        stmt = self.scoped(
            select(Membership, User).join(User, User.id == Membership.user_id), Membership
        ).order_by(User.full_name, User.id)
        return list((await self.session.execute(stmt)).all())

    async def owners(self) -> int:
        return await self.count(self.select().where(Membership.role == "owner"))


class InvitationRepo(Repo[Invitation]):
    model = Invitation
    entity = "invitation"


class TeamRepo(Repo[Team]):
    model = Team
    entity = "team"


class TeamMemberRepo(Repo[TeamMember]):
    model = TeamMember
    entity = "team member"

    async def of_teams(self, team_ids: list[int]) -> list[Any]:
        if not team_ids:
            return []
        stmt = (
            self.scoped(
                select(TeamMember, User).join(User, User.id == TeamMember.user_id), TeamMember
            )
            .where(TeamMember.team_id.in_(team_ids))
            .order_by(User.full_name)
        )
        return list((await self.session.execute(stmt)).all())

    async def find(self, team_id: int, user_id: int) -> TeamMember | None:
        stmt = self.select().where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
