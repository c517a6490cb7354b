from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class AssistantAction(OrgScoped, Base):
    """A record the assistant created, changed or deleted, kept for undo (and its cards).

    Actions outlive the pruning of the messages that caused them (`message_id` is cleared), so
    "undo" still reaches a change made many messages ago. One tool call may touch several
    records (a booking: a meeting and a task): they share `call_key` and are undone together.
    """

    __tablename__ = "assistant_action"
    __table_args__ = (
        Index("ix_assistant_action_conversation", "conversation_id", "id"),
        Index("ix_assistant_action_message", "message_id"),  # the prune's ON DELETE SET NULL
    )

    conversation_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("assistant_conversation.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("assistant_message.id", ondelete="SET NULL"), nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    call_key: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(60))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    op: Mapped[str] = mapped_column(String(16))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    label: Mapped[str] = mapped_column(String(300), default="")
    link: Mapped[str | None] = mapped_column(String(300), nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    undoable: Mapped[bool] = mapped_column(Boolean, default=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
