"""MCP over streamable HTTP at `/mcp` of the app, authenticated by an organization API key.

The endpoint is light until its first request: the `mcp` SDK (~0.5 s to import, ~20 MB) and the
SDK's session manager are started then, in a task of their own, and stopped with the app's
lifespan (`app.state.mcp.run()` wraps it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from aicrm import errors
from aicrm.auth.deps import principal_for
from aicrm.auth.security import API_KEY_PREFIX
from aicrm.db import Database
from aicrm.errors import Unauthorized
from aicrm.kit.principal import Principal
from aicrm.logging import get_logger

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mcp.server.context import ServerRequestContext
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

log = get_logger("aicrm.mcp")

PRINCIPAL_STATE = "aicrm_mcp_principal"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aicrm-mcp"'}


def credential(scope: Scope) -> str | None:
    """The API key of a request: `X-API-Key`, else `Authorization: Bearer …`."""
    key = auth = ""
    for name, value in scope.get("headers") or ():
        if name == b"x-api-key":
            key = value.decode("latin-1").strip()
        elif name == b"authorization":
            auth = value.decode("latin-1")
    if key:
        return key
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


async def api_key_principal(db: Database, key: str) -> Principal:
    """The principal of an organization API key; anything else (a user's login token) is
    refused, even one the credential cache knows."""
    if not key.startswith(API_KEY_PREFIX):
        raise Unauthorized("MCP needs an organization API key (aicrm_…)")
    async with db.sessionmaker() as session:
        principal = await principal_for(session, key, api_key=True)
    if principal.api_key_id is None:  # pragma: no cover - guarded by the prefix
        raise Unauthorized("MCP needs an organization API key (aicrm_…)")
    return principal


async def _request_principal(ctx: ServerRequestContext[Any, Any]) -> Principal:
    """Who calls: the principal the endpoint authenticated for this very HTTP request."""
    scope = getattr(ctx.request, "scope", None) or {}
    principal = scope.get("state", {}).get(PRINCIPAL_STATE)
    if principal is None:  # pragma: no cover - the endpoint always sets it
        raise Unauthorized("Authentication required")
    return principal


class MCPEndpoint:
    """The ASGI app at `/mcp`: authenticates the API key (401 problem+json otherwise), then
    hands the request to the SDK's streamable-HTTP session manager, stateless with JSON
    responses, so any worker of a multi-process deployment can answer any request."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._running = False

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Wraps the app's lifespan: requests are served inside it; on exit the session
        manager (if it was started) is stopped."""
        self._running = True
        try:
            yield
        finally:
            self._running = False
            task, stop = self._task, self._stop
            self._manager = self._task = self._stop = None
            if task is not None and stop is not None:
                stop.set()
                with suppress(Exception):
                    await asyncio.wait_for(task, 10)

    async def _started(self) -> StreamableHTTPSessionManager | None:
        if self._manager is not None or not self._running:
            return self._manager
        async with self._lock:
            if self._manager is None and self._running:
                from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

                from aicrm.assistant import tools
                from aicrm.assistant.mcp.server import CRMServer

                tools.load()
                crm = CRMServer(lambda: self.app.state.db, _request_principal)
                manager = StreamableHTTPSessionManager(
                    app=crm.server, stateless=True, json_response=True
                )
                ready, stop = asyncio.Event(), asyncio.Event()

                async def serve() -> None:
                    # the manager's task group is entered and left by this one task
                    async with manager.run():
                        ready.set()
                        await stop.wait()

                task = asyncio.create_task(serve(), name="aicrm-mcp-session-manager")
                waiter = asyncio.create_task(ready.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.is_set():
                    waiter.cancel()
                    task.result()  # raises what stopped it
                self._manager, self._task, self._stop = manager, task, stop
        return self._manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = credential(scope)
        if not key:
            await errors.problem(
                401,
                "Unauthorized",
                "The MCP endpoint needs an organization API key: Authorization: Bearer <key>",
                headers=CHALLENGE,
            )(scope, receive, send)
            return
        try:
            principal = await api_key_principal(self.app.state.db, key)
        except Unauthorized as exc:
            await errors.problem(401, "Unauthorized", exc.message, headers=CHALLENGE)(
                scope, receive, send
            )
            return
        state = scope.setdefault("state", {})
        client = scope.get("client")
        state[PRINCIPAL_STATE] = replace(
            principal, request_id=state.get("request_id"), ip=client[0] if client else None
        )
        manager = await self._started()
        if manager is None:
            await errors.problem(503, "Unavailable", "The server is starting or stopping.")(
                scope, receive, send
            )
            return
        await manager.handle_request(scope, receive, send)


def mount(app: FastAPI) -> MCPEndpoint:
    """Serve MCP at `/mcp` of `app`; the app's lifespan must enter `app.state.mcp.run()`."""
    endpoint = MCPEndpoint(app)
    app.state.mcp = endpoint
    # stateless: no server-initiated stream to GET, no session to DELETE (both answer 405)
    app.add_route("/mcp", endpoint, methods=["POST"], include_in_schema=False)
    return endpoint
