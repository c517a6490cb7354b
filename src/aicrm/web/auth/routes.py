"""Sign in, sign out, sign up (or accept an invitation), switch organization, renew cookies."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from aicrm.auth import service as auth_service
from aicrm.auth.deps import CSRF_COOKIE, REFRESH_COOKIE, Session, check_csrf
from aicrm.auth.schemas import LoginIn, RegisterIn
from aicrm.config import get_settings
from aicrm.errors import AICRMError, Invalid, Locked, TooManyRequests
from aicrm.web.core import WebCtx, WebRoute, field_errors, on_error, render, safe_next
from aicrm.web.forms import build, form_data, int_or_none
from aicrm.web.session import (
    LoginRequired,
    clear_session_cookies,
    new_csrf,
    rotate,
    set_csrf_cookie,
    set_flash,
    set_session_cookies,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _auth_page(
    request: Request, template: str, *, status: int = 200, **context: object
) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE)
    fresh = csrf is None
    csrf = csrf or new_csrf()
    from aicrm.web.core import read_flash

    flash = read_flash(request)
    response = HTMLResponse(
        render(template, csrf=csrf, flash=flash, ctx=None, me=None, **context),
        status_code=status,
    )
    if fresh:
        set_csrf_cookie(response, csrf)
    if flash:
        response.delete_cookie("aicrm_flash", path="/")
    return response


def _retry_after(exc: AICRMError) -> int:
    try:
        return int(exc.headers.get("Retry-After", "0"))
    except ValueError:
        return 0


def _login_message(exc: AICRMError) -> str:
    if isinstance(exc, Locked):
        minutes = max(1, round(_retry_after(exc) / 60))
        return (
            "Too many failed sign-in attempts, so this account is locked for now. "
            f"Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        )
    if isinstance(exc, TooManyRequests):
        seconds = max(1, _retry_after(exc))
        return f"Too many attempts from here. Wait {seconds} seconds and try again."
    if exc.status == 403:
        return "Your sign-in form expired. Please try again."
    if exc.status == 422:
        return "Enter your email address and password."
    return exc.message


async def _limit(request: Request, key: str, per_minute: int) -> None:
    ok, retry = await request.app.state.limiter.hit(key, per_minute, 60)
    if not ok:
        raise TooManyRequests("Too many attempts; slow down", headers={"Retry-After": str(retry)})


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _auth_page(request, "auth/login.html", next=safe_next(next), email="", error=None)


@router.post("/login")
async def login(request: Request, session: Session) -> Response:
    form = await form_data(request)
    email = form.get("email", "")
    target = safe_next(form.get("next"))

    def failed(exc: AICRMError) -> Response:
        response = _auth_page(
            request,
            "auth/login.html",
            status=exc.status,
            next=target,
            email=email,
            error=_login_message(exc),
            errors=field_errors(exc) if exc.status == 422 else {},
        )
        if exc.headers.get("Retry-After"):
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response

    on_error(request, failed)
    token = (await request.form()).get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    settings = get_settings()
    ip = request.client.host if request.client else "-"
    # the same buckets as the JSON login, so switching clients does not double the allowance
    await _limit(request, f"login:ip:{ip}", settings.LOGIN_IP_RATE_PER_MINUTE)
    await _limit(request, f"login:email:{ip}:{email.lower()}", settings.LOGIN_RATE_PER_MINUTE)
    data = build(LoginIn, {"email": email, "password": form.get("password", "")})
    user = await auth_service.authenticate(session, data.email, data.password)
    pair = await auth_service.issue_tokens(session, user)
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, pair, new_csrf())
    return response


@router.post("/logout")
async def logout(request: Request, session: Session) -> Response:
    token = (await request.form()).get("csrf_token")
    check_csrf(
        request, request.headers.get("x-csrf-token") or (token if isinstance(token, str) else None)
    )
    await auth_service.logout(session, request.cookies.get(REFRESH_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    set_flash(response, "You are signed out.", "info")
    return response


@router.get("/register")
async def register_page(request: Request, invitation: str = "") -> HTMLResponse:
    return _auth_page(
        request,
        "auth/register.html",
        invitation=invitation,
        values={},
        errors={},
        error=None,
    )


@router.post("/register")
async def register(request: Request, session: Session) -> Response:
    form = await form_data(request)
    invitation = form.get("invitation_token", "")

    def failed(exc: AICRMError) -> Response:
        errors = field_errors(exc)
        return _auth_page(
            request,
            "auth/register.html",
            status=422 if exc.status in (409, 422) else exc.status,
            invitation=invitation,
            values=form,
            errors=errors,
            error=None if errors else exc.message,
        )

    on_error(request, failed)
    token = (await request.form()).get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    ip = request.client.host if request.client else "-"
    await _limit(request, f"register:{ip}", get_settings().LOGIN_IP_RATE_PER_MINUTE)
    body: dict[str, object] = {
        "email": form.get("email", ""),
        "password": form.get("password", ""),
        "full_name": form.get("full_name", ""),
    }
    if invitation:
        body["invitation_token"] = invitation
    elif form.get("organization_name"):
        body["organization_name"] = form["organization_name"]
    data = build(RegisterIn, body)
    user, org_id = await auth_service.register(session, data)
    pair = await auth_service.issue_tokens(session, user, org_id)
    response = RedirectResponse("/", status_code=303)
    set_session_cookies(response, pair, new_csrf())
    set_flash(response, "Welcome to aicrm! Your workspace is ready.")
    return response


@router.post("/switch-organization")
async def switch_organization(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)
    org_id = int_or_none(form.get("organization_id"), field="organization_id")
    if org_id is None:
        raise Invalid("Choose an organization", field="organization_id")
    pair = await auth_service.switch_organization(ctx.session, ctx.user_id, org_id)
    # WebRoute writes these cookies, after (so instead of) any renewal earlier in the request
    ctx.request.state.new_tokens = pair
    response = RedirectResponse("/", status_code=303)
    if ctx.htmx:
        response = Response(status_code=200, headers={"HX-Redirect": "/"})
    orgs = {m.organization_id: m.organization_name for m in (await ctx.me()).memberships}
    set_flash(response, f"Switched to {orgs.get(org_id, 'the organization')}.", "info")
    return response


@router.post("/session/refresh")
async def refresh_session(request: Request) -> Response:
    """Scripts call this when the API answers 401, then retry once."""
    check_csrf(request)
    try:
        await rotate(request)
    except LoginRequired:
        response = Response(status_code=401)
        clear_session_cookies(response)
        return response
    return Response(status_code=204)
