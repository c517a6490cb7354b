"""The MCP server proper: tool listing and calls over the SDK's low-level `Server`, and the
stdio transport (`aicrm mcp`). Imported lazily: the `mcp` SDK costs ~0.5 s and ~20 MB."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.lowlevel import Server
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from aicrm.assistant import tools
from aicrm.assistant.tools import Tool, ToolContext, ToolResult
from aicrm.db import Database
from aicrm.errors import AICRMError
from aicrm.kit.principal import Principal
from aicrm.logging import get_logger

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from aicrm.config import Settings

log = get_logger("aicrm.mcp")

SERVER_NAME = "aicrm"
INTERNAL_ERROR = "error"  # a bug or an outage, not the caller's fault (not a ToolResult status)
ERROR_STATUSES = frozenset({"denied", "invalid", "not_found", "unsupported", INTERNAL_ERROR})
CONFIRM_ARG = "confirm"
CONFIRM_TTL_SECONDS = 600.0

INSTRUCTIONS = """\
Operate the aicrm CRM of the organization that owns the API key: search and read records, \
create leads, contacts, tasks and activities, update and move records, schedule meetings, \
start follow-ups, and ask for insights and analytics. Only the tools the key's scopes allow \
are listed.
Records (lead, contact, company, deal, assignee, owner) can be given by id or by name. Dates \
are ISO (YYYY-MM-DD or YYYY-MM-DDTHH:MM) in the organization's time zone.
Every result is JSON with a `status`:
- ok: done; `summary` says what happened, `data` holds the result, `actions` the records touched;
- clarify: a name matched several records or a value is missing; ask the user, then call again \
with the `args` of the option they pick;
- confirm: a destructive tool (delete_record) names the record it would delete; ask the user \
and only if they agree call it again with the same arguments plus "confirm": true;
- denied / invalid / not_found / unsupported: an error (`field` names a wrong argument).
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aicrm")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.1.0"


# ----------------------------------------------------------------------------- tool listing


def input_schema(spec: Tool) -> dict[str, Any]:
    """The tool's argument schema as MCP clients see it: the registry's, plus `confirm` for
    destructive tools (MCP only; the chat engine confirms in the next turn instead)."""
    schema = spec.args.model_json_schema()
    schema.pop("title", None)
    schema.setdefault("type", "object")
    if spec.destructive:
        schema.setdefault("properties", {})[CONFIRM_ARG] = {
            "type": "boolean",
            "default": False,
            "description": (
                "Leave out on the first call, which answers status 'confirm' naming the record. "
                "After the user agreed, call again with the same arguments and confirm: true."
            ),
        }
    return schema


def mcp_tool(spec: Tool) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.name.replace("_", " ").capitalize(),
        description=spec.description,
        input_schema=input_schema(spec),
        annotations=types.ToolAnnotations(
            read_only_hint=not spec.mutating,
            destructive_hint=spec.destructive,
            idempotent_hint=not spec.mutating,
            open_world_hint=False,
        ),
    )


def visible_tools(principal: Principal) -> list[types.Tool]:
    return [mcp_tool(t) for t in tools.load().values() if principal.can(t.permission)]


# ----------------------------------------------------------------------------- results


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def call_result(
    result: ToolResult, *, extra: Mapping[str, Any] | None = None
) -> types.CallToolResult:
    payload = _jsonable(result.to_dict())
    if extra:
        payload.update(extra)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
        structured_content=payload,
        is_error=result.status in ERROR_STATUSES,
    )


def error_result(status: str, summary: str, **fields: Any) -> types.CallToolResult:
    return call_result(ToolResult(status, summary=summary, **fields))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- confirmations


