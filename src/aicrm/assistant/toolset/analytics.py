"""Answers to analytics questions from SQL aggregates ("how many deals did we win last month and
for how much?", "which leads haven't been contacted in two weeks?").

Periods are calendar periods in the organization's time zone relative to `ctx.now` (weeks start
on Monday; "last_30_days" is the 30×24 hours before now). Every figure in the sentence is also in
`data`, so a model or a test can read the numbers. Queries are read-only and scoped to the
caller's organization through the domain repositories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import Select, and_, func, or_, select

from aicrm.ai.customers.service import money_formatter
from aicrm.ai.forecast import service as forecast_service
from aicrm.ai.forecast.schemas import ForecastOptions
from aicrm.assistant.tools import ToolArgs, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c
from aicrm.deals.repository import DealRepo
from aicrm.errors import Invalid
from aicrm.leads.repository import LeadRepo
from aicrm.models import Deal, Lead, LeadStatus, Pipeline, PipelineStage, Task
from aicrm.tasks.repository import TaskRepo

Metric = Literal[
    "deals_won",
    "deals_lost",
    "pipeline_value",
    "new_leads",
    "leads_by_status",
    "deals_by_stage",
    "stale_leads",
    "overdue_tasks",
    "top_deals",
    "conversion_rate",
    "forecast",
]
Period = Literal[
    "today",
    "this_week",
    "last_week",
    "next_week",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "last_quarter",
    "next_quarter",
    "this_year",
    "last_year",
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "all_time",
]
DEFAULT_PERIOD: dict[str, str] = {
    "deals_won": "this_month",
    "deals_lost": "this_month",
    "new_leads": "this_month",
    "conversion_rate": "this_quarter",
    "forecast": "this_quarter",
}
STALE_DAYS = 14


class AnalyticsArgs(ToolArgs):
    metric: Metric
    period: Period | None = Field(
        default=None, description="Calendar period in the organization's time zone"
    )
    days: int | None = Field(
        default=None, ge=1, le=3650, description="stale_leads: days without contact (14)"
    )
    owner: c.Ref | None = Field(
        default=None, description="Only this member's deals/leads/tasks: id, name, email or 'me'"
    )
    limit: int | None = Field(default=None, ge=1, le=50, description="Rows in lists (10; 5 top)")


# -- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    name: str
    label: str
    start: datetime | None  # UTC, inclusive
    end: datetime | None  # UTC, exclusive
    first_day: date | None  # local calendar days, for date columns (expected close date)
    last_day: date | None  # inclusive

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _month_start(d: date, shift: int = 0) -> date:
    index = d.year * 12 + d.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def window(name: str, now: datetime, tz: ZoneInfo) -> Window:
    """The period `name` around `now` in zone `tz`."""
    today = now.astimezone(tz).date()

    def span(first: date, after: date, label: str) -> Window:
        return Window(
            name,
            label,
            datetime.combine(first, time(), tz).astimezone(UTC),
            datetime.combine(after, time(), tz).astimezone(UTC),
            first,
            after - timedelta(days=1),
        )

    if name == "all_time":
        return Window(name, "all time", None, None, None, None)
    if name.startswith("last_") and name.endswith("_days"):
        n = int(name.split("_")[1])
        start = now - timedelta(days=n)
        return Window(
            name,
            f"the last {n} days",
            start.astimezone(UTC),
            now.astimezone(UTC),
            start.astimezone(tz).date(),
            today,
        )
    if name == "today":
        return span(today, today + timedelta(days=1), f"today ({today:%a %-d %b %Y})")
    if name in ("this_week", "last_week", "next_week"):
        monday = today - timedelta(days=today.weekday())
        monday += timedelta(days={"last_week": -7, "next_week": 7}.get(name, 0))
        sunday = monday + timedelta(days=6)
        words = name.replace("_", " ")
        return span(
            monday, monday + timedelta(days=7), f"{words} ({monday:%-d %b}–{sunday:%-d %b %Y})"
        )
    if name in ("this_month", "last_month", "next_month"):
        first = _month_start(today, {"last_month": -1, "next_month": 1}.get(name, 0))
        return span(first, _month_start(first, 1), f"{name.replace('_', ' ')} ({first:%B %Y})")
    if name in ("this_quarter", "last_quarter", "next_quarter"):
        q_first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        q_first = _month_start(q_first, {"last_quarter": -3, "next_quarter": 3}.get(name, 0))
        q = (q_first.month - 1) // 3 + 1
        return span(
            q_first, _month_start(q_first, 3), f"{name.replace('_', ' ')} (Q{q} {q_first.year})"
        )
    if name in ("this_year", "last_year"):
        year = today.year - (1 if name == "last_year" else 0)
        return span(date(year, 1, 1), date(year + 1, 1, 1), f"{name.replace('_', ' ')} ({year})")
    raise Invalid(f"period: unknown period {name!r}", field="period")


def _between(col: Any, w: Window) -> list[Any]:
    out = []
    if w.start is not None:
        out.append(col >= w.start)
    if w.end is not None:
        out.append(col < w.end)
    return out


def _days_between(col: Any, w: Window) -> list[Any]:
    out = []
    if w.first_day is not None:
        out.append(col >= w.first_day)
    if w.last_day is not None:
        out.append(col <= w.last_day)
    return out


# -- the queries ---------------------------------------------------------------------------


@dataclass
class Q:
    ctx: ToolContext
    tz: ZoneInfo
    currency: str
    owner_id: int | None
    owner_name: str | None

    async def rows(self, stmt: Select[Any]) -> list[Any]:
        return list((await self.ctx.session.execute(stmt)).all())

    def deals(self, stmt: Select[Any]) -> Select[Any]:
        stmt = DealRepo.from_session(self.ctx.session, self.ctx.principal).scoped(stmt, Deal)
        return stmt.where(Deal.owner_id == self.owner_id) if self.owner_id is not None else stmt

    def leads(self, stmt: Select[Any]) -> Select[Any]:
        stmt = LeadRepo.from_session(self.ctx.session, self.ctx.principal).scoped(stmt, Lead)
        return stmt.where(Lead.assignee_id == self.owner_id) if self.owner_id is not None else stmt

    def tasks(self, stmt: Select[Any]) -> Select[Any]:
        stmt = TaskRepo.from_session(self.ctx.session, self.ctx.principal).scoped(stmt, Task)
        return stmt.where(Task.assignee_id == self.owner_id) if self.owner_id is not None else stmt

    def fmt(self, amount: float, code: str | None = None) -> str:
        return money_formatter(code or self.currency)(amount)

    @property
    def who(self) -> str:
        return self.owner_name or "You"

    def amounts(self, by_currency: dict[str, float]) -> tuple[float, dict[str, float]]:
        """The amount in the organization's currency, and the others (never converted)."""
        main = by_currency.get(self.currency, 0.0)
        others = {k: v for k, v in by_currency.items() if k != self.currency and v}
        return main, others

    def money_text(self, by_currency: dict[str, float]) -> str:
        main, others = self.amounts(by_currency)
        text = self.fmt(main)
        if others:
            text += " (plus " + ", ".join(self.fmt(v, k) for k, v in sorted(others.items())) + ")"
        return text


