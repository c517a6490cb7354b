"""Jobs admin API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from aicrm.kit.schemas import Record, Schema


class JobState(StrEnum):
    """What an admin sees. `failed` is a queued job waiting for its retry (it has run and its
    last attempt raised); `queued` is one that has not failed yet. The six never overlap."""

    queued = "queued"
    running = "running"
    failed = "failed"
    succeeded = "succeeded"
    dead = "dead"
    discarded = "discarded"


class JobOut(Record):
    name: str
    status: JobState = Field(
        description="queued, running, failed (waiting to retry), succeeded, dead or discarded"
    )
    attempts: int
    max_attempts: int
    args: dict[str, Any]
    run_at: datetime = Field(description="When it runs next (queued/failed) or ran")
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: datetime | None
    worker: str | None
    last_error: str | None
    result: Any = None
    idempotency_key: str | None


class JobStats(Schema):
    queued: int = 0
    running: int = 0
    failed: int = 0
    succeeded: int = 0
    dead: int = 0
    discarded: int = 0
    total: int = 0
