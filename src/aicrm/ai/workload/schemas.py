"""Request and response shapes of the workload manager and the optimize scan."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Schema

Id = Annotated[int, Field(gt=0, le=2**63 - 1)]
MAX_TASK_IDS = 5000


class Scope(StrEnum):
    unassigned = "unassigned"
    open = "open"


class AutoAssignIn(InputSchema):
    scope: Scope = Field(
        default=Scope.unassigned,
        description="unassigned: open tasks nobody owns; open: every open task (rebalancing; "
        "a task stays with its assignee unless moving it pays)",
    )
    team_id: Id | None = Field(
        default=None, description="Plan only this team's tasks, among this team's members"
    )
    task_ids: list[Id] | None = Field(
        default=None, max_length=MAX_TASK_IDS, description="Plan only these tasks"
    )
    execute: bool = Field(default=False, description="false: dry run (nothing changes)")
    max_per_person: int | None = Field(
        default=None, ge=0, le=1000, description="At most this many new tasks per person"
    )
    digest: str | None = Field(
        default=None,
        max_length=64,
        description="With execute: the `digest` of the plan you reviewed; if the plan has "
        "changed since, nothing is applied and 409 answers with the new plan",
    )


class Reason(Schema):
    feature: str
    text: str
    impact: float


class AssignmentOut(Schema):
    task_id: int
    title: str
    category: str | None = Field(description="The task's category, or the one inferred")
    priority: str
    due_at: datetime | None
    assignee_id: int
    assignee_name: str
    score: int = Field(description="0-100: how good a fit this assignment is")
    reasons: list[Reason]
    previous_assignee_id: int | None
    deadline_conflict: bool = False


class UnassignableOut(Schema):
    task_id: int
    title: str
    reason: str


class PersonLoadOut(Schema):
    user_id: int
    name: str
    skills: list[str]
    capacity: int
    open_before: int = Field(description="Open tasks before the plan")
    assigned: int = Field(description="Tasks this plan gives them")
    open_after: int
    load_before: float = Field(description="open_before / capacity")
    load_after: float
    queued_hours_after: float
    late_before: int = Field(description="Their tasks predicted to miss the due date, before")
    late_after: int


class ConflictOut(Schema):
    task_id: int
    title: str
    assignee_id: int
    assignee_name: str
    due_at: datetime
    hours_needed: float = Field(description="Work queued up to and including this task")
    hours_available: float = Field(description="Working hours until it is due")
    planned: bool = Field(
        description="true: a task of this plan; false: an open task of the "
        "assignee that the plan pushes past its due date"
    )


class PlanSummary(Schema):
    tasks_considered: int
    assigned: int
    unassignable: int
    conflicts: int
    people: int
    truncated: bool = False


class PlanOut(Schema):
    workspace_id: int
    scope: Scope
    executed: bool
    digest: str
    pool: str = Field(
        description="teams: members of teams; members: every member who may "
        "write (organizations without teams)"
    )
    assignments: list[AssignmentOut]
    unassignable: list[UnassignableOut]
    people: list[PersonLoadOut]
    conflicts: list[ConflictOut]
    summary: PlanSummary
    model: str
    model_version: str
    insight_id: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict)


class OptimizeIn(InputSchema):
    checks: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Run only these checks (deal_stage, lead_status, overdue_tasks, "
        "inbound_drop, negative_sentiment, win_rate, imbalance, deadline); all by default",
    )


class FindingOut(Schema):
    insight_id: int
    new: bool = Field(description="false: the same finding was already open (not stored again)")
    kind: str
    check: str
    title: str
    severity: str
    confidence: float
    entity_type: str | None
    entity_id: int | None
    data: dict[str, Any]
    reasons: list[Reason]
    recommendations: list[dict[str, Any]]


class RecommendationOut(Schema):
    category: str = Field(
        description="bottleneck_resolution, resource_reallocation, process_improvement or "
        "performance"
    )
    action: str
    text: str
    severity: str
    insight_id: int
    details: dict[str, Any] = Field(default_factory=dict)


class SkippedOut(Schema):
    check: str
    reason: str


class OptimizeOut(Schema):
    workspace_id: int
    generated_at: datetime
    findings: list[FindingOut]
    recommendations: list[RecommendationOut]
    skipped: list[SkippedOut]
    model: str
    model_version: str
