"""Money in commands: "75k", "$1.2m", "$12,500", "40000", "8.5k", "75 thousand", "€2 million"."""

from __future__ import annotations

import re

_SUFFIX = {
    "k": 1_000,
    "K": 1_000,
    "thousand": 1_000,
    "grand": 1_000,
    "m": 1_000_000,
    "M": 1_000_000,
    "mm": 1_000_000,
    "mil": 1_000_000,
    "million": 1_000_000,
    "bn": 1_000_000_000,
    "b": 1_000_000_000,
    "billion": 1_000_000_000,
}
AMOUNT = re.compile(
    r"(?<![\w@.+/-])(?P<cur>[$€£])?\s?(?P<num>\d{1,3}(?:,\d{3}){1,5}(?:\.\d{1,4})?|\d{1,15}(?:\.\d{1,4})?)"
    r"(?:\s?(?P<suf>k|K|mm|m|M|mil|bn|b)\b|\s+(?P<word>thousand|grand|million|billion)\b)?"
    r"(?P<usd>\s?(?:usd|dollars|eur|euros|gbp|pounds))?(?![\w@/%:-])",
)


def amount_of(m: re.Match[str]) -> float:
    value = float(m.group("num").replace(",", ""))
    suffix = m.group("suf") or m.group("word")
    if suffix:
        value *= _SUFFIX[suffix if suffix in _SUFFIX else suffix.lower()]
    return round(value, 2)


def is_money(m: re.Match[str]) -> bool:
    """A number that says it is money: a currency sign, a k/m suffix or a currency word."""
    return bool(m.group("cur") or m.group("suf") or m.group("word") or m.group("usd"))


def clean_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def take_amount(text: str, *, bare_after: str | None = None) -> tuple[float | int | None, str]:
    """The first money amount (bare numbers only right after a cue like "value"/"worth")."""
    for m in AMOUNT.finditer(text):
        before = text[: m.start()].rstrip().lower()
        cued = bool(
            bare_after and re.search(rf"(?:{bare_after})\s*(?:of|is|:|=|to|at)?\s*$", before)
        )
        if is_money(m) or cued:
            rest = (text[: m.start()] + " " + text[m.end() :]).strip()
            return clean_number(amount_of(m)), rest
    return None, text
