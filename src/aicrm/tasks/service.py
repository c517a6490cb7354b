"""Tasks: the to-do list, with dependencies between tasks and comment threads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.contacts.repository import ContactRepo
from aicrm.errors import Conflict, Invalid, NotFound, PermissionDenied, PreconditionFailed
from aicrm.kit import filtering
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.snapshot import snapshot
from aicrm.leads.repository import LeadRepo
from aicrm.models import Contact, Deal, Lead, Task, TaskComment, TaskDependency, Team
from aicrm.orgs import service as org_service
from aicrm.tasks.repository import FILTERS, SORTABLE, CommentRepo, DependencyRepo, TaskRepo
from aicrm.tasks.schemas import (
    CommentCreate,
    TaskCreate,
    TaskOut,
    TaskStatus,
    TaskUpdate,
)

ENTITY = "task"
DONE = TaskStatus.done.value


def _now() -> datetime:
    return datetime.now(UTC)


def _is_overdue(task: Task, now: datetime) -> bool:
    return task.status != DONE and task.due_at is not None and task.due_at < now


async def to_out(session: AsyncSession, principal: Principal, rows: list[Task]) -> list[TaskOut]:
    """API shape of tasks, with their dependency ids loaded in one query for the whole page."""
    edges = await DependencyRepo.from_session(session, principal).edges_touching(
        [t.id for t in rows]
    )
    blocked_by: dict[int, list[int]] = {}
    blocks: dict[int, list[int]] = {}
    for task_id, blocker_id in edges:
        blocked_by.setdefault(task_id, []).append(blocker_id)
        blocks.setdefault(blocker_id, []).append(task_id)
    now = _now()
    out = []
    for t in rows:
        item = TaskOut.model_validate(t)
        item.overdue = _is_overdue(t, now)
        item.blocked_by = sorted(blocked_by.get(t.id, []))
        item.blocks = sorted(blocks.get(t.id, []))
        out.append(item)
    return out


def _flag(params: dict[str, Any], name: str) -> bool | None:
    raw = params.pop(name, None)
    if raw is None or raw == "":
        return None
    value = str(raw[-1] if isinstance(raw, list) else raw).lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise Invalid(f"{name} must be true or false", field=name)


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    params: dict[str, Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[TaskOut], str | None]:
    """Tasks filtered like every list (`field[__op]=value`), plus `overdue` and `mine` flags."""
    params = dict(params)
    overdue = _flag(params, "overdue")
    mine = _flag(params, "mine")
    repo = TaskRepo.from_session(session, principal)
    stmt = repo.select().where(
        filtering.combine(filtering.build(FILTERS, params, principal.organization_id))
    )
    if overdue is not None:
        late = (Task.status != DONE) & Task.due_at.is_not(None) & (Task.due_at < _now())
        stmt = stmt.where(late if overdue else ~late)
    if mine is not None:
        if principal.user_id is None:
            raise Invalid("an API key has no tasks of its own; filter by assignee_id", field="mine")
        stmt = stmt.where(
            Task.assignee_id == principal.user_id
            if mine
            else (Task.assignee_id.is_(None) | (Task.assignee_id != principal.user_id))
        )
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, task_id: int) -> Task:
    """One task of the caller's organization (404 otherwise)."""
    return await TaskRepo.from_session(session, principal).get(task_id)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def _apply(
    session: AsyncSession, principal: Principal, task: Task, changes: dict[str, Any]
) -> None:
    repo = TaskRepo.from_session(session, principal)
    if "assignee_id" in changes:
        await org_service.ensure_member(
            session, principal, changes["assignee_id"], field="assignee_id"
        )
    await repo.exists_in_org(Team, changes.get("team_id"), field="team_id")
    await LeadRepo.from_session(session, principal).exists_in_org(
        Lead, changes.get("lead_id"), field="lead_id"
    )
    # Checked through the contact repository so soft-deleted contacts count as missing.
    await ContactRepo.from_session(session, principal).exists_in_org(
        Contact, changes.get("contact_id"), field="contact_id"
    )
    await repo.exists_in_org(Deal, changes.get("deal_id"), field="deal_id")
    if "due_at" in changes:
        changes["due_at"] = _utc(changes["due_at"])
    for key in (
        "title",
        "description",
        "status",
        "priority",
        "category",
        "assignee_id",
        "team_id",
        "due_at",
        "estimate_hours",
        "lead_id",
        "contact_id",
        "deal_id",
    ):
        if key not in changes:
            continue
        value = changes[key]
        # Explicit nulls clear optional fields but never the required ones.
        if value is None and key in ("title", "description", "status", "priority"):
            continue
        setattr(task, key, value.value if hasattr(value, "value") else value)


