from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from aicrm.kit.filtering import FilterSpec
from aicrm.kit.repository import Repo, decode_cursor, encode_cursor
from aicrm.models import Task, TaskComment, TaskDependency

# Namespace of the transaction-scoped advisory lock that serialises dependency-graph changes per
# organization on PostgreSQL (an arbitrary constant, distinct from other users of advisory locks).
_GRAPH_LOCK = 0x7A5C
_INT4 = 2_147_483_647
_MAX_ID = 2**63 - 1


def search_clause(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the title (wildcards in `q` are literal)."""
    return Task.title.icontains(q.strip(), autoescape=True)


FILTERS = FilterSpec(
    entity_type="task",
    model=Task,
    fields={
        "status": Task.status,
        "priority": Task.priority,
        "category": Task.category,
        "assignee_id": Task.assignee_id,
        "team_id": Task.team_id,
        "created_by_id": Task.created_by_id,
        "lead_id": Task.lead_id,
        "contact_id": Task.contact_id,
        "deal_id": Task.deal_id,
        "due_at": Task.due_at,
        "completed_at": Task.completed_at,
        "estimate_hours": Task.estimate_hours,
        "title": Task.title,
        "created_at": Task.created_at,
        "updated_at": Task.updated_at,
        "id": Task.id,
    },
    search=search_clause,
)

SORTABLE: dict[str, Any] = {
    "due_at": Task.due_at,
    "created_at": Task.created_at,
    "updated_at": Task.updated_at,
    "completed_at": Task.completed_at,
    "title": Task.title,
    "id": Task.id,
}


class TaskRepo(Repo[Task]):
    model = Task
    entity = "task"

    async def page(
        self,
        stmt: Select[Any],
        *,
        sort: str,
        sortable: dict[str, InstrumentedAttribute[Any]],
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Task], str | None]:
        """Keyset pagination that also works on nullable columns (due_at, completed_at): NULL
        sorts after every value ascending and before every value descending on both dialects
        (the base class compares with NULL, which would end the list at the first empty date)."""
        key = sort.lstrip("-+")
        col = sortable.get(key)
        if col is None or not col.property.columns[0].nullable:
            return await super().page(
                stmt, sort=sort, sortable=sortable, cursor=cursor, limit=limit
            )
        desc = sort.startswith("-")
        is_null = col.is_(None)
        if cursor:
            value, last_id = decode_cursor(cursor, col)
            if value is None:
                after_id = Task.id < last_id if desc else Task.id > last_id
                stmt = stmt.where(
                    or_(col.is_not(None), and_(is_null, after_id))
                    if desc
                    else and_(is_null, after_id)
                )
            elif desc:
                stmt = stmt.where(or_(col < value, and_(col == value, Task.id < last_id)))
            else:
                stmt = stmt.where(or_(col > value, and_(col == value, Task.id > last_id), is_null))
        if desc:
            stmt = stmt.order_by(is_null.desc(), col.desc(), Task.id.desc())
        else:
            stmt = stmt.order_by(is_null.asc(), col.asc(), Task.id.asc())
        rows = list((await self.session.execute(stmt.limit(limit + 1))).scalars())
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(getattr(rows[-1], col.key), rows[-1].id)
        return rows, next_cursor

    async def lock_graph(self) -> None:
        """Serialise changes to this organization's dependency graph, so two concurrent requests
        cannot each add half of a cycle. SQLite write transactions already hold the database's
        single write lock."""
        conn = await self.session.connection()
        if conn.dialect.name == "postgresql":
            await self.session.execute(
                select(func.pg_advisory_xact_lock(_GRAPH_LOCK, self.org_id % _INT4))
            )


class DependencyRepo(Repo[TaskDependency]):
    model = TaskDependency
    entity = "task dependency"

    async def find(self, task_id: int, blocked_by_id: int) -> TaskDependency | None:
        if not 0 < blocked_by_id <= _MAX_ID:
            return None
        stmt = self.select().where(
            TaskDependency.task_id == task_id, TaskDependency.blocked_by_id == blocked_by_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def edges_touching(self, ids: list[int]) -> list[tuple[int, int]]:
        """(task_id, blocked_by_id) pairs where either end is one of `ids`, in one query."""
        if not ids:
            return []
        stmt = (
            self.scoped(select(TaskDependency.task_id, TaskDependency.blocked_by_id))
            .where(or_(TaskDependency.task_id.in_(ids), TaskDependency.blocked_by_id.in_(ids)))
            .order_by(TaskDependency.task_id, TaskDependency.blocked_by_id)
        )
        return [(t, b) for t, b in (await self.session.execute(stmt)).all()]

    async def waits_for(self, start_id: int, target_id: int) -> bool:
        """Whether `start_id` transitively waits for `target_id` (follows blocked_by edges).

        A recursive query over this organization's edges; UNION (not UNION ALL) keeps each task
        once, so the walk is bounded by the number of tasks even on a malformed graph."""
        dep = TaskDependency
        walk = (
            select(dep.blocked_by_id.label("id"))
            .where(dep.organization_id == self.org_id, dep.task_id == start_id)
            .cte("walk", recursive=True)
        )
        walk = walk.union(
            select(dep.blocked_by_id)
            .join(walk, dep.task_id == walk.c.id)
            .where(dep.organization_id == self.org_id)
        )
        stmt = select(walk.c.id).where(walk.c.id == target_id).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def unfinished_blockers(self, task_id: int) -> list[int]:
        stmt = (
            self.scoped(select(TaskDependency.blocked_by_id))
            .join(Task, Task.id == TaskDependency.blocked_by_id)
            .where(TaskDependency.task_id == task_id, Task.status != "done")
            .order_by(TaskDependency.blocked_by_id)
        )
        return list((await self.session.execute(stmt)).scalars())


class CommentRepo(Repo[TaskComment]):
    model = TaskComment
    entity = "comment"

    def of_task(self, task_id: int) -> Select[Any]:
        return self.select().where(TaskComment.task_id == task_id)

    async def get_of_task(self, task_id: int, comment_id: int) -> TaskComment | None:
        stmt = self.of_task(task_id).where(TaskComment.id == comment_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
