from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class AssistantConversation(OrgScoped, Base):
    """One chat with the assistant: belongs to (organization, caller, session_id).

    `owner` is "user:<id>" for a person (token or web cookie) or "key:<id>" for an API key, so
    an integration's conversations never mix with its creator's. `pending` holds what the next
    turn may answer: a delete waiting for "yes" (kind "confirmation": tool, arguments, question)
    or a question with options (kind "clarification"); any other reply drops it. `busy_until`
    is set while a turn runs so a second message in the same conversation waits its turn.
    """

    __tablename__ = "assistant_conversation"
    __table_args__ = (UniqueConstraint("organization_id", "owner", "session_id"),)

    owner: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True, index=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("api_key.id", ondelete="CASCADE"), nullable=True
    )
    session_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
