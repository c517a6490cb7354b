"""Settings → Team & members: roles, invitations, teams with skills and capacity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.errors import AICRMError, Invalid
from aicrm.kit.principal import Permission, Role
from aicrm.orgs import service as org_service
from aicrm.orgs.schemas import (
    InvitationCreate,
    TeamCreate,
    TeamMemberIn,
    TeamMemberUpdate,
)
from aicrm.web.core import Ctx, WebCtx, WebRoute, field_errors, on_error, page, partial, toast
from aicrm.web.forms import build, form_data, int_or_none, split_tags

router = APIRouter(prefix="/settings", route_class=WebRoute, include_in_schema=False)

ROLES = [(r.value, r.value.capitalize()) for r in Role]
TEAM_KINDS = [
    (k, k.capitalize()) for k in ("sales", "support", "technical", "success", "marketing", "other")
]


async def _members(ctx: Ctx) -> dict[str, Any]:
    return {
        "members": await org_service.list_members(ctx.session, ctx.principal),
        "roles": ROLES,
        "can_manage": ctx.can(Permission.members),
    }


async def _invites(ctx: Ctx) -> dict[str, Any]:
    invitations = (
        await org_service.list_invitations(ctx.session, ctx.principal)
        if ctx.can(Permission.members)
        else []
    )
    return {"invitations": invitations, "roles": ROLES, "invite_values": {"role": "agent"}}


async def _teams(ctx: Ctx) -> dict[str, Any]:
    members = await org_service.list_members(ctx.session, ctx.principal)
    return {
        "teams": await org_service.list_teams(ctx.session, ctx.principal),
        "team_kinds": TEAM_KINDS,
        "member_options": [(m.user_id, m.full_name or m.email) for m in members],
        "can_teams": ctx.can(Permission.teams),
    }


@router.get("/team")
async def team_page(ctx: WebCtx) -> HTMLResponse:
    return await page(
        ctx,
        "settings/team.html",
        active="team",
        **{**await _members(ctx), **await _invites(ctx), **await _teams(ctx)},
    )


# -- members -------------------------------------------------------------------------------


@router.post("/members/{user_id}/role")
async def change_role(ctx: WebCtx, user_id: int) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "settings/_members.html",
            status=422,
            member_error=exc.message,
            **await _members(ctx),
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.members)
    role = form.get("role", "")
    if role not in {r.value for r in Role}:
        raise Invalid("Choose one of the roles", field="role")
    member = await org_service.update_member(ctx.session, ctx.principal, user_id, Role(role))
    response = await partial(ctx, "settings/_members.html", **await _members(ctx))
    return toast(response, f"{member.full_name or member.email} is now {role}")


@router.post("/members/{user_id}/remove")
async def remove_member(ctx: WebCtx, user_id: int) -> Response:
    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "settings/_members.html",
            status=422,
            member_error=exc.message,
            **await _members(ctx),
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.members)
    if user_id == ctx.user_id:
        raise Invalid("You cannot remove yourself; ask another admin", field="user_id")
    await org_service.remove_member(ctx.session, ctx.principal, user_id)
    return toast(
        await partial(ctx, "settings/_members.html", **await _members(ctx)), "Member removed"
    )


# -- invitations ---------------------------------------------------------------------------


@router.post("/invitations")
async def invite(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        context = await _invites(ctx)
        context["invite_values"] = form
        return await partial(
            ctx,
            "settings/_invites.html",
            status=422,
            invite_errors=field_errors(exc),
            invite_error=exc.message,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.members)
    data = build(
        InvitationCreate, {"email": form.get("email", ""), "role": form.get("role", "agent")}
    )
    invitation, token = await org_service.invite(ctx.session, ctx.principal, data)
    base = str(ctx.request.base_url).rstrip("/")
    response = await partial(
        ctx,
        "settings/_invites.html",
        created={
            "email": invitation.email,
            "token": token,
            "link": f"{base}/register?invitation={token}",
        },
        **await _invites(ctx),
    )
    return toast(response, f"Invitation created for {invitation.email}")


@router.post("/invitations/{invitation_id}/revoke")
async def revoke_invitation(ctx: WebCtx, invitation_id: int) -> Response:
    ctx.require(Permission.members)
    await org_service.revoke_invitation(ctx.session, ctx.principal, invitation_id)
    return toast(
        await partial(ctx, "settings/_invites.html", **await _invites(ctx)), "Invitation revoked"
    )


# -- teams ---------------------------------------------------------------------------------


async def _teams_response(ctx: Ctx, message: str, **extra: Any) -> Response:
    return toast(await partial(ctx, "settings/_teams.html", **await _teams(ctx), **extra), message)


async def _teams_failed(ctx: Ctx, exc: AICRMError, **extra: Any) -> Response:
    return await partial(
        ctx,
        "settings/_teams.html",
        status=422,
        team_errors=field_errors(exc),
        team_error=exc.message,
        **await _teams(ctx),
        **extra,
    )


@router.post("/teams")
async def create_team(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        return await _teams_failed(ctx, exc, team_values=form, failed_form="new")

    on_error(ctx.request, failed)
    ctx.require(Permission.teams)
    data = build(
        TeamCreate,
        {
            "name": form.get("name", ""),
            "kind": form.get("kind", "other"),
            "description": form.get("description", ""),
        },
    )
    team = await org_service.create_team(ctx.session, ctx.principal, data)
    return await _teams_response(ctx, f"Team {team.name} created")


@router.post("/teams/{team_id}/delete")
async def delete_team(ctx: WebCtx, team_id: int) -> Response:
    ctx.require(Permission.teams)
    await org_service.delete_team(ctx.session, ctx.principal, team_id)
    return await _teams_response(ctx, "Team deleted")


def _capacity(value: str | None) -> int | None:
    return int_or_none(value, field="capacity")


@router.post("/teams/{team_id}/members")
async def add_team_member(ctx: WebCtx, team_id: int) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        return await _teams_failed(ctx, exc, team_values=form, failed_form=f"add-{team_id}")

    on_error(ctx.request, failed)
    ctx.require(Permission.teams)
    user_id = int_or_none(form.get("user_id"), field="user_id")
    if user_id is None:
        raise Invalid("Choose a member", field="user_id")
    body: dict[str, Any] = {
        "user_id": user_id,
        "skills": split_tags(form.get("skills")),
        "is_manager": form.get("is_manager") == "1",
    }
    capacity = _capacity(form.get("capacity"))
    if capacity is not None:
        body["capacity"] = capacity
    await org_service.add_team_member(
        ctx.session, ctx.principal, team_id, build(TeamMemberIn, body)
    )
    return await _teams_response(ctx, "Added to the team")


@router.post("/teams/{team_id}/members/{user_id}")
async def update_team_member(ctx: WebCtx, team_id: int, user_id: int) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        return await _teams_failed(
            ctx, exc, team_values=form, failed_form=f"edit-{team_id}-{user_id}"
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.teams)
    body: dict[str, Any] = {
        "skills": split_tags(form.get("skills")),
        "is_manager": form.get("is_manager") == "1",
    }
    capacity = _capacity(form.get("capacity"))
    if capacity is not None:
        body["capacity"] = capacity
    await org_service.update_team_member(
        ctx.session, ctx.principal, team_id, user_id, build(TeamMemberUpdate, body)
    )
    return await _teams_response(ctx, "Team member updated")


@router.post("/teams/{team_id}/members/{user_id}/remove")
async def remove_team_member(ctx: WebCtx, team_id: int, user_id: int) -> Response:
    ctx.require(Permission.teams)
    await org_service.remove_team_member(ctx.session, ctx.principal, team_id, user_id)
    return await _teams_response(ctx, "Removed from the team")
