"""Tasks, their dependencies and comments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.kit.filtering import query_params
from aicrm.kit.http import parse_if_match
from aicrm.kit.schemas import Page
from aicrm.tasks import service
from aicrm.tasks.schemas import (
    CommentCreate,
    CommentOut,
    DependencyCreate,
    TaskCreate,
    TaskOut,
    TaskUpdate,
)

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], route_class=TxRoute)


@router.get("", response_model=Page[TaskOut])
async def list_tasks(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[TaskOut]:
    """Tasks, keyset-paginated. `q` searches titles; `overdue=true`, `mine=true`; other filters
    as `field[__op]=value` (status, priority, category, assignee_id, team_id, due_at__lte, …).
    Sort by due_at, created_at, updated_at, completed_at, title or id (prefix '-' to reverse)."""
    items, nxt = await service.list_tasks(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[TaskOut](items=items, next_cursor=nxt)


@router.post("", response_model=TaskOut, status_code=status.HTTP_201_CREATED)
async def create_task(data: TaskCreate, principal: Writer, session: Session) -> TaskOut:
    """Create a task, optionally assigned and linked to a lead, contact or deal."""
    task = await service.create(session, principal, data)
    return (await service.to_out(session, principal, [task]))[0]


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(
    task_id: int, principal: Reader, session: Session, response: Response
) -> TaskOut:
    """One task with the ids it waits for and the ids waiting for it (ETag carries its version)."""
    task = await service.get(session, principal, task_id)
    response.headers["ETag"] = f'"{task.version}"'
    return (await service.to_out(session, principal, [task]))[0]


@router.patch("/{task_id}", response_model=TaskOut)
async def update_task(
    task_id: int,
    data: TaskUpdate,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> TaskOut:
    """Update fields; `status=done` is refused (409) while a blocking task is unfinished."""
    task = await service.update(
        session, principal, task_id, data, if_match=parse_if_match(if_match)
    )
    return (await service.to_out(session, principal, [task]))[0]


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a task with its comments and dependencies."""
    await service.delete(session, principal, task_id)
    return Response(status_code=204)


@router.post("/{task_id}/dependencies", response_model=TaskOut, status_code=status.HTTP_201_CREATED)
async def add_dependency(
    task_id: int, data: DependencyCreate, principal: Writer, session: Session
) -> TaskOut:
    """Make this task wait for `blocked_by_id`; a dependency that closes a cycle answers 422."""
    task = await service.add_dependency(session, principal, task_id, data.blocked_by_id)
    return (await service.to_out(session, principal, [task]))[0]


@router.delete("/{task_id}/dependencies/{blocked_by_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_dependency(
    task_id: int, blocked_by_id: int, principal: Writer, session: Session
) -> Response:
    """Stop this task waiting for `blocked_by_id`."""
    await service.remove_dependency(session, principal, task_id, blocked_by_id)
    return Response(status_code=204)


@router.get("/{task_id}/comments", response_model=Page[CommentOut])
async def list_comments(
    task_id: int,
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[CommentOut]:
    """The task's comment thread, oldest first."""
    rows, nxt = await service.list_comments(session, principal, task_id, cursor=cursor, limit=limit)
    return Page[CommentOut](items=[CommentOut.model_validate(c) for c in rows], next_cursor=nxt)


@router.post("/{task_id}/comments", response_model=CommentOut, status_code=status.HTTP_201_CREATED)
async def add_comment(
    task_id: int, data: CommentCreate, principal: Writer, session: Session
) -> CommentOut:
    """Comment on the task."""
    return CommentOut.model_validate(await service.add_comment(session, principal, task_id, data))


@router.delete("/{task_id}/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(
    task_id: int, comment_id: int, principal: Writer, session: Session
) -> Response:
    """Delete a comment (its author, or a manager and above)."""
    await service.delete_comment(session, principal, task_id, comment_id)
    return Response(status_code=204)
