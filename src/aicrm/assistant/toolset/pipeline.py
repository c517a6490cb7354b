"""Pipeline moves: a lead to another status column (the kanban drag), a deal to another stage
(with the won/lost rules of the deals service: a lost deal needs a reason)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aicrm.assistant.tools import Action, ToolArgs, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c
from aicrm.assistant.toolset.records import stage_name
from aicrm.deals import service as deal_service
from aicrm.deals.schemas import DealMove
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.leads.schemas import LeadMove

LEAD_KEYS = ("status", "card_order")
DEAL_KEYS = ("stage", "stage_id", "card_order", "won_lost_reason", "status")


class LeadStatusArgs(ToolArgs):
    lead: c.Ref
    status: str = Field(min_length=1, max_length=60, description="A lead status of the org")


@c.register(
    "update_lead_status",
    "Move a lead to another status of the organization's lead pipeline (a kanban move); it "
    "goes to the end of that column.",
    permission=Permission.write,
    mutating=True,
)
async def update_lead_status(ctx: ToolContext, args: LeadStatusArgs) -> ToolResult:
    lead = await c.record(ctx, "lead", args.lead, arg="lead", args=args)
    target = await c.lead_status(ctx, args.status, arg="status", args=args)
    current = await c.out_one(ctx, "lead", lead)
    title = await c.titled(ctx, "lead", lead)
    if current["status"] == target:
        return ToolResult(
            "ok",
            summary=f"{c.cap(title)} is already in {target}.",
            data={"id": lead.id, "status": target, "link": c.link("lead", lead.id)},
        )
    before = {k: current[k] for k in LEAD_KEYS}
    moved = await lead_service.move(ctx.session, ctx.principal, lead.id, LeadMove(status=target))
    after_all = await c.out_one(ctx, "lead", moved)
    after = {k: after_all[k] for k in LEAD_KEYS}
    return ToolResult(
        "ok",
        summary=f"Moved {title} from {before['status']} to {after['status']}.",
        data={"id": moved.id, "status": after["status"], "link": c.link("lead", moved.id)},
        actions=[
            Action(
                "moved",
                "lead",
                moved.id,
                c.cap(title),
                link=c.link("lead", moved.id),
                before=before,
                after=after,
            )
        ],
    )


class DealStageArgs(ToolArgs):
    deal: c.Ref
    stage: str = Field(
        min_length=1,
        max_length=161,
        description="A stage of the deal's pipeline (e.g. Proposal, Closed Won)",
    )
    lost_reason: str | None = Field(
        default=None, max_length=2000, description="Why it was lost (needed for a lost stage)"
    )


@c.register(
    "move_deal_stage",
    "Move a deal to another stage of its pipeline; a won stage closes it as won, a lost stage "
    "as lost (with a reason).",
    permission=Permission.write,
    mutating=True,
)
async def move_deal_stage(ctx: ToolContext, args: DealStageArgs) -> ToolResult:
    deal = await c.record(ctx, "deal", args.deal, arg="deal", args=args)
    target = await stage_name(ctx, deal, args.stage, arg="stage", args=args)
    pipeline = await deal_service.get_pipeline(ctx.session, ctx.principal, deal.pipeline_id)
    stage = next(s for s in pipeline.stages if s.name == target)
    current = await c.out_one(ctx, "deal", deal)
    title = await c.titled(ctx, "deal", deal)
    if current["stage_id"] == stage.id and not args.lost_reason:
        return ToolResult(
            "ok",
            summary=f"{c.cap(title)} is already in {target}.",
            data={"id": deal.id, "stage": target, "link": c.link("deal", deal.id)},
        )
    if stage.is_lost and not args.lost_reason and deal.status != "lost":
        raise c.clarify(
            f"Why was {title} lost? I need a reason to move it to {target}.",
            field="lost_reason",
        )
    move: dict[str, Any] = {"stage_id": stage.id}
    if args.lost_reason:
        move["won_lost_reason"] = args.lost_reason
    before = {k: current[k] for k in DEAL_KEYS}
    moved = await deal_service.move(ctx.session, ctx.principal, deal.id, c.build(DealMove, **move))
    after_all = await c.out_one(ctx, "deal", moved)
    after = {k: after_all[k] for k in DEAL_KEYS}
    outcome = {"won": " — won", "lost": " — lost"}.get(after["status"], "")
    if before["status"] != "open" and after["status"] == "open":
        outcome = " — reopened"
    return ToolResult(
        "ok",
        summary=f"Moved {title} from {before['stage']} to {after['stage']}{outcome}.",
        data={
            "id": moved.id,
            "stage": after["stage"],
            "status": after["status"],
            "amount": after_all["amount"],
            "link": c.link("deal", moved.id),
        },
        actions=[
            Action(
                "moved",
                "deal",
                moved.id,
                c.cap(title),
                link=c.link("deal", moved.id),
                before=before,
                after=after,
            )
        ],
    )
