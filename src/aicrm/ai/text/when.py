"""Fast resolution of the common English date and time phrases in business messages.

`dateparser` understands almost anything in 200 languages but costs several milliseconds a
phrase; these rules cover what most messages say ("tomorrow at 3pm", "next Tuesday",
"March 5th", "03/05/2025", "in 2 weeks", "noon", "end of the month") in microseconds, and the
entity extractor falls back to dateparser for the rest. Dates resolve into the future, like a
reader of a message would: "Tuesday" said on a Wednesday is next week's Tuesday.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

WEEKDAYS = {
    name: i
    for i, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed", "weds"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
PARTS_OF_DAY = {
    "morning": 9,
    "afternoon": 15,
    "evening": 19,
    "night": 20,
    "tonight": 20,
    "noon": 12,
    "midday": 12,
    "lunchtime": 12,
    "midnight": 0,
}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
NUMBERS |= {"seven": 7, "ten": 10}

_TIME = re.compile(
    r"(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s?(?P<ap>am|pm|a\.m\.|p\.m\.)"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)"
    r"|(?P<hh>\d{1,2})\s?(?:h(?P<mh>\d{2})?|uhr)\b"
    r"|(?:(?<=at\s)(?P<hat>\d{1,2})\b(?!\s*(?:am|pm|:|[.,]\d))|^(?P<hbare>\d{1,2})$)"
    r"|\b(?P<part>noon|midday|midnight|lunchtime|tonight|morning|afternoon|evening|night)\b",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"(?<!\w)(?:at|@|around|about|by|on|from|due|until|before|after|the|this|of|à|a\s+las|um|alle)"
    r"(?!\w)|[,–]|\s-\s"
)
# relative days in the other languages the analyser is tuned for
FOREIGN_DAYS = {
    "übermorgen": "day after tomorrow",
    "après-demain": "day after tomorrow",
    "pasado mañana": "day after tomorrow",
    "demain": "tomorrow",
    "mañana": "tomorrow",
    "morgen": "tomorrow",
    "domani": "tomorrow",
    "amanhã": "tomorrow",
    "aujourd'hui": "today",
    "hoy": "today",
    "heute": "today",
    "oggi": "today",
    "hoje": "today",
    "vandaag": "today",
}
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}|\d{4}))?$")
_MONTH_DAY = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:\s+(\d{4}))?$")
_DAY_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]+)\.?(?:\s+(\d{4}))?$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")
_IN = re.compile(r"^in\s+(\w+)\s+(minute|hour|day|week|month)s?$")
_FROM_NOW = re.compile(r"^(\w+)\s+(day|week)s?\s+from\s+now$")
_WEEKDAY = re.compile(r"^(?:(next|coming)\s+)?([a-z]+)$")


def _future(d: datetime, now: datetime) -> bool:
    return d.date() >= now.date()


def _date_part(words: str, now: datetime, dmy: bool) -> tuple[datetime, bool] | None:
    """(date at midnight, relative-with-clock) for the date words, or None if not understood."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if words in ("", "today"):
        return today, False
    if words in ("tomorrow", "tmrw", "tmr"):
        return today + timedelta(days=1), False
    if words == "yesterday":
        return today - timedelta(days=1), False
    if words == "day after tomorrow":
        return today + timedelta(days=2), False
    if words in ("next week", "coming week"):
        return today + timedelta(days=7), False
    if words == "week":  # "this week" after fillers are gone
        return today, False
    m = _WEEKDAY.match(words)
    if m and m.group(2) in WEEKDAYS:
        target = WEEKDAYS[m.group(2)]
        if m.group(1) == "next":  # that day in next week (Monday-first)
            return today + timedelta(days=7 - today.weekday() + target), False
        ahead = (target - today.weekday()) % 7
        return today + timedelta(days=ahead or 7), False
    m = _IN.match(words) or _FROM_NOW.match(words)
    if m:
        n = NUMBERS.get(m.group(1), None) if not m.group(1).isdigit() else int(m.group(1))
        if n is None:
            return None
        unit = m.group(2)
        if unit in ("minute", "hour"):
            return now + timedelta(**{unit + "s": n}), True
        if unit == "month":
            return None
        return today + timedelta(days=n * (7 if unit == "week" else 1)), False
    m = _ISO.match(words)
    if m:
        return _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)), now), False
    m = _NUMERIC.match(words)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        day, month = (a, b) if dmy else (b, a)
        year = m.group(3)
        if year is None:
            return _next(month, day, now), False
        y = int(year) + (2000 if len(year) == 2 else 0)
        return _safe(y, month, day, now), False
    m = _MONTH_DAY.match(words)
    if m and m.group(1) in MONTHS:
        return _dated(MONTHS[m.group(1)], int(m.group(2)), m.group(3), now), False
    m = _DAY_MONTH.match(words)
    if m and m.group(2) in MONTHS:
        return _dated(MONTHS[m.group(2)], int(m.group(1)), m.group(3), now), False
    m = _ORDINAL.match(words)
    if m:
        day = int(m.group(1))
        for k in range(0, 3):
            month = (today.month - 1 + k) % 12 + 1
            year = today.year + (today.month - 1 + k) // 12
            d = _safe(year, month, day, now)
            if d is not None and _future(d, now):
                return d, False
    return None


