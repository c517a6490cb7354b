"""Process-wide job backend: what happens right after a transaction that queued jobs or emitted
events commits.

Embedded mode wakes the in-process worker and relay; Celery mode sends the job ids to the broker.
Realtime messages for the committed events are published here too, so websocket clients hear
about a change within milliseconds of its commit. One SQLAlchemy `after_commit` hook serves
requests, jobs and CLI commands alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from aicrm.config import Settings, get_settings
from aicrm.logging import get_logger

log = get_logger("aicrm.jobs")

EVENTS_KEY = "aicrm_events"
JOBS_KEY = "aicrm_jobs"
MARKS_KEY = "aicrm_savepoint_marks"

_settings: Settings | None = None
_wake_jobs: Callable[[], None] | None = None
_wake_relay: Callable[[], None] | None = None
_celery_send: Callable[[list[int], bool], None] | None = None
_installed = False


def configure(
    settings: Settings,
    *,
    wake_jobs: Callable[[], None] | None = None,
    wake_relay: Callable[[], None] | None = None,
) -> None:
    """Called by `aicrm serve`/`aicrm worker` start-up (and tests) before any job is queued."""
    global _settings, _wake_jobs, _wake_relay
    _settings = settings
    if wake_jobs is not None:
        _wake_jobs = wake_jobs
    if wake_relay is not None:
        _wake_relay = wake_relay
    install_hooks()
    if settings.CELERY_BROKER_URL and _celery_send is None:
        # import Celery and register the sender at start-up: imported lazily by the first
        # commit that queues a job, it held up that request (and the event loop) ~0.25 s
        from aicrm.jobs import celery_app  # noqa: F401


def detach() -> None:
    """Forget the in-process worker (on its shutdown)."""
    global _wake_jobs, _wake_relay
    _wake_jobs = None
    _wake_relay = None


def settings() -> Settings:
    return _settings or get_settings()


def is_celery() -> bool:
    return bool(settings().CELERY_BROKER_URL)


def set_celery_sender(send: Callable[[list[int], bool], None] | None) -> None:
    """`send(job_ids, relay)` publishes run-jobs / relay messages (set by aicrm.jobs.celery_app)."""
    global _celery_send
    _celery_send = send


def install_hooks() -> None:
    global _installed
    if _installed:
        return
    event.listen(Session, "after_transaction_create", _after_transaction_create)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True


def _after_transaction_create(session: Session, transaction: Any) -> None:
    # a SAVEPOINT begins: remember how much was queued before it
    if transaction.nested:
        session.info.setdefault(MARKS_KEY, []).append(
            {key: len(session.info.get(key, ())) for key in (EVENTS_KEY, JOBS_KEY)}
        )


def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        # a savepoint rolled back: what was queued inside it never happened
        marks = session.info.get(MARKS_KEY)
        if marks:
            for key, length in marks.pop().items():
                if key in session.info:
                    del session.info[key][length:]
        return
    for key in (JOBS_KEY, EVENTS_KEY, MARKS_KEY):
        session.info.pop(key, None)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # RELEASE SAVEPOINT is not the commit: its queued items wait for the real one
        marks = session.info.get(MARKS_KEY)
        if marks:
            marks.pop()
        return
    session.info.pop(MARKS_KEY, None)
    jobs: list[Any] | None = session.info.pop(JOBS_KEY, None)
    events: list[Any] | None = session.info.pop(EVENTS_KEY, None)
    if not jobs and not events:
        return
    if events:
        try:
            from aicrm.realtime import publish_events

            publish_events(events)
        except Exception:  # noqa: BLE001 - realtime is best effort; the outbox keeps the event
            log.exception("realtime publish failed")
    if is_celery():
        if _celery_send is None:
            from aicrm.jobs import celery_app  # noqa: F401 - registers the sender

        now_ids = [j.id for j in jobs or () if j.dispatched_at is not None]
        if _celery_send is not None:
            try:
                _celery_send(now_ids, bool(events))
            except Exception:  # noqa: BLE001 - the beat sweep re-sends what was not sent
                log.exception("could not send jobs to the broker; the sweep will")
        return
    if jobs and _wake_jobs is not None:
        _wake_jobs()
    if events and _wake_relay is not None:
        _wake_relay()
