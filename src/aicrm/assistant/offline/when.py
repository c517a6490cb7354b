"""Dates, times, durations and reporting periods in commands, relative to the caller's "now".

`take_when(text, now)` finds the date and time phrases of a command ("tomorrow at 3pm",
"on Friday", "next Tuesday 2pm", "in 2 weeks", "end of next month", "Dec 18", "12/16",
"January 15"), removes them from the text and returns what they mean in the organization's
local time. Conventions: a weekday alone or "this <weekday>" is the next such day (today
excluded); "next <weekday>" is that day of next week (Monday-based weeks); "next week" is next
Monday; a bare hour 1–7 ("at 3") is in the afternoon; a date without a year is the next one
to come. Common phrases are handled here (fast, predictable); other month-name dates go
through dateparser with `now` as the base.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import dateparser

WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sunday": 6,
}
MONTHS = {
    name.lower(): i
    for i in range(1, 13)
    for name in (calendar.month_name[i], calendar.month_abbr[i])
}
MONTHS["sept"] = 9
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
    "couple of": 2,
    "few": 3,
}
_NUM = r"(\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|thirty|sixty|ninety|couple of|few)"
_WD = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri)"
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)"
)


def number(word: str) -> int | None:
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    return NUMBERS.get(word)


@dataclass
class When:
    day: date | None = None
    at: time | None = None
    span: str = ""  # the words that said it

    def iso(self) -> str | None:
        if self.day is None:
            return None
        if self.at is None:
            return self.day.isoformat()
        return datetime.combine(self.day, self.at).strftime("%Y-%m-%dT%H:%M")


def _next_weekday(today: date, wd: int, *, next_week: bool = False) -> date:
    if next_week:
        monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
        return monday + timedelta(days=wd)
    ahead = (wd - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _future(today: date, month: int, day: int) -> date | None:
    try:
        d = date(today.year, month, day)
    except ValueError:
        return None
    if d < today - timedelta(days=1):
        try:
            d = date(today.year + 1, month, day)
        except ValueError:
            return None
    return d


# -- times -----------------------------------------------------------------------------------

_TIME = re.compile(
    r"\b(?:at\s+|@\s*)?(?:(noon|midday|midnight)|(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)"
    r"|(\d{1,2}):(\d{2})(?!\d))(?![\w/])",
    re.I,
)
_AT_HOUR = re.compile(
    r"\bat\s+(\d{1,2})(?![\d:/.,]|\s*(?:am|pm|a\.m|p\.m|%|k\b|days?|weeks?))", re.I
)
_PART_OF_DAY = re.compile(r"\b(?:in the )?(morning|afternoon|evening)\b", re.I)


def take_time(text: str) -> tuple[time | None, str]:
    m = _TIME.search(text)
    if m:
        if m.group(1):
            word = m.group(1).lower()
            t = time(0, 0) if word == "midnight" else time(12, 0)
        elif m.group(2):
            hour, minute = int(m.group(2)), int(m.group(3) or 0)
            pm = m.group(4).lower().startswith("p")
            if hour > 12 or minute > 59:
                return None, text
            hour = hour % 12 + (12 if pm else 0)
            t = time(hour, minute)
        else:
            hour, minute = int(m.group(5)), int(m.group(6))
            if hour > 23 or minute > 59:
                return None, text
            if 1 <= hour <= 7:
                hour += 12
            t = time(hour, minute)
        return t, _cut(text, m)
    m = _AT_HOUR.search(text)
    if m:
        hour = int(m.group(1))
        if 1 <= hour <= 12:
            if hour <= 7:
                hour += 12
            return time(hour, 0), _cut(text, m)
    m = _PART_OF_DAY.search(text)
    if m:
        hour = {"morning": 9, "afternoon": 14, "evening": 18}[m.group(1).lower()]
        return time(hour, 0), _cut(text, m)
    return None, text


def _cut(text: str, m: re.Match[str]) -> str:
    return (text[: m.start()] + " " + text[m.end() :]).strip()


# -- dates -----------------------------------------------------------------------------------

_PREP = r"(?:(?:on|by|for|due|before|until|from)\s+)?"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b{_PREP}(?:the\s+)?day after tomorrow\b", re.I), "day_after"),
    (re.compile(rf"\b{_PREP}(today|tonight|tomorrow|tmrw|tmr|yesterday)\b", re.I), "rel"),
    (
        re.compile(
            rf"\b(?:at\s+)?{_PREP}(?:the\s+)?end of (?:the\s+)?(this|next)?\s*(week|month|quarter|year)\b",
            re.I,
        ),
        "end",
    ),
    (
        re.compile(
            rf"\b{_PREP}(?:the\s+)?(?:start|beginning) of (?:the\s+)?next (week|month)\b", re.I
        ),
        "start_next",
    ),
    (re.compile(rf"\b{_PREP}next {_WD}\b", re.I), "next_wd"),
    (re.compile(rf"\b{_PREP}(?:this (?:coming )?|coming )?{_WD}\b(?:\s+next week)?", re.I), "wd"),
    (re.compile(rf"\b{_PREP}next (week|month)\b", re.I), "next_unit"),
    (re.compile(rf"\b(?:in|within)\s+{_NUM}\s+(days?|weeks?|months?)\b", re.I), "in_n"),
    (re.compile(rf"\b{_NUM}\s+(days?|weeks?)\s+from (?:now|today)\b", re.I), "in_n"),
    (re.compile(r"\b(?:on|by|for|due|before|until)?\s*(\d{4})-(\d{2})-(\d{2})\b", re.I), "iso"),
    (
        re.compile(
            rf"\b{_PREP}{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I
        ),
        "month_day",
    ),
    (
        re.compile(
            rf"\b{_PREP}(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b(?:\s+(\d{{4}}))?",
            re.I,
        ),
        "day_month",
    ),
    (re.compile(rf"\b{_PREP}(\d{{1,2}})/(\d{{1,2}})(?:/(\d{{2,4}}))?\b", re.I), "us_date"),
    (re.compile(rf"\b{_PREP}the\s+(\d{{1,2}})(?:st|nd|rd|th)\b", re.I), "ordinal_day"),
]


def _date_of(kind: str, m: re.Match[str], today: date) -> date | None:
    g = [x.lower() if isinstance(x, str) else x for x in m.groups()]
    if kind == "day_after":
        return today + timedelta(days=2)
    if kind == "rel":
        return {
            "today": today,
            "tonight": today,
            "tomorrow": today + timedelta(days=1),
            "tmrw": today + timedelta(days=1),
            "tmr": today + timedelta(days=1),
            "yesterday": today - timedelta(days=1),
        }[g[0]]
    if kind == "end":
        which, unit = g[0] or "this", g[1]
        if unit == "week":
            end = today + timedelta(days=4 - today.weekday())  # Friday
            return end + timedelta(days=7) if which == "next" else end
        if unit == "month":
            base = _add_months(today.replace(day=1), 1 if which == "next" else 0)
            return _month_end(base)
        if unit == "quarter":
            q_end_month = ((today.month - 1) // 3 + 1) * 3
            base = _add_months(date(today.year, q_end_month, 1), 3 if which == "next" else 0)
            return _month_end(base)
        return date(today.year + (1 if which == "next" else 0), 12, 31)
    if kind == "start_next":
        if g[0] == "week":
            return _next_weekday(today, 0, next_week=True)
        return _add_months(today.replace(day=1), 1)
    if kind == "next_wd":
        return _next_weekday(today, WEEKDAYS[g[0]], next_week=True)
    if kind == "wd":
        if m.group(0).lower().rstrip().endswith("next week"):
            return _next_weekday(today, WEEKDAYS[g[0]], next_week=True)
        return _next_weekday(today, WEEKDAYS[g[0]])
    if kind == "next_unit":
        if g[0] == "week":
            return _next_weekday(today, 0, next_week=True)
        return _add_months(today.replace(day=1), 1)
    if kind == "in_n":
        n = number(g[0])
        if n is None:
            return None
        unit = g[1]
        if unit.startswith("day"):
            return today + timedelta(days=n)
        if unit.startswith("week"):
            return today + timedelta(weeks=n)
        return _add_months(today, n)
    if kind == "iso":
        try:
            return date(int(g[0]), int(g[1]), int(g[2]))
        except ValueError:
            return None
    if kind == "month_day":
        month, day, year = MONTHS.get(g[0].rstrip(".")), int(g[1]), g[2]
        if month is None:
            return None
        if year:
            try:
                return date(int(year), month, day)
            except ValueError:
                return None
        return _future(today, month, day)
    if kind == "day_month":
        day, month, year = int(g[0]), MONTHS.get(g[1].rstrip(".")), g[2]
        if month is None:
            return None
        if year:
            try:
                return date(int(year), month, day)
            except ValueError:
                return None
        return _future(today, month, day)
    if kind == "us_date":
        month, day, year = int(g[0]), int(g[1]), g[2]
        if year:
            y = int(year) + (2000 if len(year) == 2 else 0)
            try:
                return date(y, month, day)
            except ValueError:
                return None
        return _future(today, month, day)
    if kind == "ordinal_day":
        day = int(g[0])
        for n in range(0, 3):
            base = _add_months(today.replace(day=1), n)
            try:
                d = base.replace(day=day)
            except ValueError:
                continue
            if d >= today:
                return d
        return None
    return None


def take_date(text: str, today: date) -> tuple[date | None, str, str]:
    """The first date phrase: (date, text without it, the phrase)."""
    best: tuple[int, date, re.Match[str]] | None = None
    for rx, kind in _RULES:
        for m in rx.finditer(text):
            d = _date_of(kind, m, today)
            if d is not None and (best is None or m.start() < best[0]):
                best = (m.start(), d, m)
            break
    if best is None:
        return None, text, ""
    _, d, m = best
    return d, _cut(text, m), m.group(0).strip()


def take_when(text: str, now: datetime) -> tuple[When, str]:
    """Date and time phrases out of `text` (now is local, naive or aware)."""
    today = now.date()
    d, rest, span = take_date(text, today)
    t, rest2 = take_time(rest)
    if t is not None and d is None:
        # "at 3pm" alone: today if still ahead, else tomorrow
        d = today if t > now.time() else today + timedelta(days=1)
        span = "time"
    return When(d, t, span), " ".join(rest2.split())


def parse_when(text: str, now: datetime) -> When:
    """A whole answer that is only a date/time ("11am", "tomorrow at 10"): dateparser last."""
    when, rest = take_when(text, now)
    if when.day is not None:
        return when
    try:
        got = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "RELATIVE_BASE": now.replace(tzinfo=None),
                "PREFER_DATES_FROM": "future",
            },
        )
    except Exception:  # noqa: BLE001 - dateparser raises many kinds on odd input
        got = None
    if got is None:
        return When()
    has_time = bool(re.search(r"\d\s*(?:am|pm)|\d:\d|noon", text, re.I))
    return When(got.date(), got.time().replace(second=0, microsecond=0) if has_time else None, text)


# -- durations and periods ---------------------------------------------------------------------

_DURATION = re.compile(
    rf"\b(?:for\s+)?(?:(an?|one|two|three|\d{{1,3}}(?:\.\d{{1,2}})?)\s*(hours?|hrs?|h)\b(?:\s+and\s+(?:a\s+)?(half))?"
    rf"|(half an hour)|{_NUM}[\s-]*(minutes?|mins?|m)\b)",
    re.I,
)


def take_duration(text: str) -> tuple[int | None, str]:
    m = _DURATION.search(text)
    if not m:
        return None, text
    if m.group(4):
        minutes = 30
    elif m.group(1):
        n = number(m.group(1)) if not re.match(r"\d", m.group(1)) else float(m.group(1))
        minutes = int(float(n or 1) * 60) + (30 if m.group(3) else 0)
    else:
        n = number(m.group(5))
        if n is None:
            return None, text
        minutes = n
    return minutes, _cut(text, m)


PERIODS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b(?:all[ -]time|ever|since (?:the )?beginning|in total overall)\b", re.I),
        "all_time",
    ),
    (
        re.compile(r"\b(?:(?:in )?the )?(?:last|past)\s+(?:7|seven)\s+days\b|\bpast week\b", re.I),
        "last_7_days",
    ),
    (
        re.compile(
            r"\b(?:(?:in )?the )?(?:last|past)\s+(?:30|thirty)\s+days\b|\bpast month\b", re.I
        ),
        "last_30_days",
    ),
    (
        re.compile(
            r"\b(?:(?:in )?the )?(?:last|past)\s+(?:90|ninety)\s+days\b|\bpast (?:three|3) months\b",
            re.I,
        ),
        "last_90_days",
    ),
    (re.compile(r"\btoday\b", re.I), "today"),
    (re.compile(r"\bthis week\b|\bso far this week\b", re.I), "this_week"),
    (re.compile(r"\blast week\b|\bprevious week\b", re.I), "last_week"),
    (re.compile(r"\bnext week\b|\bcoming week\b", re.I), "next_week"),
    (re.compile(r"\bthis month\b|\bmonth to date\b|\bmtd\b", re.I), "this_month"),
    (re.compile(r"\blast month\b|\bprevious month\b", re.I), "last_month"),
    (re.compile(r"\bnext month\b|\bcoming month\b", re.I), "next_month"),
    (re.compile(r"\bthis quarter\b|\bquarter to date\b|\bqtd\b|\bthis q\b", re.I), "this_quarter"),
    (re.compile(r"\blast quarter\b|\bprevious quarter\b|\blast q\b", re.I), "last_quarter"),
    (re.compile(r"\bnext quarter\b|\bcoming quarter\b|\bnext q\b", re.I), "next_quarter"),
    (re.compile(r"\bthis year\b|\byear to date\b|\bytd\b|\bso far this year\b", re.I), "this_year"),
    (re.compile(r"\blast year\b|\bprevious year\b", re.I), "last_year"),
]


def take_period(text: str) -> tuple[str | None, str]:
    for rx, name in PERIODS:
        m = rx.search(text)
        if m:
            return name, _cut(text, m)
    return None, text


_DAYS = re.compile(
    rf"\b{_NUM}\s*(days?|weeks?|months?)\b|\b(?:a|one)\s+(fortnight)\b|\b(fortnight)\b", re.I
)


def take_days(text: str) -> tuple[int | None, str]:
    """A span of days ("two weeks", "30 days", "a month") as a number of days."""
    m = _DAYS.search(text)
    if not m:
        return None, text
    if m.group(3) or m.group(4):
        return 14, _cut(text, m)
    n = number(m.group(1))
    if n is None:
        return None, text
    unit = m.group(2).lower()
    days = n if unit.startswith("day") else n * 7 if unit.startswith("week") else n * 30
    return days, _cut(text, m)


def warm_up() -> None:
    """dateparser loads its language data on first use (~200 ms): pay it at import time."""
    try:
        dateparser.parse("tomorrow 3pm", languages=["en"])
    except Exception:  # noqa: BLE001
        pass
