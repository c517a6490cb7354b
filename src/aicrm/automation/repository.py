"""SQL of automation rules and their execution log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.repository import Repo
from aicrm.models import AutomationRule, AutomationRun, Task

SORTABLE: dict[str, Any] = {
    "id": AutomationRule.id,
    "name": AutomationRule.name,
    "created_at": AutomationRule.created_at,
    "updated_at": AutomationRule.updated_at,
}


class RuleRepo(Repo[AutomationRule]):
    model = AutomationRule
    entity = "automation rule"

    async def event_rules(self) -> list[AutomationRule]:
        """Enabled rules woken by events, oldest first (the order they run in)."""
        stmt = (
            self.select()
            .where(AutomationRule.enabled.is_(True), AutomationRule.event_type.is_not(None))
            .order_by(AutomationRule.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def lock(self, rule_id: int) -> None:
        """Row-lock the rule until the transaction ends (PostgreSQL; SQLite writers are serial).
        FOR NO KEY UPDATE: run log rows of other runs (their foreign key takes a key-share lock
        on the rule) are not held up by it."""
        stmt = self.scoped(select(AutomationRule.id)).where(AutomationRule.id == rule_id)
        await self.session.execute(stmt.with_for_update(key_share=True))

    async def count_runs(self, rule_id: int, now: datetime) -> int:
        """Count this run (its number is the round-robin turn) and stamp last_run_at."""
        stmt = (
            update(AutomationRule)
            .where(
                AutomationRule.id == rule_id,
                AutomationRule.organization_id == self.org_id,
            )
            .values(run_count=AutomationRule.run_count + 1, last_run_at=now)
            .returning(AutomationRule.run_count)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def open_task_counts(self, user_ids: list[int]) -> dict[int, int]:
        """Unfinished tasks per user: the load "least loaded" balances (read-only aggregate of
        the tasks table, scoped to the organization like every query here)."""
        if not user_ids:
            return {}
        stmt = (
            self.scoped(select(Task.assignee_id, func.count()), Task)
            .where(Task.assignee_id.in_(user_ids), Task.status != "done")
            .group_by(Task.assignee_id)
        )
        return {int(u): int(n) for u, n in (await self.session.execute(stmt)).all()}


class RunRepo(Repo[AutomationRun]):
    model = AutomationRun
    entity = "automation run"

    def of_rule(self, rule_id: int, *, status: str | None = None) -> Any:
        stmt = self.select().where(AutomationRun.rule_id == rule_id)
        if status:
            stmt = stmt.where(AutomationRun.status == status)
        return stmt

    async def recent_runs(
        self, rule_id: int, entity_type: str, entity_id: int, since: datetime
    ) -> int:
        """Runs of a rule on one record since `since` that did something (the rate cap)."""
        stmt = self.scoped(select(func.count()).select_from(AutomationRun)).where(
            AutomationRun.rule_id == rule_id,
            AutomationRun.entity_type == entity_type,
            AutomationRun.entity_id == entity_id,
            AutomationRun.dry_run.is_(False),
            AutomationRun.status.in_(("matched", "failed")),
            AutomationRun.created_at >= since,
        )
        return int((await self.session.execute(stmt)).scalar_one())


# -- the scheduler (every organization) ------------------------------------------------------
# The periodic job looks across organizations for due schedule rules; it only reads ids and
# claims each rule with a conditional update. Everything a rule then does runs as that rule's
# organization, through the scoped repositories above.


async def due_schedule_rules(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[int, int, datetime]]:
    """(rule id, organization id, next_run_at) of enabled schedule rules that are due."""
    stmt = (
        select(AutomationRule.id, AutomationRule.organization_id, AutomationRule.next_run_at)
        .where(
            AutomationRule.enabled.is_(True),
            AutomationRule.schedule.is_not(None),
            AutomationRule.next_run_at.is_not(None),
            AutomationRule.next_run_at <= now,
        )
        .order_by(AutomationRule.next_run_at, AutomationRule.id)
        .limit(limit)
    )
    return [(int(r), int(o), n) for r, o, n in (await session.execute(stmt)).all()]


async def claim_schedule(
    session: AsyncSession, rule_id: int, due_at: datetime, next_at: datetime
) -> bool:
    """Move a due rule's next_run_at on, if no other process did it first (then: False)."""
    result = await session.execute(
        update(AutomationRule)
        .where(AutomationRule.id == rule_id, AutomationRule.next_run_at == due_at)
        .values(next_run_at=next_at)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def schedule_of(session: AsyncSession, rule_id: int) -> tuple[str, str] | None:
    """(cron, timezone) of a rule, for the scheduler."""
    row = (
        await session.execute(
            select(AutomationRule.schedule, AutomationRule.trigger).where(
                AutomationRule.id == rule_id
            )
        )
    ).first()
    if row is None or not row[0]:
        return None
    return str(row[0]), str((row[1] or {}).get("timezone") or "UTC")