class PendingConfirmations:
    """Which (API key, tool, arguments) were answered `confirm` lately, in this process."""

    MAX = 10_000

    def __init__(self, ttl: float = CONFIRM_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[str, float] = {}

    @staticmethod
    def key(principal: Principal, spec: Tool, arguments: Mapping[str, Any]) -> str:
        try:
            canonical: Any = spec.args.model_validate(dict(arguments)).model_dump(mode="json")
        except Exception:  # noqa: BLE001 - invalid arguments: the tool itself will say so
            canonical = dict(arguments)
        raw = json.dumps(
            [
                principal.organization_id,
                principal.api_key_id,
                principal.user_id,
                spec.name,
                canonical,
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def remember(self, key: str) -> None:
        now = time.monotonic()
        if len(self._items) >= self.MAX:
            self._items = {k: t for k, t in self._items.items() if t > now}
            if len(self._items) >= self.MAX:
                self._items.clear()
        self._items[key] = now + self.ttl

    def take(self, key: str) -> bool:
        expires = self._items.pop(key, None)
        return expires is not None and expires > time.monotonic()


# ----------------------------------------------------------------------------- the server

PrincipalSource = Callable[["ServerRequestContext[Any, Any]"], Awaitable[Principal]]


async def _organization_timezone(session: Any, organization_id: int) -> str:
    from aicrm.models import Organization

    tz = (
        await session.execute(
            select(Organization.timezone).where(Organization.id == organization_id)
        )
    ).scalar_one_or_none()
    return tz or "UTC"


def _failure(exc: Exception, name: str, principal: Principal) -> ToolResult:
    """What a call that raised (the tool, or the commit) answers; nothing was changed."""
    if isinstance(exc, IntegrityError):
        return ToolResult("invalid", summary="The change conflicts with existing data.")
    if isinstance(exc, OperationalError):
        return ToolResult("invalid", summary="The database was busy; try again.")
    if isinstance(exc, DBAPIError):
        return ToolResult("invalid", summary="A value is out of range or malformed for its field.")
    if isinstance(exc, AICRMError):  # e.g. Conflict: the SQLite writer lock timed out
        return ToolResult("invalid", summary=exc.message)
    log.error("mcp tool failed", exc_info=exc, tool=name, organization=principal.organization_id)
    return ToolResult(
        INTERNAL_ERROR,  # type: ignore[arg-type]
        summary="Something went wrong on our side; it is logged. Nothing was changed.",
    )


class CRMServer:
    """The MCP server: one per process (stdio) or per app (HTTP).

    `database()` gives the process's `Database`; `principal(ctx)` who is calling (from the
    HTTP request the endpoint authenticated, or from the stdio API key)."""

    def __init__(self, database: Callable[[], Database], principal: PrincipalSource) -> None:
        self.database = database
        self.principal = principal
        self.pending = PendingConfirmations()
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=_version(),
            title="aicrm CRM",
            description="The aicrm CRM's assistant tools",
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            get_tool_input_schema=self._schema_by_name,
        )

    @staticmethod
    def _schema_by_name(name: str) -> Mapping[str, Any] | None:
        spec = tools.load().get(name)
        return input_schema(spec) if spec is not None else None

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = await self._principal_or_mcp_error(ctx)
        # the listing depends on the caller's scopes: never shared, never cached
        return types.ListToolsResult(
            tools=visible_tools(principal), ttl_ms=0, cache_scope="private"
        )

    async def _principal_or_mcp_error(self, ctx: ServerRequestContext[Any, Any]) -> Principal:
        from mcp.shared.exceptions import MCPError

        try:
            return await self.principal(ctx)
        except AICRMError as exc:
            raise MCPError(types.INVALID_REQUEST, exc.message) from None

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name = params.name
        arguments: dict[str, Any] = dict(params.arguments or {})
        try:
            principal = await self.principal(ctx)
        except AICRMError as exc:
            return error_result("denied", exc.message)
        spec = tools.load().get(name)
        confirm_key: str | None = None
        confirmed = False
        if spec is not None and spec.destructive and principal.can(spec.permission):
            confirm = arguments.pop(CONFIRM_ARG, False)
            if not isinstance(confirm, bool):
                return error_result(
                    "invalid", f"{CONFIRM_ARG}: must be true or false", field=CONFIRM_ARG
                )
            confirm_key = self.pending.key(principal, spec, arguments)
            confirmed = confirm and self.pending.take(confirm_key)
        result = await self.run(principal, name, arguments, confirmed=confirmed)
        if result.status == "confirm" and confirm_key is not None:
            self.pending.remember(confirm_key)
            return call_result(
                result,
                extra={
                    "to_confirm": (
                        f"Ask the user; if they agree, call {name} again with the same "
                        f'arguments plus "{CONFIRM_ARG}": true within '
                        f"{int(CONFIRM_TTL_SECONDS // 60)} minutes."
                    )
                },
            )
        return call_result(result)

    async def run(
        self,
        principal: Principal,
        name: str,
        arguments: dict[str, Any],
        *,
        confirmed: bool = False,
    ) -> ToolResult:
        """One tool call in one transaction: commit when it answered ok, else roll back."""
        db = self.database()
        spec = tools.load().get(name)
        write = spec is not None and spec.mutating and principal.can(spec.permission)
        started = time.perf_counter()
        session = None
        try:
            session = await db.session(write=write)
            ctx = ToolContext(
                session=session,
                principal=principal,
                now=datetime.now(UTC),
                timezone=await _organization_timezone(session, principal.organization_id),
                confirmed=confirmed,
            )
            result = await tools.execute(ctx, name, arguments)
            if result.ok:
                await session.commit()
            else:
                await session.rollback()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error result
            if session is not None:
                with suppress(Exception):
                    await session.rollback()
            result = _failure(exc, name, principal)
        finally:
            if session is not None:
                await session.close()
        log.info(
            "mcp tool",
            tool=name,
            status=result.status,
            organization=principal.organization_id,
            api_key=principal.api_key_id,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return result


# ----------------------------------------------------------------------------- stdio


def run_stdio(api_key: str) -> int:
    """`aicrm mcp`: serve until stdin closes; the exit status (1 for a bad key)."""
    import asyncio
    import logging
    import sys

    import structlog

    from aicrm.config import get_settings
    from aicrm.errors import Unauthorized
    from aicrm.jobs import backend
    from aicrm.logging import configure

    settings = get_settings()
    # stdout carries the protocol: every log line goes to stderr
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), stream=sys.stderr, format="%(message)s")
    configure(settings.LOG_LEVEL, settings.LOG_JSON)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    # committed changes reach Celery / realtime subscribers as they do from the API
    backend.configure(settings)
    try:
        asyncio.run(serve_stdio(api_key, settings))
    except Unauthorized as exc:
        sys.stderr.write(f"aicrm mcp: {exc.message}\n")
        return 1
    except DBAPIError as exc:  # unreachable or not migrated
        sys.stderr.write(f"aicrm mcp: database error ({exc.orig}); is DATABASE_URL migrated?\n")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def serve_stdio(api_key: str, settings: Settings) -> None:
    """`aicrm mcp`: the server on stdin/stdout for one API key (checked at start and then on
    every call, so a revoked key stops working)."""
    from mcp.server.stdio import stdio_server

    from aicrm.assistant.mcp.http import api_key_principal

    db = Database(settings)
    try:
        await api_key_principal(db, api_key)  # fail fast on a bad key
        tools.load()  # import the toolset now rather than in the first call

        async def principal(_ctx: ServerRequestContext[Any, Any]) -> Principal:
            found = await api_key_principal(db, api_key)
            return replace(found, request_id=f"mcp-{uuid.uuid4().hex[:16]}")

        crm = CRMServer(lambda: db, principal)
        async with stdio_server() as (read_stream, write_stream):
            await crm.server.run(
                read_stream, write_stream, crm.server.create_initialization_options()
            )
    finally:
        await db.dispose()
