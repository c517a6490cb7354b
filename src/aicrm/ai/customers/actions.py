"""Next best action: rules that score candidate actions from churn risk, lifetime value, open
deals (a stalled deal wants a follow-up), open tasks (an overdue one comes first), days since
the last touch and the preferred channel; the best one is the action, the next two are offered
as alternatives. Each candidate carries the task it would create, timed at the best slot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aicrm.ai.customers.signals import Customer, days_between, stalled

ALGORITHM = "rules"
VERSION = "nba-rules-1"

VERBS = {
    "phone": "Call",
    "email": "Email",
    "sms": "Text",
    "chat": "Message",
    "whatsapp": "WhatsApp",
}
TASK_CATEGORY = {
    "complete_task": None,
    "follow_up_deal": "follow-up",
    "retention_call": "follow-up",
    "check_in": "follow-up",
    "upsell": "follow-up",
    "qualify": "follow-up",
    "reconnect": "follow-up",
    "win_back": "follow-up",
    "none": None,
}


@dataclass
class Candidate:
    action: str
    score: float  # 0..100
    text: str
    because: list[str]
    channel: str
    task: dict[str, Any] | None
    related: dict[str, Any]


def verb(channel: str) -> str:
    return VERBS.get(channel, "Contact")


def plan(
    customer: Customer,
    *,
    now: datetime,
    churn: dict[str, Any],
    lifetime: dict[str, Any],
    timing: dict[str, Any],
    money: Callable[[float], str],
) -> dict[str, Any]:
    """The next best action for one customer (see the module docstring)."""
    c = customer.contact
    first = c.first_name or (c.name or "").split(" ")[0] or "them"
    status = c.status
    channel = c.preferred_channel or "email"
    risk = float(churn.get("value") or 0.0)
    risk_label = churn.get("label") or "low"
    clv_value = float(lifetime.get("value") or 0.0)
    clv_label = lifetime.get("label") or "unknown"
    since = days_between(now, customer.activity.last_at)
    slot = (timing.get("best_slots") or [None])[0]
    when_text = f"{slot['weekday']} {slot['local_time']}" if slot else "soon"
    due = (
        datetime.fromisoformat(slot["next_at"]) if slot else (now + timedelta(days=1))
    ).astimezone(UTC)

    facts: list[str] = []
    if since is None:
        facts.append("never contacted")
    elif since >= 7:
        facts.append(f"{int(since)} days since last contact")
    if status in ("customer", "inactive") and risk_label in ("high", "medium"):
        facts.append(f"churn risk {risk_label}")
    if clv_value > 0:
        facts.append(f"CLV {money(clv_value)}")

    def task(title: str, *, priority: str, due_at: datetime, deal_id: int | None = None) -> dict:
        return {
            "title": title[:300],
            "due_at": due_at.isoformat(),
            "priority": priority,
            "category": "follow-up",
            "contact_id": c.id,
            "deal_id": deal_id,
            "assignee_id": c.owner_id,
        }

    cands: list[Candidate] = []
    overdue = [t for t in customer.open_tasks if t.due_at is not None and t.due_at < now]
    if overdue:
        t = overdue[0]
        late = int(days_between(now, t.due_at) or 0)
        cands.append(
            Candidate(
                "complete_task",
                85 + min(late, 10),
                f"Finish the overdue task “{t.title}” (due {late} day{'s' if late != 1 else ''} ago)",
                [f"{len(overdue)} overdue task{'s' if len(overdue) != 1 else ''} for {first}"],
                channel,
                None,
                {"task_id": t.id},
            )
        )
    for d in customer.open_deals:
        if not stalled(d, now):
            continue
        touched = max(x for x in (d.updated_at, d.last_activity_at) if x is not None)
        quiet = int(days_between(now, touched) or 0)
        late = d.expected_close_date is not None and d.expected_close_date < now.date()
        why = (
            f"expected to close {d.expected_close_date:%b %-d}, still open"
            if late
            else f"no activity in {quiet} days"
        )
        cands.append(
            Candidate(
                "follow_up_deal",
                60 + min(20, d.amount / max(clv_value, d.amount, 1) * 20),
                f"{verb(channel)} {first} {when_text} about “{d.name}” — {why}",
                [f"“{d.name}” ({money(d.amount)}, {d.stage}) {why}"],
                channel,
                task(
                    f"Follow up with {first} on {d.name}",
                    priority="high" if late else "medium",
                    due_at=due,
                    deal_id=d.id,
                ),
                {"deal_id": d.id},
            )
        )
    is_customer = status in ("customer", "inactive")
    if is_customer and risk_label == "high":
        call = "phone" if c.phone else channel
        cands.append(
            Candidate(
                "retention_call",
                70 + 20 * risk + (10 if clv_label == "high" else 0),
                f"{verb(call)} {first} {when_text} — retention check-in",
                [r["text"] for r in (churn.get("reasons") or [])[:2] if r.get("impact", 0) > 0]
                or [f"Churn risk {round(risk * 100)}%"],
                call,
                task(f"Retention check-in with {first}", priority="high", due_at=due),
                {},
            )
        )
    if is_customer and risk_label == "medium" and (since is None or since >= 21):
        cands.append(
            Candidate(
                "check_in",
                50 + 10 * risk,
                f"{verb(channel)} {first} {when_text} — check in",
                [f"Churn risk {round(risk * 100)}%"]
                + ([f"{int(since)} days since last contact"] if since is not None else []),
                channel,
                task(f"Check in with {first}", priority="medium", due_at=due),
                {},
            )
        )
    if is_customer and risk_label == "low" and since is not None and since >= 30:
        cands.append(
            Candidate(
                "check_in",
                30 + min(15, since / 10),
                f"{verb(channel)} {first} {when_text} — check in",
                [f"{int(since)} days since last contact"],
                channel,
                task(f"Check in with {first}", priority="low", due_at=due),
                {},
            )
        )
    alive = float(lifetime.get("probability_alive") or 0.0)
    if status == "customer" and risk_label == "low" and clv_label == "high" and alive >= 0.6:
        cands.append(
            Candidate(
                "upsell",
                40,
                f"{verb(channel)} {first} {when_text} — offer an upgrade or add-on",
                [f"High lifetime value: CLV {money(clv_value)}, low churn risk"],
                channel,
                task(f"Offer {first} an upgrade", priority="medium", due_at=due),
                {},
            )
        )
    if status in ("lead", "prospect", "active") and not customer.open_deals:
        cands.append(
            Candidate(
                "qualify",
                45 + (10 if since is not None and since < 14 else 0),
                f"{verb(channel)} {first} {when_text} — qualify and open a deal",
                [f"{status.title()} with no open deal"],
                channel,
                task(f"Qualify {first}", priority="medium", due_at=due),
                {},
            )
        )
    if status != "churned" and (since is None or since >= 60):
        cands.append(
            Candidate(
                "reconnect",
                35 + min(20, (since or 90) / 10),
                f"{verb(channel)} {first} {when_text} — reconnect",
                ["Never contacted" if since is None else f"No contact in {int(since)} days"],
                channel,
                task(f"Reconnect with {first}", priority="low", due_at=due),
                {},
            )
        )
    if status == "churned" and customer.purchases:
        cands.append(
            Candidate(
                "win_back",
                30,
                f"{verb(channel)} {first} {when_text} — win-back offer",
                [f"Churned after {len(customer.purchases)} purchases"],
                channel,
                task(f"Win-back offer for {first}", priority="low", due_at=due),
                {},
            )
        )
    cands.append(
        Candidate(
            "none",
            5,
            "Nothing urgent — keep the usual cadence",
            ["No stalled deal, overdue task or elevated churn risk"],
            channel,
            None,
            {},
        )
    )
    cands.sort(key=lambda x: -x.score)
    best = cands[0]
    headline = best.text
    if best.action not in ("none", "complete_task") and facts:
        headline = f"{best.text} ({', '.join(facts)})"
    evidence = (
        0.35
        + 0.15 * float(churn.get("confidence") or 0)
        + 0.15 * float(timing.get("confidence") or 0)
    )
    reasons = [
        {"feature": best.action, "text": because, "impact": round(best.score / 100, 4)}
        for because in best.because
    ]
    said = " ".join(best.because).lower()
    reasons += [
        {"feature": "context", "text": f[:1].upper() + f[1:], "impact": 0.0}
        for f in facts
        if f.lower() not in said
    ]
    return {
        "action": best.action,
        "title": headline,
        "text": best.text,
        "value": round(best.score / 100, 4),
        "confidence": round(min(evidence, 0.9), 4),
        "channel": best.channel,
        "due_at": best.task["due_at"] if best.task else None,
        "task": best.task,
        "related": best.related,
        "reasons": reasons[:5],
        "recommendations": [
            {
                "action": x.action,
                "text": x.text,
                "channel": x.channel,
                "score": round(x.score, 1),
                "task": x.task,
                **x.related,
            }
            for x in cands[:3]
        ],
    }
