"""Companies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer
from aicrm.companies import service
from aicrm.companies.schemas import CompanyCreate, CompanyOut, CompanyUpdate
from aicrm.db import TxRoute
from aicrm.kit.filtering import query_params
from aicrm.kit.http import parse_if_match
from aicrm.kit.schemas import Page

router = APIRouter(prefix="/api/v1/companies", tags=["companies"], route_class=TxRoute)


@router.get("", response_model=Page[CompanyOut])
async def list_companies(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[CompanyOut]:
    """Companies: filter with `field[__op]=value`, `tag=`, `custom.<key>=`; `q` searches name and domain."""
    items, nxt = await service.list_companies(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[CompanyOut](items=items, next_cursor=nxt)


@router.post("", response_model=CompanyOut, status_code=status.HTTP_201_CREATED)
async def create_company(data: CompanyCreate, principal: Writer, session: Session) -> CompanyOut:
    """Create a company."""
    company = await service.create(session, principal, data)
    return (await service.to_out(session, principal, [company], counts=True))[0]


@router.get("/{company_id}", response_model=CompanyOut)
async def get_company(
    company_id: int, principal: Reader, session: Session, response: Response
) -> CompanyOut:
    """One company with its tags and number of contacts."""
    company = await service.get(session, principal, company_id)
    response.headers["ETag"] = f'"{company.version}"'
    return (await service.to_out(session, principal, [company], counts=True))[0]


@router.patch("/{company_id}", response_model=CompanyOut)
async def update_company(
    company_id: int,
    data: CompanyUpdate,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> CompanyOut:
    """Update fields; send `version` (or If-Match) to refuse overwriting someone else's change."""
    company = await service.update(
        session, principal, company_id, data, if_match=parse_if_match(if_match)
    )
    return (await service.to_out(session, principal, [company], counts=True))[0]


@router.delete("/{company_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_company(company_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a company (its contacts stay, unlinked)."""
    await service.delete(session, principal, company_id)
    return Response(status_code=204)
