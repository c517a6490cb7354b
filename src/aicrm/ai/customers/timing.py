"""Best time to contact: response rates by weekday and hour, the customer's own shrunk
towards the organization's.

Every call, email and meeting is a trial in the slot (weekday, hour) of its local time (the
contact's time zone when set, else the organization's): a success when the customer responded —
an inbound call or email, a meeting, an outbound call or email whose outcome says it was
answered, connected or replied — a failure when the outcome says it was not (no answer,
voicemail, busy, bounced …). Outbound emails without an outcome say nothing and are skipped.

Estimates are Beta-binomial posterior means, shrunk level by level (empirical Bayes with a fixed
prior strength): the other customers' overall rate → their rates by hour and by weekday → their
rate per slot (prior: the mean of its hour's and weekday's rates) → the customer's own hour and
weekday rates → the customer's rate per slot. The customer's own history is taken out of the
organization's before it serves as the prior, so no response is counted twice. A customer with a
long history is ranked by it; one with none gets the organization's best slots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from aicrm.ai.customers.repository import NEGATIVE_OUTCOMES, POSITIVE_OUTCOMES, ResponseEvent

FloatArray = NDArray[np.float64]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PRIOR_STRENGTH = 4.0  # pseudo-trials each level borrows from the level above
MAX_RATE = 0.95  # a handful of answers is never a certainty
BUSINESS_HOURS = range(8, 19)
DEFAULT_SLOTS = ((1, 10), (2, 10), (3, 14))  # Tue 10:00, Wed 10:00, Thu 14:00
ALGORITHM = "beta-binomial-shrinkage"
MIN_LEAD = timedelta(hours=1)

_NEGATIVE_WORDS = (
    "no answer",
    "no_answer",
    "unanswer",
    "voicemail",
    "voice mail",
    "busy",
    "no reply",
    "no response",
    "bounce",
    "missed",
    "unreach",
    "left message",
    "declin",
    "fail",
    "wrong number",
)
_POSITIVE_WORDS = ("connect", "answer", "repl", "reached", "spoke", "talk", "booked", "interest")


def classify(event: ResponseEvent) -> int | None:
    """1 when the customer responded, 0 when they did not, None when we cannot tell."""
    if event.type == "meeting" or event.direction == "inbound":
        return 1
    if event.direction != "outbound":
        return None
    outcome = (event.outcome or "").strip().lower()
    if not outcome:
        return None
    if outcome in NEGATIVE_OUTCOMES or any(w in outcome for w in _NEGATIVE_WORDS):
        return 0
    if outcome in POSITIVE_OUTCOMES or any(w in outcome for w in _POSITIVE_WORDS):
        return 1
    return None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass
class SlotCounts:
    """Successes and trials per (weekday, hour), local time."""

    s: FloatArray = field(default_factory=lambda: np.zeros((7, 24)))
    n: FloatArray = field(default_factory=lambda: np.zeros((7, 24)))

    def add(self, at: datetime, success: int) -> None:
        self.s[at.weekday(), at.hour] += success
        self.n[at.weekday(), at.hour] += 1

    @property
    def trials(self) -> int:
        return int(self.n.sum())

    @property
    def successes(self) -> int:
        return int(self.s.sum())


def count(
    events: Iterable[ResponseEvent], tz_of: dict[int, str], default_tz: str
) -> tuple[SlotCounts, int]:
    """Slot counts of these events, each in its contact's local time; (counts, contacts)."""
    counts = SlotCounts()
    zones: dict[str, ZoneInfo] = {}
    contacts: set[int] = set()
    for e in events:
        outcome = classify(e)
        if outcome is None:
            continue
        name = tz_of.get(e.contact_id) or default_tz
        tz = zones.get(name) or zones.setdefault(name, zone(name))
        at = e.occurred_at if e.occurred_at.tzinfo else e.occurred_at.replace(tzinfo=UTC)
        counts.add(at.astimezone(tz), outcome)
        contacts.add(e.contact_id)
    return counts, len(contacts)


