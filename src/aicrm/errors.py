"""Error hierarchy and the one RFC 9457 problem+json renderer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class AICRMError(Exception):
    status = 400
    title = "Bad request"
    type_ = "about:blank"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        commit: bool = False,
        **extra: Any,
    ) -> None:
        # commit=True keeps the transaction's writes although the request fails
        # (a failed-login counter, a revoked token family).
        self.commit = commit
        self.message = message or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.message)


class NotFound(AICRMError):
    status = 404
    title = "Not found"


class Conflict(AICRMError):
    status = 409
    title = "Conflict"


class PermissionDenied(AICRMError):
    status = 403
    title = "Forbidden"


class Unauthorized(AICRMError):
    status = 401
    title = "Unauthorized"


class Invalid(AICRMError):
    status = 422
    title = "Validation failed"

    def __init__(self, message: str | None = None, *, field: str | None = None, **kw: Any) -> None:
        if field and "errors" not in kw:
            kw["errors"] = [{"field": field, "message": message or "invalid value"}]
        super().__init__(message, **kw)


class PreconditionFailed(AICRMError):
    status = 412
    title = "Precondition failed"


class TooManyRequests(AICRMError):
    status = 429
    title = "Too many requests"


class Locked(AICRMError):
    status = 423
    title = "Locked"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "field": _loc_to_field(err.get("loc", ())),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
                "in": str(err.get("loc", ("body",))[0]),
            }
        )
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(AICRMError)
    async def _aicrm(request: Request, exc: AICRMError) -> JSONResponse:
        return problem(
            exc.status,
            exc.title,
            exc.message,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = validation_errors(exc)
        fields = ", ".join(sorted({e["field"] for e in errs}))
        return problem(
            422,
            "Validation failed",
            f"Invalid input: {fields}",
            instance=request.url.path,
            errors=errs,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            404: "Not found",
            405: "Method not allowed",
            401: "Unauthorized",
            403: "Forbidden",
        }
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )
