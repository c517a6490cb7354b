"""The tool registry: every action the assistant (and an MCP client) can take on the CRM.

A tool is an async function `(ctx, args) -> ToolResult` registered with `@tool`, whose arguments
are a pydantic model: its JSON schema is what the model sees (OpenAI tool-schema format), and
its validation turns bad arguments into a `ToolResult` with `status="invalid"` naming the field.
Tools call the same services as the REST API with the caller's `Principal`, so tenancy and
permissions are the API's: a viewer's delete is refused, another organization's record is not
found. A tool never commits: the caller owns the transaction (one per turn, like a request).

Results:
- `ok`        — done; `summary` is one sentence for the user, `data` the structured result,
                `actions` the records touched (cards in the UI, rows for undo);
- `clarify`   — a name matched several records (or none closely) or a required value is missing:
                `question` asks, `options` lists the candidates (each with the arguments that
                would pick it);
- `confirm`   — a destructive tool needs an explicit "yes" in the user's next turn; `question`
                names the record; the engine keeps `pending` and re-runs the tool with
                `ctx.confirmed=True` only after the user confirms (a model can never confirm);
- `denied`    — the caller's role may not do this;
- `invalid`   — the arguments are wrong (`field` names which);
- `not_found` — nothing by that id/name in this organization;
- `unsupported` — the CRM cannot do this (yet): said plainly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.errors import AICRMError, Invalid, NotFound, PermissionDenied
from aicrm.kit.principal import Permission, Principal

Status = Literal["ok", "clarify", "confirm", "denied", "invalid", "not_found", "unsupported"]


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown fields are refused (a typo names its field)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass(slots=True)
class Action:
    """One record a tool created, changed or deleted: a card in the chat, a row for undo."""

    op: Literal["created", "updated", "deleted", "moved", "assigned", "scheduled", "read"]
    entity_type: str
    entity_id: int | None
    label: str  # "Lead Jane Doe (Example Corp)"
    link: str | None = None  # web UI path, e.g. "/leads/42"
    # what undo needs: the fields as they were before (updated/moved/assigned), the full row
    # snapshot (deleted), nothing for created (undo deletes it)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    undoable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Option:
    """A candidate in a clarifying question: `args` are the arguments that would pick it."""

    label: str
    args: dict[str, Any]


@dataclass(slots=True)
class ToolResult:
    status: Status
    summary: str = ""  # one or two sentences for the user, facts only
    data: Any = None  # structured result (JSON-able) given back to a model
    actions: list[Action] = field(default_factory=list)
    question: str | None = None  # clarify / confirm
    options: list[Option] = field(default_factory=list)
    field: str | None = None  # invalid: which argument

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """What goes back to a model as the tool message (and to MCP clients)."""
        out: dict[str, Any] = {"status": self.status, "summary": self.summary}
        if self.data is not None:
            out["data"] = self.data
        if self.question:
            out["question"] = self.question
        if self.options:
            out["options"] = [{"label": o.label, "args": o.args} for o in self.options]
        if self.field:
            out["field"] = self.field
        if self.actions:
            out["actions"] = [
                {k: v for k, v in a.to_dict().items() if k not in ("before", "after")}
                for a in self.actions
            ]
        return out


@dataclass(slots=True)
class ToolContext:
    session: AsyncSession
    principal: Principal
    now: datetime  # timezone-aware; "today", "Friday", "this quarter" are relative to it
    timezone: str = "UTC"  # the organization's (or the user's) zone for dates in commands
    conversation_id: int | None = None
    confirmed: bool = False  # set by the engine only, after the user said yes


Handler = Callable[[ToolContext, Any], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    args: type[ToolArgs]
    handler: Handler
    permission: Permission
    mutating: bool
    destructive: bool  # needs a confirmation turn (delete)

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool-schema entry."""
        params = self.args.model_json_schema()
        params.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }


TOOLS: dict[str, Tool] = {}


def tool(
    name: str,
    description: str,
    *,
    permission: Permission = Permission.read,
    mutating: bool = False,
    destructive: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a tool; its arguments model is the handler's second parameter's annotation."""

    def register(fn: Handler) -> Handler:
        import inspect
        import typing

        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        args_type = hints[params[1]]
        if name in TOOLS and TOOLS[name].handler is not fn:
            raise ValueError(f"tool {name!r} registered twice")
        TOOLS[name] = Tool(
            name, description, args_type, fn, permission, mutating or destructive, destructive
        )
        return fn

    return register


def load() -> dict[str, Tool]:
    """Import the toolset modules (they register on import) and return the registry."""
    from aicrm.assistant import toolset  # noqa: F401  (imports every tool module)

    return TOOLS


def schemas(principal: Principal | None = None) -> list[dict[str, Any]]:
    """The tools in OpenAI format; with a principal, only those its role may use."""
    return [t.schema() for t in load().values() if principal is None or principal.can(t.permission)]


def _invalid(exc: ValidationError) -> ToolResult:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or None
    return ToolResult("invalid", summary=f"{where or 'arguments'}: {err.get('msg')}", field=where)


async def execute(ctx: ToolContext, name: str, arguments: dict[str, Any] | None) -> ToolResult:
    """Validate, check the permission, run in a savepoint (a failed tool changes nothing) and
    turn the services' errors into results a model or a person can act on."""
    spec = load().get(name)
    if spec is None:
        return ToolResult("unsupported", summary=f"There is no tool called {name!r}.")
    if not ctx.principal.can(spec.permission):
        return ToolResult(
            "denied",
            summary=f"Your role ({ctx.principal.role}) may not do that ({name}).",
        )
    try:
        args = spec.args.model_validate(arguments or {})
    except ValidationError as exc:
        return _invalid(exc)
    try:
        async with ctx.session.begin_nested():
            return await spec.handler(ctx, args)
    except PermissionDenied as exc:
        return ToolResult("denied", summary=exc.message)
    except NotFound as exc:
        return ToolResult("not_found", summary=exc.message)
    except Invalid as exc:
        where = next((e.get("field") for e in exc.errors if e.get("field")), None)
        return ToolResult("invalid", summary=exc.message, field=where)
    except AICRMError as exc:  # Conflict (409), stale version (412), …
        return ToolResult("invalid", summary=exc.message)
