"""Tags."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from aicrm.auth.deps import Deleter, Reader, Session, Writer
from aicrm.db import TxRoute
from aicrm.tags import service
from aicrm.tags.schemas import TagCreate, TagOut, TagUpdate

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], route_class=TxRoute)


@router.get("", response_model=list[TagOut])
async def list_tags(principal: Reader, session: Session) -> list[TagOut]:
    """All tags of the organization."""
    return [TagOut.model_validate(t) for t in await service.list_tags(session, principal)]


@router.post("", response_model=TagOut, status_code=status.HTTP_201_CREATED)
async def create_tag(data: TagCreate, principal: Writer, session: Session) -> TagOut:
    """Create a tag (tags are also created on the fly when a record is tagged)."""
    return TagOut.model_validate(await service.create_tag(session, principal, data))


@router.patch("/{tag_id}", response_model=TagOut)
async def update_tag(tag_id: int, data: TagUpdate, principal: Writer, session: Session) -> TagOut:
    """Rename or recolour a tag."""
    return TagOut.model_validate(await service.update_tag(session, principal, tag_id, data))


@router.delete("/{tag_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tag(tag_id: int, principal: Deleter, session: Session) -> Response:
    """Delete a tag and remove it from every record."""
    await service.delete_tag(session, principal, tag_id)
    return Response(status_code=204)
