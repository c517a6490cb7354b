"""Web UI plumbing: templates, the request context (who, which session), CSRF, and errors
rendered as HTML pages or HTMX partials instead of problem+json."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.auth import security
from aicrm.auth import service as auth_service
from aicrm.auth.deps import CSRF_COOKIE, CSRF_HEADER, SAFE_METHODS, check_csrf
from aicrm.auth.schemas import MeOut
from aicrm.db import WRITE_METHODS, Database, TxRoute
from aicrm.errors import AICRMError, NotFound, PermissionDenied, Unauthorized
from aicrm.kit.principal import Permission, Principal
from aicrm.models import Organization
from aicrm.orgs import service as org_service
from aicrm.orgs.schemas import MemberOut
from aicrm.web.session import (
    FLASH_COOKIE,
    LoginRequired,
    clear_session_cookies,
    new_csrf,
    rotate,
    set_csrf_cookie,
    set_flash,
    set_session_cookies,
)

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# -- templates -----------------------------------------------------------------------------

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

_static_versions: dict[str, str] = {}


def static_url(path: str) -> str:
    """URL of one of our static files with a content hash, so browsers never run stale JS."""
    version = _static_versions.get(path)
    if version is None:
        try:
            version = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
        except OSError:
            version = "0"
        _static_versions[path] = version
    return f"/static/{path}?v={version}"


CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "CA$"}


def money(value: Any, currency: str = "USD", *, compact: bool = False) -> str:
    if value is None:
        return "—"
    amount = float(value)
    sign = CURRENCY_SIGNS.get(currency)
    if compact and abs(amount) >= 1000:
        for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(amount) >= limit:
                scaled = amount / limit
                digits = 1 if abs(scaled) < 100 else 0
                text = (
                    f"{scaled:.{digits}f}".rstrip("0").rstrip(".") + suffix
                    if digits
                    else f"{scaled:.0f}{suffix}"
                )
                break
    elif amount == int(amount):
        text = f"{int(amount):,}"
    else:
        text = f"{amount:,.2f}"
    return f"{sign}{text}" if sign else f"{text} {currency}"


def phone(value: str | None) -> str:
    """E.164 as stored → the readable international form (+1 415-555-0100)."""
    if not value:
        return ""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    delta = datetime.now(UTC) - _aware(value)
    seconds = int(delta.total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in (
        (86400 * 365, "y"),
        (86400 * 30, "mo"),
        (86400, "d"),
        (3600, "h"),
        (60, "m"),
    ):
        if seconds >= size:
            n = seconds // size
            return f"in {n}{unit}" if future else f"{n}{unit} ago"
    return "just now"


def fmt_date(value: datetime | date | None, with_time: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = _aware(value)
        return value.strftime("%b %-d, %Y %H:%M" if with_time else "%b %-d, %Y")
    return value.strftime("%b %-d, %Y")


def due(value: datetime | None) -> str:
    """A due date as people say it: today, tomorrow, yesterday, else the date."""
    if value is None:
        return "no due date"
    day = _aware(value).date()
    today = datetime.now(UTC).date()
    delta = (day - today).days
    return {0: "today", 1: "tomorrow", -1: "yesterday"}.get(delta) or fmt_date(day)


def initials(name: str | None) -> str:
    parts = [p for p in (name or "").replace("@", " ").split() if p[:1].isalnum()]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


AVATAR_HUES = [210, 262, 330, 24, 160, 190, 290, 45]


def avatar_hue(key: Any) -> int:
    digest = hashlib.md5(str(key).encode(), usedforsecurity=False).digest()
    return AVATAR_HUES[digest[0] % len(AVATAR_HUES)]


def humanize(value: Any) -> str:
    text = str(value or "").replace("_", " ")
    return text[:1].upper() + text[1:]


def score_class(score: int | None) -> str:
    if score is None:
        return ""
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


env.globals.update(static=static_url, Permission=Permission)
env.filters.update(
    money=money,
    ago=ago,
    date=fmt_date,
    initials=initials,
    hue=avatar_hue,
    humanize=humanize,
    score_class=score_class,
    phone=phone,
    due=due,
)


def render(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


# -- request context -----------------------------------------------------------------------


@dataclass
class Ctx:
    """Everything a web route needs: the request, its one transaction and who is acting."""

    request: Request
    session: AsyncSession
    principal: Principal
    csrf: str
    _me: MeOut | None = None
    _org: Organization | None = None
    _members: dict[int, MemberOut] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        assert self.principal.user_id is not None
        return self.principal.user_id

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                f"Your role ({self.principal.role}) may not do this ({permission.value})"
            )

    async def me(self) -> MeOut:
        if self._me is None:
            self._me = await auth_service.me(
                self.session, self.user_id, self.principal.organization_id
            )
        return self._me

    async def org(self) -> Organization:
        if self._org is None:
            self._org = await org_service.get_current(self.session, self.principal)
        return self._org

    async def members(self) -> dict[int, MemberOut]:
        if self._members is None:
            self._members = {
                m.user_id: m for m in await org_service.list_members(self.session, self.principal)
            }
        return self._members

    @property
    def htmx(self) -> bool:
        return is_htmx(self.request)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def web_context(request: Request) -> AsyncIterator[Ctx]:
    """Authenticate from cookies (renewing them when the access token expired), open the
    request's transaction, and check the CSRF token on writes."""
    access = request.cookies.get("aicrm_access")
    valid = False
    if access:
        try:
            security.decode_access_token(access)
            valid = True
        except Unauthorized:
            valid = False
    if not valid:
        # before the request's own session: on SQLite a write request holds the write lock
        access = (await rotate(request)).access_token
    assert access is not None
    db: Database = request.app.state.db
    session = await db.session(write=request.method in WRITE_METHODS)
    request.state.session = session
    try:
        try:
            principal = await auth_service.principal_from_access_token(session, access)
        except (Unauthorized, PermissionDenied) as exc:
            raise LoginRequired(exc.message) from exc
        principal = replace(
            principal,
            request_id=getattr(request.state, "request_id", None),
            ip=request.client.host if request.client else None,
        )
        request.state.principal = principal
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if not sent and "form" in request.headers.get("content-type", ""):
                value = (await request.form()).get("csrf_token")
                sent = value if isinstance(value, str) else None
            check_csrf(request, sent)
        if not csrf:
            csrf = new_csrf()
            request.state.new_csrf = csrf
        ctx = Ctx(request=request, session=session, principal=principal, csrf=csrf)
        request.state.ctx = ctx
        yield ctx
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


