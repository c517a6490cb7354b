"""Saved views (segments): a named list filter over contacts, companies, leads or deals.

A view stores exactly the query parameters its entity's list endpoint takes, so its members are
that list, and `members_query` gives later features (sequences, automation, analytics) the
matching ids as SQL."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.errors import Conflict, Invalid, PermissionDenied
from aicrm.kit import filtering
from aicrm.kit.filtering import FilterSpec
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.repository import Repo
from aicrm.kit.snapshot import snapshot
from aicrm.leads import service as lead_service
from aicrm.models import SavedView
from aicrm.views.repository import SORTABLE, SavedViewRepo, count_many
from aicrm.views.schemas import ViewCreate, ViewOut, ViewUpdate

ENTITY = "saved_view"
# Keys that steer a list rather than filter it; a view keeps its order in `sort`.
_NOT_FILTERS = filtering.RESERVED - {"q"}

ListFn = Callable[..., Awaitable[tuple[list[BaseModel], str | None]]]


@dataclass(frozen=True)
class Target:
    """What a view needs from the domain it segments."""

    entity_type: str
    spec: FilterSpec
    sortable: dict[str, Any]
    repo: type[Repo[Any]]
    list_records: ListFn
    default_sort: str


# entity type → (package, repository class, list function, preferred default sorts).
# Resolved on use, so a domain still being written (deals) only disables its own views.
_REGISTRY: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "contact": ("aicrm.contacts", "ContactRepo", "list_contacts", ("name",)),
    "company": ("aicrm.companies", "CompanyRepo", "list_companies", ("name",)),
    "lead": ("aicrm.leads", "LeadRepo", "list_leads", ("-created_at",)),
    "deal": ("aicrm.deals", "DealRepo", "list_deals", ("-created_at",)),
}


class Unavailable(Exception):
    """The domain behind an entity type is not installed (yet)."""


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only the module itself being absent means "not available"; a broken import inside
        # it is a bug and must surface as one.
        if exc.name != module:
            raise
        raise Unavailable(module) from exc


def target(entity_type: str) -> Target:
    """The filter spec, repository and list service behind an entity type."""
    package, repo_name, list_name, sorts = _REGISTRY[entity_type]
    repo_mod = _import(f"{package}.repository")
    svc_mod = _import(f"{package}.service")
    spec = getattr(repo_mod, "FILTERS", None)
    sortable = getattr(repo_mod, "SORTABLE", None)
    repo = getattr(repo_mod, repo_name, None)
    list_records = getattr(svc_mod, list_name, None)
    if spec is None or sortable is None or repo is None or list_records is None:
        raise Unavailable(package)
    default = next((s for s in sorts if s.lstrip("-+") in sortable), "id")
    return Target(entity_type, spec, sortable, repo, list_records, default)


def _target_or_invalid(entity_type: str) -> Target:
    try:
        return target(entity_type)
    except Unavailable as exc:
        raise Invalid(
            f"views over {entity_type}s are not available in this installation",
            field="entity_type",
        ) from exc


async def _lead_params(
    session: AsyncSession, principal: Principal, params: dict[str, Any]
) -> dict[str, Any]:
    """The lead list takes status names; the filter language needs status ids."""
    if "status" not in params:
        return params
    raw = params.pop("status")
    names = raw if isinstance(raw, list) else str(raw).split(",")
    params["status_id__in"] = [
        str((await lead_service.status_by_name(session, principal, str(n))).id) for n in names if n
    ]
    return params


async def _deal_params(
    session: AsyncSession, principal: Principal, params: dict[str, Any]
) -> dict[str, Any]:
    """The deal list takes stage names (any pipeline); the filter language needs stage ids."""
    if "stage" not in params:
        return params
    stage_repo = getattr(_import("aicrm.deals.repository"), "StageRepo", None)
    if stage_repo is None:
        raise Invalid("deals cannot be filtered by stage name here", field="stage")
    stages = stage_repo.from_session(session, principal)
    raw = params.pop("stage")
    ids: list[str] = []
    for name in (str(n) for n in (raw if isinstance(raw, list) else str(raw).split(","))):
        if not name.strip():
            continue
        found = await stages.named(name)
        if not found:
            raise Invalid(f"no pipeline has a stage named {name!r}", field="stage")
        ids.extend(str(s.id) for s in found)
    params["stage_id__in"] = ids
    return params


# Pseudo-filters a list service resolves before the filter language (names → ids); mirrored
# here so a view's count and members_query select exactly what its list shows.
_PREPARE = {"lead": _lead_params, "deal": _deal_params}


def _under_filters(exc: Invalid) -> Invalid:
    errors = [{**e, "field": f"filters.{e['field']}"} if e.get("field") else e for e in exc.errors]
    return Invalid(exc.message, errors=errors)


async def _statement(
    session: AsyncSession, principal: Principal, tgt: Target, filters: dict[str, Any]
) -> Select[Any]:
    """The ids matching `filters`; a bad key or value raises Invalid naming `filters.<key>`."""
    for key in filters:
        if key in _NOT_FILTERS:
            hint = "use the view's sort" if key == "sort" else "pagination is not a filter"
            raise Invalid(f"{key!r} cannot be stored in a view's filters; {hint}", field=key)
    params = dict(filters)
    prepare = _PREPARE.get(tgt.entity_type)
    if prepare is not None:
        params = await prepare(session, principal, params)
    repo = tgt.repo.from_session(session, principal)
    clauses = filtering.build(tgt.spec, params, principal.organization_id)
    return repo.scoped(select(tgt.spec.model.id)).where(filtering.combine(clauses))


async def _checked_statement(
    session: AsyncSession, principal: Principal, tgt: Target, filters: dict[str, Any]
) -> Select[Any]:
    try:
        return await _statement(session, principal, tgt, filters)
    except Invalid as exc:
        raise _under_filters(exc) from exc


def _check_sort(tgt: Target, sort: str | None) -> None:
    if sort is not None and sort.lstrip("-+") not in tgt.sortable:
        raise Invalid(
            f"sort must be one of {sorted(tgt.sortable)} (prefix '-' for descending)", field="sort"
        )


async def to_out(
    session: AsyncSession, principal: Principal, rows: list[SavedView]
) -> list[ViewOut]:
    """API shape of views with their live member counts, all counted in one query."""
    out: list[ViewOut] = []
    stmts: list[Select[Any]] = []
    counted: list[ViewOut] = []
    for view in rows:
        item = ViewOut.model_validate(view)
        out.append(item)
        try:
            stmts.append(
                await _statement(session, principal, target(view.entity_type), view.filters)
            )
            counted.append(item)
        except Unavailable:
            item.problem = f"views over {view.entity_type}s are not available"
        except Invalid as exc:
            # A view saved when its filters were valid may outlive them (a renamed lead status);
            # it stays listed, with the reason, instead of breaking the whole list.
            item.problem = exc.message
    for item, n in zip(counted, await count_many(session, stmts), strict=True):
        item.count = n
    return out


async def list_views(
    session: AsyncSession,
    principal: Principal,
    *,
    entity_type: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[ViewOut], str | None]:
    """Views the caller can see: shared ones and their own private ones."""
    repo = SavedViewRepo.from_session(session, principal)
    stmt = repo.select()
    if entity_type is not None:
        stmt = stmt.where(SavedView.entity_type == entity_type)
    rows, nxt = await repo.page(stmt, sort=sort, sortable=SORTABLE, cursor=cursor, limit=limit)
    return await to_out(session, principal, rows), nxt


async def get(session: AsyncSession, principal: Principal, view_id: int) -> SavedView:
    """A view the caller can see (another user's private view is 404)."""
    return await SavedViewRepo.from_session(session, principal).get(view_id)


async def _name_free(
    session: AsyncSession,
    principal: Principal,
    entity_type: str,
    name: str,
    *,
    exclude_id: int | None = None,
) -> None:
    repo = SavedViewRepo.from_session(session, principal)
    if await repo.name_taken(entity_type, name, exclude_id=exclude_id):
        raise Conflict(
            f"a {entity_type} view named {name!r} exists",
            errors=[{"field": "name", "message": "already used"}],
        )


def _check_private(principal: Principal, shared: bool) -> None:
    if not shared and principal.user_id is None:
        raise Invalid("an API key cannot own a private view", field="shared")


async def create(session: AsyncSession, principal: Principal, data: ViewCreate) -> SavedView:
    """Save a view after checking its filters and sort against the entity's list."""
    entity_type = data.entity_type.value
    tgt = _target_or_invalid(entity_type)
    await _checked_statement(session, principal, tgt, data.filters)
    _check_sort(tgt, data.sort)
    _check_private(principal, data.shared)
    await _name_free(session, principal, entity_type, data.name)
    view = await SavedViewRepo.from_session(session, principal).add(
        SavedView(
            name=data.name,
            entity_type=entity_type,
            filters=dict(data.filters),
            sort=data.sort,
            shared=data.shared,
            owner_id=principal.user_id,
        )
    )
    await audit.created(session, principal, ENTITY, view)
    return view


def _check_can_change(principal: Principal, view: SavedView) -> None:
    is_owner = principal.user_id is not None and view.owner_id == principal.user_id
    if not is_owner and not principal.can(Permission.delete):
        raise PermissionDenied("Only the view's owner or a manager may change it")


async def update(
    session: AsyncSession, principal: Principal, view_id: int, data: ViewUpdate
) -> SavedView:
    """Rename a view, change its filters or sort, or share / unshare it."""
    repo = SavedViewRepo.from_session(session, principal)
    view = await repo.get(view_id, for_update=True)
    _check_can_change(principal, view)
    changes = data.model_dump(exclude_unset=True)
    tgt = _target_or_invalid(view.entity_type)
    if changes.get("filters") is not None:
        await _checked_statement(session, principal, tgt, changes["filters"])
    if "sort" in changes:
        _check_sort(tgt, changes["sort"])
    if changes.get("shared") is False:
        _check_private(principal, False)
        if view.owner_id != principal.user_id:
            # A private view is visible to its owner alone, so only the owner may choose that.
            raise PermissionDenied("Only the view's owner may make it private")
    if changes.get("name") and changes["name"] != view.name:
        await _name_free(session, principal, view.entity_type, changes["name"], exclude_id=view.id)
    before = snapshot(view)
    for key in ("name", "filters", "shared"):
        if changes.get(key) is not None:
            setattr(view, key, dict(changes[key]) if key == "filters" else changes[key])
    if "sort" in changes:
        view.sort = changes["sort"]
    await session.flush()
    await audit.updated(session, principal, ENTITY, view, before)
    return view


async def delete(session: AsyncSession, principal: Principal, view_id: int) -> None:
    """Delete a view (its owner, or a manager and above)."""
    repo = SavedViewRepo.from_session(session, principal)
    view = await repo.get(view_id, for_update=True)
    _check_can_change(principal, view)
    await audit.deleted(session, principal, ENTITY, view)
    await repo.delete(view)


async def members_query(session: AsyncSession, principal: Principal, view_id: int) -> Select[Any]:
    """A select of the ids of the records matching the view now, scoped to the caller's tenant."""
    view = await get(session, principal, view_id)
    return await _statement(session, principal, _target_or_invalid(view.entity_type), view.filters)


async def members(
    session: AsyncSession,
    principal: Principal,
    view_id: int,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """The matching records, through the entity's own list service (same shape as its list)."""
    view = await get(session, principal, view_id)
    tgt = _target_or_invalid(view.entity_type)
    items, nxt = await tgt.list_records(
        session,
        principal,
        dict(view.filters),
        sort=view.sort or tgt.default_sort,
        cursor=cursor,
        limit=limit,
    )
    return [i.model_dump(mode="json") for i in items], nxt
