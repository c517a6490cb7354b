"""One CSV row at a time: cells → validated, normalised values. Pure functions with no I/O,
so they run in a worker thread or a worker process while the database is written."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from aicrm.customfields import service as custom_fields
from aicrm.errors import Invalid
from aicrm.imports.csvio import fast_email, fast_fold, fast_phone, split_list
from aicrm.imports.fields import ColumnMap, Spec
from aicrm.imports.repository import SqliteEncoder
from aicrm.imports.schemas import Entity
from aicrm.kit.text import split_name
from aicrm.tags.service import clean_names

CONTACT_SIMPLE = (
    "title",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "status",
    "lifetime_value",
    "churn_risk",
    "preferred_channel",
    "timezone",
    "notes",
    "owner_id",
    "company_id",
)


@dataclass(frozen=True)
class FieldDef:
    """A custom-field definition, detached from the session (it travels to worker processes)."""

    key: str
    label: str
    field_type: str
    options: list[str]
    required: bool


@dataclass
class Context:
    spec: Spec
    columns: ColumnMap
    width: int
    region: str
    custom_defs: dict[str, Any]
    members: dict[str, int]  # lower-cased email → user id
    statuses: dict[str, int]  # lower-cased name → id (leads)
    status_names: list[str]
    template: dict[str, Any]  # column defaults of a new row, in table column order
    encode: bool = False  # rows leave prepare_row in SQLite's stored form (see SqliteEncoder)

    @property
    def insert_columns(self) -> list[str]:
        return list(self.template)

    @cached_property
    def encoder(self) -> SqliteEncoder:
        return SqliteEncoder(self.spec.model.__table__, self.insert_columns)  # type: ignore[attr-defined]

    def __getstate__(self) -> dict[str, Any]:
        # the encoder holds the types' processors (closures): each process builds its own
        state = dict(self.__dict__)
        state.pop("encoder", None)
        return state


# -- one row: parse and validate (in a worker thread or process; no I/O) --------------------


@dataclass(slots=True)
class Prepared:
    num: int
    # the new record this row alone makes, in Context.insert_columns order (timestamps and the
    # company are filled in when written), and what stops it being inserted alone
    row: list[Any]
    problems: list[tuple[str, str | None, str]]
    keys: list[tuple[str, str]]  # (kind, value) this row is matched on: email, phone…
    tags: list[str] | None
    company_key: str | None = None  # contacts: the folded name of the company to link
    company_name: str | None = None
    # the validated values, for merging several rows into a record or updating a stored one;
    # a worker process does not send them back (see ensure_values)
    values: dict[str, Any] | None = None
    custom: dict[str, Any] | None = None
    cells: list[str] | None = None
    company_id: int | None = None


@dataclass(slots=True)
class Failed:
    num: int
    errors: list[tuple[str, str | None, str]]  # (field, column, message)


def _normalise(ctx: Context, field_: str, value: Any) -> Any:
    """The services' normalisation for one validated value; raises Invalid naming the field."""
    if field_ == "email":
        return fast_email(value, field="email")
    if field_ == "emails":
        out: list[str] = []
        for v in value:
            e = fast_email(v, field="emails")
            if e and e not in out:
                out.append(e)
        return out
    if field_ == "phone":
        return fast_phone(value, region=ctx.region, field="phone")
    if field_ == "phones":
        phones: list[str] = []
        for v in value:
            p = fast_phone(v, region=ctx.region, field="phones")
            if p and p not in phones:
                phones.append(p)
        return phones
    if field_ == "country":
        return value.upper()
    if field_ == "domain":
        return value.lower()
    if field_ == "status" and ctx.spec.entity is Entity.leads:
        sid = ctx.statuses.get(value.strip().lower())
        if sid is None:
            raise Invalid(
                f"unknown status {value!r}; this pipeline has {ctx.status_names}", field="status"
            )
        return sid
    return value


