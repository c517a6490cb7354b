"""An organization's own text classifiers: labelled examples in, a trained model out.

Creating a classifier (or adding examples, or asking to retrain) stores the examples and queues
the `ai.train_classifier` job in the same transaction; the job trains off the event loop and
stores the fitted model on the classifier row with its held-out metrics, bumping
`model_version`. `version` counts training requests: a job whose request was superseded by a
newer one discards its result, so the newest examples always win.

Every prediction through `classify()` (the API's and other features') is an AI decision: one
audit entry `ai.classify` per call, with the count, the model version and the labels given.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.ai.classifiers import engine
from aicrm.ai.classifiers.repository import SORTABLE, ClassifierRepo
from aicrm.ai.classifiers.schemas import (
    MAX_EXAMPLES,
    MAX_LABELS,
    MIN_PER_LABEL,
    ClassifierCreate,
    ClassifierStatus,
    Example,
    ExamplesIn,
)
from aicrm.audit import service as audit
from aicrm.errors import Conflict, Invalid, NotFound
from aicrm.jobs import enqueue
from aicrm.kit.principal import Principal
from aicrm.models import AIClassifier, utcnow

ENTITY = "ai_classifier"
TRAIN_JOB = "ai.train_classifier"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
THREAD_BELOW = 64  # texts: smaller batches are predicted on the event loop (sub-millisecond)

Prediction = engine.Prediction


# -- input ---------------------------------------------------------------------------------


def invalid_from(exc: ValidationError, prefix: str = "") -> Invalid:
    """A pydantic error as a 422 naming each field (`examples.3.label`)."""
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        name = f"{prefix}.{loc}" if prefix and loc else prefix or loc or "body"
        errors.append({"field": name, "message": err.get("msg", "invalid value")})
    first = errors[0] if errors else {"field": "body", "message": "invalid value"}
    return Invalid(f"{first['field']}: {first['message']}", errors=errors)


def parse_csv(
    data: bytes, *, text_column: str = "text", label_column: str = "label"
) -> list[Example]:
    """Examples from a CSV upload with a header row; blank rows are skipped."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(
            f"the file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB", field="file"
        )
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the file is not UTF-8 text", field="file") from exc
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise Invalid("the file is empty", field="file") from None
    except csv.Error as exc:
        raise Invalid(f"the file is not valid CSV: {exc}", field="file") from exc
    lowered = [h.lower() for h in header]
    columns = {}
    for field, wanted in (("text_column", text_column), ("label_column", label_column)):
        if wanted.strip().lower() not in lowered:
            raise Invalid(
                f"the file has no column {wanted!r} (columns: {', '.join(header) or 'none'})",
                field=field,
            )
        columns[field] = lowered.index(wanted.strip().lower())
    ti, li = columns["text_column"], columns["label_column"]
    out: list[Example] = []
    try:
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            text = row[ti].strip() if ti < len(row) else ""
            label = row[li].strip() if li < len(row) else ""
            if len(out) >= MAX_EXAMPLES:
                raise Invalid(f"the file has more than {MAX_EXAMPLES} examples", field="file")
            try:
                out.append(Example(text=text, label=label))
            except ValidationError as exc:
                err = exc.errors()[0]
                name = ".".join(str(p) for p in err.get("loc", ()))
                raise Invalid(f"line {line}, {name}: {err.get('msg')}", field="file") from exc
    except csv.Error as exc:
        raise Invalid(f"the file is not valid CSV: {exc}", field="file") from exc
    if not out:
        raise Invalid("the file has no examples", field="file")
    return out


def check_examples(counts: Counter[str] | dict[str, int], *, field: str = "examples") -> None:
    """Enough labels and enough examples of each to train and measure a classifier."""
    if len(counts) < 2:
        raise Invalid("give examples of at least two labels", field=field)
    if len(counts) > MAX_LABELS:
        raise Invalid(f"at most {MAX_LABELS} labels", field=field)
    few = sorted(label for label, n in counts.items() if n < MIN_PER_LABEL)
    if few:
        shown = ", ".join(repr(x) for x in few[:5]) + (" …" if len(few) > 5 else "")
        raise Invalid(
            f"each label needs at least {MIN_PER_LABEL} examples; too few for {shown}",
            field=field,
        )
    total = sum(counts.values())
    if total > MAX_EXAMPLES:
        raise Invalid(f"at most {MAX_EXAMPLES} examples per classifier", field=field)


# -- reading -------------------------------------------------------------------------------


async def list_classifiers(
    session: AsyncSession, principal: Principal, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[AIClassifier], str | None]:
    repo = ClassifierRepo.from_session(session, principal)
    return await repo.page(repo.select(), sort="id", sortable=SORTABLE, cursor=cursor, limit=limit)


async def get(session: AsyncSession, principal: Principal, classifier_id: int) -> AIClassifier:
    return await ClassifierRepo.from_session(session, principal).get(classifier_id)


