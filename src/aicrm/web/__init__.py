"""Server-rendered web UI (Jinja2 + HTMX)."""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from aicrm.logging import get_logger
from aicrm.web.core import STATIC_DIR, env, error_page, wants_html

log = get_logger("aicrm.web")

# Third-party scripts are installed by `npm ci` (package.json pins them) and served from
# node_modules, never copied into the repository.
VENDOR_FILES = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
    "Sortable.min.js": ("sortablejs", "Sortable.min.js"),
    "chart.umd.min.js": ("chart.js", "dist/chart.umd.min.js"),
}

AREAS = (
    "auth",
    "dashboard",
    "search",
    "contacts",
    "companies",
    "leads",
    "deals",
    "tasks",
    "settings",
    "audit",
    "notifications",
    "automation",
    "webhooks",
    "jobs",
    "insights",
    "classifiers",
    "forecast",
)


def _node_modules() -> Path | None:
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "node_modules", Path.cwd() / "node_modules"):
        if candidate.is_dir():
            return candidate
    return None


def _mount_vendor(app: FastAPI) -> None:
    root = _node_modules()
    if root is None:
        log.warning("node_modules not found; run `npm ci` (or `make deps`) for the web UI scripts")

    @app.get("/static/vendor/{name}", include_in_schema=False)
    async def vendor(name: str) -> Response:
        spec = VENDOR_FILES.get(name)
        path = root / spec[0] / spec[1] if root is not None and spec else None
        if path is None or not path.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        # versions are pinned, so the file behind a name only changes with package.json
        return FileResponse(
            path,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )


def mount(app: FastAPI) -> None:
    _mount_vendor(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    loaded: set[str] = set()
    for area in AREAS:
        try:
            module = importlib.import_module(f"aicrm.web.{area}.routes")
        except ModuleNotFoundError as exc:
            # an area whose web module or domain service is not there is left out, not stubbed
            if exc.name and (
                exc.name.startswith("aicrm.web.") or exc.name == f"aicrm.{area}.service"
            ):
                continue
            raise
        app.include_router(module.router)
        loaded.add(area)
    # templates show navigation and sections only for the areas that are there
    env.globals["features"] = frozenset(loaded)

    api_http_handler = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown pages requested by a browser get the styled 404 page; the API keeps problem+json.
        assert isinstance(exc, StarletteHTTPException)
        if wants_html(request) and exc.status_code in (404, 405):
            return await error_page(
                request,
                exc.status_code,
                "The page you asked for does not exist."
                if exc.status_code == 404
                else "That action is not available here.",
            )
        assert api_http_handler is not None
        result = api_http_handler(request, exc)
        return await result if hasattr(result, "__await__") else result  # type: ignore[return-value]

    app.add_exception_handler(StarletteHTTPException, http_error)
