"""SQL of the chat: conversations, their bounded message memory and the actions taken.

Every read is scoped by the caller's organization (the repository base) and, for
conversations, by the caller (`owner`): another user's conversation is simply not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from aicrm.errors import NotFound, PermissionDenied
from aicrm.kit.principal import ROLE_PERMISSIONS, SCOPE_PERMISSIONS, Principal, Role
from aicrm.kit.repository import Repo
from aicrm.models import (
    ApiKey,
    AssistantAction,
    AssistantConversation,
    AssistantMessage,
    Membership,
    Organization,
    User,
    utcnow,
)


def owner_of(principal: Principal) -> str:
    """Who a conversation belongs to: an API key on its own, else the signed-in user."""
    if principal.api_key_id is not None:
        return f"key:{principal.api_key_id}"
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    raise PermissionDenied("The assistant needs a signed-in user or an API key")


class ConversationRepo(Repo[AssistantConversation]):
    model = AssistantConversation
    entity = "conversation"

    def mine(self) -> Any:
        return self.select().where(AssistantConversation.owner == owner_of(self.principal))

    async def find(
        self, session_id: str, *, for_update: bool = False
    ) -> AssistantConversation | None:
        stmt = self.mine().where(AssistantConversation.session_id == session_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def mine_by_id(
        self, conversation_id: int, *, for_update: bool = False
    ) -> AssistantConversation:
        stmt = self.mine().where(AssistantConversation.id == conversation_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return row

    async def find_by_id(self, conversation_id: int) -> AssistantConversation | None:
        stmt = self.mine().where(AssistantConversation.id == conversation_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_or_create(self, session_id: str) -> AssistantConversation:
        found = await self.find(session_id, for_update=True)
        if found is not None:
            return found
        row = AssistantConversation(
            owner=owner_of(self.principal),
            user_id=self.principal.user_id,
            api_key_id=self.principal.api_key_id,
            session_id=session_id,
            message_count=0,
        )
        try:
            async with self.session.begin_nested():
                await self.add(row)
        except IntegrityError:
            # the same (caller, session) created by a concurrent request a moment ago
            found = await self.find(session_id, for_update=True)
            if found is None:
                raise
            return found
        return row

    async def timezone(self) -> str:
        stmt = select(Organization.timezone).where(Organization.id == self.org_id)
        return (await self.session.execute(stmt)).scalar_one_or_none() or "UTC"


class MessageRepo(Repo[AssistantMessage]):
    model = AssistantMessage
    entity = "message"

    async def in_conversation(self, conversation_id: int, message_id: int) -> AssistantMessage:
        stmt = self.select().where(
            AssistantMessage.conversation_id == conversation_id, AssistantMessage.id == message_id
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return row

    async def recent(
        self, conversation_id: int, *, limit: int, before_id: int | None = None
    ) -> list[AssistantMessage]:
        """The last `limit` messages (oldest first), optionally only those before a message."""
        stmt = self.select().where(AssistantMessage.conversation_id == conversation_id)
        if before_id is not None:
            stmt = stmt.where(AssistantMessage.id < before_id)
        stmt = stmt.order_by(AssistantMessage.id.desc()).limit(limit)
        rows = list((await self.session.execute(stmt)).scalars())
        rows.reverse()
        return rows

    async def reply_to(self, conversation_id: int, message_id: int) -> AssistantMessage | None:
        stmt = (
            self.select()
            .where(
                AssistantMessage.conversation_id == conversation_id,
                AssistantMessage.reply_to_id == message_id,
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def prune(self, conversation_id: int, keep: int) -> int:
        """Delete all but the newest `keep` messages; returns how many went."""
        cutoff = (
            await self.session.execute(
                self.scoped(select(AssistantMessage.id))
                .where(AssistantMessage.conversation_id == conversation_id)
                .order_by(AssistantMessage.id.desc())
                .offset(keep)
                .limit(1)
            )
        ).scalar_one_or_none()
        if cutoff is None:
            return 0
        result = await self.session.execute(
            delete(AssistantMessage).where(
                AssistantMessage.organization_id == self.org_id,
                AssistantMessage.conversation_id == conversation_id,
                AssistantMessage.id <= cutoff,
            )
        )
        return int(result.rowcount or 0)

    async def clear(self, conversation_id: int) -> int:
        result = await self.session.execute(
            delete(AssistantMessage).where(
                AssistantMessage.organization_id == self.org_id,
                AssistantMessage.conversation_id == conversation_id,
            )
        )
        return int(result.rowcount or 0)

    async def count(self, conversation_id: int) -> int:  # type: ignore[override]
        stmt = self.scoped(select(func.count(AssistantMessage.id))).where(
            AssistantMessage.conversation_id == conversation_id
        )
        return int((await self.session.execute(stmt)).scalar_one())


class ActionRepo(Repo[AssistantAction]):
    model = AssistantAction
    entity = "action"

    async def add_all(self, rows: Sequence[AssistantAction]) -> None:
        for row in rows:
            row.organization_id = self.org_id
            self.session.add(row)
        await self.session.flush()

    async def last_undoable(self, conversation_id: int) -> list[AssistantAction]:
        """The newest tool call's records that can still be undone (newest first)."""
        live = self.select().where(
            AssistantAction.conversation_id == conversation_id,
            AssistantAction.undoable.is_(True),
            AssistantAction.undone_at.is_(None),
        )
        last = (
            await self.session.execute(live.order_by(AssistantAction.id.desc()).limit(1))
        ).scalar_one_or_none()
        if last is None:
            return []
        rows = await self.session.execute(
            live.where(AssistantAction.call_key == last.call_key)
            .order_by(AssistantAction.id.desc())
            .with_for_update()
        )
        return list(rows.scalars())

    async def undone_ids(self, conversation_id: int) -> set[int]:
        stmt = self.scoped(select(AssistantAction.id)).where(
            AssistantAction.conversation_id == conversation_id,
            AssistantAction.undone_at.is_not(None),
        )
        return set((await self.session.execute(stmt)).scalars())

    async def mark_undone(self, ids: Sequence[int], when: datetime) -> None:
        if ids:
            await self.session.execute(
                update(AssistantAction)
                .where(AssistantAction.organization_id == self.org_id, AssistantAction.id.in_(ids))
                .values(undone_at=when)
            )


