"""create_app(): the API, the web UI and (later) the websocket, in one ASGI app."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicrm import errors
from aicrm.activities import endpoints as activity_endpoints
from aicrm.audit import endpoints as audit_endpoints
from aicrm.auth import endpoints as auth_endpoints
from aicrm.auth.ratelimit import make_rate_limiter
from aicrm.companies import endpoints as company_endpoints
from aicrm.config import Settings, get_settings
from aicrm.contacts import endpoints as contact_endpoints
from aicrm.customfields import endpoints as customfield_endpoints
from aicrm.db import Database
from aicrm.deals import endpoints as deal_endpoints
from aicrm.duplicates import endpoints as duplicate_endpoints
from aicrm.imports import endpoints as import_endpoints
from aicrm.leads import endpoints as lead_endpoints
from aicrm.logging import configure as configure_logging
from aicrm.logging import get_logger
from aicrm.orgs import endpoints as org_endpoints
from aicrm.tags import endpoints as tag_endpoints
from aicrm.tasks import endpoints as task_endpoints
from aicrm.views import endpoints as view_endpoints

log = get_logger("aicrm.http")

ENDPOINT_MODULES = (
    auth_endpoints,
    org_endpoints,
    contact_endpoints,
    company_endpoints,
    lead_endpoints,
    deal_endpoints,
    activity_endpoints,
    task_endpoints,
    tag_endpoints,
    customfield_endpoints,
    view_endpoints,
    duplicate_endpoints,
    import_endpoints,
    audit_endpoints,
)


# Areas built on the jobs/events core; mounted when their package is part of this build.
OPTIONAL_ENDPOINT_MODULES = (
    "aicrm.jobs.endpoints",
    "aicrm.notifications.endpoints",
    "aicrm.webhooks.endpoints",
    "aicrm.automation.endpoints",
    "aicrm.realtime.endpoints",
    "aicrm.ai.endpoints",
    "aicrm.ai.text.endpoints",
    "aicrm.ai.classifiers.endpoints",
    "aicrm.ai.scoring.endpoints",
    "aicrm.ai.customers.endpoints",
    "aicrm.ai.workload.endpoints",
    "aicrm.ai.forecast.endpoints",
    "aicrm.assistant.endpoints",
)


def _optional_modules() -> tuple[Any, ...]:
    import importlib

    found = []
    for name in OPTIONAL_ENDPOINT_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if not exc.name or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
    return tuple(found)


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out) and one JSON access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            if not path.startswith("/static"):
                log.info(
                    "request",
                    method=scope.get("method"),
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - start) * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_JSON)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from aicrm.jobs import backend
        from aicrm.jobs.registry import load_job_modules

        load_job_modules(settings)
        backend.configure(settings)
        worker = None
        if settings.EMBEDDED_WORKER and not settings.CELERY_BROKER_URL:
            from aicrm.jobs.embedded import EmbeddedWorker

            worker = EmbeddedWorker(app.state.db, settings)
            await worker.start()
        app.state.worker = worker
        if settings.AI_WARM:
            from aicrm.ai.warm import warm_in_background

            warm_in_background()
        try:
            async with app.state.mcp.run():  # the MCP session manager's task group
                yield
        finally:
            if worker is not None:
                await worker.stop()
            await app.state.db.dispose()

    app = FastAPI(
        title="aicrm",
        version="0.1.0",
        summary="Self-hostable, AI-first CRM",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = Database(settings, url=database_url)
    app.state.limiter = make_rate_limiter(settings.REDIS_URL)
    errors.install(app)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled", exc_info=exc, path=request.url.path)
        return errors.problem(
            500,
            "Internal error",
            "Something went wrong on our side; it is logged with the request id.",
        )

    for module in ENDPOINT_MODULES + _optional_modules():
        # every APIRouter a domain's endpoints module defines is mounted
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                app.include_router(value)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"])
    async def ready() -> Any:
        """Readiness: the database answers and is migrated."""
        try:
            async with app.state.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                version = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(
                {"status": "unavailable", "detail": str(exc)[:200]}, status_code=503
            )
        return {
            "status": "ready",
            "database": app.state.db.engine.dialect.name,
            "migration": version,
        }

    from aicrm.web import mount as mount_web

    mount_web(app)
    from aicrm.assistant.mcp import mount as mount_mcp

    mount_mcp(app)  # MCP over streamable HTTP at /mcp (API key auth)
    if settings.CORS_ORIGINS:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID"],
        )
    app.add_middleware(RequestContext)
    return app
