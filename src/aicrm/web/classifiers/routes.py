"""Settings → Classifiers: the organization's custom text classifiers, created by uploading a
labelled CSV, with their held-out metrics per label and a box to try them.

Everyone reads; owners and admins (settings permission) create, retrain and delete; members
who may write records try predictions (each one is audited, like the API's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from aicrm.ai.classifiers import service
from aicrm.ai.classifiers.schemas import MAX_BATCH, ClassifierCreate, Purpose
from aicrm.errors import AICRMError, Invalid
from aicrm.kit.principal import Permission
from aicrm.models import AIClassifier
from aicrm.web.core import (
    Ctx,
    WebCtx,
    WebRoute,
    field_errors,
    on_error,
    page,
    partial,
    redirect,
    toast,
)
from aicrm.web.session import set_flash

router = APIRouter(prefix="/settings/classifiers", route_class=WebRoute, include_in_schema=False)

BADGES = {
    "queued": "badge-pending",
    "training": "badge-in-progress",
    "ready": "badge-done",
    "failed": "badge-lost",
}
PURPOSES = [(p.value, p.value.replace("_", " ").capitalize()) for p in Purpose]


def _row(clf: AIClassifier) -> dict[str, Any]:
    return {"c": clf, "out": service.to_out(clf), "badge": BADGES.get(clf.status, "badge-neutral")}


def _busy(classifiers: list[AIClassifier]) -> bool:
    return any(c.status in ("queued", "training") for c in classifiers)


async def _list_page(
    ctx: Ctx,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    rows, _ = await service.list_classifiers(ctx.session, ctx.principal, limit=200)
    return await page(
        ctx,
        "classifiers/page.html",
        status=status,
        active="classifiers",
        rows=[_row(c) for c in rows],
        busy=_busy(rows),
        values=values or {"purpose": "custom", "text_column": "text", "label_column": "label"},
        errors=errors or {},
        form_error=error,
        purposes=PURPOSES,
    )


@router.get("")
async def classifiers_page(ctx: WebCtx) -> HTMLResponse:
    ctx.require(Permission.read)
    return await _list_page(ctx)


@router.get("/rows")
async def classifier_rows(ctx: WebCtx) -> HTMLResponse:
    """The table alone, refreshed while a classifier trains."""
    ctx.require(Permission.read)
    rows, _ = await service.list_classifiers(ctx.session, ctx.principal, limit=200)
    return await partial(
        ctx, "classifiers/_rows.html", rows=[_row(c) for c in rows], busy=_busy(rows)
    )


@router.post("")
async def create_classifier(ctx: WebCtx) -> Response:
    ctx.require(Permission.settings)
    form = await ctx.request.form()
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("name", "description", "purpose", "text_column", "label_column")
    }

    async def failed(exc: AICRMError) -> Response:
        return await _list_page(
            ctx, status=422, values=values, errors=field_errors(exc), error=exc.message
        )

    on_error(ctx.request, failed)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid("Choose a CSV file with a text and a label column", field="file")
    examples = service.parse_csv(
        await upload.read(service.MAX_UPLOAD_BYTES + 1),
        text_column=values["text_column"] or "text",
        label_column=values["label_column"] or "label",
    )
    try:
        data = ClassifierCreate.model_validate(
            {
                "name": values["name"],
                "description": values["description"],
                "purpose": values["purpose"] or "custom",
                "examples": [e.model_dump() for e in examples],
            }
        )
    except ValidationError as exc:
        raise service.invalid_from(exc) from exc
    clf = await service.create(ctx.session, ctx.principal, data)
    response = redirect(ctx.request, f"/settings/classifiers/{clf.id}")
    set_flash(response, f"Classifier created from {len(examples)} examples; training started.")
    return response


async def _detail_context(ctx: Ctx, classifier_id: int) -> dict[str, Any]:
    clf = await service.get(ctx.session, ctx.principal, classifier_id)
    detail = await service.to_detail(ctx.session, ctx.principal, clf)
    per_label = detail["metrics"].get("per_label") or {}
    labels = sorted(set(detail["label_counts"]) | set(per_label))
    return {
        "clf": clf,
        "d": detail,
        "badge": BADGES.get(clf.status, "badge-neutral"),
        "busy": clf.status in ("queued", "training"),
        "label_rows": [
            {"label": lab, "count": detail["label_counts"].get(lab, 0), "m": per_label.get(lab)}
            for lab in labels
        ],
    }


@router.get("/{classifier_id}")
async def classifier_page(ctx: WebCtx, classifier_id: int) -> HTMLResponse:
    ctx.require(Permission.read)
    context = await _detail_context(ctx, classifier_id)
    return await page(ctx, "classifiers/detail.html", active="classifiers", **context)


@router.get("/{classifier_id}/summary")
async def classifier_summary(ctx: WebCtx, classifier_id: int) -> HTMLResponse:
    """Status and metrics alone, refreshed while training."""
    ctx.require(Permission.read)
    context = await _detail_context(ctx, classifier_id)
    return await partial(ctx, "classifiers/_summary.html", **context)


@router.post("/{classifier_id}/try")
async def try_classifier(ctx: WebCtx, classifier_id: int) -> HTMLResponse:
    """Predict the posted texts (one per line)."""
    ctx.require(Permission.write)
    form = await ctx.request.form()
    texts = [t.strip() for t in str(form.get("texts") or "").splitlines() if t.strip()]
    if not texts:
        raise Invalid("Type at least one text, one per line", field="texts")
    texts = texts[:MAX_BATCH]
    clf = await service.get(ctx.session, ctx.principal, classifier_id)
    predictions = await service.classify(ctx.session, ctx.principal, clf.id, texts)
    return await partial(
        ctx,
        "classifiers/_predictions.html",
        results=list(zip(texts, predictions, strict=True)),
        floor=service.effective_floor(clf),
    )


@router.post("/{classifier_id}/train")
async def retrain(ctx: WebCtx, classifier_id: int) -> Response:
    ctx.require(Permission.settings)
    await service.retrain(ctx.session, ctx.principal, classifier_id)
    context = await _detail_context(ctx, classifier_id)
    return toast(await partial(ctx, "classifiers/_summary.html", **context), "Training queued")


@router.post("/{classifier_id}/delete")
async def delete(ctx: WebCtx, classifier_id: int) -> Response:
    ctx.require(Permission.settings)
    clf = await service.get(ctx.session, ctx.principal, classifier_id)
    name = clf.name
    await service.delete(ctx.session, ctx.principal, classifier_id)
    response = redirect(ctx.request, "/settings/classifiers")
    set_flash(response, f"Classifier {name} deleted.", "info")
    return response
