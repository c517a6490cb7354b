"""Per-organization trained models, versioned in the `ai_model` table.

`save()` serialises a fitted estimator (pickle: only this application writes these rows, and a
row is never built from user-supplied bytes) with its metrics, and — when `activate` — makes it
the version `load_active()` returns. Loaded estimators are cached per process by row id, so a
prediction costs no unpickling; a retrain adds a new row id, which invalidates naturally.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.kit.snapshot import jsonable
from aicrm.models import AIModel, utcnow

_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def dumps(estimator: Any) -> bytes:
    return pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)


def loads(blob: bytes) -> Any:
    return pickle.loads(blob)  # noqa: S301 - rows written only by save() below


async def save(
    session: AsyncSession,
    organization_id: int,
    kind: str,
    estimator: Any,
    *,
    algorithm: str,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    n_train: int = 0,
    activate: bool = True,
) -> AIModel:
    """Store a new version of `kind` for the organization; returns the row (flushed)."""
    latest = await session.scalar(
        select(func.max(AIModel.version)).where(
            AIModel.organization_id == organization_id, AIModel.kind == kind
        )
    )
    if activate:
        await session.execute(
            update(AIModel)
            .where(AIModel.organization_id == organization_id, AIModel.kind == kind)
            .values(is_active=False)
            .execution_options(synchronize_session=False)
        )
    row = AIModel(
        organization_id=organization_id,
        kind=kind,
        version=(latest or 0) + 1,
        algorithm=algorithm,
        status="ready",
        is_active=activate,
        metrics=jsonable(metrics or {}),
        params=jsonable(params or {}),
        blob=dumps(estimator) if estimator is not None else None,
        n_train=n_train,
        trained_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    if estimator is not None:
        _remember(_key(row), estimator)
    return row


async def active(session: AsyncSession, organization_id: int, kind: str) -> AIModel | None:
    """The active version's row (without loading the estimator)."""
    return await session.scalar(
        select(AIModel)
        .where(
            AIModel.organization_id == organization_id,
            AIModel.kind == kind,
            AIModel.is_active.is_(True),
        )
        .order_by(AIModel.version.desc())
        .limit(1)
    )


async def load_active(
    session: AsyncSession, organization_id: int, kind: str
) -> tuple[AIModel, Any] | None:
    """(row, estimator) of the active version, or None when the organization has none."""
    row = await active(session, organization_id, kind)
    if row is None or row.blob is None:
        return None
    return row, estimator_for(row)


def _key(row: AIModel) -> tuple[Any, ...]:
    # Not the id alone: one process may serve two databases (tests run SQLite and PostgreSQL
    # side by side) whose ids overlap; the training time to the microsecond tells them apart.
    return (row.id, row.organization_id, row.kind, row.version, row.trained_at)


def estimator_for(row: AIModel) -> Any:
    key = _key(row)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    est = loads(row.blob or b"")
    _remember(key, est)
    return est


def _remember(key: tuple[Any, ...], estimator: Any) -> None:
    with _LOCK:
        _CACHE[key] = estimator
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
