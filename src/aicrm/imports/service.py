"""CSV import and export of contacts, companies and leads.

Import streams the file: batches of rows are parsed and validated (the API's schemas, the
services' normalisation) off the event loop, then classified against the database and the
file and written with Core executemany. Only a few batches, the keys seen so far (for in-file
duplicates) and the first errors are held in memory, so the file's size does not matter."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm import events
from aicrm.audit import service as audit
from aicrm.companies.repository import FILTERS as COMPANY_FILTERS
from aicrm.contacts.repository import FILTERS as CONTACT_FILTERS
from aicrm.customfields import service as custom_fields
from aicrm.errors import Invalid
from aicrm.imports.csvio import RowWriter, read_rows, text_stream
from aicrm.imports.fields import SPECS, Spec, resolve_mapping
from aicrm.imports.repository import BulkRepo
from aicrm.imports.rows import (
    Context,
    Failed,
    FieldDef,
    Prepared,
    apply,
    init_worker,
    new_row,
    prepare_chunk,
    read_batch,
    row_problems,
    unpack_chunk,
)
from aicrm.imports.schemas import Entity, ImportReport, OnDuplicate, RowError
from aicrm.kit import filtering
from aicrm.kit.principal import Principal
from aicrm.leads import service as lead_service
from aicrm.leads.repository import FILTERS as LEAD_FILTERS
from aicrm.orgs import service as org_service

if TYPE_CHECKING:
    from aicrm.db import Database

BATCH_SIZE = 1000
MAX_ERRORS = 1000

FILTERS = {
    Entity.contacts: CONTACT_FILTERS,
    Entity.companies: COMPANY_FILTERS,
    Entity.leads: LEAD_FILTERS,
}
# which column each duplicate key is looked up in
KEYS = {
    Entity.contacts: (("email", "email"), ("phone", "phone")),
    Entity.companies: (("domain", "domain"), ("name", "name_key")),
    Entity.leads: (("email", "email"), ("phone", "phone")),
}


async def load_context(
    session: AsyncSession, principal: Principal, spec: Spec, header: list[str], mapping: Any
) -> Context:
    """Definitions the rows are checked against, loaded once per import."""
    defs = {
        d.key: FieldDef(d.key, d.label, d.field_type, list(d.options or []), d.required)
        for d in await custom_fields.list_fields(session, principal, spec.entity_type)
    }
    columns = resolve_mapping(spec, header, mapping, defs)
    org = await org_service.get_current(session, principal)
    members = {
        m.email.lower(): m.user_id for m in await org_service.list_members(session, principal)
    }
    statuses: list[tuple[int, str]] = []
    if spec.entity is Entity.leads:
        statuses = await BulkRepo(session, principal, spec.model).statuses()
    template: dict[str, Any] = {}
    for col in spec.model.__table__.columns:  # type: ignore[attr-defined]
        if col.name == "id":
            continue
        default = col.default
        template[col.name] = default.arg if default is not None and default.is_scalar else None
    template["organization_id"] = principal.organization_id
    if spec.entity is Entity.contacts:
        template["status"] = "lead"  # as contacts created through the API
    if spec.entity is Entity.leads and statuses:
        template["status_id"] = statuses[0][0]
    return Context(
        encode=session.get_bind().dialect.name == "sqlite",
        spec=spec,
        columns=columns,
        width=len(header),
        region=org.default_region or "US",
        custom_defs=defs,
        members=members,
        statuses={name.lower(): sid for sid, name in statuses},
        status_names=[name for _, name in statuses],
        template=template,
    )


@dataclass
class _Pending:
    """One record this batch creates or updates, and the rows that feed it (in file order)."""

    rows: list[Prepared]

    @property
    def num(self) -> int:
        return self.rows[0].num


@dataclass
class _Report:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    companies_created: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)

    def fail(self, num: int, errors: list[tuple[str, str | None, str]]) -> None:
        self.failed += 1
        self.error_count += len(errors)
        for f, col, msg in errors:
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(RowError(row=num, field=f, column=col, message=msg))


class _Importer:
    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        ctx: Context,
        *,
        on_duplicate: OnDuplicate,
        dry_run: bool,
        source: str,
    ) -> None:
        self.session = session
        self.principal = principal
        self.ctx = ctx
        self.spec = ctx.spec
        self.mode = on_duplicate
        self.dry_run = dry_run
        self.source = source
        self.repo = BulkRepo(session, principal, ctx.spec.model)
        self.report = _Report()
        self.keys = KEYS[ctx.spec.entity]
        self.seen: dict[str, set[str]] = {kind: set() for kind, _ in self.keys}  # dry runs
        self.has_existing = True
        self.written = False
        self.rows_written = 0
        self.analyzed_at = 0
        self.company_ids: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self.batches = 0
        self.new_company_ids: list[int] = []

    async def start(self) -> None:
        self.has_existing = await self.repo.has_rows()

    # dedupe -----------------------------------------------------------------------------------
    #
    # A real import finds the file's earlier rows where it wrote them: the batch's keys are
    # looked up in the database (one IN per key kind, on the tenant's indexes), so memory does
    # not grow with the file and SQLite gets that memory as page cache instead. A dry run writes
    # nothing, so it remembers the keys it has seen.

    async def _existing(self, batch: list[Prepared]) -> dict[str, dict[str, int]]:
        """key → id of stored records holding it (from before or earlier in this import)."""
        wanted: dict[str, set[str]] = {kind: set() for kind, _ in self.keys}
        if self.has_existing or (self.written and not self.dry_run):
            for p in batch:
                for kind, val in p.keys:
                    if not (self.dry_run and val in self.seen[kind]):
                        wanted[kind].add(val)
        columns = dict(self.keys)
        return {
            kind: await self.repo.find(columns[kind], vals) if vals else {}
            for kind, vals in wanted.items()
        }

    async def _plan(self, batch: list[Prepared]) -> tuple[list[_Pending], dict[int, _Pending]]:
        inserts: list[_Pending] = []
        updates: dict[int, _Pending] = {}
        if self.mode is OnDuplicate.create:
            return [_Pending([p]) for p in batch], updates
        found = await self._existing(batch)
        r = self.report
        seen = self.seen if self.dry_run else {kind: set() for kind, _ in self.keys}
        if self.mode is OnDuplicate.skip:
            # the hot path of a big import: a row is new unless a key was seen or is stored
            for p in batch:
                for kind, val in p.keys:
                    if val in seen[kind] or val in found[kind]:
                        r.skipped += 1
                        break
                else:
                    inserts.append(_Pending([p]))
                    for kind, val in p.keys:
                        seen[kind].add(val)
            return inserts, updates
        by_key: dict[tuple[str, str], _Pending] = {}
        for p in batch:
            pending = next((by_key[k] for k in p.keys if k in by_key), None)
            target = next((found[kind][val] for kind, val in p.keys if val in found[kind]), None)
            if pending is not None:
                pending.rows.append(p)
                r.updated += 1
            elif target is not None:
                pending = updates.setdefault(target, _Pending([]))
                pending.rows.append(p)
                r.updated += 1
            elif any(val in seen[kind] for kind, val in p.keys):
                # dry run: an earlier batch's row would have been written, and this updates it
                r.updated += 1
            else:
                pending = _Pending([p])
                inserts.append(pending)
            for key in p.keys:
                if pending is not None:
                    by_key[key] = pending
                seen[key[0]].add(key[1])
        return inserts, updates

    # writing ----------------------------------------------------------------------------------

    async def _companies(self, pendings: list[_Pending], now: Any) -> None:
        """Resolve `company_name` cells to company ids, creating missing companies in bulk."""
        names: dict[str, str] = {}
        for pend in pendings:
            for p in pend.rows:
                if p.company_key is not None:
                    names.setdefault(p.company_key, p.company_name or p.company_key)
        missing = [k for k in names if k not in self.company_ids]
        if missing:
            self.company_ids.update(await self.repo.companies_by_key(missing))
        new = [k for k in missing if k not in self.company_ids]
        if new and self.dry_run:
            self.report.companies_created += len(new)
            self.company_ids.update((k, 0) for k in new)  # counted once per dry run
        elif new:
            template = {"description": "", "custom": {}, "version": 1}
            rows = [
                {
                    **template,
                    "organization_id": self.principal.organization_id,
                    "name": names[k],
                    "name_key": k,
                    "created_at": now,
                    "updated_at": now,
                }
                for k in new
            ]
            ids = await self.repo.create_companies(rows)
            self.company_ids.update(zip(new, ids, strict=True))
            self.report.companies_created += len(new)
            self.new_company_ids.extend(ids)
        column = self.ctx.insert_columns.index("company_id")
        for pend in pendings:
            for p in pend.rows:
                if p.company_key is not None:
                    p.company_id = p.row[column] = self.company_ids[p.company_key]

    async def _tags(self, names: set[str], now: Any) -> None:
        missing = [n for n in names if n not in self.tag_ids]
        if not missing:
            return
        self.tag_ids.update(await self.repo.tags(missing))
        new = [n for n in missing if n not in self.tag_ids]
        if new:
            self.tag_ids.update(await self.repo.create_tags(new, now))

    async def write(self, batch: list[Prepared | Failed]) -> None:
        """Classify a prepared batch against the database and the file, then write it."""
        self.batches += 1
        r = self.report
        before = (r.skipped, r.failed)
        good: list[Prepared] = []
        for item in batch:
            if isinstance(item, Failed):
                r.fail(item.num, item.errors)
            else:
                good.append(item)
        inserts, updates = await self._plan(good)
        now = datetime.now(UTC)
        self.new_company_ids = []
        if self.spec.entity is Entity.contacts:
            await self._companies([*inserts, *updates.values()], now)

        new_rows: list[tuple[_Pending, list[Any]]] = []
        ctx = self.ctx
        columns = ctx.insert_columns
        at = {c: columns.index(c) for c in ("created_at", "updated_at")}
        stamp = ctx.encoder.value("created_at", now) if ctx.encode else now
        for pend in inserts:
            if len(pend.rows) == 1:
                row, problems = pend.rows[0].row, pend.rows[0].problems
            else:
                merged = new_row(ctx)
                for p in pend.rows:
                    apply(ctx, merged, p)
                row, problems = [merged[c] for c in columns], row_problems(ctx, merged)
                if ctx.encode:
                    ctx.encoder.row(row)
            row[at["created_at"]] = row[at["updated_at"]] = stamp
            if problems:
                r.fail(pend.num, problems)
                r.updated -= len(pend.rows) - 1  # rows merged into it are not updates either
                r.failed += len(pend.rows) - 1
                for p in pend.rows:  # nothing holds these keys now
                    for kind, val in p.keys:
                        self.seen[kind].discard(val)
                continue
            new_rows.append((pend, row))
        r.created += len(new_rows)
        if self.dry_run:
            return

        tag_names = {
            t for pend in (*inserts, *updates.values()) for p in pend.rows for t in p.tags or []
        }
        await self._tags(tag_names, now)
        board = self.spec.entity is Entity.leads
        ends: dict[int, int] = {}
        if board:
            await self.repo.lock_board()
            ends = await self.repo.column_ends()
            status_at, order_at = columns.index("status_id"), columns.index("card_order")
            for _, row in new_rows:
                sid = row[status_at]
                row[order_at] = ends.get(sid, 0)
                ends[sid] = row[order_at] + 1
        ids = await self.repo.insert_rows(columns, [row for _, row in new_rows], encoded=ctx.encode)
        self.written = self.written or bool(ids)
        self.rows_written += len(ids)
        if self.rows_written >= 2 * self.analyzed_at + BATCH_SIZE:
            # statistics refreshed each time the import has doubled what they last saw
            await self.repo.refresh_statistics()
            self.analyzed_at = self.rows_written

        updated_rows: list[tuple[_Pending, dict[str, Any]]] = []
        if updates:
            stored = await self.repo.load(list(updates))
            for target, pend in updates.items():
                row = stored.get(target)
                if row is None:  # merged or deleted meanwhile
                    continue
                old_status = row.get("status_id")
                for p in pend.rows:
                    apply(self.ctx, row, p)
                if "version" in row:
                    row["version"] += 1
                row["updated_at"] = now
                if board and row["status_id"] != old_status:
                    await self._move_card(row, old_status, stored, ends)
                updated_rows.append((pend, row))
            changeable = [
                c
                for c in self.repo.table.c.keys()
                if c not in ("id", "organization_id", "created_at")
            ]
            await self.repo.update([row for _, row in updated_rows], changeable)

        await self._write_taggings(new_rows, ids, updated_rows, now)
        await audit.record(
            self.session,
            self.principal,
            "import",
            self.spec.entity_type,
            None,
            after={
                "source": self.source,
                "batch": self.batches,
                "rows": [batch[0].num, batch[-1].num] if batch else [],
                "created_id_ranges": id_ranges(ids),
                "updated_ids": [row["id"] for _, row in updated_rows],
                "skipped": r.skipped - before[0],
                "failed": r.failed - before[1],
                "companies_created": id_ranges(self.new_company_ids),
            },
        )

    async def _move_card(
        self,
        row: dict[str, Any],
        old_status: int,
        stored: dict[int, dict[str, Any]],
        ends: dict[int, int],
    ) -> None:
        """An update that changes a lead's status puts it at the end of the new column and
        closes the gap it left, keeping both columns dense."""
        old_order = row["card_order"]
        await self.repo.close_gap(old_status, old_order)
        for other in stored.values():
            if other["status_id"] == old_status and other["card_order"] > old_order:
                other["card_order"] -= 1
        ends[old_status] = ends.get(old_status, 1) - 1
        row["card_order"] = ends.get(row["status_id"], 0)
        ends[row["status_id"]] = row["card_order"] + 1

    async def _write_taggings(
        self,
        new_rows: list[tuple[_Pending, list[Any]]],
        ids: list[int],
        updated_rows: list[tuple[_Pending, dict[str, Any]]],
        now: Any,
    ) -> None:
        def wanted(pend: _Pending) -> set[int] | None:
            names = None
            for p in pend.rows:
                if p.tags is not None:
                    names = p.tags  # a later row's tags replace an earlier row's
            return None if names is None else {self.tag_ids[n] for n in names}

        add: list[tuple[int, int]] = []
        drop: list[tuple[int, int]] = []
        for (pend, _), new_id in zip(new_rows, ids, strict=True):
            add.extend((new_id, t) for t in wanted(pend) or ())
        changed = {row["id"]: w for pend, row in updated_rows if (w := wanted(pend)) is not None}
        current = await self.repo.taggings(self.spec.entity_type, list(changed))
        for eid, tags in changed.items():
            have = current.get(eid, set())
            add.extend((eid, t) for t in tags - have)
            drop.extend((eid, t) for t in have - tags)
        await self.repo.set_taggings(self.spec.entity_type, add, drop, now)


async def import_csv(
    session: AsyncSession,
    principal: Principal,
    entity: Entity,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    *,
    mapping: dict[str, Any] | None = None,
    dry_run: bool = False,
    on_duplicate: OnDuplicate = OnDuplicate.skip,
    source: str = "upload",
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[], Awaitable[None]] | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import parsed CSV rows in batches. `after_batch` lets a job runner commit between
    batches (the API keeps one transaction for the whole file); `workers` > 0 validates rows in
    that many processes (for big files from the CLI) instead of one thread."""
    started = time.perf_counter()
    spec = SPECS[entity]
    ctx = await load_context(session, principal, spec, header, mapping)
    importer = _Importer(
        session, principal, ctx, on_duplicate=on_duplicate, dry_run=dry_run, source=source
    )
    await importer.start()

    source_ = (
        _ProcessSource(ctx, rows, batch_size, workers)
        if workers > 0
        else _ThreadSource(ctx, rows, batch_size)
    )
    async with aclosing(source_.batches()) as batches:
        async for batch, read_count in batches:
            importer.report.total += read_count
            if batch:
                await importer.write(batch)
                if after_batch is not None and not dry_run:
                    await after_batch()
    r = importer.report
    report = ImportReport(
        entity=entity,
        dry_run=dry_run,
        on_duplicate=on_duplicate,
        total=r.total,
        created=r.created,
        updated=r.updated,
        skipped=r.skipped,
        failed=r.failed,
        errors=r.errors,
        error_count=r.error_count,
        companies_created=r.companies_created,
        mapping=ctx.columns.as_dict(),
        ignored_columns=ctx.columns.ignored,
        duration_s=round(time.perf_counter() - started, 3),
    )
    if not dry_run:
        await events.emit(
            session,
            principal,
            "import.completed",
            entity_type=spec.entity_type,
            payload=report.model_dump(mode="json", exclude={"errors", "mapping"})
            | {"source": source},
        )
    return report