async def principal_for(
    session: Any,
    *,
    organization_id: int,
    user_id: int | None,
    api_key_id: int | None,
) -> Principal:
    """The caller again, inside a job: the role as it is now (a member removed or a key revoked
    since the message was sent may no longer act)."""
    if api_key_id is not None:
        key = (
            await session.execute(
                select(ApiKey).where(
                    ApiKey.id == api_key_id, ApiKey.organization_id == organization_id
                )
            )
        ).scalar_one_or_none()
        now = utcnow()
        if key is None or key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
            raise PermissionDenied("The API key was revoked")
        perms: set[Any] = set()
        for scope in key.scopes:
            perms |= SCOPE_PERMISSIONS.get(scope, frozenset())
        role = (
            Role.admin
            if "admin" in key.scopes
            else Role.agent
            if "write" in key.scopes
            else Role.viewer
        )
        return Principal(
            organization_id=organization_id,
            role=role,
            api_key_id=key.id,
            user_id=key.created_by_id,
            permissions=frozenset(perms),
        )
    row = (
        await session.execute(
            select(Membership.role, User.is_active)
            .join(User, User.id == Membership.user_id)
            .where(Membership.user_id == user_id, Membership.organization_id == organization_id)
        )
    ).first()
    if row is None or not row[1]:
        raise PermissionDenied("No longer a member of this organization")
    role = Role(row[0])
    return Principal(
        organization_id=organization_id,
        role=role,
        user_id=user_id,
        permissions=ROLE_PERMISSIONS[role],
    )
