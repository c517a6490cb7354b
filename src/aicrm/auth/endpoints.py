"""Authentication API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from aicrm.auth import service
from aicrm.auth.deps import CurrentPrincipal, Session, require
from aicrm.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginIn,
    LogoutIn,
    MeOut,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshIn,
    RegisterIn,
    TokenPair,
)
from aicrm.config import get_settings
from aicrm.db import TxRoute
from aicrm.errors import PermissionDenied, TooManyRequests
from aicrm.kit.principal import Permission, Principal
from aicrm.kit.schemas import InputSchema

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=TxRoute)


async def _limit(request: Request, key: str, per_minute: int | None = None) -> None:
    settings = get_settings()
    limit = per_minute or settings.LOGIN_RATE_PER_MINUTE
    ok, retry = await request.app.state.limiter.hit(key, limit, 60)
    if not ok:
        raise TooManyRequests("Too many attempts; slow down", headers={"Retry-After": str(retry)})


@router.post("/register", response_model=TokenPair, status_code=status.HTTP_201_CREATED)
async def register(data: RegisterIn, session: Session, request: Request) -> TokenPair:
    """Create an account (and an organization, unless an invitation token is given)."""
    ip = request.client.host if request.client else "-"
    await _limit(request, f"register:{ip}", get_settings().LOGIN_IP_RATE_PER_MINUTE)
    user, org_id = await service.register(session, data)
    return await service.issue_tokens(session, user, org_id)


@router.post("/login", response_model=TokenPair)
async def login(data: LoginIn, session: Session, request: Request) -> TokenPair:
    """Exchange email and password for an access token and a refresh token."""
    ip = request.client.host if request.client else "-"
    await _limit(request, f"login:ip:{ip}", get_settings().LOGIN_IP_RATE_PER_MINUTE)
    await _limit(request, f"login:email:{ip}:{data.email.lower()}")
    user = await service.authenticate(session, data.email, data.password)
    return await service.issue_tokens(session, user)


@router.post("/refresh", response_model=TokenPair)
async def refresh(data: RefreshIn, session: Session) -> TokenPair:
    """Rotate a refresh token. Reusing an old one revokes every token of its family."""
    return await service.refresh(session, data.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: Session, data: LogoutIn | None = None) -> Response:
    """Revoke the refresh token's family (end this login everywhere it was rotated to)."""
    await service.logout(session, data.refresh_token if data else None)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal, session: Session) -> MeOut:
    """The current user, their active organization, role, permissions and memberships."""
    if principal.user_id is None:
        raise PermissionDenied("API keys have no user; call this with a user token")
    return await service.me(session, principal.user_id, principal.organization_id)


class SwitchIn(InputSchema):
    organization_id: int


@router.post("/switch-organization", response_model=TokenPair)
async def switch_organization(
    data: SwitchIn, principal: CurrentPrincipal, session: Session
) -> TokenPair:
    """Make another organization the active one; returns new tokens scoped to it."""
    if principal.user_id is None:
        raise PermissionDenied("API keys are bound to one organization")
    return await service.switch_organization(session, principal.user_id, data.organization_id)


@router.post("/password-reset/request", status_code=status.HTTP_202_ACCEPTED)
async def password_reset_request(
    data: PasswordResetRequestIn, session: Session, request: Request
) -> dict[str, str]:
    """Send a reset link by email (through the outbox). Answers the same for unknown emails."""
    await _limit(request, f"reset:{data.email.lower()}")
    await service.request_password_reset(session, data.email)
    return {"detail": "If the account exists, a reset email is on its way."}


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def password_reset_confirm(data: PasswordResetConfirmIn, session: Session) -> Response:
    """Set a new password with a reset token; every existing session is logged out."""
    await service.confirm_password_reset(session, data.token, data.new_password)
    return Response(status_code=204)


keys = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"], route_class=TxRoute)
KeyAdmin = Depends(require(Permission.api_keys))


@keys.get("", response_model=list[ApiKeyOut])
async def list_keys(session: Session, principal: Principal = KeyAdmin) -> list[ApiKeyOut]:
    """API keys of the active organization (the secret itself is never shown again)."""
    return [ApiKeyOut.model_validate(k) for k in await service.list_api_keys(session, principal)]


@keys.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_key(
    data: ApiKeyCreate, session: Session, principal: Principal = KeyAdmin
) -> ApiKeyCreated:
    """Create an API key with scopes read / write / admin. The key is returned once."""
    row, key = await service.create_api_key(session, principal, data)
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@keys.delete("/{key_id}", response_model=ApiKeyOut)
async def revoke_key(key_id: int, session: Session, principal: Principal = KeyAdmin) -> ApiKeyOut:
    """Revoke an API key; it stops working at once."""
    return ApiKeyOut.model_validate(await service.revoke_api_key(session, principal, key_id))
