"""Normalisation helpers for search keys, emails and phone numbers."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from aicrm.errors import Invalid

_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower-case, strip accents and squeeze spaces: the key prefix search runs on."""
    if not text:
        return ""
    norm = unicodedata.normalize("NFKD", text)
    norm = "".join(c for c in norm if not unicodedata.combining(c))
    return _SPACES.sub(" ", norm).strip().lower()


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with `prefix` (for range scans)."""
    return prefix + "\U0010ffff"


def normalize_email(value: str | None, *, field: str = "email") -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return validate_email(
            str(value).strip(), check_deliverability=False, globally_deliverable=False
        ).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid(f"{value!r} is not a valid email address: {exc}", field=field) from exc


def normalize_phone(value: str | None, *, region: str = "US", field: str = "phone") -> str | None:
    """Parse a phone number and return it in E.164, or raise Invalid naming the field."""
    if value is None or not str(value).strip():
        return None
    raw = str(value).strip()
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"{raw!r} is not a phone number", field=field) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise Invalid(f"{raw!r} is not a possible phone number", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def split_name(name: str) -> tuple[str, str]:
    parts = name.strip().split()
    if not parts:
        return "", ""
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]
