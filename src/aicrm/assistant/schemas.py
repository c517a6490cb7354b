"""Shapes of the chat API (`/api/v1/chat`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Schema

SESSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
DEFAULT_SESSION = "default"
MAX_MESSAGE = 4000


class ChatIn(InputSchema):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE, description="What the user says")
    session_id: str | None = Field(
        default=None,
        pattern=SESSION_PATTERN,
        description="The conversation within the caller's chats (default: 'default')",
    )


class SessionIn(InputSchema):
    session_id: str | None = Field(default=None, pattern=SESSION_PATTERN)


class TaskStatus(StrEnum):
    pending = "PENDING"
    processing = "PROCESSING"
    success = "SUCCESS"
    failure = "FAILURE"


class ActionCard(Schema):
    """A record the assistant touched: shown as a card with a link (and undo while it can)."""

    id: int | None = None  # the stored action (None for read-only cards)
    tool: str | None = None
    op: str
    entity_type: str
    entity_id: int | None = None
    label: str
    link: str | None = None
    undoable: bool = False
    undone: bool = False


class OptionOut(Schema):
    label: str
    args: dict[str, Any] = Field(default_factory=dict)


class ToolCallOut(Schema):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str
    summary: str = ""


class MessageOut(Schema):
    id: int
    role: Literal["user", "assistant"]
    content: str
    status: str = "done"
    actions: list[ActionCard] = Field(default_factory=list)
    tool_calls: list[ToolCallOut] = Field(default_factory=list)
    question: str | None = None
    options: list[OptionOut] = Field(default_factory=list)
    awaiting: Literal["confirmation", "clarification"] | None = None
    provider: str | None = None
    created_at: datetime


class ChatAccepted(Schema):
    task_id: str
    status: TaskStatus = TaskStatus.pending
    session_id: str
    conversation_id: int
    message_id: int


class TurnResult(Schema):
    message: MessageOut
    actions: list[ActionCard] = Field(default_factory=list)


class ChatStatus(Schema):
    task_id: str
    status: TaskStatus
    session_id: str | None = None
    conversation_id: int | None = None
    result: TurnResult | None = None
    error: str | None = None


class Cleared(Schema):
    cleared: int
    session_id: str
    conversation_id: int | None = None


class History(Schema):
    session_id: str
    conversation_id: int | None = None
    messages: list[MessageOut] = Field(default_factory=list)
    awaiting: Literal["confirmation", "clarification"] | None = None
    busy: bool = False
    limit: int = Field(description="The most messages kept per conversation (older are pruned)")


class UndoOut(Schema):
    undone: list[ActionCard] = Field(default_factory=list)
    summary: str
    message: MessageOut