def _f(value: Any) -> float:
    return round(float(value or 0), 2)


async def _closed(q: Q, status: str, w: Window) -> tuple[int, dict[str, float]]:
    stmt = q.deals(
        select(Deal.currency, func.count(), func.coalesce(func.sum(Deal.amount), 0))
        .where(Deal.status == status, *_between(Deal.closed_at, w))
        .group_by(Deal.currency)
    )
    rows = await q.rows(stmt)
    return sum(n for _, n, _ in rows), {cur: _f(total) for cur, _, total in rows}


async def deals_won(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    n, amounts = await _closed(q, "won", w)
    main, others = q.amounts(amounts)
    if n:
        text = f"{q.who} won {n} {c.plural('deal', n)} {w.label} for {q.money_text(amounts)}."
    else:
        text = f"{q.who} won no deals {w.label}."
    return ToolResult(
        "ok",
        summary=text,
        data={"count": n, "amount": main, "currency": q.currency, "other_currencies": others},
    )


async def deals_lost(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    n, amounts = await _closed(q, "lost", w)
    main, others = q.amounts(amounts)
    reasons = await q.rows(
        q.deals(
            select(Deal.won_lost_reason, func.count())
            .where(Deal.status == "lost", *_between(Deal.closed_at, w))
            .group_by(Deal.won_lost_reason)
            .order_by(func.count().desc(), Deal.won_lost_reason)
            .limit(3)
        )
    )
    top = [{"reason": r or "(none given)", "count": k} for r, k in reasons]
    if n:
        text = f"{q.who} lost {n} {c.plural('deal', n)} {w.label} worth {q.money_text(amounts)}"
        if top:
            text += "; top reasons: " + ", ".join(f"{t['reason']} ({t['count']})" for t in top)
        text += "."
    else:
        text = f"{q.who} lost no deals {w.label}."
    return ToolResult(
        "ok",
        summary=text,
        data={
            "count": n,
            "amount": main,
            "currency": q.currency,
            "other_currencies": others,
            "top_reasons": top,
        },
    )


async def pipeline_value(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    base = (
        select(
            Deal.currency,
            func.count(),
            func.coalesce(func.sum(Deal.amount), 0),
            func.coalesce(func.sum(Deal.amount * PipelineStage.probability), 0),
        )
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .where(Deal.status == "open")
        .group_by(Deal.currency)
    )
    dated = w.name != "all_time" and args.period is not None
    if dated:
        base = base.where(*_days_between(Deal.expected_close_date, w))
    rows = await q.rows(q.deals(base))
    n = sum(r[1] for r in rows)
    total = {r[0]: _f(r[2]) for r in rows}
    weighted = {r[0]: _f(r[3]) for r in rows}
    main, others = q.amounts(total)
    main_w, _ = q.amounts(weighted)
    undated = 0
    if dated:
        undated = (
            await q.rows(
                q.deals(
                    select(func.count()).where(
                        Deal.status == "open", Deal.expected_close_date.is_(None)
                    )
                )
            )
        )[0][0]
    whose = "Your" if q.owner_name is None else f"{q.owner_name}'s"
    if dated:
        text = (
            f"Open deals expected to close {w.label}: {n} worth {q.money_text(total)} "
            f"({q.fmt(main_w)} weighted by stage probability)"
        )
        if q.owner_name:
            text += f", owned by {q.owner_name}"
        if undated:
            text += f"; {undated} more open {c.plural('deal', undated)} have no expected close date"
        text += "."
    else:
        text = (
            f"{whose} open pipeline is {n} {c.plural('deal', n)} worth {q.money_text(total)} "
            f"({q.fmt(main_w)} weighted by stage probability)."
        )
    return ToolResult(
        "ok",
        summary=text,
        data={
            "count": n,
            "amount": main,
            "weighted_amount": main_w,
            "currency": q.currency,
            "other_currencies": others,
            "without_close_date": undated,
        },
    )


async def new_leads(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    rows = await q.rows(
        q.leads(
            select(Lead.source, func.count(), func.coalesce(func.sum(Lead.value), 0))
            .where(*_between(Lead.created_at, w))
            .group_by(Lead.source)
            .order_by(func.count().desc(), Lead.source)
        )
    )
    n = sum(r[1] for r in rows)
    value = _f(sum(float(r[2]) for r in rows))
    by_source = [{"source": s or "(unknown)", "count": k} for s, k, _ in rows]
    text = f"{n} new {c.plural('lead', n)} {w.label}"
    if q.owner_name:
        text += f" assigned to {q.owner_name}"
    if n:
        text += f", worth {q.fmt(value)}"
        text += "; by source: " + ", ".join(f"{s['source']} {s['count']}" for s in by_source[:5])
    return ToolResult(
        "ok",
        summary=text + ".",
        data={"count": n, "value": value, "currency": q.currency, "by_source": by_source},
    )


async def leads_by_status(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    statuses = await q.rows(
        LeadRepo.from_session(q.ctx.session, q.ctx.principal)
        .scoped(select(LeadStatus.id, LeadStatus.name), LeadStatus)
        .order_by(LeadStatus.position, LeadStatus.id)
    )
    counts = {
        sid: (n, _f(v))
        for sid, n, v in await q.rows(
            q.leads(
                select(Lead.status_id, func.count(), func.coalesce(func.sum(Lead.value), 0))
                .where(*_between(Lead.created_at, w))
                .group_by(Lead.status_id)
            )
        )
    }
    items = [
        {
            "status": name,
            "count": counts.get(sid, (0, 0.0))[0],
            "value": counts.get(sid, (0, 0.0))[1],
        }
        for sid, name in statuses
    ]
    total = sum(i["count"] for i in items)
    scope = "" if w.name == "all_time" else f" created {w.label}"
    text = f"{total} {c.plural('lead', total)}{scope}" + (
        f" assigned to {q.owner_name}" if q.owner_name else ""
    )
    text += ": " + ", ".join(f"{i['status']} {i['count']}" for i in items) + "."
    return ToolResult("ok", summary=text, data={"total": total, "statuses": items})


async def deals_by_stage(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    stages = await q.rows(
        DealRepo.from_session(q.ctx.session, q.ctx.principal)
        .scoped(
            select(PipelineStage.id, PipelineStage.name, Pipeline.name, Pipeline.is_default).join(
                Pipeline, Pipeline.id == PipelineStage.pipeline_id
            ),
            PipelineStage,
        )
        .order_by(Pipeline.is_default.desc(), Pipeline.name, PipelineStage.position)
    )
    counts = {
        sid: (n, _f(v))
        for sid, n, v in await q.rows(
            q.deals(
                select(Deal.stage_id, func.count(), func.coalesce(func.sum(Deal.amount), 0))
                .where(*_between(Deal.created_at, w))
                .group_by(Deal.stage_id)
            )
        )
    }
    several = len({p for _, _, p, _ in stages}) > 1
    items = []
    for sid, name, pipeline, is_default in stages:
        n, v = counts.get(sid, (0, 0.0))
        if several and not is_default and not n:
            continue
        items.append(
            {
                "stage": f"{pipeline}/{name}" if several else name,
                "pipeline": pipeline,
                "count": n,
                "amount": v,
            }
        )
    total = sum(i["count"] for i in items)
    scope = "" if w.name == "all_time" else f" created {w.label}"
    text = f"{total} {c.plural('deal', total)}{scope}" + (
        f" owned by {q.owner_name}" if q.owner_name else ""
    )
    text += ": " + ", ".join(f"{i['stage']} {i['count']} ({q.fmt(i['amount'])})" for i in items)
    return ToolResult(
        "ok",
        summary=text + ".",
        data={"total": total, "currency": q.currency, "stages": items},
    )


async def stale_leads(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    days = args.days or STALE_DAYS
    limit = args.limit or 10
    cutoff = q.ctx.now - timedelta(days=days)
    closed = (
        LeadRepo.from_session(q.ctx.session, q.ctx.principal)
        .scoped(select(LeadStatus.id), LeadStatus)
        .where(or_(LeadStatus.is_won.is_(True), LeadStatus.is_lost.is_(True)))
    )
    last_touch = func.coalesce(Lead.last_contacted_at, Lead.created_at)
    cond = and_(
        Lead.status_id.not_in(closed),
        Lead.converted_at.is_(None),
        or_(
            Lead.last_contacted_at < cutoff,
            and_(Lead.last_contacted_at.is_(None), Lead.created_at < cutoff),
        ),
    )
    n = (await q.rows(q.leads(select(func.count()).where(cond))))[0][0]
    rows = await q.rows(
        q.leads(
            select(
                Lead.id,
                Lead.name,
                Lead.company,
                Lead.value,
                Lead.last_contacted_at,
                Lead.created_at,
            )
            .where(cond)
            .order_by(last_touch, Lead.id)
            .limit(limit)
        )
    )
    items = []
    lines = []
    for id_, name, company, value, contacted, created in rows:
        items.append(
            {
                "id": id_,
                "name": name,
                "company": company,
                "value": _f(value),
                "last_contacted_at": contacted.isoformat() if contacted else None,
                "created_at": created.isoformat(),
                "link": c.link("lead", id_),
            }
        )
        who = f"{name} ({company}, #{id_})" if company else f"{name} (#{id_})"
        if contacted:
            lines.append(f"{who}, last contact {contacted.astimezone(q.tz):%-d %b %Y}")
        else:
            lines.append(f"{who}, never contacted (added {created.astimezone(q.tz):%-d %b %Y})")
    whose = f" of {q.owner_name}" if q.owner_name else ""
    if n:
        text = (
            f"{n} open {c.plural('lead', n)}{whose} had no contact in the last {days} days"
            + (f" (the {len(items)} longest without contact first)" if n > len(items) else "")
            + ": "
            + c.joined(lines, limit=limit)
            + "."
        )
    else:
        text = f"Every open lead{whose} was contacted in the last {days} days."
    return ToolResult("ok", summary=text, data={"count": n, "days": days, "leads": items})


async def overdue_tasks(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    limit = args.limit or 10
    now = q.ctx.now
    cond = and_(Task.status != "done", Task.due_at.is_not(None), Task.due_at < now)
    n = (await q.rows(q.tasks(select(func.count()).where(cond))))[0][0]
    rows = await q.rows(
        q.tasks(
            select(Task.id, Task.title, Task.due_at, Task.assignee_id)
            .where(cond)
            .order_by(Task.due_at, Task.id)
            .limit(limit)
        )
    )
    names = await c.member_names(q.ctx)
    items = [
        {
            "id": i,
            "title": t,
            "due_at": d.isoformat(),
            "assignee_id": a,
            "link": c.link("task", i),
        }
        for i, t, d, a in rows
    ]
    lines = [
        f"{t} (#{i}), due {d.astimezone(q.tz):%-d %b %Y}"
        + (f", {names.get(a, '?')}" if a is not None and q.owner_name is None else "")
        for i, t, d, a in rows
    ]
    whose = f" of {q.owner_name}" if q.owner_name else ""
    text = (
        f"{n} overdue {c.plural('task', n)}{whose}: {c.joined(lines, limit=limit)}."
        if n
        else f"No overdue tasks{whose}."
    )
    return ToolResult("ok", summary=text, data={"count": n, "tasks": items})


async def top_deals(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    limit = args.limit or 5
    stmt = (
        select(
            Deal.id,
            Deal.name,
            Deal.amount,
            Deal.currency,
            PipelineStage.name,
            PipelineStage.probability,
            Deal.expected_close_date,
        )
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .where(Deal.status == "open")
        .order_by(Deal.amount.desc(), Deal.id)
        .limit(limit)
    )
    dated = args.period is not None and w.name != "all_time"
    if dated:
        stmt = stmt.where(*_days_between(Deal.expected_close_date, w))
    rows = await q.rows(q.deals(stmt))
    items = [
        {
            "id": i,
            "name": name,
            "amount": _f(amount),
            "currency": cur,
            "stage": stage,
            "probability": prob,
            "expected_close_date": close.isoformat() if close else None,
            "link": c.link("deal", i),
        }
        for i, name, amount, cur, stage, prob, close in rows
    ]
    lines = [
        f"{d['name']} (#{d['id']}): {q.fmt(d['amount'], d['currency'])}, {d['stage']}"
        + (f", closes {close:%-d %b}" if dated and close else "")
        for d, (*_, close) in zip(items, rows, strict=True)
    ]
    scope = f" expected to close {w.label}" if dated else ""
    whose = f" of {q.owner_name}" if q.owner_name else ""
    if not items:
        text = f"No open deals{whose}{scope}."
    elif dated:  # "deals closing this month": what closes when, the biggest first
        text = f"Open deals{whose}{scope}, the biggest first: {c.joined(lines, limit=limit)}."
    else:
        text = f"The biggest open deals{whose}: {c.joined(lines, limit=limit)}."
    return ToolResult("ok", summary=text, data={"deals": items, "currency": q.currency})


async def conversion_rate(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    won_status = (
        LeadRepo.from_session(q.ctx.session, q.ctx.principal)
        .scoped(select(LeadStatus.id), LeadStatus)
        .where(LeadStatus.is_won.is_(True))
    )
    converted = or_(Lead.converted_at.is_not(None), Lead.status_id.in_(won_status))
    row = (
        await q.rows(
            q.leads(
                select(func.count(), func.count().filter(converted)).where(
                    *_between(Lead.created_at, w)
                )
            )
        )
    )[0]
    leads, conv = int(row[0]), int(row[1] or 0)
    won, _ = await _closed(q, "won", w)
    lost, _ = await _closed(q, "lost", w)
    lead_rate = round(conv / leads, 4) if leads else None
    win_rate = round(won / (won + lost), 4) if won + lost else None
    parts = []
    if leads:
        parts.append(
            f"of {leads} {c.plural('lead', leads)} created {w.label}, {conv} converted or won "
            f"({lead_rate * 100:.1f}%)"  # type: ignore[operator]
        )
    else:
        parts.append(f"no leads were created {w.label}")
    if won + lost:
        parts.append(
            f"deals closed in that period: {won} won, {lost} lost — a "
            f"{win_rate * 100:.1f}% win rate"  # type: ignore[operator]
        )
    else:
        parts.append("no deals closed in that period")
    text = "; ".join(parts)
    if q.owner_name:
        text = f"For {q.owner_name}: {text}"
    text = text[0].upper() + text[1:] + "."
    return ToolResult(
        "ok",
        summary=text,
        data={
            "leads": leads,
            "converted": conv,
            "lead_conversion_rate": lead_rate,
            "deals_won": won,
            "deals_lost": lost,
            "win_rate": win_rate,
        },
    )


async def forecast(q: Q, w: Window, args: AnalyticsArgs) -> ToolResult:
    if w.name not in ("today", "this_week", "this_month", "this_quarter", "this_year"):
        raise Invalid(
            "period: a forecast looks ahead: use this_month, this_quarter or this_year "
            "(deals_won tells what was won in a past period)",
            field="period",
        )
    assert w.last_day is not None and w.start is not None
    today = q.ctx.now.astimezone(q.tz).date()
    months = (w.last_day.year - today.year) * 12 + w.last_day.month - today.month + 1
    out = await forecast_service.forecast(
        q.ctx.session,
        q.ctx.principal,
        ForecastOptions(months=max(1, min(24, months)), owner_id=q.owner_id, currency=q.currency),
    )
    expected = _f(sum(m.expected for m in out.months))
    new_business = _f(sum(m.new_business for m in out.months))
    commit = _f(sum(m.commit for m in out.months))
    best_case = _f(sum(m.best_case for m in out.months))
    so_far = Window(w.name, w.label, w.start, q.ctx.now.astimezone(UTC), w.first_day, today)
    _, won_amounts = await _closed(q, "won", so_far)
    won, _ = q.amounts(won_amounts)
    total = _f(won + expected + new_business)
    text = (
        f"Forecast for {w.label}: {q.fmt(total)} — {q.fmt(won)} already won, {q.fmt(expected)} "
        f"expected from open deals and {q.fmt(new_business)} from deals not created yet "
        f"(commit {q.fmt(commit)}, best case {q.fmt(best_case)})."
    )
    if q.owner_name:
        text = f"{q.owner_name}: {text}"
    return ToolResult(
        "ok",
        summary=text,
        data={
            "forecast": total,
            "won": won,
            "expected": expected,
            "new_business": new_business,
            "commit": commit,
            "best_case": best_case,
            "currency": q.currency,
            "months": [m.model_dump(mode="json") for m in out.months],
        },
    )


METRICS = {
    "deals_won": deals_won,
    "deals_lost": deals_lost,
    "pipeline_value": pipeline_value,
    "new_leads": new_leads,
    "leads_by_status": leads_by_status,
    "deals_by_stage": deals_by_stage,
    "stale_leads": stale_leads,
    "overdue_tasks": overdue_tasks,
    "top_deals": top_deals,
    "conversion_rate": conversion_rate,
    "forecast": forecast,
}


@c.register(
    "analytics",
    "Answer a question about the numbers: deals won or lost (count and amount), pipeline value "
    "(total and weighted), new leads, leads by status, deals by stage, stale leads (no contact "
    "for `days`), overdue tasks, top deals, conversion and win rate, revenue forecast — for a "
    "calendar period in the organization's time zone, optionally for one owner.",
)
async def analytics(ctx: ToolContext, args: AnalyticsArgs) -> ToolResult:
    tz = await c.zone(ctx)
    owner_id = owner_name = None
    if args.owner is not None:
        owner_id = await c.member(ctx, args.owner, arg="owner", args=args)
        owner_name = (
            "You"
            if owner_id == ctx.principal.user_id
            else (await c.member_names(ctx)).get(owner_id, f"user {owner_id}")
        )
    q = Q(ctx, tz, await c.currency(ctx), owner_id, owner_name)
    period = args.period or DEFAULT_PERIOD.get(args.metric, "all_time")
    w = window(period, ctx.now, tz)
    result = await METRICS[args.metric](q, w, args)
    result.data = {
        "metric": args.metric,
        "period": w.to_dict(),
        "timezone": str(tz),
        "owner_id": owner_id,
        **(result.data or {}),
    }
    return result