WebCtx = Annotated[Ctx, Depends(web_context)]


# -- responses -----------------------------------------------------------------------------


def read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition("|")
    if kind not in {"success", "error", "info"}:
        kind = "info"
    return {"kind": kind, "message": message}


async def page(
    ctx: Ctx,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full page inside the app layout."""
    me = await ctx.me()
    org = await ctx.org()
    flash = read_flash(ctx.request)
    html = render(
        template,
        ctx=ctx,
        me=me,
        org=org,
        currency=org.default_currency,
        csrf=ctx.csrf,
        flash=flash,
        request=ctx.request,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


async def partial(
    ctx: Ctx,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """An HTML fragment for HTMX to swap in."""
    org = await ctx.org()
    html = render(
        template,
        ctx=ctx,
        org=org,
        currency=org.default_currency,
        csrf=ctx.csrf,
        request=ctx.request,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=headers)


def trigger(response: Response, **events: Any) -> Response:
    """Client-side events for HTMX (toasts, closing dialogs) in the HX-Trigger header."""
    existing = response.headers.get("HX-Trigger")
    merged = json.loads(existing) if existing else {}
    merged.update(events)
    response.headers["HX-Trigger"] = json.dumps(merged)
    return response


def toast(response: Response, message: str, kind: str = "success") -> Response:
    return trigger(response, toast={"message": message, "kind": kind})


def redirect(request: Request, url: str) -> Response:
    """Navigate: HTMX follows HX-Redirect with a full page load, plain forms a 303."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or target.startswith("/login"):
        return "/"
    return target


ErrorRenderer = Callable[[AICRMError], Awaitable[Response] | Response]


def on_error(request: Request, renderer: ErrorRenderer) -> None:
    """Render a failing form with its errors instead of an error page. The error still travels
    through TxRoute, so the transaction commits or rolls back as it would for the API."""
    request.state.error_renderer = renderer


def field_errors(exc: AICRMError | None) -> dict[str, str]:
    """problem+json field errors → {field: message} for templates."""
    if exc is None:
        return {}
    out: dict[str, str] = {}
    for err in exc.errors:
        name = str(err.get("field") or "")
        root = name.split(".")[0] if name else ""
        message = str(err.get("message") or "invalid value")
        out.setdefault(name, message)
        if root and root != name:
            out.setdefault(root, message)
    return out


def _login_url(request: Request) -> str:
    if is_htmx(request):
        current = request.headers.get("hx-current-url") or "/"
        parts = urlsplit(current)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    elif request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        target = "/"
    target = safe_next(target)
    return "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"


def _login_redirect(request: Request, reason: str = "") -> Response:
    url = _login_url(request)
    if is_htmx(request):
        response: Response = Response(status_code=401, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    clear_session_cookies(response)
    if "reuse" in reason:
        set_flash(
            response,
            "For your safety you were signed out everywhere. Please sign in again.",
            "info",
        )
    elif "expired" in reason:
        set_flash(response, "Your session expired. Please sign in again.", "info")
    elif reason and "Invalid" not in reason:
        set_flash(response, reason, "info")
    return response


ERROR_TITLES = {
    400: "Something is wrong with that request",
    401: "Please sign in",
    403: "You don't have access to this",
    404: "We couldn't find that",
    409: "That conflicts with existing data",
    412: "Someone else changed this",
    422: "Please check the highlighted fields",
    423: "Account locked",
    429: "Slow down a little",
}


async def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The error inside the app layout when the user is known, on a bare page otherwise."""
    ctx: Ctx | None = getattr(request.state, "ctx", None)
    title = ERROR_TITLES.get(status, "Something went wrong")
    if ctx is not None:
        try:
            return await page(
                ctx, "error.html", status=status, code=status, title=title, message=message
            )
        except Exception:  # noqa: BLE001 - fall back to the bare page if the layout fails too
            pass
    html = render(
        "error.html", ctx=None, me=None, code=status, title=title, message=message, csrf=""
    )
    return HTMLResponse(html, status_code=status)


async def error_response(request: Request, exc: AICRMError) -> Response:
    renderer: ErrorRenderer | None = getattr(request.state, "error_renderer", None)
    if renderer is not None:
        result = renderer(exc)
        response = await result if isinstance(result, Awaitable) else result
        return response
    if is_htmx(request):
        response = HTMLResponse(
            f'<div class="inline-error" role="alert">{Markup.escape(exc.message)}</div>',
            status_code=exc.status,
            headers={"HX-Reswap": "none"},
        )
        return toast(response, exc.message, "error")
    return await error_page(request, exc.status, exc.message)


class WebRoute(TxRoute):
    """TxRoute (one transaction per request) plus browser behaviour: no session → login page,
    service errors → HTML, renewed tokens → cookies on the response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                return _login_redirect(request, exc.reason)
            except AICRMError as exc:
                response = await error_response(request, exc)
            except RequestValidationError:
                # a malformed id in a URL is just a page that does not exist
                response = await error_response(request, NotFound("This page does not exist"))
            pair = getattr(request.state, "new_tokens", None)
            csrf = getattr(request.state, "new_csrf", None)
            if pair is not None:
                set_session_cookies(response, pair)
            if csrf:
                set_csrf_cookie(response, csrf)
            return response

        return route


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/static/", "/docs", "/openapi", "/health", "/ready")):
        return False
    return "text/html" in request.headers.get("accept", "")
