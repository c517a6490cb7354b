"""Custom classifiers: an organization's own labels (ticket categories, intents, routing
queues) learnt from its labelled examples, then used to label new texts.

Who may do what: owners and admins (the settings permission) create, feed, retrain and delete
classifiers; every member reads them; members who may write records (agents and up) predict,
because each prediction is an audited AI decision used for triage and routing.

Training is a durable job: create, add examples and train answer 202 with `status` queued;
poll `GET /api/v1/ai/classifiers/{id}` until `ready` (or `failed` with `error`). While a
retrain runs, the previous model keeps answering predictions.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from aicrm.ai.classifiers import service
from aicrm.ai.classifiers.schemas import (
    ClassifierCreate,
    ClassifierDetail,
    ClassifierOut,
    ExamplesIn,
    PredictIn,
    PredictOut,
    TrainIn,
)
from aicrm.auth.deps import Reader, Session, Writer, require
from aicrm.db import TxRoute
from aicrm.errors import Invalid
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page

router = APIRouter(prefix="/api/v1/ai/classifiers", tags=["ai"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]

_CSV_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV with a header row"},
        "text_column": {"type": "string", "default": "text"},
        "label_column": {"type": "string", "default": "label"},
    },
}


def _inline(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined (the body is read by hand, so FastAPI
    does not list the model among the document's components)."""
    doc = schema.model_json_schema()
    defs = doc.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(doc)  # type: ignore[no-any-return]


def _body_doc(schema: type[BaseModel], form_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    form = json.loads(json.dumps(_CSV_FORM))
    form["properties"].update(form_extra or {})
    if form_extra and "name" in form_extra:
        form["required"] = ["file", "name"]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline(schema)},
                "multipart/form-data": {"schema": form},
            },
        }
    }


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid("the body is not valid JSON", field="body") from exc


async def _form_examples(request: Request) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Multipart: the CSV file's examples and the other form fields."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Invalid("attach a CSV file with text and label columns", field="file")
    fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    data = await upload.read(service.MAX_UPLOAD_BYTES + 1)
    examples = service.parse_csv(
        data,
        text_column=fields.pop("text_column", "") or "text",
        label_column=fields.pop("label_column", "") or "label",
    )
    return fields, [e.model_dump() for e in examples]


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith("multipart/form-data") or kind.startswith(
        "application/x-www-form-urlencoded"
    )


async def create_input(request: Request) -> ClassifierCreate:
    if _is_form(request):
        fields, examples = await _form_examples(request)
        raw: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
        raw["examples"] = examples
    else:
        raw = await _json(request)
    try:
        return ClassifierCreate.model_validate(raw)
    except ValidationError as exc:
        raise service.invalid_from(exc) from exc


async def examples_input(request: Request) -> ExamplesIn:
    if _is_form(request):
        _, examples = await _form_examples(request)
        raw: Any = {"examples": examples}
    else:
        raw = await _json(request)
    try:
        return ExamplesIn.model_validate(raw)
    except ValidationError as exc:
        raise service.invalid_from(exc) from exc


@router.get("", response_model=Page[ClassifierOut])
async def list_classifiers(
    principal: Reader,
    session: Session,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> Page[ClassifierOut]:
    """The organization's classifiers with their status and held-out accuracy."""
    rows, nxt = await service.list_classifiers(session, principal, cursor=cursor, limit=limit)
    return Page[ClassifierOut](
        items=[ClassifierOut.model_validate(service.to_out(r)) for r in rows], next_cursor=nxt
    )


@router.post(
    "",
    response_model=ClassifierDetail,
    status_code=202,
    openapi_extra=_body_doc(
        ClassifierCreate,
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "purpose": {"type": "string", "default": "custom"},
            "confidence_floor": {"type": "number"},
        },
    ),
)
async def create_classifier(request: Request, principal: Admin, session: Session) -> Any:
    """Create a classifier from labelled examples — JSON `{name, description?, purpose?,
    examples: [{text, label}], confidence_floor?}` or a multipart CSV upload (`file` with a
    header row; `text_column` / `label_column` name the columns, default text and label) with
    `name` and the other fields as form fields. At least two labels and three examples per
    label. Training is queued (202, status `queued`): poll GET until `ready`."""
    data = await create_input(request)
    clf = await service.create(session, principal, data)
    return await service.to_detail(session, principal, clf)


@router.get("/{classifier_id}", response_model=ClassifierDetail)
async def get_classifier(classifier_id: int, principal: Reader, session: Session) -> Any:
    """Status (queued, training, ready, failed + error), labels, examples per label and the
    held-out metrics of the current model: accuracy, macro_f1, per_label, floor,
    training_seconds, model_version."""
    clf = await service.get(session, principal, classifier_id)
    return await service.to_detail(session, principal, clf)


@router.post(
    "/{classifier_id}/examples",
    response_model=ClassifierDetail,
    status_code=202,
    openapi_extra=_body_doc(ExamplesIn),
)
async def add_examples(
    classifier_id: int, request: Request, principal: Admin, session: Session
) -> Any:
    """Add labelled examples or history (JSON `{examples: [...]}` or a CSV upload); new
    labels are allowed. Queues a retrain."""
    await service.get(session, principal, classifier_id)  # another tenant's id: 404 first
    data = await examples_input(request)
    clf = await service.add_examples(session, principal, classifier_id, data)
    return await service.to_detail(session, principal, clf)


@router.post("/{classifier_id}/train", response_model=ClassifierDetail, status_code=202)
async def train_classifier(
    classifier_id: int, principal: Admin, session: Session, data: TrainIn | None = None
) -> Any:
    """Train again on the stored examples; `confidence_floor` sets the floor (null: choose it
    on held-out examples). The new model gets the next model_version."""
    fields = data.model_fields_set if data is not None else set()
    clf = await service.retrain(
        session,
        principal,
        classifier_id,
        confidence_floor=data.confidence_floor if data is not None else None,
        set_floor="confidence_floor" in fields,
    )
    return await service.to_detail(session, principal, clf)


@router.delete("/{classifier_id}", status_code=204)
async def delete_classifier(classifier_id: int, principal: Admin, session: Session) -> Response:
    """Delete a classifier, its examples and its model."""
    await service.delete(session, principal, classifier_id)
    return Response(status_code=204)


@router.post("/{classifier_id}/predict", response_model=PredictOut)
async def predict(
    classifier_id: int, data: PredictIn, principal: Writer, session: Session
) -> PredictOut:
    """Label up to 1,000 texts: per text the best label (null when its confidence is under the
    floor: none of these), its confidence and the top three. 409 until the first model is
    trained. One audit entry (`ai.classify`) per request."""
    clf = await service.get(session, principal, classifier_id)
    predictions = await service.classify(session, principal, clf.id, data.texts)
    return PredictOut.model_validate(
        {
            "classifier_id": clf.id,
            "model_version": clf.model_version,
            "confidence_floor": service.effective_floor(clf) or 0.0,
            "predictions": [p.to_dict() for p in predictions],
        }
    )