async def _refuse_done_while_blocked(
    session: AsyncSession, principal: Principal, task: Task
) -> None:
    blockers = await DependencyRepo.from_session(session, principal).unfinished_blockers(task.id)
    if blockers:
        raise Conflict(
            f"task {task.id} is blocked by unfinished tasks {blockers}; finish them first",
            errors=[{"field": "status", "message": f"blocked by tasks {blockers}"}],
            blocked_by=blockers,
        )


async def _emit_changes(
    session: AsyncSession,
    principal: Principal,
    task: Task,
    *,
    old_assignee: int | None,
    old_status: str | None,
) -> None:
    if task.assignee_id is not None and task.assignee_id != old_assignee:
        await events.emit(
            session,
            principal,
            "task.assigned",
            entity_type=ENTITY,
            entity_id=task.id,
            payload={"assignee_id": task.assignee_id, "previous_assignee_id": old_assignee},
        )
    if task.status == DONE and old_status != DONE:
        await events.emit(
            session,
            principal,
            "task.completed",
            entity_type=ENTITY,
            entity_id=task.id,
            payload={"completed_at": task.completed_at},
        )


async def create(session: AsyncSession, principal: Principal, data: TaskCreate) -> Task:
    """Create a task; the caller is recorded as its creator."""
    task = Task(
        description="",
        status=TaskStatus.todo.value,
        priority="medium",
        created_by_id=principal.user_id,
        version=1,
    )
    await _apply(session, principal, task, data.model_dump(exclude_unset=True))
    if task.status == DONE:
        task.completed_at = _now()
    await TaskRepo.from_session(session, principal).add(task)
    await audit.created(session, principal, ENTITY, task)
    await events.emit(
        session,
        principal,
        "task.created",
        entity_type=ENTITY,
        entity_id=task.id,
        payload={"title": task.title, "assignee_id": task.assignee_id, "due_at": task.due_at},
    )
    await _emit_changes(session, principal, task, old_assignee=None, old_status=None)
    return task


async def update(
    session: AsyncSession,
    principal: Principal,
    task_id: int,
    data: TaskUpdate,
    *,
    if_match: int | None = None,
) -> Task:
    """Update a task; a stale `version` / If-Match answers 412, finishing a blocked task 409."""
    repo = TaskRepo.from_session(session, principal)
    if data.status == TaskStatus.done:
        # Graph lock before row locks, the order add_dependency takes them in: the other order
        # deadlocks on PostgreSQL against an edge insert's foreign-key check on this row.
        await repo.lock_graph()
    task = await repo.get(task_id, for_update=True)
    expected = data.version if data.version is not None else if_match
    if expected is not None and expected != task.version:
        raise PreconditionFailed(
            f"task {task_id} changed since version {expected} (now {task.version}); reload and retry",
            current_version=task.version,
        )
    before = snapshot(task)
    old_assignee, old_status = task.assignee_id, task.status
    await _apply(session, principal, task, data.model_dump(exclude_unset=True))
    if task.status == DONE and old_status != DONE:
        await _refuse_done_while_blocked(session, principal, task)
        task.completed_at = _now()
    elif task.status != DONE:
        task.completed_at = None
    task.version += 1
    await session.flush()
    await audit.updated(session, principal, ENTITY, task, before)
    await events.emit(
        session,
        principal,
        "task.updated",
        entity_type=ENTITY,
        entity_id=task.id,
        payload=events.changes(before, task),
    )
    await _emit_changes(session, principal, task, old_assignee=old_assignee, old_status=old_status)
    return task


async def delete(session: AsyncSession, principal: Principal, task_id: int) -> None:
    """Delete a task with its comments and dependency edges."""
    repo = TaskRepo.from_session(session, principal)
    task = await repo.get(task_id, for_update=True)
    await audit.deleted(session, principal, ENTITY, task)
    await events.emit(session, principal, "task.deleted", entity_type=ENTITY, entity_id=task.id)
    await repo.delete(task)


# -- dependencies --------------------------------------------------------------------------


