"""Entities in a customer message, each with its span and a normalised value.

- email — lower-cased address;
- phone — E.164 via `phonenumbers` (the organization's region for numbers without +country);
- date / datetime — candidate phrases found by patterns ("tomorrow at 3pm", "March 5th",
  "next Tuesday", "03/05/2025", "end of the month", a few words in de/fr/es/it/pt/nl), then
  resolved by `dateparser` against a reference "now" in the organization's timezone and
  returned as ISO 8601 (a date, or a date-time with offset when a time was given);
- money — amount and ISO currency ("$75k", "75,000 EUR", "budget of 10k" → the default
  currency, marked `assumed_currency`);
- company — legal-suffix names ("Brightwave Ltd"), "from/at/with X" phrases, and fuzzy matches
  of `known_names` (rapidfuzz), the latter normalised to the known spelling;
- person — the sender's name from "my name is …", "I'm …", "this is …", a web form's "Name:"
  line and sign-offs ("Thanks, Dana Smith" or a name on the line after "Best regards,");
- product — fuzzy matches of the `products` list passed in.

Spans never overlap: earlier, more specific types win (email, phone, money, date, …).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aicrm.ai.text import when as when_

ENTITY_TYPES = ("email", "phone", "money", "date", "datetime", "company", "person", "product")


@dataclass(frozen=True)
class Entity:
    type: str
    text: str
    value: Any
    start: int
    end: int
    # how it was found, for consumers that weigh entities: "suffix", "phrase" or "known_name"
    # (company), "introduction", "signature" or "form" (person), "list" (product)
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # assumed_currency, score (fuzzy 0-100)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "text": self.text,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "source": self.source,
            **self.extra,
        }


# -- emails and phones -------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)


def emails(text: str) -> list[Entity]:
    return [
        Entity("email", m.group(0), m.group(0).lower(), m.start(), m.end())
        for m in _EMAIL.finditer(text)
    ]


def phones(text: str, region: str) -> list[Entity]:
    import phonenumbers

    out = []
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        out.append(Entity("phone", match.raw_string, e164, match.start, match.end))
    return out


# -- money ---------------------------------------------------------------------------------------

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₣": "CHF"}
_CODES = "USD|EUR|GBP|CHF|CAD|AUD|NZD|JPY|INR|SEK|NOK|DKK|PLN|CZK|BRL|MXN|ZAR|SGD|HKD|CNY|AED"
_WORDS = {
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "francs": "CHF",
}
_PREFIXED_CURRENCY = {"US$": "USD", "A$": "AUD", "C$": "CAD", "CA$": "CAD", "AU$": "AUD"}
_NUM = r"\d{1,3}(?:[,.\u202f' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_MULT = r"\s?(?:k|K|m|M|mn|bn|B|thousand|million|billion)\b"
# numbers start where a digit run starts (else a long run of digits backtracks quadratically)
_AMOUNT = rf"(?<![\d.,])(?:{_NUM})(?![\d])"
_MONEY = re.compile(
    rf"(?P<pre>US\$|CA?\$|AU?\$|[$€£¥₹₣]|\b(?:{_CODES})\b)\s?(?P<n1>{_AMOUNT})(?P<m1>{_MULT})?"
    rf"|(?P<n2>{_AMOUNT})(?P<m2>{_MULT})?\s?(?P<post>[$€£¥₹]|\b(?:{_CODES}|"
    rf"{'|'.join(_WORDS)})\b)"
    rf"|(?P<budget>\b(?:budget|budgeted|spend)\b(?:(?!\b(?:{_CODES})\b)[^\d\n.$€£¥₹]){{0,20}}?)"
    rf"(?P<n3>{_AMOUNT})(?P<m3>{_MULT})?",
    re.IGNORECASE,
)
_MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}


def parse_number(raw: str) -> float:
    """'75,000' → 75000; '75.000' → 75000; '1.234,50' → 1234.5; '2.5' → 2.5; '2,5' → 2.5."""
    s = raw.replace("\u202f", "").replace("'", "").replace(" ", "")
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        s = s.replace(thousands, "").replace(decimal, ".")
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        parts = s.split(sep)
        if len(parts) > 2 or len(parts[-1]) == 3:
            s = s.replace(sep, "")
        else:
            s = s.replace(sep, ".")
    return float(s)


def money(text: str, default_currency: str | None) -> list[Entity]:
    out = []
    for m in _MONEY.finditer(text):
        num = m.group("n1") or m.group("n2") or m.group("n3")
        mult = (m.group("m1") or m.group("m2") or m.group("m3") or "").strip().lower()
        cur_raw = m.group("pre") or m.group("post")
        extra: dict[str, Any] = {}
        if cur_raw:
            upper = cur_raw.upper()
            currency = (
                _PREFIXED_CURRENCY.get(upper)
                or _SYMBOLS.get(cur_raw)
                or _WORDS.get(cur_raw.lower())
                or upper
            )
        else:
            currency = default_currency
            extra["assumed_currency"] = True
        start = m.start("budget") + len(m.group("budget")) if m.group("budget") else m.start()
        try:
            amount = parse_number(num) * _MULTIPLIERS.get(mult, 1.0)
        except ValueError:
            continue
        if m.group("budget") and amount < 100:  # "budget for 3 users" is not an amount
            continue
        value = {"amount": round(amount, 2), "currency": currency}
        out.append(Entity("money", text[start : m.end()], value, start, m.end(), None, extra))
    return out


# -- dates and times ------------------------------------------------------------------------------

_WEEKDAYS = (
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues|weds|thurs"
    r"|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag"
    r"|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
    r"|lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|domingo"
    r"|lunedì|martedì|mercoledì|giovedì|venerdì|sabato"
    r"|segunda-feira|terça-feira|quarta-feira|quinta-feira|sexta-feira"
    r"|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag"
)
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
    r"|januar|februar|märz|mai|juni|juli|oktober|dezember"
    r"|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre"
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
)
_ORD = r"\d{1,2}(?:st|nd|rd|th|\.)?"
_RELATIVE = (
    r"the\s+day\s+after\s+tomorrow|today|tonight|tomorrow|tmrw|tmr|yesterday"
    r"|(?:this|next|coming)\s+(?:morning|afternoon|evening|week|weekend|month)"
    r"|next\s+(?:" + _WEEKDAYS + r")|(?:this|coming)\s+(?:" + _WEEKDAYS + r")"
    r"|in\s+(?:a|an|one|two|three|four|five|six|seven|ten|\d{1,3})\s+"
    r"(?:minutes?|hours?|days?|weeks?|months?)"
    r"|(?:a|one|two|three|\d{1,2})\s+(?:days?|weeks?)\s+from\s+now"
    r"|end\s+of\s+(?:the\s+)?(?:week|month|quarter|year)|\b(?:eow|eom)\b"
    r"|heute|morgen|übermorgen|nächste\s+woche|aujourd'hui|demain|après-demain"
    r"|la\s+semaine\s+prochaine|hoy|mañana|pasado\s+mañana|la\s+próxima\s+semana"
    r"|oggi|domani|hoje|amanhã|vandaag"
)
_DATE_PATTERNS = [
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?",
    r"\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})\b",
    r"(?:(?:on|by|until|before|after|from|due)\s+)\d{1,2}/\d{1,2}\b",
    rf"(?:{_MONTHS})\.?\s+{_ORD}(?:,?\s+\d{{4}})?\b",
    rf"{_ORD}\s+(?:of\s+|de\s+)?(?:{_MONTHS})\b\.?(?:,?\s+\d{{4}})?",
    rf"(?:{_MONTHS})\s+\d{{4}}\b",
    r"(?:on\s+)?the\s+\d{1,2}(?:st|nd|rd|th)\b(?!\s+(?:time|floor|edition|anniversary|place|"
    r"year|grade|century|attempt|call|email|message|ticket|request|day))",
    rf"(?:early|mid|late|end\s+of)\s+(?:{_MONTHS})\b",
    rf"(?:{_WEEKDAYS})(?:\s+(?:morning|afternoon|evening|night))?",
    _RELATIVE,
]
_TIME_PATTERNS = [
    r"\d{1,2}[:.]\d{2}\s?(?:am|pm|a\.m\.|p\.m\.)",
    r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b(?!\s?%)",
    r"\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.)",
    r"\b\d{1,2}\s?(?:h\d{2}|h\b|uhr\b)",
    r"\b(?:noon|midday|midnight|lunchtime|this\s+(?:morning|afternoon|evening))\b",
    r"\bend\s+of\s+(?:the\s+)?(?:business\s+)?day\b|\b(?:eod|cob)\b",
    r"(?<=\bat\s)\d{1,2}(?=\s*(?:$|[.,!?;)](?!\d)|o'clock|on\b|tomorrow|today|tonight))",
]
_DATE_RE = re.compile(r"\b(?:" + "|".join(_DATE_PATTERNS) + r")", re.IGNORECASE)
_TIME_RE = re.compile("|".join(_TIME_PATTERNS), re.IGNORECASE)
_JOIN = re.compile(r"^[\s,]*(?:at|@|around|about|by|on|from|-|–|um|à|a\s+las|alle)?[\s,]*$", re.I)
_MONTH_ONLY = re.compile(rf"^(?:early|mid|late|end\s+of)\s+(?:{_MONTHS})$", re.IGNORECASE)
_END_OF = re.compile(
    r"end\s+of\s+(?:the\s+)?(?:business\s+)?(day|week|month|quarter|year)|(eod|cob|eow|eom)", re.I
)
_MDY_REGIONS = {"US", "CA", "PH", "BZ", "FM", "MH", "PW"}
# dateparser takes about a millisecond a phrase: a bound for pathological texts
MAX_DATEPARSER_CALLS = 20
_DATEPARSER_LANGS = {"en", "de", "fr", "es", "it", "pt", "nl"}


def _spans(text: str) -> list[tuple[int, int, bool]]:
    """Candidate (start, end, has_time) phrases, adjacent date and time parts merged."""
    parts = [(m.start(), m.end(), False) for m in _DATE_RE.finditer(text)]
    parts += [(m.start(), m.end(), True) for m in _TIME_RE.finditer(text)]
    parts.sort()
    # (start, end, has_time, has_date): a phrase holds at most one date part and one time
    merged: list[tuple[int, int, bool, bool]] = []
    for start, end, is_time in parts:
        if merged:
            s0, e0, t0, d0 = merged[-1]
            if start < e0:  # overlapping candidates: one phrase
                merged[-1] = (s0, max(e0, end), t0 or is_time, d0 or not is_time)
                continue
            gap = text[e0:start]
            if (t0 if is_time else d0) is False and len(gap) <= 12 and _JOIN.match(gap):
                merged[-1] = (s0, end, t0 or is_time, d0 or not is_time)
                continue
        merged.append((start, end, is_time, not is_time))
    return [(s0, e0, t0) for s0, e0, t0, _ in merged]


def _end_of(kind: str, now: datetime) -> tuple[datetime, bool]:
    kind = {"eod": "day", "cob": "day", "eow": "week", "eom": "month"}.get(kind, kind)
    if kind == "day":
        return now.replace(hour=17, minute=0, second=0, microsecond=0), True
    if kind == "week":
        return now + timedelta(days=(4 - now.weekday()) % 7), False
    if kind == "month":
        nxt = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
        return nxt - timedelta(days=1), False
    if kind == "quarter":
        q_end_month = ((now.month - 1) // 3 + 1) * 3
        nxt = (now.replace(day=1, month=q_end_month, hour=0) + timedelta(days=32)).replace(day=1)
        return nxt - timedelta(days=1), False
    return now.replace(month=12, day=31), False


def dates(
    text: str,
    *,
    now: datetime,
    timezone: str,
    language: str = "en",
    region: str = "US",
) -> list[Entity]:
    import dateparser

    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz) if now.tzinfo else now.replace(tzinfo=tz)
    dmy = region.upper() not in _MDY_REGIONS
    settings = {
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "TIMEZONE": timezone,
        "TO_TIMEZONE": timezone,
        "RETURN_AS_TIMEZONE_AWARE": True,
        "DATE_ORDER": "DMY" if dmy else "MDY",
    }
    langs = [language, "en"] if language in _DATEPARSER_LANGS and language != "en" else ["en"]
    out = []
    fallbacks = 0
    for start, end, has_time in _spans(text):
        last = text[start : end - 1].split()[-1] if text[end - 1] == "." else ""
        if last and not (last.isalpha() and len(last) <= 4):
            end -= 1  # the sentence's full stop, not an abbreviation's ("Nov.")
        phrase = text[start:end].strip(" ,")
        end_of = _END_OF.search(phrase)
        if end_of and end_of.start() == 0:
            when, timed = _end_of((end_of.group(1) or end_of.group(2)).lower(), local_now)
            has_time = has_time or timed
        else:
            quick = when_.resolve(phrase, local_now, dmy=dmy)
            if quick is not None:
                when, has_time = quick
            elif fallbacks >= MAX_DATEPARSER_CALLS:
                continue
            else:
                fallbacks += 1
                query = re.sub(r"^(?:on|by|until|before|after|from|due)\s+", "", phrase, flags=re.I)
                if _MONTH_ONLY.match(query):
                    query = query.split()[-1]
                parsed = dateparser.parse(query, languages=langs, settings=settings)  # type: ignore[arg-type]
                if parsed is None:
                    continue
                when = parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
        if has_time:
            value: str = when.replace(second=0, microsecond=0).isoformat()
            kind = "datetime"
        else:
            value = date(when.year, when.month, when.day).isoformat()
            kind = "date"
        out.append(Entity(kind, text[start:end], value, start, end))
    return out


# -- people and companies -------------------------------------------------------------------------

_NAME_WORD = (
    r"[A-Z](?:[a-zà-öø-ÿ]+|['’][A-Z][a-zà-öø-ÿ]+)(?:[A-Z][a-zà-öø-ÿ]+)?(?:-[A-Z][a-zà-öø-ÿ]+)?"
)
_FULL_NAME = (
    rf"{_NAME_WORD}(?:[ \t]+(?:(?:van|von|de|da|del|der|di|le|la)[ \t]+)?{_NAME_WORD}){{0,2}}"
)
_SIGN_OFF = (
    r"thanks|thank\s+you|many\s+thanks|thanks\s+again|cheers|best|best\s+regards|kind\s+regards"
    r"|warm\s+regards|regards|sincerely|yours\s+sincerely|yours\s+truly|all\s+the\s+best"
    r"|talk\s+soon|take\s+care|best\s+wishes|respectfully|merci|cordialement|gracias|saludos"
    r"|danke|viele\s+grüße|mit\s+freundlichen\s+grüßen|grazie|obrigado|groeten|--|—"
)
# "Thanks, Dana Smith" closing its line, or the sign-off's next line ("Best,\nDana Smith, CEO");
# not "Thanks Dana, that helps" (that Dana is the one being thanked)
_SIGNATURE = re.compile(
    rf"(?:^|\n)[ \t]*(?i:{_SIGN_OFF})(?:[ \t]*[,!.:-]+[ \t]*(?P<name>{_FULL_NAME})[ \t]*(?=\n|$)"
    rf"|[ \t]*[,!.:-]*[ \t]*\n(?:[ \t]*\n)?[ \t]*(?P<name2>{_FULL_NAME})[ \t]*(?=\n|$|,|\|))"
)
_INTRO = re.compile(
    r"\b(?i:my\s+name\s+is|my\s+name's|i\s+am|i'm|this\s+is|name:|je\s+m'appelle|"
    rf"me\s+llamo|ich\s+bin|mi\s+chiamo)[ \t]+(?P<name>{_FULL_NAME})"
)
_COMPANY_SUFFIX = (
    r"Inc\.?|Incorporated|Ltd\.?|Limited|LLC|L\.L\.C\.|LLP|GmbH|AG|KG|Corp\.?|Corporation|Co\.|"
    r"PLC|plc|S\.A\.|SA|SAS|SARL|S\.L\.|SL|SpA|S\.p\.A\.|Srl|BV|B\.V\.|NV|N\.V\.|Oy|AB|ASA|"
    r"Pty(?:\s+Ltd)?|Group|Holdings"
)
_COMPANY_WORD = r"(?:[A-Z][\w'’.-]*|&|and|of|de)"
_COMPANY = re.compile(
    rf"\b(?P<name>[A-Z][\w'’.-]*(?:[ \t]+{_COMPANY_WORD}){{0,4}}?[ \t,]+(?:{_COMPANY_SUFFIX}))(?![\w])"
)
_AFFILIATION = re.compile(
    r"\b(?:from|at|join(?:ed)?|here\s+at|work\s+(?:at|for)|on\s+behalf\s+of|"
    r"représentant\s+de|de\s+la\s+empresa|von\s+der\s+firma)\s+(?P<name>[A-Z][\w&'’.-]*(?:[ \t]+"
    r"(?:[A-Z][\w&'’.-]*|&)){0,3})"
)
# words that start with a capital after "from/at …" without being organisations
_NOT_NAMES = frozenset(
    """i i'm i've we you he she they it this that these those the a an my our your their his her
    hi hello hey dear thanks thank regards best cheers sincerely please ok okay yes no not
    monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight yesterday
    january february march april may june july august september october november december
    noon midnight morning afternoon evening am pm eod cob asap urgent team support sales
    customer service billing finance accounts help desk admin office home work us uk eu usa
    mr mrs ms dr prof sir madam ceo cto cfo coo vp head manager director christmas easter
    important great sorry interested happy glad writing looking available unacceptable""".split()
)


_ABBREVIATIONS = frozenset({"inc", "co", "corp", "ltd", "st"})


def _is_name_like(candidate: str) -> bool:
    words = candidate.split()
    return bool(words) and all(w.lower().strip(".,'’") not in _NOT_NAMES for w in words)


def people(text: str) -> list[Entity]:
    out = []
    for rx in (_INTRO, _SIGNATURE):
        for m in rx.finditer(text):
            group = "name" if m.group("name") else "name2"
            name = m.group(group).strip()
            # "I'm Dana Smith from Acme": stop a name at a lower-case word (the regex already
            # does) and drop trailing words that are not names
            words = name.split()
            while words and words[-1].lower() in _NOT_NAMES:
                words.pop()
            if not words or not _is_name_like(" ".join(words[:1])):
                continue
            if rx is _INTRO and len(words) == 1 and words[0].lower() in _NOT_NAMES:
                continue
            name = " ".join(words)
            start = m.start(group)
            if rx is _SIGNATURE:
                source = "signature"
            elif m.group(0).lower().startswith("name:"):
                source = "form"
            else:
                source = "introduction"
            out.append(Entity("person", name, name, start, start + len(name), source))
    return out


def _clean_company(name: str) -> str:
    """One space between words, no trailing punctuation ("Acme, Inc." → "Acme, Inc")."""
    return re.sub(r"\s+", " ", name).strip(" ,.")


def companies(text: str, known_names: Sequence[str] | None = None) -> list[Entity]:
    out = []
    for m in _COMPANY.finditer(text):
        name = m.group("name")
        first = name.split()[0].lower().strip(",")
        if first in _NOT_NAMES:
            continue
        out.append(
            Entity("company", name, _clean_company(name), m.start("name"), m.end("name"), "suffix")
        )
    for m in _AFFILIATION.finditer(text):
        words = []
        for word in m.group("name").split():
            words.append(word.rstrip(".,"))
            if word[-1] in ".," and word.rstrip(".,").lower() not in _ABBREVIATIONS:
                break  # the sentence (or the list) ends here
        while words and words[-1].lower() in _NOT_NAMES:
            words.pop()
        if not words or words[0].lower().strip(".,") in _NOT_NAMES:
            continue
        name = " ".join(words)
        start = m.start("name")
        out.append(Entity("company", name, name, start, start + len(name), "phrase"))
    if known_names:
        out += fuzzy(text, known_names, "company", threshold=90, source="known_name")
    return out


# -- fuzzy list matching (products, known company names) -------------------------------------------


def fuzzy(
    text: str, names: Iterable[str], kind: str, *, threshold: float = 88, source: str = "list"
) -> list[Entity]:
    """Spans of `text` that match one of `names` (case-insensitive; short names exactly)."""
    from rapidfuzz import fuzz

    lowered = text.lower()
    out = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        needle = name.lower()
        if len(needle) < 5:
            for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", lowered):
                span = text[m.start() : m.end()]
                out.append(Entity(kind, span, name, m.start(), m.end(), source, {"score": 100.0}))
            continue
        if needle in lowered:
            i = lowered.index(needle)
            span = text[i : i + len(needle)]
            out.append(Entity(kind, span, name, i, i + len(needle), source, {"score": 100.0}))
            continue
        align = fuzz.partial_ratio_alignment(needle, lowered, score_cutoff=threshold)
        if align is None:
            continue
        start, end = align.dest_start, align.dest_end
        # widen to whole words so "Acme Corp" does not report "cme Cor"
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        span = text[start:end]
        if fuzz.ratio(needle, span.lower()) < threshold - 5:
            continue
        out.append(Entity(kind, span, name, start, end, source, {"score": round(align.score, 1)}))
    return out


# -- all together -----------------------------------------------------------------------------------

_PRIORITY = {
    "email": 0,
    "phone": 1,
    "money": 2,
    "datetime": 3,
    "date": 3,
    "product": 4,
    "person": 5,
    "company": 6,
}


def _resolve(found: list[Entity]) -> list[Entity]:
    """Drop spans overlapping a higher-priority (or, same type, longer/known) one."""
    ranked = sorted(
        found,
        key=lambda e: (
            _PRIORITY[e.type],
            0 if e.extra.get("score") else 1,
            1 if e.source == "phrase" else 0,
            -(e.end - e.start),
            e.start,
        ),
    )
    kept: list[Entity] = []
    for e in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: (e.start, e.end))


def extract(
    text: str,
    *,
    now: datetime,
    timezone: str = "UTC",
    region: str = "US",
    currency: str | None = "USD",
    language: str = "en",
    products: Sequence[str] | None = None,
    known_names: Sequence[str] | None = None,
) -> list[Entity]:
    found: list[Entity] = []
    found += emails(text)
    found += phones(text, region)
    found += money(text, currency)
    found += dates(text, now=now, timezone=timezone, language=language, region=region)
    if products:
        found += fuzzy(text, products, "product", source="list")
    found += people(text)
    found += companies(text, known_names)
    # a company phrase that is really the sender ("from Dana Smith") goes to the person
    persons = {e.value for e in found if e.type == "person"}
    found = [e for e in found if not (e.type == "company" and e.value in persons)]
    return _resolve(found)
