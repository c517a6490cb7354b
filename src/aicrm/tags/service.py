"""Tags per organization, attached to any record."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.errors import Conflict, Invalid
from aicrm.kit.principal import Principal
from aicrm.kit.snapshot import snapshot
from aicrm.models import Tag
from aicrm.tags.repository import TaggingRepo, TagRepo
from aicrm.tags.schemas import TagCreate, TagUpdate

ENTITY_TYPES = {"contact", "company", "lead", "deal", "task"}


def clean_names(names: list[str] | None, *, field: str = "tags") -> list[str]:
    out: list[str] = []
    for raw in names or []:
        name = str(raw).strip()
        if not name:
            continue
        if len(name) > 60:
            raise Invalid(f"tag {name[:20]!r}… is longer than 60 characters", field=field)
        if name not in out:
            out.append(name)
    return out


async def set_tags(
    session: AsyncSession, principal: Principal, entity_type: str, entity_id: int, names: list[str]
) -> list[str]:
    """Replace a record's tags, creating tags that do not exist yet."""
    from aicrm.models import Tagging

    names = clean_names(names)
    tags = TagRepo.from_session(session, principal)
    taggings = TaggingRepo.from_session(session, principal)
    existing = await tags.by_names(names)
    for name in names:
        if name not in existing:
            existing[name] = await tags.add(Tag(name=name))
    await taggings.clear(entity_type, entity_id)
    for name in names:
        session.add(
            Tagging(
                organization_id=principal.organization_id,
                tag_id=existing[name].id,
                entity_type=entity_type,
                entity_id=entity_id,
            )
        )
    await session.flush()
    return sorted(names)


async def tags_for(
    session: AsyncSession, principal: Principal, entity_type: str, ids: list[int]
) -> dict[int, list[str]]:
    return await TaggingRepo.from_session(session, principal).names_for(entity_type, ids)


async def list_tags(session: AsyncSession, principal: Principal) -> list[Tag]:
    repo = TagRepo.from_session(session, principal)
    return list((await session.execute(repo.select().order_by(Tag.name))).scalars())


async def create_tag(session: AsyncSession, principal: Principal, data: TagCreate) -> Tag:
    repo = TagRepo.from_session(session, principal)
    if await repo.by_names([data.name]):
        raise Conflict(
            f"tag {data.name!r} exists", errors=[{"field": "name", "message": "already exists"}]
        )
    tag = await repo.add(Tag(**data.model_dump()))
    await audit.created(session, principal, "tag", tag)
    return tag


async def update_tag(
    session: AsyncSession, principal: Principal, tag_id: int, data: TagUpdate
) -> Tag:
    repo = TagRepo.from_session(session, principal)
    tag = await repo.get(tag_id)
    before = snapshot(tag)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "name" in changes and changes["name"] != tag.name and await repo.by_names([changes["name"]]):
        raise Conflict(
            f"tag {changes['name']!r} exists",
            errors=[{"field": "name", "message": "already exists"}],
        )
    for k, v in changes.items():
        setattr(tag, k, v)
    await session.flush()
    await audit.updated(session, principal, "tag", tag, before)
    return tag


async def delete_tag(session: AsyncSession, principal: Principal, tag_id: int) -> None:
    repo = TagRepo.from_session(session, principal)
    tag = await repo.get(tag_id)
    await audit.deleted(session, principal, "tag", tag)
    await repo.delete(tag)
