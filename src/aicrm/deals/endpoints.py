"""Deals, the deal board, pipelines with their stages, and lead conversion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer, require
from aicrm.db import TxRoute
from aicrm.deals import service
from aicrm.deals.schemas import (
    Board,
    Conversion,
    DealCreate,
    DealMove,
    DealOut,
    DealUpdate,
    LeadConvert,
    PipelineCreate,
    PipelineOut,
    PipelineUpdate,
    StageCreate,
    StageUpdate,
)
from aicrm.kit.filtering import query_params
from aicrm.kit.http import parse_if_match
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import Page

router = APIRouter(prefix="/api/v1/deals", tags=["deals"], route_class=TxRoute)
pipelines = APIRouter(prefix="/api/v1/pipelines", tags=["deals"], route_class=TxRoute)
conversion = APIRouter(prefix="/api/v1/leads", tags=["leads"], route_class=TxRoute)
Admin = Annotated[Principal, Depends(require(Permission.settings))]


# -- deals (the board route comes before /{deal_id} so "board" is not read as an id) --------


@router.get("/board", response_model=Board)
async def deal_board(
    principal: Reader,
    session: Session,
    pipeline_id: int | None = None,
    per_column: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Board:
    """The board of a pipeline (default pipeline if omitted): stages in order with their cards in
    card order, counts, totals and probability-weighted totals."""
    return await service.board(session, principal, pipeline_id=pipeline_id, per_column=per_column)


@router.get("", response_model=Page[DealOut])
async def list_deals(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[DealOut]:
    """Deals, keyset-paginated. `q` searches the name; `stage=Proposal,Negotiation`,
    `status=open`; other filters as `field[__op]=value`, `tag=`, `custom.<key>=`."""
    items, nxt = await service.list_deals(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[DealOut](items=items, next_cursor=nxt)


@router.post("", response_model=DealOut, status_code=status.HTTP_201_CREATED)
async def create_deal(data: DealCreate, principal: Writer, session: Session) -> DealOut:
    """Create a deal at the end of its stage (default: first stage of the default pipeline)."""
    deal = await service.create(session, principal, data)
    return (await service.to_out(session, principal, [deal]))[0]


@router.get("/{deal_id}", response_model=DealOut)
async def get_deal(
    deal_id: int, principal: Reader, session: Session, response: Response
) -> DealOut:
    """One deal (ETag carries its version)."""
    deal = await service.get(session, principal, deal_id)
    response.headers["ETag"] = f'"{deal.version}"'
    return (await service.to_out(session, principal, [deal]))[0]


@router.patch("/{deal_id}", response_model=DealOut)
async def update_deal(
    deal_id: int,
    data: DealUpdate,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> DealOut:
    """Update a deal; send `version` (or If-Match) to refuse overwriting someone else's change.
    A new stage applies the won/lost rules (a lost stage needs `won_lost_reason`)."""
    deal = await service.update(
        session, principal, deal_id, data, if_match=parse_if_match(if_match)
    )
    return (await service.to_out(session, principal, [deal]))[0]


@router.put("/{deal_id}/stage", response_model=DealOut)
async def move_deal(
    deal_id: int,
    data: DealMove,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> DealOut:
    """Move a card: `{stage or stage_id, card_order}`. Moves on one board are serialised, so
    positions stay dense and unique."""
    deal = await service.move(session, principal, deal_id, data, if_match=parse_if_match(if_match))
    return (await service.to_out(session, principal, [deal]))[0]


@router.delete("/{deal_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_deal(deal_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a deal and its activities; the cards below it move up."""
    await service.delete(session, principal, deal_id)
    return Response(status_code=204)


# -- pipelines -----------------------------------------------------------------------------


@pipelines.get("", response_model=list[PipelineOut])
async def list_pipelines(principal: Reader, session: Session) -> list[PipelineOut]:
    """The organization's deal pipelines, default first, with their stages in order."""
    return await service.list_pipelines(session, principal)


@pipelines.post("", response_model=PipelineOut, status_code=status.HTTP_201_CREATED)
async def create_pipeline(data: PipelineCreate, principal: Admin, session: Session) -> PipelineOut:
    """Create a pipeline; without `stages` it gets the standard sales stages."""
    return await service.create_pipeline(session, principal, data)


@pipelines.get("/{pipeline_id}", response_model=PipelineOut)
async def get_pipeline(pipeline_id: int, principal: Reader, session: Session) -> PipelineOut:
    """One pipeline with its stages."""
    return await service.get_pipeline(session, principal, pipeline_id)


@pipelines.patch("/{pipeline_id}", response_model=PipelineOut)
async def update_pipeline(
    pipeline_id: int, data: PipelineUpdate, principal: Admin, session: Session
) -> PipelineOut:
    """Rename a pipeline or make it the default (there is always exactly one)."""
    return await service.update_pipeline(session, principal, pipeline_id, data)


@pipelines.delete("/{pipeline_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_pipeline(pipeline_id: int, principal: Admin, session: Session) -> Response:
    """Delete a pipeline that has no deals and is not the default."""
    await service.delete_pipeline(session, principal, pipeline_id)
    return Response(status_code=204)


@pipelines.post(
    "/{pipeline_id}/stages", response_model=PipelineOut, status_code=status.HTTP_201_CREATED
)
async def create_stage(
    pipeline_id: int, data: StageCreate, principal: Admin, session: Session
) -> PipelineOut:
    """Add a stage; answers the pipeline with its renumbered stages."""
    return await service.create_stage(session, principal, pipeline_id, data)


@pipelines.patch("/{pipeline_id}/stages/{stage_id}", response_model=PipelineOut)
async def update_stage(
    pipeline_id: int, stage_id: int, data: StageUpdate, principal: Admin, session: Session
) -> PipelineOut:
    """Rename, reorder (positions stay dense) or re-weight a stage; won/lost flags change only
    while the stage is empty."""
    return await service.update_stage(session, principal, pipeline_id, stage_id, data)


@pipelines.delete("/{pipeline_id}/stages/{stage_id}", response_model=PipelineOut)
async def delete_stage(
    pipeline_id: int, stage_id: int, principal: Admin, session: Session
) -> PipelineOut:
    """Delete a stage without deals (409 otherwise); answers the renumbered pipeline."""
    return await service.delete_stage(session, principal, pipeline_id, stage_id)


# -- lead conversion -----------------------------------------------------------------------


@conversion.post("/{lead_id}/convert", response_model=Conversion)
async def convert_lead(
    lead_id: int,
    principal: Writer,
    session: Session,
    data: Annotated[LeadConvert | None, Body()] = None,
) -> Conversion:
    """Convert a lead: link or create its contact (an existing contact with the same email or
    phone is reused), find or create its company, create a deal worth the lead's value, all in
    one transaction. A converted lead answers 409."""
    return await service.convert_lead(session, principal, lead_id, data or LeadConvert())
