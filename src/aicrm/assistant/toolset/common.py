"""Shared pieces of the tools: record references, dates in the organization's zone, labels and
links, and the registration wrapper that turns "which one?" into a clarifying result.

A reference (`lead`, `contact`, `record`, `assignee`, …) is an id (42, "42", "#42") or a name;
names go through `aicrm.assistant.resolve` (indexed fuzzy matching). Several close matches
become a `clarify` result whose options carry the same arguments with the id filled in, so the
engine (or the model) re-runs the tool with the choice; no match is `not_found`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from aicrm.ai.customers.service import money_formatter
from aicrm.assistant import resolve
from aicrm.assistant import tools as registry
from aicrm.assistant.tools import Option, ToolContext, ToolResult
from aicrm.companies import service as company_service
from aicrm.companies.repository import CompanyRepo
from aicrm.contacts import service as contact_service
from aicrm.deals import service as deal_service
from aicrm.errors import AICRMError, Conflict, Invalid, NotFound
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.models import Contact, Deal, Lead, Organization, Task
from aicrm.orgs import service as org_service
from aicrm.tasks import service as task_service

# -- argument types ----------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Ref = Annotated[
    int | Name,
    Field(description="The record's id (42) or its name (fuzzy-matched within your organization)"),
]
PLURALS = {
    "lead": "leads",
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "task": "tasks",
    "ticket": "tickets",
}
LINKS = {
    "lead": "/leads/{}",
    "contact": "/contacts/{}",
    "company": "/companies/{}",
    "deal": "/deals/{}",
    "task": "/tasks/{}",
}
_ME = {"me", "myself", "i", "self", "mine", "my"}
_ID = re.compile(r"^#?\s*(\d{1,19})$")


def link(entity: str, id_: int | None) -> str | None:
    pattern = LINKS.get(entity)
    return pattern.format(id_) if pattern and id_ is not None else None


def plural(entity: str, n: int) -> str:
    return entity if n == 1 else PLURALS.get(entity, entity + "s")


# -- results that end a tool early -------------------------------------------------------------


class NeedsInput(Exception):
    """Raised inside a tool to answer with `clarify` (or another non-error result) at once;
    the wrapper rolls back the tool's savepoint and returns the result."""

    def __init__(self, result: ToolResult) -> None:
        super().__init__(result.summary)
        self.result = result


def clarify(
    question: str, options: list[Option] | None = None, *, field: str | None = None
) -> NeedsInput:
    """`raise clarify(...)`: ask the user (a choice among `options`, or a missing value)."""
    return NeedsInput(
        ToolResult(
            "clarify", summary=question, question=question, options=options or [], field=field
        )
    )


Handler = Callable[[ToolContext, Any], Awaitable[ToolResult]]


