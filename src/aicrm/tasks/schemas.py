from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record

# Ids fit a BIGINT; a larger number is rejected here, naming its field, before any query.
Id = Annotated[int, Field(gt=0, le=2**63 - 1)]


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    blocked = "blocked"
    done = "done"


class TaskPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class TaskOut(Record):
    title: str
    description: str
    status: TaskStatus
    priority: TaskPriority
    category: str | None
    assignee_id: int | None
    team_id: int | None
    created_by_id: int | None
    due_at: datetime | None
    estimate_hours: float | None
    completed_at: datetime | None
    lead_id: int | None
    contact_id: int | None
    deal_id: int | None
    version: int
    overdue: bool = False
    blocked_by: list[int] = Field(
        default_factory=list, description="Tasks that must be done before this one"
    )
    blocks: list[int] = Field(default_factory=list, description="Tasks waiting for this one")


class _TaskFields(InputSchema):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    category: str | None = Field(default=None, max_length=60)
    assignee_id: Id | None = None
    team_id: Id | None = None
    due_at: datetime | None = Field(default=None, description="UTC when no offset is given")
    estimate_hours: float | None = Field(default=None, ge=0, le=100000)
    lead_id: Id | None = None
    contact_id: Id | None = None
    deal_id: Id | None = None


class TaskCreate(_TaskFields):
    title: str = Field(min_length=1, max_length=300)


class TaskUpdate(_TaskFields):
    version: int | None = Field(
        default=None, description="Optimistic concurrency: the version you read"
    )


class DependencyCreate(InputSchema):
    blocked_by_id: int = Field(gt=0, le=2**63 - 1, description="The task that has to be done first")


class CommentOut(Record):
    task_id: int
    author_id: int | None
    body: str


class CommentCreate(InputSchema):
    body: str = Field(min_length=1, max_length=20000)
