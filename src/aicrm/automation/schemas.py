"""Automation rules: request bodies, the action shapes, and what the API answers.

Trigger, conditions and actions arrive as plain JSON and are validated by the service (not by
these models alone) so every error names its path the way people read it: `trigger.cron`,
`conditions.all[1].op`, `actions[2].team_id`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from aicrm.kit.schemas import InputSchema, Record, Schema

Id = Annotated[int, Field(gt=0, le=2**63 - 1)]
Template = Annotated[str, Field(min_length=1, max_length=2000)]


class EntityType(StrEnum):
    lead = "lead"
    deal = "deal"
    contact = "contact"
    company = "company"
    task = "task"


class TriggerType(StrEnum):
    event = "event"
    schedule = "schedule"


class Op(StrEnum):
    eq = "eq"
    ne = "ne"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    starts_with = "starts_with"
    is_empty = "is_empty"
    is_not_empty = "is_not_empty"
    changed = "changed"
    changed_from = "changed_from"
    changed_to = "changed_to"


class RunStatus(StrEnum):
    matched = "matched"  # conditions held and every action ran
    skipped = "skipped"  # conditions did not hold (or the record is gone)
    failed = "failed"  # an action failed: the run's changes were rolled back
    stopped = "stopped"  # loop protection or the per-record rate cap kept it from running


class Strategy(StrEnum):
    least_loaded = "least_loaded"
    round_robin = "round_robin"


class TeamScope(StrEnum):
    managers = "managers"
    members = "members"


class TaskPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


# -- triggers ------------------------------------------------------------------------------


class EventTrigger(InputSchema):
    type: Literal["event"]
    event: str = Field(
        min_length=1,
        max_length=60,
        description="An event type (`lead.status_changed`) or a glob (`lead.*`, `*.created`)",
    )


class ScheduleTrigger(InputSchema):
    type: Literal["schedule"]
    cron: str = Field(min_length=1, max_length=100, description="Five-field cron, e.g. 0 9 * * 1-5")
    timezone: str = Field(default="UTC", max_length=60, description="IANA zone the cron reads in")
    entity_type: EntityType
    filter: dict[str, Any] = Field(
        default_factory=dict,
        description="List filters of that record type (`field[__op]=value`) picking candidates",
    )


# -- actions -------------------------------------------------------------------------------


class SetField(InputSchema):
    type: Literal["set_field"]
    field: str = Field(min_length=1, max_length=80, description="A field, or custom.<key>")
    value: Any = None


class AssignOwner(InputSchema):
    type: Literal["assign_owner"]
    user_id: Id | None = None
    team_id: Id | None = None
    strategy: Strategy = Strategy.least_loaded


class CreateTask(InputSchema):
    type: Literal["create_task"]
    title: Template
    description: str = Field(default="", max_length=2000)
    due_in_days: int | None = Field(default=None, ge=0, le=365)
    priority: TaskPriority = TaskPriority.medium
    user_id: Id | None = Field(default=None, description="Assignee; the record's owner if omitted")
    team_id: Id | None = Field(default=None, description="Assign to one member of this team")
    strategy: Strategy = Strategy.least_loaded


class AddTag(InputSchema):
    type: Literal["add_tag"]
    tags: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        min_length=1, max_length=20
    )


class Notify(InputSchema):
    type: Literal["notify"]
    title: Template
    body: str = Field(default="", max_length=2000)
    user_ids: list[Id] = Field(default_factory=list, max_length=50)
    team_id: Id | None = None
    team_scope: TeamScope = Field(
        default=TeamScope.managers, description="Who in the team: its managers or every member"
    )
    owner: bool = Field(default=False, description="Also the record's owner")


class SendEmail(InputSchema):
    type: Literal["send_email"]
    to: str = Field(
        default="record",
        max_length=320,
        description="`record` (the record's or its contact's email) or an address",
    )
    subject: Template
    body: Annotated[str, Field(min_length=1, max_length=20000)]


class CallWebhook(InputSchema):
    type: Literal["call_webhook"]
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    secret: str | None = Field(default=None, min_length=8, max_length=200)


class StartFollowupSequence(InputSchema):
    type: Literal["start_followup_sequence"]
    sequence_id: Id


class RequestAiScoring(InputSchema):
    type: Literal["request_ai_scoring"]


ACTION_MODELS: dict[str, type[InputSchema]] = {
    "set_field": SetField,
    "assign_owner": AssignOwner,
    "create_task": CreateTask,
    "add_tag": AddTag,
    "notify": Notify,
    "send_email": SendEmail,
    "call_webhook": CallWebhook,
    "start_followup_sequence": StartFollowupSequence,
    "request_ai_scoring": RequestAiScoring,
}

Action = (
    SetField
    | AssignOwner
    | CreateTask
    | AddTag
    | Notify
    | SendEmail
    | CallWebhook
    | StartFollowupSequence
    | RequestAiScoring
)

# -- rules ---------------------------------------------------------------------------------

TRIGGER_DOC = (
    '`{"type": "event", "event": "lead.status_changed"}` (a type or a glob) or '
    '`{"type": "schedule", "cron": "0 9 * * 1-5", "entity_type": "lead", "filter": {...}}`'
)
CONDITIONS_DOC = (
    'A tree: `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`; leaves '
    '`{"field": "value", "op": "gt", "value": 10000}`. Empty: always true.'
)
ACTIONS_DOC = "Ordered actions, each `{type, ...}` (set_field, assign_owner, create_task, …)."


class RuleCreate(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    enabled: bool = True
    trigger: dict[str, Any] = Field(description=TRIGGER_DOC)
    conditions: dict[str, Any] | None = Field(default=None, description=CONDITIONS_DOC)
    actions: list[dict[str, Any]] = Field(description=ACTIONS_DOC)


class RuleUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    enabled: bool | None = None
    trigger: dict[str, Any] | None = Field(default=None, description=TRIGGER_DOC)
    conditions: dict[str, Any] | None = Field(default=None, description=CONDITIONS_DOC)
    actions: list[dict[str, Any]] | None = Field(default=None, description=ACTIONS_DOC)
    version: int | None = Field(
        default=None, description="Optimistic concurrency: the version you read"
    )


class RuleOut(Record):
    name: str
    description: str
    enabled: bool
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    event_type: str | None
    schedule: str | None
    next_run_at: datetime | None
    run_count: int
    last_run_at: datetime | None
    created_by_id: int | None
    version: int


class RunOut(Schema):
    id: int
    created_at: datetime
    rule_id: int
    event_id: int | None
    event_type: str | None
    entity_type: str | None
    entity_id: int | None
    dry_run: bool
    status: RunStatus
    matched: bool
    log: list[dict[str, Any]]
    error: str | None


class SampleEvent(InputSchema):
    type: str = Field(min_length=1, max_length=60)
    payload: dict[str, Any] = Field(default_factory=dict)


class DryRunTarget(InputSchema):
    entity_type: EntityType | None = Field(
        default=None, description="With entity_id: a stored record, read fresh"
    )
    entity_id: Id | None = None
    record: dict[str, Any] | None = Field(
        default=None, description="Or a sample record (its fields as the API shows them)"
    )
    event: SampleEvent | None = Field(
        default=None, description="The event to pretend happened (for changed/changed_from/to)"
    )


class DryRunRule(DryRunTarget):
    rule: RuleCreate


class ActionPreview(Schema):
    index: int
    type: str
    would: str = Field(description="What the action would do, in words")
    details: dict[str, Any] = Field(default_factory=dict)
    changes_something: bool = Field(
        default=True, description="False when there is nothing to do (the value is already set)"
    )
    error: str | None = Field(default=None, description="Why the action would fail")


class DryRunOut(Schema):
    matched: bool
    trace: dict[str, Any] = Field(description="Each condition with the value it saw and its result")
    actions: list[ActionPreview] = Field(
        description="What each action would do when the conditions hold"
    )
    record: dict[str, Any]
    event: dict[str, Any] = Field(description="The event the conditions were evaluated against")
    entity_type: str | None
    entity_id: int | None
    written: bool = Field(default=False, description="Always false: a dry run writes nothing")


ENTITY_TYPES = tuple(e.value for e in EntityType)
