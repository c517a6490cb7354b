from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class AssistantMessage(OrgScoped, Base):
    """One message of a conversation (the bounded memory: older ones are pruned).

    A user message carries the job that answers it (`job_id`) and its `status` (pending →
    done | failed). An assistant message carries what the turn did: `tool_calls` (name,
    arguments, status, summary of each call), `actions` (the cards: records touched, with
    links), and `question`/`options`/`awaiting` when it asks something back.
    """

    __tablename__ = "assistant_message"
    __table_args__ = (Index("ix_assistant_message_conversation", "conversation_id", "id"),)

    conversation_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("assistant_conversation.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(12))  # user | assistant
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="done")
    reply_to_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    job_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    tool_calls: Mapped[list[Any]] = mapped_column(JSON, default=list)
    actions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[list[Any]] = mapped_column(JSON, default=list)
    awaiting: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
