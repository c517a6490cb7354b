"""CSV imports and exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from aicrm.auth.deps import Session, require
from aicrm.db import TxRoute
from aicrm.imports import service
from aicrm.imports.schemas import Entity, ImportReport, OnDuplicate
from aicrm.kit.filtering import query_params
from aicrm.kit.principal import Permission, Principal

router = APIRouter(prefix="/api/v1", tags=["imports"], route_class=TxRoute)
Importer = Annotated[Principal, Depends(require(Permission.import_))]
Exporter = Annotated[Principal, Depends(require(Permission.export))]


@router.post("/imports/{entity}", response_model=ImportReport)
async def import_csv(
    entity: Entity,
    principal: Importer,
    session: Session,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, header row first")],
    mapping: Annotated[
        str | None, Form(description='JSON {"CSV column": "field"}; null ignores a column')
    ] = None,
    dry_run: Annotated[bool, Form(description="validate and count; write nothing")] = False,
    on_duplicate: Annotated[OnDuplicate, Form()] = OnDuplicate.skip,
) -> ImportReport:
    """Import a CSV of contacts, companies or leads, streamed row by row. Columns map by header
    (field names, common aliases such as "E-mail" or "Company", `custom.<key>`, tags as
    "a, b"); rows matching a record by email or phone (companies: domain or name) are skipped,
    updated or created anew per `on_duplicate`. Errors name the row and field."""
    return await service.import_file(
        session,
        principal,
        entity,
        file.file,
        mapping=service.parse_mapping(mapping),
        dry_run=dry_run,
        on_duplicate=on_duplicate,
        source=file.filename or "upload",
    )


@router.get(
    "/exports/{entity}.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "the CSV file"}},
)
async def export_csv(
    entity: Entity, request: Request, principal: Exporter, session: Session
) -> StreamingResponse:
    """Export as CSV (custom fields as `custom.<key>`, tags as "a, b"), streamed page by page;
    takes the same filters as the entity's list."""
    plan = await service.plan_export(
        session, principal, entity, query_params(request.query_params.multi_items())
    )
    return StreamingResponse(
        service.stream_export(request.app.state.db, plan),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{entity.value}.csv"'},
    )