def prepare_row(ctx: Context, num: int, cells: list[str]) -> Prepared | Failed | None:
    """Cells → validated, normalised values; None for a blank row."""
    spec = ctx.spec
    raw: dict[str, str] = {}
    custom_raw: dict[str, str] = {}
    origin: dict[str, str] = {}
    for idx, header, target in ctx.columns.columns:
        if idx >= len(cells):
            continue
        v = cells[idx].strip()
        if not v:
            continue
        origin[target] = header
        if target.startswith("custom."):
            custom_raw[target[7:]] = v
        else:
            raw[target] = v
    if not raw and not custom_raw:
        return None if not any(c.strip() for c in cells) else _no_values(num, spec)
    errors: list[tuple[str, str | None, str]] = []
    if len(cells) > ctx.width and any(c.strip() for c in cells[ctx.width :]):
        errors.append(("row", None, f"has {len(cells)} cells but the header has {ctx.width}"))

    checked = {
        f: (split_list(v) if f in spec.lists else v) for f, v in raw.items() if f in spec.checked
    }
    values: dict[str, Any] = {}
    try:
        if spec.required <= checked.keys() and all(_plain(spec, f, v) for f, v in checked.items()):
            values = checked  # stripped, non-empty text within the limits: the schema's result
        else:
            values = spec.schema.model_validate(checked).model_dump(exclude_unset=True, mode="json")
    except ValidationError as exc:
        for err in exc.errors():
            loc = str(err["loc"][0]) if err.get("loc") else "row"
            errors.append((loc, origin.get(loc), err["msg"]))
            checked.pop(loc, None)
        values = {f: checked[f] for f in checked}
    for f in list(values):
        try:
            values[f] = _normalise(ctx, f, values[f])
        except Invalid as exc:
            errors.extend((e["field"], origin.get(f), e["message"]) for e in exc.errors)
            values.pop(f)
    if spec.entity is Entity.leads and "status" in values:
        values["status_id"] = values.pop("status")
    member = raw.get(spec.member_field)
    if member is not None:
        uid = ctx.members.get(member.lower())
        if uid is None:
            errors.append(
                (spec.member_field, origin.get(spec.member_field), f"{member!r} is not a member")
            )
        else:
            values["owner_id" if spec.entity is not Entity.leads else "assignee_id"] = uid
    tags: list[str] | None = None
    if "tags" in raw:
        try:
            tags = clean_names(split_list(raw["tags"]))
        except Invalid as exc:
            errors.extend((e["field"], origin.get("tags"), e["message"]) for e in exc.errors)
    custom: dict[str, Any] = {}
    for key, v in custom_raw.items():
        name = f"custom.{key}"
        try:
            # the coercion custom_fields.validate applies, without its per-call query
            custom[key] = custom_fields._coerce(ctx.custom_defs[key], v, name, ctx.region)
        except Invalid as exc:
            errors.extend((e["field"], origin.get(name), e["message"]) for e in exc.errors)
    if spec.entity is Entity.contacts and not errors:
        if not any(values.get(k) for k in ("name", "first_name", "last_name", "email", "phone")):
            if not values.get("emails") and not values.get("phones"):
                errors.append(("name", None, "A contact needs a name, an email or a phone"))
    if errors:
        return Failed(num, errors)
    row = new_row(ctx)
    apply_values(ctx, row, values, custom)
    company = values.get("company_name")
    as_list = [row[c] for c in ctx.template]
    return Prepared(
        num,
        ctx.encoder.row(as_list) if ctx.encode else as_list,
        row_problems(ctx, row),
        _keys(spec, values),
        tags,
        fast_fold(company) if company else None,
        company,
        values,
        custom,
    )


def _plain(spec: Spec, field_: str, value: str | list[str]) -> bool:
    rule = spec.plain_rules.get(field_)
    if rule is None:
        return False
    limit, pattern = rule
    if limit is not None and len(value) > limit:
        return False
    return pattern is None or (isinstance(value, str) and pattern.search(value) is not None)


def ensure_values(ctx: Context, p: Prepared) -> None:
    """Give a row prepared in a worker process its values again (only rows that merge into
    another or update a stored record need them, so they are not shipped back)."""
    if p.values is None:
        assert p.cells is not None
        again = prepare_row(ctx, p.num, p.cells)
        assert isinstance(again, Prepared)
        p.values, p.custom = again.values, again.custom


def _no_values(num: int, spec: Spec) -> Failed:
    return Failed(num, [("row", None, f"no value for any {spec.entity_type} field")])


