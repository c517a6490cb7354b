"""SQL of the workload manager and the pattern scans: read-only, scoped to the caller's
organization (every statement filters on `organization_id`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select

from aicrm.ai.insights import InsightRepo
from aicrm.models import (
    Activity,
    AIInsight,
    AuditLog,
    Deal,
    Lead,
    LeadStatus,
    Membership,
    Organization,
    Pipeline,
    PipelineStage,
    Task,
    Team,
    TeamMember,
    User,
)

# Namespace of the transaction-scoped advisory lock taken while storing findings (arbitrary,
# distinct from the tasks' graph lock).
_FINDINGS_LOCK = 0x5CA7
_INT4 = 2_147_483_647
# Roles whose members may be given tasks: those who may write records (viewers cannot even
# mark their own task done).
ASSIGNABLE_ROLES = ("owner", "admin", "manager", "agent")
OPEN = Task.status != "done"


@dataclass
class MemberRow:
    user_id: int
    name: str
    role: str
    capacity: int | None = None
    skills: list[str] = field(default_factory=list)
    team_ids: set[int] = field(default_factory=set)


class WorkloadRepo(InsightRepo):
    """Reads across the organization's tasks, people, deals and activity (all scoped)."""

    def _org(self, stmt: Select[Any], *models: Any) -> Select[Any]:
        for model in models:
            stmt = stmt.where(model.organization_id == self.org_id)
        return stmt

    # -- people --------------------------------------------------------------------------

    async def team_exists(self, team_id: int) -> bool:
        stmt = self._org(select(Team.id), Team).where(Team.id == team_id)
        return (await self.session.execute(stmt)).first() is not None

    async def uses_teams(self) -> bool:
        stmt = self._org(select(TeamMember.id), TeamMember).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def team_members(self, team_id: int | None = None) -> list[MemberRow]:
        """Active members in a team (one row per person: their largest capacity, every skill
        and team), with a role that may work on tasks."""
        stmt = self._org(
            select(
                TeamMember.user_id,
                TeamMember.team_id,
                TeamMember.capacity,
                TeamMember.skills,
                User.full_name,
                User.email,
                Membership.role,
            )
            .join(User, User.id == TeamMember.user_id)
            .join(
                Membership,
                (Membership.user_id == TeamMember.user_id)
                & (Membership.organization_id == TeamMember.organization_id),
            )
            .where(User.is_active.is_(True), Membership.role.in_(ASSIGNABLE_ROLES)),
            TeamMember,
        )
        if team_id is not None:
            members_of_team = self._org(select(TeamMember.user_id), TeamMember).where(
                TeamMember.team_id == team_id
            )
            stmt = stmt.where(TeamMember.user_id.in_(members_of_team))
        rows: dict[int, MemberRow] = {}
        for user_id, tid, capacity, skill_list, full_name, email, role in (
            await self.session.execute(stmt.order_by(TeamMember.user_id, TeamMember.team_id))
        ).all():
            row = rows.setdefault(user_id, MemberRow(user_id, full_name or email, role))
            row.capacity = max(row.capacity or 0, int(capacity or 0))
            for s in skill_list or []:
                if isinstance(s, str) and s.strip() and s not in row.skills:
                    row.skills.append(s.strip())
            row.team_ids.add(tid)
        return list(rows.values())

    async def org_members(self) -> list[MemberRow]:
        """Active members who may work on tasks (organizations without teams)."""
        stmt = self._org(
            select(Membership.user_id, User.full_name, User.email, Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(User.is_active.is_(True), Membership.role.in_(ASSIGNABLE_ROLES)),
            Membership,
        ).order_by(Membership.user_id)
        return [MemberRow(u, n or e, r) for u, n, e, r in (await self.session.execute(stmt)).all()]

    async def names(self, user_ids: Sequence[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        stmt = self._org(
            select(User.id, User.full_name, User.email).join(
                Membership, Membership.user_id == User.id
            ),
            Membership,
        ).where(User.id.in_(list(user_ids)))
        return {i: n or e for i, n, e in (await self.session.execute(stmt)).all()}

    # -- tasks ---------------------------------------------------------------------------

    async def tasks_in_scope(
        self,
        *,
        unassigned_only: bool,
        team_id: int | None,
        task_ids: Sequence[int] | None,
        limit: int,
    ) -> list[Task]:
        """Open tasks to plan, most urgent first (due date, then age)."""
        stmt = self._org(select(Task), Task).where(OPEN)
        if unassigned_only:
            stmt = stmt.where(Task.assignee_id.is_(None))
        if team_id is not None:
            stmt = stmt.where(Task.team_id == team_id)
        if task_ids is not None:
            stmt = stmt.where(Task.id.in_(list(task_ids)))
        stmt = stmt.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def existing_task_ids(self, ids: Sequence[int]) -> set[int]:
        stmt = self._org(select(Task.id), Task).where(Task.id.in_(list(ids)))
        return set((await self.session.execute(stmt)).scalars())

    async def open_tasks_of(self, user_ids: Sequence[int]) -> list[Any]:
        """(id, assignee, title, due, estimate, category) of everyone's open tasks."""
        if not user_ids:
            return []
        stmt = self._org(
            select(
                Task.id,
                Task.assignee_id,
                Task.title,
                Task.due_at,
                Task.estimate_hours,
                Task.category,
            ),
            Task,
        ).where(OPEN, Task.assignee_id.in_(list(user_ids)))
        return list((await self.session.execute(stmt)).all())

    async def completed_since(self, since: datetime, limit: int = 50000) -> list[Any]:
        """(assignee, category, created_at, completed_at) of recently completed tasks."""
        stmt = (
            self._org(
                select(Task.assignee_id, Task.category, Task.created_at, Task.completed_at),
                Task,
            )
            .where(
                Task.status == "done",
                Task.assignee_id.is_not(None),
                Task.completed_at.is_not(None),
                Task.completed_at >= since,
            )
            .order_by(Task.completed_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def estimates(self, limit: int = 20000) -> list[Any]:
        stmt = (
            self._org(select(Task.category, Task.estimate_hours), Task)
            .where(Task.estimate_hours.is_not(None), Task.estimate_hours > 0)
            .order_by(Task.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def labelled_titles(self, limit: int = 5000) -> list[tuple[str, str]]:
        stmt = (
            self._org(select(Task.title, Task.category), Task)
            .where(Task.category.is_not(None), Task.category != "")
            .order_by(Task.id.desc())
            .limit(limit)
        )
        return [(t, c) for t, c in (await self.session.execute(stmt)).all()]

    async def overdue_tasks(self, before: datetime, limit: int = 5000) -> list[Any]:
        stmt = (
            self._org(
                select(Task.id, Task.title, Task.assignee_id, Task.due_at, Task.category), Task
            )
            .where(OPEN, Task.due_at.is_not(None), Task.due_at < before)
            .order_by(Task.due_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def open_task_count(self) -> int:
        stmt = self._org(select(func.count(Task.id)), Task).where(OPEN)
        return int((await self.session.execute(stmt)).scalar_one())

    # -- deals and leads -------------------------------------------------------------------

    async def stages(self) -> list[Any]:
        stmt = self._org(
            select(
                PipelineStage.id,
                PipelineStage.name,
                PipelineStage.pipeline_id,
                Pipeline.name,
                PipelineStage.position,
                PipelineStage.is_won,
                PipelineStage.is_lost,
            ).join(Pipeline, Pipeline.id == PipelineStage.pipeline_id),
            PipelineStage,
        ).order_by(PipelineStage.pipeline_id, PipelineStage.position)
        return list((await self.session.execute(stmt)).all())

    async def open_deals(self, limit: int = 100000) -> list[Any]:
        stmt = (
            self._org(
                select(
                    Deal.id, Deal.name, Deal.stage_id, Deal.owner_id, Deal.amount, Deal.created_at
                ),
                Deal,
            )
            .where(Deal.status == "open")
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def closed_deals(self, since: datetime, limit: int = 100000) -> list[Any]:
        """(owner, status, closed_at) of deals won or lost since `since`."""
        stmt = (
            self._org(select(Deal.owner_id, Deal.status, Deal.closed_at), Deal)
            .where(
                Deal.status.in_(("won", "lost")),
                Deal.owner_id.is_not(None),
                Deal.closed_at.is_not(None),
                Deal.closed_at >= since,
            )
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def lead_statuses(self) -> list[Any]:
        stmt = self._org(
            select(
                LeadStatus.id,
                LeadStatus.name,
                LeadStatus.position,
                LeadStatus.is_won,
                LeadStatus.is_lost,
            ),
            LeadStatus,
        ).order_by(LeadStatus.position)
        return list((await self.session.execute(stmt)).all())

    async def open_leads(self, limit: int = 100000) -> list[Any]:
        stmt = (
            self._org(
                select(
                    Lead.id,
                    Lead.name,
                    Lead.status_id,
                    Lead.assignee_id,
                    Lead.value,
                    Lead.created_at,
                ),
                Lead,
            )
            .where(Lead.converted_at.is_(None))
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def transitions(
        self, entity_type: str, key: str, since: datetime, limit: int = 200000
    ) -> list[tuple[int, datetime, int]]:
        """(record id, when, new value) of every audited change of `key` (a stage or status
        column) on `entity_type` records since `since`, oldest first — the record's history of
        moves, read from the audit log (creation included)."""
        value = AuditLog.after[key].as_integer()
        stmt = (
            select(AuditLog.entity_id, AuditLog.created_at, value)
            .where(
                AuditLog.organization_id == self.org_id,
                AuditLog.entity_type == entity_type,
                AuditLog.action.in_(("create", "update")),
                AuditLog.created_at >= since,
                value.is_not(None),
            )
            .order_by(AuditLog.entity_id, AuditLog.created_at, AuditLog.id)
            .limit(limit)
        )
        return [
            (int(e), _aware(t), int(v))
            for e, t, v in (await self.session.execute(stmt)).all()
            if e is not None
        ]

    # -- activity ---------------------------------------------------------------------------

    async def inbound_times(self, since: datetime, limit: int = 500000) -> list[datetime]:
        stmt = (
            self._org(select(Activity.occurred_at), Activity)
            .where(Activity.direction == "inbound", Activity.occurred_at >= since)
            .limit(limit)
        )
        return [_aware(t) for t in (await self.session.execute(stmt)).scalars()]

    async def sentiment_scores(self, since: datetime, limit: int = 200000) -> list[Any]:
        """(created_at, value) of stored sentiment insights (value −1..1), when the text
        analysis stores them; empty otherwise."""
        stmt = (
            self._org(select(AIInsight.created_at, AIInsight.value), AIInsight)
            .where(
                AIInsight.kind == "sentiment",
                AIInsight.value.is_not(None),
                AIInsight.created_at >= since,
            )
            .limit(limit)
        )
        return [(_aware(t), float(v)) for t, v in (await self.session.execute(stmt)).all()]

    # -- insights ---------------------------------------------------------------------------

    async def lock_findings(self) -> None:
        """Serialise storing scan findings per organization, so two scans running at once (the
        hourly job and an optimize call) cannot both store the same new finding. SQLite write
        transactions are serialised already."""
        conn = await self.session.connection()
        if conn.dialect.name == "postgresql":
            await self.session.execute(
                select(func.pg_advisory_xact_lock(_FINDINGS_LOCK, self.org_id % _INT4))
            )

    async def current_by_fingerprint(self, fingerprints: Sequence[str]) -> dict[str, AIInsight]:
        """The current insight of each fingerprint (open, dismissed or acted on)."""
        if not fingerprints:
            return {}
        stmt = (
            self.current()
            .where(AIInsight.fingerprint.in_(sorted(set(fingerprints))))
            .order_by(AIInsight.id)
        )
        return {i.fingerprint: i for i in (await self.session.execute(stmt)).scalars()}

    async def open_findings(self, kinds: Sequence[str], limit: int) -> list[AIInsight]:
        """Open, current findings of the scans (they carry a fingerprint), newest first."""
        stmt = (
            self.current()
            .where(
                AIInsight.status == "open",
                AIInsight.kind.in_(list(kinds)),
                AIInsight.fingerprint.is_not(None),
            )
            .order_by(AIInsight.id.desc())
            .limit(limit * 4)
        )
        return list((await self.session.execute(stmt)).scalars())


async def organization_ids(session: Any) -> list[int]:
    """Every organization (the periodic scan queues one job each)."""
    return list(
        (await session.execute(select(Organization.id).order_by(Organization.id))).scalars()
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