async def find(
    session: AsyncSession, principal: Principal, classifier_id_or_name: int | str
) -> AIClassifier:
    """By id, or by name (what other features keep in their settings)."""
    repo = ClassifierRepo.from_session(session, principal)
    if isinstance(classifier_id_or_name, int):
        return await repo.get(classifier_id_or_name)
    found = await repo.by_name(classifier_id_or_name)
    if found is None:
        raise NotFound(f"classifier {classifier_id_or_name!r} not found")
    return found


async def label_counts(
    session: AsyncSession, principal: Principal, classifier_id: int
) -> dict[str, int]:
    return await ClassifierRepo.from_session(session, principal).label_counts(classifier_id)


def effective_floor(clf: AIClassifier) -> float | None:
    if clf.confidence_floor is not None:
        return float(clf.confidence_floor)
    value = (clf.metrics or {}).get("floor")
    return float(value) if value is not None else None


def to_out(clf: AIClassifier) -> dict[str, Any]:
    metrics = clf.metrics or {}
    return {
        "id": clf.id,
        "created_at": clf.created_at,
        "updated_at": clf.updated_at,
        "name": clf.name,
        "description": clf.description,
        "purpose": clf.purpose,
        "status": clf.status,
        "error": clf.error,
        "labels": list(clf.labels or []),
        "example_count": clf.example_count,
        "confidence_floor": effective_floor(clf),
        "floor_source": "given" if clf.confidence_floor is not None else "held-out",
        "model_version": clf.model_version,
        "trained_at": clf.trained_at,
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
    }


async def to_detail(
    session: AsyncSession, principal: Principal, clf: AIClassifier
) -> dict[str, Any]:
    return {
        **to_out(clf),
        "label_counts": await label_counts(session, principal, clf.id),
        "metrics": dict(clf.metrics or {}),
    }


def _audit_view(clf: AIClassifier) -> dict[str, Any]:
    return {
        "name": clf.name,
        "purpose": clf.purpose,
        "labels": list(clf.labels or []),
        "example_count": clf.example_count,
        "confidence_floor": clf.confidence_floor,
        "status": clf.status,
        "model_version": clf.model_version,
    }


# -- writing -------------------------------------------------------------------------------


async def _queue_training(session: AsyncSession, clf: AIClassifier) -> None:
    clf.version = (clf.version or 0) + 1
    clf.status = ClassifierStatus.queued.value
    clf.error = None
    await session.flush()
    await enqueue(
        session,
        TRAIN_JOB,
        {"classifier_id": clf.id, "generation": clf.version},
        organization_id=clf.organization_id,
        idempotency_key=f"{TRAIN_JOB}:{clf.id}:{clf.version}",
    )


async def create(
    session: AsyncSession, principal: Principal, data: ClassifierCreate
) -> AIClassifier:
    """Store the classifier and its examples; training is queued (status `queued`)."""
    counts = Counter(e.label for e in data.examples)
    check_examples(counts)
    repo = ClassifierRepo.from_session(session, principal)
    if await repo.by_name(data.name) is not None:
        raise Conflict(
            f"a classifier named {data.name!r} already exists",
            errors=[{"field": "name", "message": "already used by another classifier"}],
        )
    clf = AIClassifier(
        name=data.name,
        description=data.description,
        purpose=data.purpose.value,
        labels=sorted(counts),
        status=ClassifierStatus.queued.value,
        confidence_floor=data.confidence_floor,
        metrics={},
        example_count=len(data.examples),
        model_version=0,
        version=0,
    )
    await repo.add(clf)
    await repo.add_examples(clf.id, [(e.text, e.label) for e in data.examples])
    await _queue_training(session, clf)
    await audit.record(session, principal, "create", ENTITY, clf.id, after=_audit_view(clf))
    return clf


async def add_examples(
    session: AsyncSession, principal: Principal, classifier_id: int, data: ExamplesIn
) -> AIClassifier:
    """Append labelled examples (new labels allowed) and retrain."""
    repo = ClassifierRepo.from_session(session, principal)
    clf = await repo.get(classifier_id, for_update=True)
    counts = Counter(await repo.label_counts(clf.id))
    counts.update(e.label for e in data.examples)
    check_examples(counts)
    before = _audit_view(clf)
    await repo.add_examples(clf.id, [(e.text, e.label) for e in data.examples])
    clf.example_count = sum(counts.values())
    await _queue_training(session, clf)
    await audit.record(
        session,
        principal,
        "update",
        ENTITY,
        clf.id,
        before={"example_count": before["example_count"]},
        after={"example_count": clf.example_count, "added": len(data.examples)},
    )
    return clf


async def retrain(
    session: AsyncSession,
    principal: Principal,
    classifier_id: int,
    *,
    confidence_floor: float | None = None,
    set_floor: bool = False,
) -> AIClassifier:
    """Queue a new training of the stored examples (optionally with another floor)."""
    clf = await ClassifierRepo.from_session(session, principal).get(classifier_id, for_update=True)
    if set_floor:
        clf.confidence_floor = confidence_floor
    await _queue_training(session, clf)
    await audit.record(
        session, principal, "ai.train", ENTITY, clf.id, after={"generation": clf.version}
    )
    return clf