@dataclass
class TimingModel:
    """The organization's response history by slot (what `modelstore` keeps, kind
    "contact_timing")."""

    counts: SlotCounts
    contacts: int
    timezone: str

    def metrics(self) -> dict[str, Any]:
        c = self.counts
        hours = c.s.sum(axis=0) / np.maximum(c.n.sum(axis=0), 1)
        best = [int(h) for h in np.argsort(-hours)[:3] if c.n.sum(axis=0)[h] > 0]
        return {
            "trials": c.trials,
            "responses": c.successes,
            "contacts": self.contacts,
            "response_rate": round(c.successes / c.trials, 4) if c.trials else None,
            "best_hours": best,
            "timezone": self.timezone,
        }


def _shrink(s: FloatArray, n: FloatArray, prior: FloatArray | float) -> FloatArray:
    return np.asarray((s + PRIOR_STRENGTH * prior) / (n + PRIOR_STRENGTH), dtype=np.float64)


@dataclass
class Estimate:
    rates: FloatArray  # (7, 24) the customer's expected response rate per slot
    org_rates: FloatArray
    org_hour: FloatArray
    overall: float


def estimate(org: SlotCounts, own: SlotCounts) -> Estimate:
    """Posterior response rates per slot. A slot's prior is the mean of its hour's and its
    weekday's rates (a mean, not a product: the same responses fill both margins, and a
    product would count them twice); the customer's prior is the organization's slot rate
    moved by how far the customer's own hour and weekday rates sit from the organization's."""
    overall = (org.s.sum() + 1.0) / (org.n.sum() + 2.0)
    org_hour = _shrink(org.s.sum(axis=0), org.n.sum(axis=0), overall)
    org_day = _shrink(org.s.sum(axis=1), org.n.sum(axis=1), overall)
    org_rates = _shrink(org.s, org.n, (org_hour[None, :] + org_day[:, None]) / 2)
    own_hour = _shrink(own.s.sum(axis=0), own.n.sum(axis=0), org_hour)
    own_day = _shrink(own.s.sum(axis=1), own.n.sum(axis=1), org_day)
    shift = ((own_hour - org_hour)[None, :] + (own_day - org_day)[:, None]) / 2
    own_prior = np.clip(org_rates + shift, 0.01, 0.99)
    rates = np.clip(_shrink(own.s, own.n, own_prior), 0.01, MAX_RATE)
    return Estimate(rates, org_rates, org_hour, float(overall))


def candidates(org: SlotCounts, own: SlotCounts) -> NDArray[np.bool_]:
    """Slots worth proposing: weekday business hours, plus any slot where this customer
    responded, plus slots where the organization often reaches people (weekend shops,
    evening callers)."""
    mask = np.zeros((7, 24), dtype=bool)
    mask[0:5, BUSINESS_HOURS.start : BUSINESS_HOURS.stop] = True
    mask |= own.s > 0
    busy = max(3.0, 0.01 * org.s.sum())
    mask |= org.s >= busy
    return mask


def next_at(weekday: int, hour: int, tz: ZoneInfo, now: datetime) -> datetime:
    """The next time (UTC) that is `weekday` at `hour`:00 in `tz`, at least an hour away."""
    local = now.astimezone(tz)
    start = local.replace(minute=0, second=0, microsecond=0)
    for days in range(0, 8):
        day = start + timedelta(days=days)
        candidate = day.replace(hour=hour)
        if candidate.weekday() == weekday and candidate - local >= MIN_LEAD:
            return candidate.astimezone(UTC)
    return (start + timedelta(days=7)).astimezone(UTC)  # pragma: no cover


def _slot(
    w: int, h: int, rate: float, tz: ZoneInfo, now: datetime, own: SlotCounts, org: SlotCounts
) -> dict[str, Any]:
    return {
        "weekday": WEEKDAYS[w],
        "weekday_index": w,
        "hour": h,
        "local_time": f"{h:02d}:00",
        "expected_response_rate": round(float(rate), 4),
        "contact_observations": int(own.n[w, h]),
        "organization_observations": int(org.n[w, h]),
        "next_at": next_at(w, h, tz, now).isoformat(),
    }


