"""Durable jobs: one API for the embedded worker and Celery.

from aicrm.jobs import JobContext, enqueue, job

@job("webhooks.deliver", max_attempts=8)
async def deliver(ctx: JobContext, delivery_id: int) -> dict | None: ...

await enqueue(session, "webhooks.deliver", {"delivery_id": 5}, organization_id=org_id)
"""

from aicrm.jobs.context import JobContext
from aicrm.jobs.queue import enqueue
from aicrm.jobs.registry import job, periodic
from aicrm.jobs.runner import PermanentError

__all__ = ["JobContext", "PermanentError", "enqueue", "job", "periodic"]
