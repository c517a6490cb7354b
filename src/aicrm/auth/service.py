"""Registration, login with lockout, rotating refresh tokens, password reset, API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.audit import service as audit
from aicrm.auth import security
from aicrm.auth.repository import ApiKeyRepo
from aicrm.auth.schemas import ApiKeyCreate, MembershipOut, MeOut, RegisterIn, TokenPair
from aicrm.config import get_settings
from aicrm.errors import Conflict, Invalid, Locked, NotFound, PermissionDenied, Unauthorized
from aicrm.kit.principal import ROLE_PERMISSIONS, SCOPE_PERMISSIONS, Principal, Role
from aicrm.models import (
    ApiKey,
    Membership,
    Organization,
    PasswordReset,
    RefreshToken,
    User,
)
from aicrm.notifications.email import queue_email
from aicrm.orgs import service as org_service

INVALID_LOGIN = "Incorrect email or password"


def _now() -> datetime:
    return datetime.now(UTC)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (
        await session.execute(select(User).where(User.email == email.lower()))
    ).scalar_one_or_none()


async def create_user(
    session: AsyncSession, *, email: str, password: str, full_name: str = ""
) -> User:
    if await get_user_by_email(session, email):
        raise Conflict(
            "An account with this email already exists",
            errors=[{"field": "email", "message": "already registered"}],
        )
    user = User(
        email=email.lower(), password_hash=security.hash_password(password), full_name=full_name
    )
    session.add(user)
    await session.flush()
    return user


async def register(session: AsyncSession, data: RegisterIn) -> tuple[User, int]:
    """Create an account and either accept an invitation or found a new organization."""
    user = await create_user(
        session, email=data.email, password=data.password, full_name=data.full_name
    )
    if data.invitation_token:
        org_id = await org_service.accept_invitation(session, user, data.invitation_token)
    else:
        name = (
            data.organization_name or f"{data.full_name or data.email.split('@')[0]}'s organization"
        )
        org = await org_service.create_organization(session, name=name, owner=user)
        org_id = org.id
    user.active_organization_id = org_id
    await audit.record(
        session,
        None,
        "register",
        "user",
        user.id,
        after={"email": user.email},
        organization_id=org_id,
        user_id=user.id,
    )
    return user, org_id


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """Check a password, counting failures and locking the account after too many."""
    settings = get_settings()
    user = await get_user_by_email(session, email)
    if user is None:
        security.verify_password(password, None)
        raise Unauthorized(INVALID_LOGIN)
    now = _now()
    if user.locked_until and user.locked_until > now:
        retry = int((user.locked_until - now).total_seconds()) + 1
        raise Locked(
            "Too many failed logins; the account is locked for a while",
            headers={"Retry-After": str(retry)},
        )
    if not security.verify_password(password, user.password_hash) or not user.is_active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= settings.LOGIN_MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
            user.failed_logins = 0
        raise Unauthorized(INVALID_LOGIN, commit=True)
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


async def _default_org(session: AsyncSession, user: User) -> int | None:
    if user.active_organization_id is not None:
        m = await _membership(session, user.id, user.active_organization_id)
        if m is not None:
            return user.active_organization_id
    row = (
        await session.execute(
            select(Membership.organization_id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.id)
        )
    ).first()
    return row[0] if row else None


async def _membership(session: AsyncSession, user_id: int, org_id: int) -> Membership | None:
    stmt = select(Membership).where(
        Membership.user_id == user_id, Membership.organization_id == org_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def issue_tokens(
    session: AsyncSession, user: User, org_id: int | None = None, *, family_id: str | None = None
) -> TokenPair:
    if org_id is None:
        org_id = await _default_org(session, user)
    user.active_organization_id = org_id
    access, ttl = security.create_access_token(user.id, org_id)
    refresh = security.new_secret(48)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=security.sha256(refresh),
            expires_at=_now() + timedelta(days=get_settings().REFRESH_TOKEN_DAYS),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=ttl, organization_id=org_id
    )


async def refresh(session: AsyncSession, token: str) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its whole family."""
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == security.sha256(token))
        )
    ).scalar_one_or_none()
    now = _now()
    if row is None:
        raise Unauthorized("Invalid refresh token")
    if row.used_at is not None or row.revoked_at is not None:
        await revoke_family(session, row.family_id)
        raise Unauthorized("Refresh token reuse detected; please log in again", commit=True)
    if row.expires_at <= now:
        raise Unauthorized("Refresh token expired")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Account disabled")
    row.used_at = now
    return await issue_tokens(session, user, user.active_organization_id, family_id=row.family_id)


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


async def logout(session: AsyncSession, token: str | None) -> None:
    if not token:
        return
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == security.sha256(token))
        )
    ).scalar_one_or_none()
    if row is not None:
        await revoke_family(session, row.family_id)