async def delete(session: AsyncSession, principal: Principal, classifier_id: int) -> None:
    repo = ClassifierRepo.from_session(session, principal)
    clf = await repo.get(classifier_id, for_update=True)
    view = _audit_view(clf)
    await repo.delete_examples(clf.id)
    await repo.delete(clf)
    forget(clf.id)
    await audit.record(session, principal, "delete", ENTITY, classifier_id, before=view)


# -- training (called by the job) ----------------------------------------------------------


def train_examples(
    examples: Sequence[tuple[str, str]], floor: float | None
) -> tuple[engine.TextClassifier, dict[str, Any]]:
    """CPU-bound: run it in a thread."""
    return engine.train([t for t, _ in examples], [lab for _, lab in examples], floor=floor)


async def store_model(
    session: AsyncSession,
    principal: Principal,
    classifier_id: int,
    generation: int,
    model: engine.TextClassifier,
    metrics: dict[str, Any],
    n_examples: int,
) -> bool:
    """Keep the trained model unless a newer training request superseded this one."""
    clf = await ClassifierRepo.from_session(session, principal).get_or_none(
        classifier_id, for_update=True
    )
    if clf is None or clf.version != generation:
        return False
    clf.blob = engine.dumps(model)
    clf.model_version = (clf.model_version or 0) + 1
    clf.metrics = {**metrics, "model_version": clf.model_version}
    clf.labels = list(model.labels)
    clf.example_count = n_examples
    clf.status = ClassifierStatus.ready.value
    clf.error = None
    clf.trained_at = utcnow()
    await session.flush()
    _remember((clf.id, clf.model_version), model)
    await audit.record(
        session,
        principal,
        "ai.trained",
        ENTITY,
        clf.id,
        after={
            "model_version": clf.model_version,
            "algorithm": metrics.get("algorithm"),
            "accuracy": metrics.get("accuracy"),
            "macro_f1": metrics.get("macro_f1"),
            "floor": metrics.get("floor"),
            "n_examples": n_examples,
            "training_seconds": metrics.get("training_seconds"),
        },
    )
    return True


async def mark(
    session: AsyncSession,
    organization_id: int,
    classifier_id: int,
    generation: int,
    status: ClassifierStatus,
    error: str | None = None,
) -> None:
    """Set the status of the training request `generation` (a superseded one is left alone)."""
    await session.execute(
        update(AIClassifier)
        .where(
            AIClassifier.organization_id == organization_id,
            AIClassifier.id == classifier_id,
            AIClassifier.version == generation,
        )
        .values(status=status.value, error=error)
        .execution_options(synchronize_session=False)
    )


# -- prediction ----------------------------------------------------------------------------

_CACHE: OrderedDict[tuple[int, int], engine.TextClassifier] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def _remember(key: tuple[int, int], model: engine.TextClassifier) -> None:
    with _LOCK:
        _CACHE[key] = model
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def forget(classifier_id: int) -> None:
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == classifier_id]:
            del _CACHE[key]


async def model_for(
    session: AsyncSession, principal: Principal, clf: AIClassifier
) -> engine.TextClassifier:
    """The fitted model of a ready classifier (unpickled once per process and version)."""
    if clf.status != ClassifierStatus.ready.value and not clf.model_version:
        raise Conflict(
            f"classifier {clf.id} is not ready (status {clf.status}); wait for training",
            status_of=clf.status,
        )
    key = (clf.id, clf.model_version)
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    blob = await ClassifierRepo.from_session(session, principal).blob(clf.id)
    if not blob:
        raise Conflict(f"classifier {clf.id} has no trained model yet", status_of=clf.status)
    model = await asyncio.to_thread(engine.loads, blob)
    _remember(key, model)
    return model


async def classify(
    session: AsyncSession,
    principal: Principal,
    classifier_id_or_name: int | str,
    texts: Sequence[str],
    *,
    audit_it: bool = True,
) -> list[Prediction]:
    """Label each text with the organization's classifier (None: none of its labels).

    While a retrain runs, the previous model keeps answering. Writes one audit entry."""
    clf = await find(session, principal, classifier_id_or_name)
    model = await model_for(session, principal, clf)
    floor = effective_floor(clf)
    items = [t or "" for t in texts]
    if len(items) < THREAD_BELOW:
        predictions = model.predict(items, floor=floor)
    else:
        predictions = await asyncio.to_thread(model.predict, items, floor=floor)
    if audit_it:
        given = Counter(p.label if p.label is not None else "(none)" for p in predictions)
        await audit.record(
            session,
            principal,
            "ai.classify",
            ENTITY,
            clf.id,
            after={
                "count": len(items),
                "model": engine.ALGORITHM,
                "model_version": clf.model_version,
                "floor": floor,
                "labels": dict(given.most_common(20)),
            },
        )
    return predictions