def best_time(
    org: TimingModel | None,
    own: SlotCounts,
    *,
    timezone: str,
    timezone_source: str,
    now: datetime,
    top: int = 3,
) -> dict[str, Any]:
    """The best slots for one customer with their expected response rates, a label
    (personal / organization / default), a confidence and the reasons."""
    org_counts = org.counts if org is not None else SlotCounts()
    tz = zone(timezone)
    own_n, org_n = own.trials, org_counts.trials
    tz_text = (
        f"Times in {timezone} (the contact's time zone)"
        if timezone_source == "contact"
        else f"Times in {timezone} (the organization's time zone; set the contact's to be exact)"
    )
    if own_n == 0 and org_n == 0:
        slots = [_slot(w, h, 0.0, tz, now, own, org_counts) for w, h in DEFAULT_SLOTS[:top]]
        for s in slots:
            s["expected_response_rate"] = None
        return {
            "label": "default",
            "confidence": 0.15,
            "timezone": timezone,
            "best_slots": slots,
            "reasons": [
                {
                    "feature": "history",
                    "text": "No response history yet: mid-morning, Tuesday to Thursday, suits "
                    "most business customers",
                    "impact": 0.0,
                },
                {"feature": "timezone", "text": tz_text, "impact": 0.0},
            ],
        }
    # the prior is everyone else: the organization's counts without this customer's own
    # (when they are in there), so the same evidence is not counted twice
    others = SlotCounts(
        s=np.maximum(org_counts.s - own.s, 0.0), n=np.maximum(org_counts.n - own.n, 0.0)
    )
    others.s = np.minimum(others.s, others.n)
    est = estimate(others, own)
    mask = candidates(org_counts, own)
    # ties (no evidence either way) go to mid-morning, midweek
    hours, days = np.arange(24)[None, :], np.arange(7)[:, None]
    tie_break = -1e-6 * np.abs(hours - 10.5) - 1e-5 * ~np.isin(days, (1, 2, 3))
    scores = np.where(mask, est.rates + tie_break, -1.0)
    order = np.argsort(-scores, axis=None)
    slots = []
    for flat in order[:top]:
        w, h = divmod(int(flat), 24)
        if scores[w, h] < 0:
            break
        slots.append(_slot(w, h, est.rates[w, h], tz, now, own, org_counts))
    best = slots[0]
    w, h = best["weekday_index"], best["hour"]
    reasons: list[dict[str, Any]] = []
    own_hour_s, own_hour_n = int(own.s[:, h].sum()), int(own.n[:, h].sum())
    own_day_s, own_day_n = int(own.s[w].sum()), int(own.n[w].sum())
    own_rate = own.successes / own_n if own_n else None
    if own_hour_n:
        reasons.append(
            {
                "feature": "contact.hour",
                "text": f"Responded {own_hour_s} of {own_hour_n} times around {h:02d}:00",
                "impact": round((own_hour_s / own_hour_n) - (own_rate or 0), 4),
            }
        )
    if own_day_n:
        reasons.append(
            {
                "feature": "contact.weekday",
                "text": f"Responded {own_day_s} of {own_day_n} times on {WEEKDAYS[w]}s",
                "impact": round((own_day_s / own_day_n) - (own_rate or 0), 4),
            }
        )
    if own_n and not own_hour_n:
        reasons.append(
            {
                "feature": "contact.history",
                "text": f"Responded {own.successes} of {own_n} times so far, never around "
                f"{h:02d}:00 — worth trying a new time",
                "impact": 0.0,
            }
        )
    if own_n == 0:
        reasons.append(
            {
                "feature": "contact.history",
                "text": "No response history with this contact yet: the organization's pattern",
                "impact": 0.0,
            }
        )
    org_hour_n = int(others.n[:, h].sum())
    if org_hour_n:
        reasons.append(
            {
                "feature": "organization.hour",
                "text": f"Other customers respond {round(est.org_hour[h] * 100)}% of the time "
                f"around {h:02d}:00 ({org_hour_n} calls, emails and meetings)",
                "impact": round(float(est.org_hour[h] - est.overall), 4),
            }
        )
    reasons.append({"feature": "timezone", "text": tz_text, "impact": 0.0})
    conf = 0.15 + 0.5 * own_n / (own_n + 8) + 0.3 * others.trials / (others.trials + 100)
    return {
        "label": "personal" if own_n >= 3 else "organization",
        "confidence": round(min(conf, 0.95), 4),
        "timezone": timezone,
        "best_slots": slots,
        "reasons": reasons,
    }
