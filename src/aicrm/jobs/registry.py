"""Job and periodic-job registration: task functions shared by the embedded worker and Celery."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aicrm.config import Settings

JobFn = Callable[..., Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: JobFn
    max_attempts: int | None = None
    timeout: float = 300.0


@dataclass(frozen=True)
class PeriodicSpec:
    """Enqueued once per time slot (idempotency key `periodic:<name>:<slot>`), whatever the number
    of processes ticking."""

    name: str
    every: float
    args: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, JobSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}

# Domain modules that register jobs, event consumers or periodic work; imported once per process.
JOB_MODULES = (
    "aicrm.jobs.builtin",
    "aicrm.notifications.jobs",
    "aicrm.webhooks.jobs",
    "aicrm.automation.jobs",
    "aicrm.ai.jobs",
    "aicrm.ai.classifiers.jobs",
    "aicrm.ai.scoring.jobs",
    "aicrm.ai.customers.jobs",
    "aicrm.ai.workload.jobs",
    "aicrm.ai.forecast.jobs",
    "aicrm.assistant.jobs",
    "aicrm.assistant.toolset",  # the tools + the follow-up sequence stop-on-reply consumer
)


def job(
    name: str, *, max_attempts: int | None = None, timeout: float = 300.0
) -> Callable[[JobFn], JobFn]:
    """Register `async def fn(ctx: JobContext, **args) -> dict | None` under `name`."""

    def register(fn: JobFn) -> JobFn:
        if name in JOBS and JOBS[name].fn is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        JOBS[name] = JobSpec(name, fn, max_attempts, timeout)
        return fn

    return register


def periodic(name: str, *, every: float, args: dict[str, Any] | None = None) -> None:
    """Run the registered job `name` every `every` seconds (at most once per slot cluster-wide)."""
    PERIODIC[name] = PeriodicSpec(name, every, dict(args or {}))


_loaded = False


def load_job_modules(settings: Settings | None = None) -> None:
    global _loaded
    if _loaded:
        return
    extra = tuple(settings.JOB_MODULES) if settings is not None else ()
    for module in JOB_MODULES + extra:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # a domain that is not part of this build is left out
            if not exc.name or not (module == exc.name or module.startswith(exc.name + ".")):
                raise
    _loaded = True


def get(name: str) -> JobSpec:
    return JOBS[name]