def _safe(year: int, month: int, day: int, now: datetime) -> datetime | None:
    try:
        return now.replace(
            year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0
        )
    except ValueError:
        return None


def _next(month: int, day: int, now: datetime) -> datetime | None:
    d = _safe(now.year, month, day, now)
    if d is not None and not _future(d, now):
        d = _safe(now.year + 1, month, day, now)
    return d


def _dated(month: int, day: int, year: str | None, now: datetime) -> datetime | None:
    return _safe(int(year), month, day, now) if year else _next(month, day, now)


def resolve(phrase: str, now: datetime, *, dmy: bool) -> tuple[datetime, bool] | None:
    """(when, has_time) for `phrase` relative to the local `now`, or None to fall back."""
    text = phrase.lower().strip()
    hour = minute = None
    for m in _TIME.finditer(text):
        if m.group("h"):
            hour, minute = int(m.group("h")) % 12, int(m.group("m") or 0)
            if m.group("ap")[0] == "p":
                hour += 12
        elif m.group("h24"):
            hour, minute = int(m.group("h24")), int(m.group("m24"))
        elif m.group("hh"):
            hour, minute = int(m.group("hh")), int(m.group("mh") or 0)
        elif m.group("hat") or m.group("hbare"):
            hour, minute = int(m.group("hat") or m.group("hbare")), 0
            if 1 <= hour <= 7:  # "at 4" in a business message means the afternoon
                hour += 12
        elif m.group("part"):
            hour, minute = PARTS_OF_DAY[m.group("part").lower()], 0
        text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
        break
    if hour is not None and not (0 <= hour <= 23 and 0 <= (minute or 0) <= 59):
        return None
    said_today = re.search(r"\b(?:today|this|tonight)\b", phrase.lower()) is not None
    words = " ".join(_FILLER.sub(" ", text).split())
    words = FOREIGN_DAYS.get(words, words)
    if words.startswith("tonight"):
        words = words.replace("tonight", "").strip()
        if hour is None:
            hour, minute = 20, 0
        elif hour < 12:  # "7:30 tonight"
            hour += 12
    part = _date_part(words, now, dmy)
    if part is None or part[0] is None:
        return None
    day, clock = part
    if clock:
        return day, True
    if hour is None:
        return day, False
    when = day.replace(hour=hour, minute=minute or 0)
    if not words and not said_today and when < now:  # a bare time already past: tomorrow
        when += timedelta(days=1)
    return when, True
