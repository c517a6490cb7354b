"""Claim, run and settle jobs. Shared by the embedded worker and the Celery tasks.

Guarantees:
- a claimed job carries a lease; a job whose process died is claimed again once it expires,
  and live workers renew the leases of what they run (`renew`);
- a job's database effect commits in the same transaction as its completion, fenced by the
  attempt number, so a job that runs twice (crash, expired lease) has the effect of once;
- a failure is retried with exponential backoff and jitter; after max_attempts the job is dead
  with its last error kept.
"""

from __future__ import annotations

import asyncio
import random
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from aicrm.config import Settings
from aicrm.db import Database
from aicrm.jobs import registry
from aicrm.jobs.context import JobContext
from aicrm.kit.snapshot import jsonable
from aicrm.logging import get_logger
from aicrm.models import Job, utcnow

log = get_logger("aicrm.jobs")
job_t = Job.__table__


class PermanentError(Exception):
    """Raise from a job to stop retrying: the job goes straight to dead."""


@dataclass(frozen=True)
class Claimed:
    id: int
    name: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    organization_id: int | None


def _claimable(now: datetime) -> list[Any]:
    """What may be claimed, as two index range scans on ix_job_status_run_at: jobs whose worker
    died (lease expired) first, then due queued jobs, oldest first. (One OR of both made
    PostgreSQL and SQLite read and sort every due job on each claim, so a claim got slower the
    longer the backlog: ~8 ms with 10,000 queued.)"""
    return [
        select(job_t.c.id).where(job_t.c.status == "running", job_t.c.lease_until < now),
        select(job_t.c.id).where(job_t.c.status == "queued", job_t.c.run_at <= now),
    ]


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Exponential backoff with equal jitter: base·2^(n-1), half fixed, half random."""
    delay = min(
        settings.JOB_BACKOFF_MAX_SECONDS, settings.JOB_BACKOFF_SECONDS * 2 ** (attempts - 1)
    )
    return delay / 2 + random.uniform(0, delay / 2)


class Runner:
    def __init__(self, db: Database, settings: Settings, worker: str) -> None:
        self.db = db
        self.settings = settings
        self.worker = worker
        self.in_flight: dict[int, int] = {}  # job id -> attempt number it runs as
        self._done: list[dict[str, Any]] = []

    # -- claiming -----------------------------------------------------------------------------
    async def claim(self, limit: int, ids: list[int] | None = None) -> list[Claimed]:
        if limit <= 0:
            return []
        now = utcnow()
        if ids is None:
            # a cheap read first: an idle worker never takes the (SQLite) write lock
            async with self.db.sessionmaker() as probe:
                for pick in _claimable(now):
                    if await probe.scalar(pick.limit(1)) is not None:
                        break
                else:
                    return []
        values = {
            "status": "running",
            "attempts": job_t.c.attempts + 1,
            "lease_until": now + timedelta(seconds=self.settings.JOB_LEASE_SECONDS),
            "worker": self.worker,
            "started_at": now,
        }
        rows: list[Any] = []
        session = await self.db.session(write=True)
        try:
            for pick in _claimable(now):
                want = limit - len(rows)
                if want <= 0:
                    break
                if ids is not None:
                    pick = pick.where(job_t.c.id.in_(ids))
                pick = pick.order_by(job_t.c.run_at, job_t.c.id).limit(want)
                if not self.db.is_sqlite:
                    pick = pick.with_for_update(skip_locked=True)
                stmt = (
                    update(job_t)
                    .where(job_t.c.id.in_(pick.scalar_subquery()))
                    .values(**values)
                    .returning(
                        job_t.c.id,
                        job_t.c.name,
                        job_t.c.args,
                        job_t.c.attempts,
                        job_t.c.max_attempts,
                        job_t.c.organization_id,
                    )
                )
                rows += (await session.execute(stmt)).all()
            await session.commit()
        finally:
            await session.close()
        claimed = [Claimed(*row) for row in rows]
        for c in claimed:
            self.in_flight[c.id] = c.attempts
        return claimed

    async def renew(self) -> None:
        """Extend the leases of the jobs this worker is running."""
        if not self.in_flight:
            return
        until = utcnow() + timedelta(seconds=self.settings.JOB_LEASE_SECONDS)
        session = await self.db.session(write=True)
        try:
            await session.execute(
                update(job_t)
                .where(
                    job_t.c.id.in_(list(self.in_flight)),
                    job_t.c.worker == self.worker,
                    job_t.c.status == "running",
                )
                .values(lease_until=until)
            )
            await session.commit()
        finally:
            await session.close()

    # -- running ------------------------------------------------------------------------------
    async def run(self, job: Claimed) -> str:
        """Run one claimed job; returns succeeded, retry, dead or lost (another worker has it)."""
        spec = registry.JOBS.get(job.name)
        ctx = JobContext(
            db=self.db,
            settings=self.settings,
            job_id=job.id,
            name=job.name,
            attempt=job.attempts,
            organization_id=job.organization_id,
            worker=self.worker,
        )
        try:
            if spec is None:
                raise PermanentError(f"no job named {job.name!r} is registered in this process")
            result = await asyncio.wait_for(spec.fn(ctx, **job.args), spec.timeout)
            session = ctx._session
            if session is None:
                # no database effect: completion is batched by flush()
                self._done.append(
                    {"b_id": job.id, "b_attempts": job.attempts, "b_result": jsonable(result)}
                )
                return "succeeded"
            done = await session.execute(self._finish_stmt(), self._finish_params(job, result))
            if done.rowcount != 1:
                # the lease expired and another worker took the job: its run wins
                await session.rollback()
                log.warning("job lost its lease", job_id=job.id, name=job.name)
                return "lost"
            await session.commit()
            return "succeeded"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            if ctx._session is not None:
                await ctx._session.rollback()
            return await self._fail(job, exc)
        finally:
            if ctx._session is not None:
                await ctx._session.close()
            self.in_flight.pop(job.id, None)

    @staticmethod
    def _finish_stmt() -> Any:
        return (
            update(job_t)
            .where(
                job_t.c.id == bindparam("b_id"),
                job_t.c.attempts == bindparam("b_attempts"),
                job_t.c.status == "running",
            )
            .values(
                status="succeeded",
                finished_at=bindparam("b_now"),
                lease_until=None,
                result=bindparam("b_result"),
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )

    @staticmethod
    def _finish_params(job: Claimed, result: Any) -> dict[str, Any]:
        return {
            "b_id": job.id,
            "b_attempts": job.attempts,
            "b_result": jsonable(result),
            "b_now": utcnow(),
        }

    async def flush(self) -> int:
        """Mark the finished jobs that had no database effect as succeeded, in one statement."""
        if not self._done:
            return 0
        done, self._done = self._done, []
        now = utcnow()
        for row in done:
            row["b_now"] = now
        session = await self.db.session(write=True)
        try:
            await session.execute(self._finish_stmt(), done)
            await session.commit()
        finally:
            await session.close()
        return len(done)

    async def _fail(self, job: Claimed, exc: BaseException) -> str:
        permanent = isinstance(exc, PermanentError)
        if isinstance(exc, TimeoutError):
            message = f"timed out after {registry.JOBS[job.name].timeout:g} s"
        else:
            message = f"{type(exc).__name__}: {exc}"
        detail = "".join(traceback.format_exception(exc)[-6:])
        dead = permanent or job.attempts >= job.max_attempts
        values: dict[str, Any] = {
            "last_error": f"{message}\n{detail}"[:4000],
            "lease_until": None,
        }
        if dead:
            values |= {"status": "dead", "finished_at": utcnow()}
        else:
            delay = backoff_seconds(self.settings, job.attempts)
            values |= {
                "status": "queued",
                "run_at": utcnow() + timedelta(seconds=delay),
                "dispatched_at": None,
            }
        session = await self.db.session(write=True)
        try:
            await session.execute(
                update(job_t)
                .where(
                    job_t.c.id == job.id,
                    job_t.c.attempts == job.attempts,
                    job_t.c.status == "running",
                )
                .values(**values)
            )
            await session.commit()
        finally:
            await session.close()
        outcome = "dead" if dead else "retry"
        log.warning(
            "job failed",
            job_id=job.id,
            name=job.name,
            attempt=job.attempts,
            outcome=outcome,
            error=message[:300],
        )
        return outcome
