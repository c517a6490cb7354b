from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, case, func, not_, select

from aicrm.jobs.schemas import JobState
from aicrm.kit.repository import Repo
from aicrm.models import Job

# a queued job that has run and raised: waiting for its retry
_FAILED = and_(Job.status == "queued", Job.attempts > 0, Job.last_error.is_not(None))


def state_filter(state: JobState) -> Any:
    if state is JobState.failed:
        return _FAILED
    if state is JobState.queued:
        return and_(Job.status == "queued", not_(_FAILED))
    return Job.status == state.value


def state_of(job: Job) -> JobState:
    if job.status == "queued" and job.attempts > 0 and job.last_error is not None:
        return JobState.failed
    return JobState(job.status)


class JobRepo(Repo[Job]):
    """The organization's jobs; system jobs (no organization) are never visible to a tenant."""

    model = Job
    entity = "job"

    def listing(self, *, state: JobState | None, name: str | None) -> Select[Any]:
        stmt = self.select()
        if state is not None:
            stmt = stmt.where(state_filter(state))
        if name:
            stmt = stmt.where(Job.name == name)
        return stmt

    async def counts(self) -> dict[str, int]:
        state = case(
            (_FAILED, "failed"),
            else_=Job.status,
        )
        stmt = self.scoped(select(state.label("state"), func.count()).group_by(state), Job)
        return {str(s): int(n) for s, n in (await self.session.execute(stmt)).all()}

    async def names(self) -> list[str]:
        stmt = self.scoped(select(Job.name).distinct(), Job).order_by(Job.name)
        return list((await self.session.scalars(stmt)).all())