async def add_dependency(
    session: AsyncSession, principal: Principal, task_id: int, blocked_by_id: int
) -> Task:
    """Record that `task_id` cannot be done before `blocked_by_id`; cycles answer 422."""
    repo = TaskRepo.from_session(session, principal)
    await repo.lock_graph()
    task = await repo.get(task_id, for_update=True)
    field = "blocked_by_id"
    if blocked_by_id == task_id:
        raise Invalid("a task cannot wait for itself", field=field)
    # Locked so a concurrent delete of either task finishes first (then: 404 / 422, not a
    # foreign-key error) or waits for this edge.
    blocker = await repo.get_or_none(blocked_by_id, for_update=True)
    if blocker is None:
        raise Invalid(f"{field} {blocked_by_id} does not exist", field=field)
    deps = DependencyRepo.from_session(session, principal)
    if await deps.find(task_id, blocked_by_id) is not None:
        return task
    if await deps.waits_for(blocked_by_id, task_id):
        raise Invalid(
            f"task {blocked_by_id} already waits for task {task_id}; this would make a cycle",
            field=field,
        )
    if task.status == DONE and blocker.status != DONE:
        raise Conflict(
            f"task {task_id} is done; reopen it before making it wait for an unfinished task",
            errors=[{"field": field, "message": f"task {blocked_by_id} is not done"}],
        )
    edge = await deps.add(TaskDependency(task_id=task_id, blocked_by_id=blocked_by_id))
    await audit.created(session, principal, "task_dependency", edge)
    await events.emit(
        session,
        principal,
        "task.updated",
        entity_type=ENTITY,
        entity_id=task_id,
        payload={"blocked_by_added": blocked_by_id},
    )
    return task


async def remove_dependency(
    session: AsyncSession, principal: Principal, task_id: int, blocked_by_id: int
) -> None:
    """Drop a dependency; 404 when the task does not wait for `blocked_by_id`."""
    await TaskRepo.from_session(session, principal).get(task_id)
    deps = DependencyRepo.from_session(session, principal)
    edge = await deps.find(task_id, blocked_by_id)
    if edge is None:
        raise NotFound(f"task {task_id} does not wait for task {blocked_by_id}")
    await audit.deleted(session, principal, "task_dependency", edge)
    await deps.delete(edge)
    await events.emit(
        session,
        principal,
        "task.updated",
        entity_type=ENTITY,
        entity_id=task_id,
        payload={"blocked_by_removed": blocked_by_id},
    )


# -- comments ------------------------------------------------------------------------------


async def list_comments(
    session: AsyncSession,
    principal: Principal,
    task_id: int,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[TaskComment], str | None]:
    """A task's comments, oldest first."""
    await TaskRepo.from_session(session, principal).get(task_id)
    repo = CommentRepo.from_session(session, principal)
    return await repo.page(
        repo.of_task(task_id),
        sort="id",
        sortable={"id": TaskComment.id},
        cursor=cursor,
        limit=limit,
    )


async def add_comment(
    session: AsyncSession, principal: Principal, task_id: int, data: CommentCreate
) -> TaskComment:
    """Comment on a task as the calling user."""
    await TaskRepo.from_session(session, principal).get(task_id)
    comment = await CommentRepo.from_session(session, principal).add(
        TaskComment(task_id=task_id, author_id=principal.user_id, body=data.body)
    )
    await audit.created(session, principal, "task_comment", comment)
    await events.emit(
        session,
        principal,
        "task.commented",
        entity_type=ENTITY,
        entity_id=task_id,
        payload={"comment_id": comment.id},
    )
    return comment


async def delete_comment(
    session: AsyncSession, principal: Principal, task_id: int, comment_id: int
) -> None:
    """Delete a comment: its author, or anyone allowed to delete records (manager and above)."""
    await TaskRepo.from_session(session, principal).get(task_id)
    repo = CommentRepo.from_session(session, principal)
    comment = await repo.get_of_task(task_id, comment_id)
    if comment is None:
        raise NotFound(f"comment {comment_id} not found on task {task_id}")
    is_author = principal.user_id is not None and comment.author_id == principal.user_id
    if not is_author and not principal.can(Permission.delete):
        raise PermissionDenied("Only the comment's author or a manager may delete it")
    await audit.deleted(session, principal, "task_comment", comment)
    await repo.delete(comment)