async def me(session: AsyncSession, user_id: int, org_id: int | None) -> MeOut:
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("Unknown user")
    rows = (
        await session.execute(
            select(Membership.organization_id, Organization.name, Membership.role)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id == user_id)
            .order_by(Organization.name)
        )
    ).all()
    memberships = [
        MembershipOut(organization_id=r[0], organization_name=r[1], role=Role(r[2])) for r in rows
    ]
    role = next((m.role for m in memberships if m.organization_id == org_id), None)
    perms = sorted(p.value for p in ROLE_PERMISSIONS[role]) if role else []
    return MeOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        active_organization_id=org_id,
        role=role,
        permissions=perms,
        memberships=memberships,
    )


async def switch_organization(session: AsyncSession, user_id: int, org_id: int) -> TokenPair:
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("Unknown user")
    if await _membership(session, user_id, org_id) is None:
        raise NotFound(f"organization {org_id} not found")
    return await issue_tokens(session, user, org_id)


async def request_password_reset(session: AsyncSession, email: str) -> None:
    """Queue a reset email if the account exists; the answer is the same either way."""
    user = await get_user_by_email(session, email)
    if user is None:
        return
    token = security.new_secret(32)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=security.sha256(token),
            expires_at=_now() + timedelta(hours=1),
        )
    )
    link = f"{get_settings().PUBLIC_URL}/reset-password?token={token}"
    await queue_email(
        session,
        organization_id=user.active_organization_id,
        to_email=user.email,
        subject="Reset your aicrm password",
        body=f"Someone asked to reset the password of {user.email}.\n\n"
        f"Use this link within an hour:\n{link}\n\nReset token: {token}\n\n"
        "If it was not you, ignore this email.",
        kind="password_reset",
    )


async def confirm_password_reset(session: AsyncSession, token: str, new_password: str) -> None:
    row = (
        await session.execute(
            select(PasswordReset).where(PasswordReset.token_hash == security.sha256(token))
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= _now():
        raise Invalid("The reset token is invalid or expired", field="token")
    user = await session.get(User, row.user_id)
    if user is None:
        raise Invalid("The reset token is invalid or expired", field="token")
    row.used_at = _now()
    user.password_hash = security.hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    # every session of the account ends with a reset
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    await audit.record(
        session,
        None,
        "password_reset",
        "user",
        user.id,
        organization_id=user.active_organization_id,
        user_id=user.id,
    )


async def principal_from_access_token(session: AsyncSession, token: str) -> Principal:
    claims = security.decode_access_token(token)
    user_id = int(claims["sub"])
    org_id = claims.get("org")
    if org_id is None:
        raise PermissionDenied("Join or create an organization first")
    row = (
        await session.execute(
            select(Membership.role, User.is_active)
            .join(User, User.id == Membership.user_id)
            .where(Membership.user_id == user_id, Membership.organization_id == org_id)
        )
    ).first()
    if row is None or not row[1]:
        raise Unauthorized(
            "No longer a member of this organization", headers={"WWW-Authenticate": "Bearer"}
        )
    role = Role(row[0])
    return Principal(
        organization_id=org_id, role=role, user_id=user_id, permissions=ROLE_PERMISSIONS[role]
    )


async def principal_from_api_key(session: AsyncSession, key: str) -> Principal:
    row = (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == security.sha256(key)))
    ).scalar_one_or_none()
    now = _now()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise Unauthorized("Invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    perms: set = set()
    for scope in row.scopes:
        perms |= SCOPE_PERMISSIONS.get(scope, frozenset())
    role = (
        Role.admin
        if "admin" in row.scopes
        else Role.agent
        if "write" in row.scopes
        else Role.viewer
    )
    return Principal(
        organization_id=row.organization_id,
        role=role,
        api_key_id=row.id,
        user_id=row.created_by_id,
        permissions=frozenset(perms),
    )


async def create_api_key(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    bad = [s for s in data.scopes if s not in SCOPE_PERMISSIONS]
    if bad or not data.scopes:
        raise Invalid(
            f"scopes must be a non-empty subset of {sorted(SCOPE_PERMISSIONS)}", field="scopes"
        )
    key, prefix, hashed = security.new_api_key()
    row = ApiKey(
        organization_id=principal.organization_id,
        name=data.name,
        prefix=prefix,
        key_hash=hashed,
        scopes=sorted(set(data.scopes)),
        created_by_id=principal.user_id,
        expires_at=data.expires_at,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        principal,
        "create",
        "api_key",
        row.id,
        after={"name": row.name, "scopes": row.scopes},
    )
    return row, key


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    repo = ApiKeyRepo.from_session(session, principal)
    return list((await session.execute(repo.select().order_by(ApiKey.id.desc()))).scalars())


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    row = await ApiKeyRepo.from_session(session, principal).get(key_id)
    if row.revoked_at is None:
        row.revoked_at = _now()
        await audit.record(session, principal, "revoke", "api_key", row.id)
    return row
