"""Contacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer
from aicrm.contacts import service
from aicrm.contacts.schemas import ContactCreate, ContactOut, ContactUpdate
from aicrm.db import TxRoute
from aicrm.kit.filtering import query_params
from aicrm.kit.http import parse_if_match
from aicrm.kit.schemas import Page, Schema

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], route_class=TxRoute)


class DuplicateOut(Schema):
    id: int
    name: str
    reason: str
    score: float


@router.get("", response_model=Page[ContactOut])
async def list_contacts(
    request: Request,
    principal: Reader,
    session: Session,
    q: str | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[ContactOut]:
    """Contacts, keyset-paginated. Filters: `field[__op]=value` (ops eq, ne, in, gte, lte, gt, lt,
    contains, isnull), `tag=`, `custom.<key>=`; `q` is a prefix search on name, last name and email."""
    items, nxt = await service.list_contacts(
        session,
        principal,
        query_params(request.query_params.multi_items()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[ContactOut](items=items, next_cursor=nxt)


@router.post("", response_model=ContactOut, status_code=status.HTTP_201_CREATED)
async def create_contact(
    data: ContactCreate, principal: Writer, session: Session, allow_duplicate: bool = False
) -> ContactOut:
    """Create a contact. Phones are stored in E.164; a duplicate email or phone answers 409 with the match."""
    contact = await service.create(session, principal, data, allow_duplicate=allow_duplicate)
    return (await service.to_out(session, principal, [contact]))[0]


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: int, principal: Reader, session: Session, response: Response
) -> ContactOut:
    """One contact (ETag carries its version)."""
    contact = await service.get(session, principal, contact_id)
    response.headers["ETag"] = f'"{contact.version}"'
    return (await service.to_out(session, principal, [contact]))[0]


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: int,
    data: ContactUpdate,
    principal: Writer,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> ContactOut:
    """Update fields; send `version` (or If-Match) to refuse overwriting someone else's change."""
    contact = await service.update(
        session, principal, contact_id, data, if_match=parse_if_match(if_match)
    )
    return (await service.to_out(session, principal, [contact]))[0]


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(contact_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a contact and its timeline."""
    await service.delete(session, principal, contact_id)
    return Response(status_code=204)


@router.get("/{contact_id}/duplicates", response_model=list[DuplicateOut])
async def contact_duplicates(
    contact_id: int, principal: Reader, session: Session
) -> list[DuplicateOut]:
    """Likely duplicates of this contact: same email or phone, or a close name at the same company."""
    return [
        DuplicateOut.model_validate(m, from_attributes=True)
        for m in await service.duplicates_of(session, principal, contact_id)
    ]