def register(
    name: str,
    description: str,
    *,
    permission: Permission = Permission.read,
    mutating: bool = False,
    destructive: bool = False,
) -> Callable[[Handler], Handler]:
    """`aicrm.assistant.tools.tool`, plus: the handler runs in its own savepoint, so a clarifying
    question or a conflict found half-way leaves nothing behind."""

    def deco(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(ctx: ToolContext, args: Any) -> ToolResult:
            try:
                async with ctx.session.begin_nested():
                    return await fn(ctx, args)
            except NeedsInput as exc:
                return exc.result
            except (Invalid, Conflict) as exc:
                return invalid(exc)

        registry.tool(
            name, description, permission=permission, mutating=mutating, destructive=destructive
        )(handler)
        return fn

    return deco


def invalid(exc: AICRMError) -> ToolResult:
    """A service's validation error (or conflict) as a result naming the field(s), so the user
    or the model knows what to fix ("email: 'x' is not a valid email address")."""
    fields = [e for e in exc.errors if e.get("field")]
    summary = exc.message
    if fields and not any(str(e["field"]) in summary for e in fields):
        summary = "; ".join(
            msg if str(e["field"]) in (msg := str(e.get("message", ""))) else f"{e['field']}: {msg}"
            for e in fields
        )
    return ToolResult("invalid", summary=summary, field=fields[0]["field"] if fields else None)


def build(schema: type[BaseModel], prefix: str = "", **fields: Any) -> Any:
    """A service input schema from tool arguments; its validation errors name the argument."""
    try:
        return schema(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        field = f"{prefix}{where}" if where else (prefix.rstrip(".") or None)
        raise Invalid(f"{field or 'arguments'}: {err.get('msg')}", field=field) from None


# -- references ----------------------------------------------------------------------------


def _check_ref(ref: Any, arg: str) -> None:
    """A reference is an id or a text (free-form `fields` of update_record carry anything)."""
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise Invalid(f"{arg}: give an id or a name", field=arg)


def as_id(ref: int | str) -> int | None:
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        return None
    if isinstance(ref, int):
        return ref
    m = _ID.match(ref.strip())
    return int(m.group(1)) if m else None


def _option_args(args: BaseModel, arg: str, value: Any) -> dict[str, Any]:
    out = args.model_dump(mode="json", exclude_none=True)
    keys = arg.split(".")
    target = out
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = value
    return out


async def pick(
    ctx: ToolContext, entity_type: str, ref: int | str, *, arg: str, args: BaseModel
) -> resolve.Match:
    """The one record `ref` names; several close matches → a clarifying question."""
    _check_ref(ref, arg)
    if isinstance(ref, str) and (num := as_id(ref)) is not None:
        ref = num
    try:
        return await resolve.one(ctx.session, ctx.principal, entity_type, ref)
    except resolve.Ambiguous as exc:
        what = entity_type.replace("_", " ")
        question = (
            f"No {what} is called {ref!r}; did you mean {exc.matches[0].label}?"
            if len(exc.matches) == 1
            else f"Which {what} do you mean by {ref!r}?"
        )
        raise clarify(
            question,
            [Option(m.label, _option_args(args, arg, m.id)) for m in exc.matches[:5]],
            field=arg,
        ) from None


async def member(ctx: ToolContext, ref: int | str, *, arg: str, args: BaseModel) -> int:
    """A member of the organization by id, name or email; "me" is the caller."""
    _check_ref(ref, arg)
    if isinstance(ref, str) and ref.strip().lower() in _ME:
        if ctx.principal.user_id is None:
            raise Invalid(f"{arg}: this API key acts for no user; name the member", field=arg)
        return ctx.principal.user_id
    if isinstance(ref, int) or as_id(ref) is not None:
        user_id = ref if isinstance(ref, int) else as_id(ref)
        assert user_id is not None
        await org_service.ensure_member(ctx.session, ctx.principal, user_id, field=arg)
        return user_id
    return (await pick(ctx, "member", ref, arg=arg, args=args)).id


async def member_names(ctx: ToolContext) -> dict[int, str]:
    return {
        m.user_id: m.full_name or m.email
        for m in await org_service.list_members(ctx.session, ctx.principal)
    }


async def lead_status(ctx: ToolContext, name: str, *, arg: str, args: BaseModel) -> str:
    """The canonical name of one of the organization's lead statuses."""
    match = await pick(ctx, "lead_status", name, arg=arg, args=args)
    for s in await lead_service.statuses(ctx.session, ctx.principal):
        if s.id == match.id:
            return s.name
    raise NotFound(f"No lead status matches {name!r}")


async def task_ref(ctx: ToolContext, ref: int | str, *, arg: str, args: BaseModel) -> Task:
    """A task by id or by (part of) its title; several → a clarifying question."""
    num = as_id(ref) if isinstance(ref, str) else ref
    if num is not None:
        return await task_service.get(ctx.session, ctx.principal, num)
    rows, _ = await task_service.list_tasks(
        ctx.session, ctx.principal, {"q": ref}, sort="-created_at", cursor=None, limit=6
    )
    open_rows = [r for r in rows if r.status != "done"] or rows
    exact = [r for r in open_rows if r.title.strip().lower() == str(ref).strip().lower()]
    chosen = exact if len(exact) == 1 else open_rows
    if not chosen:
        raise NotFound(f"No task matches {ref!r}")
    if len(chosen) > 1:
        raise clarify(
            f"Which task do you mean by {ref!r}?",
            [
                Option(f"{r.title} (#{r.id}, {r.status})", _option_args(args, arg, r.id))
                for r in chosen[:5]
            ],
            field=arg,
        )
    return await task_service.get(ctx.session, ctx.principal, chosen[0].id)


GETTERS: dict[str, Callable[..., Awaitable[Any]]] = {
    "lead": lead_service.get,
    "contact": contact_service.get,
    "company": company_service.get,
    "deal": deal_service.get,
    "task": task_service.get,
}


async def record(
    ctx: ToolContext, entity: str, ref: int | str, *, arg: str, args: BaseModel
) -> Any:
    """The row `ref` names in the caller's organization (tenancy through the services)."""
    if entity == "task":
        return await task_ref(ctx, ref, arg=arg, args=args)
    match = await pick(ctx, entity, ref, arg=arg, args=args)
    return await GETTERS[entity](ctx.session, ctx.principal, match.id)


# -- labels ---------------------------------------------------------------------------------


async def currency(ctx: ToolContext) -> str:
    org = await ctx.session.get(Organization, ctx.principal.organization_id)
    return (org.default_currency if org else None) or "USD"


async def money(ctx: ToolContext, amount: Any, code: str | None = None) -> str:
    return money_formatter(code or await currency(ctx))(float(amount or 0))


async def label(ctx: ToolContext, entity: str, obj: Any) -> str:
    """ "Jane Doe (Example Corp, #42)": the name a person recognises, and the id."""
    if isinstance(obj, Lead):
        return (
            f"{obj.name} ({obj.company}, #{obj.id})" if obj.company else f"{obj.name} (#{obj.id})"
        )
    if isinstance(obj, Contact):
        company = None
        if obj.company_id is not None:
            row = await CompanyRepo.from_session(ctx.session, ctx.principal).get_or_none(
                obj.company_id
            )
            company = row.name if row is not None else None
        return f"{obj.name} ({company}, #{obj.id})" if company else f"{obj.name} (#{obj.id})"
    if isinstance(obj, Deal):
        return f"{obj.name} ({await money(ctx, obj.amount, obj.currency)}, #{obj.id})"
    if isinstance(obj, Task):
        return f"{obj.title} (#{obj.id})"
    return f"{getattr(obj, 'name', entity)} (#{obj.id})"


async def titled(ctx: ToolContext, entity: str, obj: Any) -> str:
    """ "lead Jane Doe (Example Corp, #42)": the record named inside a sentence."""
    return f"{entity} {await label(ctx, entity, obj)}"


def cap(text: str) -> str:
    """The first letter in upper case (a sentence, an action card's label)."""
    return text[:1].upper() + text[1:]


# -- the API shape of records ------------------------------------------------------------------

OUT: dict[str, Callable[..., Awaitable[list[Any]]]] = {
    "lead": lead_service.to_out,
    "contact": contact_service.to_out,
    "company": company_service.to_out,
    "deal": deal_service.to_out,
    "task": task_service.to_out,
}


async def out(ctx: ToolContext, entity: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Rows as the REST API shows them (JSON-safe), each with its web link."""
    items = await OUT[entity](ctx.session, ctx.principal, rows)
    result = []
    for item in items:
        data = item.model_dump(mode="json")
        data["link"] = link(entity, data["id"])
        result.append(data)
    return result


async def out_one(ctx: ToolContext, entity: str, obj: Any) -> dict[str, Any]:
    return (await out(ctx, entity, [obj]))[0]


# -- dates in the organization's time zone -------------------------------------------------


async def zone(ctx: ToolContext) -> ZoneInfo:
    """The zone dates in commands are read in: the context's, else the organization's."""
    name = ctx.timezone
    if not name or name == "UTC":
        org = await ctx.session.get(Organization, ctx.principal.organization_id)
        name = (org.timezone if org else None) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}


def _parse_local(value: str, tz: ZoneInfo, now: datetime) -> tuple[datetime, bool] | None:
    """(moment, had a time of day), or None for what is no date of this era (year 1 or 9999
    overflow on the way to UTC)."""
    parsed = _parse_any(value, tz, now)
    if parsed is None or not 1900 <= parsed[0].year <= 2200:
        return None
    return parsed


def _parse_any(value: str, tz: ZoneInfo, now: datetime) -> tuple[datetime, bool] | None:
    """(moment, had a time of day) for ISO forms, a few words, or what dateparser reads."""
    text = value.strip()
    low = text.lower()
    local_now = now.astimezone(tz)
    if low == "now":
        return local_now, True
    if low in _DAY_WORDS:
        return datetime.combine(
            local_now.date() + timedelta(days=_DAY_WORDS[low]), time(), tz
        ), False
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), tz), False
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)), True
    except ValueError:
        pass
    import dateparser  # imported late: its first load takes a while

    try:
        got = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "RELATIVE_BASE": local_now.replace(tzinfo=None),
                "PREFER_DATES_FROM": "future",
                "TIMEZONE": str(tz),
                "RETURN_AS_TIMEZONE_AWARE": True,
            },
        )
    except (ValueError, OverflowError):  # "in 99999999 days"
        return None
    if got is None:
        return None
    has_time = bool(re.search(r"\d[:.]\d|\d\s*(am|pm)\b|noon|midnight|hour|minute", low))
    return got, has_time


async def moment(ctx: ToolContext, value: str, *, field: str) -> tuple[datetime, bool]:
    """(the moment in UTC, whether a time of day was given) from an ISO date/datetime — in the
    organization's zone when it has no offset — or a few everyday words."""
    tz = await zone(ctx)
    parsed = _parse_local(value, tz, ctx.now)
    if parsed is None:
        raise Invalid(
            f"{field}: {value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM", field=field
        )
    return parsed[0].astimezone(UTC), parsed[1]


async def when(
    ctx: ToolContext,
    value: str,
    *,
    field: str,
    date_only_time: time = time(23, 59),
) -> datetime:
    """A moment (UTC); a date alone means `date_only_time` that day in the organization's zone."""
    at, has_time = await moment(ctx, value, field=field)
    if not has_time:
        tz = await zone(ctx)
        at = datetime.combine(at.astimezone(tz).date(), date_only_time, tz).astimezone(UTC)
    return at


async def day(ctx: ToolContext, value: str, *, field: str) -> date:
    tz = await zone(ctx)
    parsed = _parse_local(value, tz, ctx.now)
    if parsed is None:
        raise Invalid(f"{field}: {value!r} is not a date; use YYYY-MM-DD", field=field)
    return parsed[0].astimezone(tz).date()


async def local_text(ctx: ToolContext, moment: datetime | None) -> str:
    """ "Fri 12 Dec 2026 14:30" in the organization's zone."""
    if moment is None:
        return "no date"
    local = moment.astimezone(await zone(ctx))
    return local.strftime("%a %-d %b %Y %H:%M")


def joined(items: Iterable[str], *, limit: int = 5) -> str:
    items = list(items)
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