def _keys(spec: Spec, values: dict[str, Any]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if spec.entity is Entity.companies:
        if values.get("domain"):
            keys.append(("domain", values["domain"]))
        if values.get("name"):
            keys.append(("name", fast_fold(values["name"])))
        return keys
    email = values.get("email") or next(iter(values.get("emails") or []), None)
    phone = values.get("phone") or next(iter(values.get("phones") or []), None)
    if email:
        keys.append(("email", email))
    if phone:
        keys.append(("phone", phone))
    return keys


def read_batch(
    ctx: Context, rows: Iterator[tuple[int, list[str]]], size: int
) -> tuple[list[Prepared | Failed], int, bool]:
    """Up to `size` non-blank rows prepared; also the rows read and whether the file ended."""
    out: list[Prepared | Failed] = []
    read = 0
    for num, cells in rows:
        item = prepare_row(ctx, num, cells)
        if item is None:
            continue
        read += 1
        out.append(item)
        if len(out) >= size:
            return out, read, False
    return out, read, True


# -- applying values to a full row (insert template or the stored row) ---------------------


def _collect(
    primary: str | None, many: list[str] | None, existing_primary: str | None, existing: list[str]
) -> tuple[str | None, list[str]]:
    # the contacts service's rule: a new primary goes first, a new list replaces the old one
    values = list(existing)
    if many is not None:
        values = list(many)
    if primary is not None:
        values = [primary] + [v for v in values if v != primary]
    first = values[0] if values else None
    if primary is None and many is None:
        first = existing_primary
    return first, values


def apply_contact(row: dict[str, Any], v: dict[str, Any]) -> None:
    if "email" in v or "emails" in v:
        row["email"], row["emails"] = _collect(
            v.get("email"), v.get("emails"), row["email"], row["emails"] or []
        )
    if "phone" in v or "phones" in v:
        row["phone"], row["phones"] = _collect(
            v.get("phone"), v.get("phones"), row["phone"], row["phones"] or []
        )
    for k in CONTACT_SIMPLE:
        if k in v:
            row[k] = v[k]
    if "name" in v or "first_name" in v or "last_name" in v:
        first, last = v.get("first_name"), v.get("last_name")
        if v.get("name") and first is None and last is None:
            first, last = split_name(v["name"])
        row["first_name"] = (first if first is not None else row["first_name"]) or ""
        row["last_name"] = (last if last is not None else row["last_name"]) or ""
        full = v.get("name") or " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        row["name"] = full.strip()
    if not (row["name"] or "").strip():
        row["name"] = row["email"] or row["phone"] or ""
    row["name_key"] = fast_fold(row["name"])
    row["last_name_key"] = fast_fold(row["last_name"])


def apply_plain(row: dict[str, Any], v: dict[str, Any]) -> None:
    for k, value in v.items():
        if k in row:
            row[k] = value
    if "name_key" in row:
        row["name_key"] = fast_fold(row["name"])


# -- worker processes ------------------------------------------------------------------------

_worker_ctx: Context | None = None


def init_worker(ctx: Context) -> None:
    global _worker_ctx
    _worker_ctx = ctx
    # the modules and context loaded so far live as long as the process: keep the cyclic
    # collector's passes to what each chunk allocates
    gc.freeze()


def prepare_chunk(chunk: list[tuple[int, list[str]]]) -> list[tuple[Any, ...]]:
    """A worker process's share: one chunk's prepared rows as plain tuples, without their
    values (pickling costs the writing process more than the worker's validation saves)."""
    assert _worker_ctx is not None, "init_worker was not called"
    out: list[tuple[Any, ...]] = []
    for num, cells in chunk:
        item = prepare_row(_worker_ctx, num, cells)
        if isinstance(item, Prepared):
            out.append(
                (
                    num,
                    item.row,
                    item.problems,
                    item.keys,
                    item.tags,
                    item.company_key,
                    item.company_name,
                )
            )
        elif item is not None:
            out.append((num, item.errors))
    return out


def unpack_chunk(
    items: list[tuple[Any, ...]], chunk: list[tuple[int, list[str]]]
) -> tuple[list[Prepared | Failed], int]:
    """prepare_chunk's tuples back into rows, with the count of non-blank rows."""
    cells = dict(chunk)
    out: list[Prepared | Failed] = []
    for t in items:
        if len(t) == 2:
            out.append(Failed(*t))
        else:
            out.append(Prepared(*t, cells=cells[t[0]]))
    return out, len(out)


def new_row(ctx: Context) -> dict[str, Any]:
    row = dict(ctx.template)
    row["custom"] = {}
    if ctx.spec.entity is Entity.contacts:
        row["emails"], row["phones"] = [], []
    return row


def apply_values(
    ctx: Context, row: dict[str, Any], values: dict[str, Any], custom: dict[str, Any] | None
) -> None:
    """One row's values onto a record: a new one or the stored one it updates."""
    if ctx.spec.entity is Entity.contacts:
        apply_contact(row, values)
    else:
        apply_plain(row, values)
    if custom:
        row["custom"] = {**(row["custom"] or {}), **custom}


def apply(ctx: Context, row: dict[str, Any], p: Prepared) -> None:
    ensure_values(ctx, p)
    assert p.values is not None
    values = p.values if p.company_key is None else {**p.values, "company_id": p.company_id}
    apply_values(ctx, row, values, p.custom)


def row_problems(ctx: Context, row: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """What stops a new record from being created: a required custom field without a value,
    or first and last names that fit separately but not together in the name column."""
    custom = row["custom"] or {}
    out: list[tuple[str, str | None, str]] = [
        (f"custom.{k}", None, "is required")
        for k, d in ctx.custom_defs.items()
        if d.required and custom.get(k) in (None, "", [])
    ]
    if len(row.get("name") or "") > 200:
        out.append(("name", None, "the full name is longer than 200 characters"))
    return out