class _ThreadSource:
    """Parses each batch in a worker thread, one at a time: the event loop stays free for other
    requests meanwhile, and writing never overlaps parsing, so the two never wait on each
    other for the GIL (a waiting thread can lose the interpreter's whole switch interval)."""

    def __init__(self, ctx: Context, rows: Iterator[tuple[int, list[str]]], size: int) -> None:
        self.ctx, self.rows, self.size = ctx, rows, size

    async def batches(self) -> AsyncIterator[tuple[list[Prepared | Failed], int]]:
        while True:
            batch, count, done = await asyncio.to_thread(read_batch, self.ctx, self.rows, self.size)
            yield batch, count
            if done:
                return


class _ProcessSource:
    """Parses batches in worker processes, a few ahead, so validation (phone numbers above
    all) runs on other cores while this process writes. Rows are read here, in file order, and
    come back in the same order."""

    def __init__(
        self, ctx: Context, rows: Iterator[tuple[int, list[str]]], size: int, workers: int
    ) -> None:
        self.ctx, self.rows, self.size, self.workers = ctx, rows, size, workers

    async def batches(self) -> AsyncIterator[tuple[list[Prepared | Failed], int]]:
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(self.ctx,),
        )
        pending: deque[tuple[asyncio.Future[list[tuple[Any, ...]]], list[Any]]] = deque()
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) <= self.workers:
                    chunk = list(itertools.islice(self.rows, self.size))
                    if not chunk:
                        exhausted = True
                        break
                    pending.append((loop.run_in_executor(pool, prepare_chunk, chunk), chunk))
                if not pending:
                    return
                fut, chunk = pending.popleft()
                yield unpack_chunk(await fut, chunk)
        finally:
            for fut, _ in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def id_ranges(ids: list[int]) -> list[list[int]]:
    """[3, 4, 5, 9] → [[3, 5], [9, 9]]: a batch's new ids in a few numbers, not a thousand."""
    out: list[list[int]] = []
    for i in ids:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def parse_mapping(raw: str | None) -> dict[str, Any] | None:
    """The `mapping` form field: a JSON object of CSV column → field (null ignores a column)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(f"mapping is not valid JSON: {exc}", field="mapping") from exc
    if not isinstance(value, dict):
        raise Invalid('mapping must be a JSON object like {"E-mail": "email"}', field="mapping")
    return value


async def import_file(
    session: AsyncSession,
    principal: Principal,
    entity: Entity,
    binary: IO[bytes],
    **options: Any,
) -> ImportReport:
    """Import a CSV file object (an upload or an opened file), reading it row by row."""
    text = text_stream(binary)
    try:
        header, rows = read_rows(text)
        return await import_csv(session, principal, entity, header, rows, **options)
    finally:
        # the caller owns the file; do not let the wrapper close it
        text.detach()


# -- export ----------------------------------------------------------------------------------


@dataclass
class Export:
    """A planned export: filters checked and columns fixed; export_chunks produces the rows
    (and counts them in `rows`)."""

    spec: Spec
    principal: Principal
    clauses: list[ColumnElement[bool]]
    custom_keys: list[str]
    members: dict[int, str]
    header: list[str]
    rows: int = 0


async def plan_export(
    session: AsyncSession, principal: Principal, entity: Entity, params: dict[str, Any]
) -> Export:
    """Check the filters (same as the entity's list) and fix the columns before streaming."""
    spec = SPECS[entity]
    params = {k: v for k, v in params.items() if k not in ("sort", "cursor", "limit")}
    if entity is Entity.leads and "status" in params:
        raw = params.pop("status")
        wanted = raw if isinstance(raw, list) else str(raw).split(",")
        params["status_id__in"] = [
            str((await lead_service.status_by_name(session, principal, n)).id) for n in wanted if n
        ]
    clauses = filtering.build(FILTERS[entity], params, principal.organization_id)
    defs = await custom_fields.list_fields(session, principal, spec.entity_type)
    members = {m.user_id: m.email for m in await org_service.list_members(session, principal)}
    custom_keys = [d.key for d in defs]
    header = ["id", *spec.fields, *(f"custom.{k}" for k in custom_keys), "created_at", "updated_at"]
    return Export(spec, principal, clauses, custom_keys, members, header)


async def export_chunks(
    session: AsyncSession, plan: Export, *, batch_size: int = BATCH_SIZE
) -> AsyncIterator[str]:
    """CSV text, one keyset page at a time."""
    spec = plan.spec
    repo = BulkRepo(session, plan.principal, spec.model)
    statuses = dict(await repo.statuses()) if spec.entity is Entity.leads else {}
    out = RowWriter()
    out.write(plan.header)
    yield out.take()
    async for rows in repo.batches(plan.clauses, batch_size):
        ids = [r["id"] for r in rows]
        tags = await repo.tag_names(spec.entity_type, ids)
        companies: dict[int, str] = {}
        if spec.entity is Entity.contacts:
            companies = await repo.company_names({r["company_id"] for r in rows if r["company_id"]})
        for r in rows:
            r["tags"] = tags.get(r["id"], [])
            r["owner_email"] = plan.members.get(r.get("owner_id"))  # type: ignore[arg-type]
            r["assignee_email"] = plan.members.get(r.get("assignee_id"))  # type: ignore[arg-type]
            if spec.entity is Entity.contacts:
                r["company_name"] = companies.get(r["company_id"])
            if spec.entity is Entity.leads:
                r["status"] = statuses.get(r["status_id"])
            custom = r["custom"] or {}
            out.write(
                [r["id"]]
                + [r.get(f) for f in spec.fields]
                + [custom.get(k) for k in plan.custom_keys]
                + [r["created_at"], r["updated_at"]]
            )
        plan.rows += len(rows)
        yield out.take()


async def stream_export(db: Database, plan: Export) -> AsyncIterator[str]:
    """export_chunks on a read session of its own, which lives as long as the response."""
    async with db.sessionmaker() as session:
        async for chunk in export_chunks(session, plan):
            yield chunk
