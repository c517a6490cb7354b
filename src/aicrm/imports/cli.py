"""`aicrm import` and `aicrm export`: the same streaming code as the API, acting as the
organization's owner with no user attached (the audit log shows a system actor)."""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.db import Database
from aicrm.errors import AICRMError, NotFound
from aicrm.imports import service
from aicrm.imports.repository import find_organization, tune_for_bulk
from aicrm.imports.schemas import Entity, OnDuplicate
from aicrm.kit.principal import ROLE_PERMISSIONS, Principal, Role

# A long import commits every this many batches (100k rows): the WAL stays bounded and an
# interrupted run keeps its work (run it again with on_duplicate=skip to finish). Committing
# more often writes the same hot index pages to the WAL again and again.
COMMIT_EVERY = 100
# Files smaller than this are validated in a thread; bigger ones in worker processes, which
# take a second to start but let validation use the other cores.
PROCESS_THRESHOLD = 4 * 1024 * 1024


def _workers(path: Path) -> int:
    if path.stat().st_size < PROCESS_THRESHOLD:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _entity(name: str) -> Entity:
    try:
        return Entity(name)
    except ValueError:
        raise AICRMError(
            f"cannot import or export {name!r}; choose one of {[e.value for e in Entity]}"
        ) from None


def _on_duplicate(value: str) -> OnDuplicate:
    try:
        return OnDuplicate(value)
    except ValueError:
        raise AICRMError(
            f"on_duplicate must be one of {[o.value for o in OnDuplicate]}, not {value!r}"
        ) from None


async def system_principal(session: AsyncSession, organization: str) -> Principal:
    """The owner role in the organization named by id or slug, with no user behind it."""
    org_id = await find_organization(session, organization)
    if org_id is None:
        raise NotFound(f"no organization with id or slug {organization!r}")
    return Principal(
        organization_id=org_id, role=Role.owner, permissions=ROLE_PERMISSIONS[Role.owner]
    )


def _between_batches(db: Database, session: AsyncSession) -> Callable[[], Awaitable[None]]:
    batches = 0

    async def after_batch() -> None:
        nonlocal batches
        batches += 1
        if batches % COMMIT_EVERY == 0:
            gc.collect()  # the few reference cycles the batches left (collection is off)
            await session.commit()
            # take the write lock up front again (see Database.session)
            await db.begin_write(session)

    return after_batch


async def run_import(
    entity: str,
    path: Path,
    *,
    organization: str,
    mapping: dict[str, Any] | None,
    dry_run: bool,
    on_duplicate: str,
) -> dict[str, Any]:
    """Import a CSV file into the organization; returns the report (or the error) as a dict."""
    db = Database()
    # a million rows allocate many millions of objects, nearly all freed by reference counting:
    # the cyclic collector runs between commits instead of every few hundred allocations
    collecting = gc.isenabled()
    gc.disable()
    try:
        session = await db.session()
        try:
            principal = await system_principal(session, organization)
            await tune_for_bulk(session)
            with Path(path).open("rb") as fh:
                report = await service.import_file(
                    session,
                    principal,
                    _entity(entity),
                    fh,
                    mapping=mapping,
                    dry_run=dry_run,
                    on_duplicate=_on_duplicate(on_duplicate),
                    source=Path(path).name,
                    after_batch=_between_batches(db, session),
                    workers=_workers(Path(path)),
                )
            await session.commit()
        except AICRMError as exc:
            await session.rollback()
            return {"detail": exc.message, "errors": exc.errors or [{"message": exc.message}]}
        finally:
            await session.close()
    finally:
        await db.dispose()
        if collecting:
            gc.enable()
    return report.model_dump(mode="json")


async def run_export(entity: str, fh: IO[str], *, organization: str) -> int:
    """Write the organization's records as CSV to `fh`; returns the number of rows."""
    db = Database()
    try:
        async with db.sessionmaker() as session:
            principal = await system_principal(session, organization)
            plan = await service.plan_export(session, principal, _entity(entity), {})
            async for chunk in service.export_chunks(session, plan):
                fh.write(chunk)
            return plan.rows
    except AICRMError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    finally:
        await db.dispose()
