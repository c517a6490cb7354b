"""`ai.train_classifier`: train one classifier's examples off the event loop.

The examples are read in a short read session, the status `training` is committed on its own
(clients polling GET see it), the CPU work runs in a thread, and only then the job's write
transaction stores the model — so on SQLite the write lock is never held while training.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aicrm.ai.classifiers import engine, service
from aicrm.ai.classifiers.repository import ClassifierRepo
from aicrm.ai.classifiers.schemas import ClassifierStatus
from aicrm.jobs import JobContext, job
from aicrm.logging import get_logger

log = get_logger("aicrm.ai")


@job(service.TRAIN_JOB, max_attempts=2, timeout=900)
async def train_classifier(ctx: JobContext, classifier_id: int, generation: int) -> dict[str, Any]:
    """Train the classifier on its stored examples (skipped when superseded or deleted)."""
    principal = ctx.principal
    async with ctx.read() as read:
        repo = ClassifierRepo.from_session(read, principal)
        clf = await repo.get_or_none(classifier_id)
        if clf is None or clf.version != generation:
            return {"skipped": "deleted" if clf is None else "superseded"}
        floor = clf.confidence_floor
        examples = await repo.examples(classifier_id)
    status = await ctx.db.session(write=True)
    try:
        await service.mark(
            status, principal.organization_id, classifier_id, generation, ClassifierStatus.training
        )
        await status.commit()
    finally:
        await status.close()
    try:
        model, metrics = await asyncio.to_thread(service.train_examples, examples, floor)
    except engine.TrainingError as exc:
        session = await ctx.session()
        await service.mark(
            session,
            principal.organization_id,
            classifier_id,
            generation,
            ClassifierStatus.failed,
            str(exc),
        )
        return {"failed": str(exc)}
    except Exception as exc:
        log.error("classifier_training_failed", classifier_id=classifier_id, exc_info=exc)
        session = await ctx.session()
        await service.mark(
            session,
            principal.organization_id,
            classifier_id,
            generation,
            ClassifierStatus.failed,
            f"training failed: {type(exc).__name__}: {exc}"[:500],
        )
        return {"failed": type(exc).__name__}
    session = await ctx.session()
    kept = await service.store_model(
        session, principal, classifier_id, generation, model, metrics, len(examples)
    )
    return {
        "stored": kept,
        "accuracy": metrics.get("accuracy"),
        "training_seconds": metrics.get("training_seconds"),
    }
