"""What the CRM knows about a customer: the AI insights (churn risk, lifetime value, next best
action, best time to contact) and an extractive, facts-only summary of a record's timeline."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field

from aicrm.activities import service as activity_service
from aicrm.activities.schemas import TimelineOf
from aicrm.ai.customers import service as customer_service
from aicrm.ai.providers import offline
from aicrm.assistant.tools import Action, ToolArgs, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c

PLURAL_TYPES = {"note": "notes", "call": "calls", "email": "emails", "meeting": "meetings"}


class InsightArgs(ToolArgs):
    contact: c.Ref


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{value * 100:.0f}%"


@c.register(
    "get_customer_insights",
    "A customer's (contact's) AI insights: churn risk, predicted lifetime value, next best "
    "action and best time to contact, each with its reasons.",
)
async def get_customer_insights(ctx: ToolContext, args: InsightArgs) -> ToolResult:
    contact = await c.record(ctx, "contact", args.contact, arg="contact", args=args)
    ins = await customer_service.customer_insights(ctx.session, ctx.principal, contact.id)
    title = await c.titled(ctx, "contact", contact)
    facts = []
    churn = ins.churn_risk
    if churn.label == "churned":
        facts.append("has churned")
    elif churn.value is not None:
        why = f" ({churn.reasons[0].text})" if churn.reasons else ""
        facts.append(f"churn risk {_pct(churn.value)}, {churn.label or 'unrated'}{why}")
    clv = ins.lifetime_value
    if clv.value is not None:
        fmt = customer_service.money_formatter(clv.currency)
        facts.append(
            f"predicted lifetime value {fmt(clv.value)} over {clv.horizon_months} months "
            f"(won so far {fmt(clv.historical_value)})"
        )
    nba = ins.next_best_action
    if nba.action != "none" and (nba.title or nba.text):
        facts.append(f"next best action: {nba.title or nba.text}")
    timing = ins.optimal_timing
    if timing.best_slots:
        best = timing.best_slots[0]
        facts.append(f"best time to reach them: {best.weekday} around {best.local_time}")
    summary = f"{c.cap(title)}: " + ("; ".join(facts) if facts else "no insights yet") + "."
    return ToolResult(
        "ok",
        summary=summary,
        data=ins.model_dump(mode="json"),
        actions=[
            Action(
                "read",
                "contact",
                contact.id,
                c.cap(title),
                link=c.link("contact", contact.id),
                undoable=False,
            )
        ],
    )


class HistoryArgs(ToolArgs):
    entity: Literal["lead", "contact", "company", "deal"]
    record: c.Ref
    limit: int = Field(default=20, ge=1, le=200, description="How many recent activities")


def _unquoted(body: str, quoted: set[str]) -> str:
    """`body` without the sentences the summary already quotes."""
    rest = body.strip()
    for text in quoted:
        if text and rest.startswith(text):
            rest = rest[len(text) :].lstrip(" .;:-\n")
    return rest


def _first_sentence(text: str) -> str:
    parts = offline.sentences(text)
    first = parts[0] if parts else text.strip()
    return first if len(first) <= 200 else first[:197] + "…"


@c.register(
    "summarize_history",
    "Summarise the timeline (notes, calls, emails, meetings) of a lead, contact, company or deal: "
    "counts, dates, the latest exchanges and key points taken verbatim from the records.",
)
async def summarize_history(ctx: ToolContext, args: HistoryArgs) -> ToolResult:
    obj = await c.record(ctx, args.entity, args.record, arg="record", args=args)
    title = await c.titled(ctx, args.entity, obj)
    rows, more = await activity_service.timeline(
        ctx.session, ctx.principal, TimelineOf(args.entity), obj.id, cursor=None, limit=args.limit
    )
    action = Action(
        "read", args.entity, obj.id, c.cap(title), link=c.link(args.entity, obj.id), undoable=False
    )
    if not rows:
        return ToolResult(
            "ok",
            summary=f"{c.cap(title)} has no activities yet.",
            data={"count": 0, "items": []},
            actions=[action],
        )
    tz = await c.zone(ctx)
    counts = Counter(a.type.value for a in rows)
    by_type = ", ".join(
        f"{n} {t if n == 1 else PLURAL_TYPES[t]}"
        for t, n in sorted(counts.items(), key=lambda p: (-p[1], p[0]))
    )
    newest, oldest = rows[0], rows[-1]
    span = f"{oldest.occurred_at.astimezone(tz):%-d %b %Y} to {newest.occurred_at.astimezone(tz):%-d %b %Y}"
    items: list[dict[str, Any]] = []
    for a in rows:
        items.append(
            {
                "id": a.id,
                "type": a.type.value,
                "direction": a.direction.value if a.direction else None,
                "occurred_at": a.occurred_at.isoformat(),
                "subject": a.subject,
                "gist": _first_sentence(a.body) if a.body else "",
            }
        )
    latest = []
    quoted: set[str] = set()
    for a in rows[:3]:
        kind = f"{a.direction.value} {a.type.value}" if a.direction else a.type.value
        text = a.subject or _first_sentence(a.body) or "(no text)"
        quoted.add(text.strip())
        latest.append(f"{a.occurred_at.astimezone(tz):%-d %b %Y} {kind}: “{text}”")
    # key points come from what the latest list has not already quoted
    bodies = [rest for a in reversed(rows) if a.body and (rest := _unquoted(a.body, quoted))]
    key_points = offline.summarize(bodies, max_sentences=3) if bodies else ""
    replies = [a for a in rows if a.direction and a.direction.value == "inbound"]
    facts = [
        f"{len(rows)}{'+' if more else ''} {'activity' if len(rows) == 1 else 'activities'} "
        f"from {span} ({by_type})",
        "latest: " + "; ".join(latest),
    ]
    if replies:
        facts.append(
            f"their last reply: {replies[0].occurred_at.astimezone(tz):%-d %b %Y} "
            f"({replies[0].type.value})"
        )
    summary = f"{c.cap(title)}: " + ". ".join(c.cap(f) for f in facts) + "."
    if key_points:
        summary += f" Key points: {key_points}"
    return ToolResult(
        "ok",
        summary=summary,
        data={
            "count": len(rows),
            "more": more is not None,
            "by_type": dict(counts),
            "first": oldest.occurred_at.isoformat(),
            "last": newest.occurred_at.isoformat(),
            "key_points": key_points,
            "items": items,
        },
        actions=[action],
    )
