"""CSV in and out, a row at a time, plus the fast paths the bulk importer needs."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from email_validator import EmailNotValidError, validate_email

from aicrm.errors import Invalid
from aicrm.kit.text import fold, normalize_email, normalize_phone

DELIMITERS = (",", ";", "\t", "|")
LIST_SPLIT = re.compile(r"\s*[,;]\s*")
_SPACES = re.compile(r"\s+")


def text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    """Decode an uploaded or opened file lazily (UTF-8, with or without Excel's BOM)."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def read_rows(text: IO[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (row number, cells); the header is row 1, as in a
    spreadsheet. The delimiter is guessed from the header line (Excel writes `;` in some locales)."""
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise Invalid("The file is not UTF-8 text; save it as CSV UTF-8", field="file") from exc
    if not first.strip():
        raise Invalid("The file is empty or has no header row", field="file")
    delimiter = max(DELIMITERS, key=first.count)
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise Invalid(f"The header row is not valid CSV: {exc}", field="file") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        n = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise Invalid(
                    f"Row {n + 1} is not UTF-8 text; save the file as CSV UTF-8", field="file"
                ) from exc
            except csv.Error as exc:
                raise Invalid(f"Row {n + 1} is not valid CSV: {exc}", field="file") from exc
            n += 1
            yield n, cells

    return header, rows()


def split_list(value: str) -> list[str]:
    return [v for v in LIST_SPLIT.split(value.strip()) if v]


# -- fast normalisation, identical in result to aicrm.kit.text ------------------------------

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_EMAIL = re.compile(rf"^({_ATEXT}(?:\.{_ATEXT})*)@([a-z0-9.-]+)$")
_domains: dict[str, str | None] = {}


def fast_email(value: str | None, *, field: str = "email") -> str | None:
    """normalize_email for the plain ASCII addresses that make up nearly every file, with each
    domain checked by email-validator once; anything unusual takes the full path."""
    if value is None:
        return None
    raw = value.strip()
    if not raw:
        return None
    low = raw.lower()
    m = _SIMPLE_EMAIL.match(low)
    if m is None or len(m.group(1)) > 64 or len(low) > 254:
        return normalize_email(raw, field=field)
    domain = m.group(2)
    if domain not in _domains:
        if len(_domains) > 100_000:
            _domains.clear()
        try:
            checked = validate_email(
                "x@" + domain, check_deliverability=False, globally_deliverable=False
            ).domain
            _domains[domain] = checked.lower() if checked.isascii() else None
        except EmailNotValidError:
            _domains[domain] = None
    ascii_domain = _domains[domain]
    if ascii_domain is None:
        return normalize_email(raw, field=field)
    return f"{m.group(1)}@{ascii_domain}"


# Only digits, spaces and ( ) - . with at most a leading "+": phonenumbers reads such a string
# exactly as it reads its bare digits (no extension, letters or second number can hide in it).
_PLAIN_PHONE = re.compile(r"^(\+?)[0-9 ().\-]+$")
_NOT_DIGIT = re.compile(r"\D+")
_NANP_AREA = frozenset("23456789")


def fast_phone(value: str | None, *, region: str, field: str = "phone") -> str | None:
    """normalize_phone, answering North American numbers (+1, or a US organization's national
    format) directly: a 10-digit number whose area code starts with 2-9 is always possible and
    its E.164 form is +1 and those digits. Everything else goes through phonenumbers."""
    if value is None:
        return None
    raw = value.strip()
    if not raw:
        return None
    m = _PLAIN_PHONE.match(raw)
    if m is not None:
        digits = _NOT_DIGIT.sub("", raw)
        n = len(digits)
        if n == 11 and digits[0] == "1" and digits[1] in _NANP_AREA:
            if m.group(1) or region == "US":
                return "+" + digits
        elif n == 10 and not m.group(1) and region == "US" and digits[0] in _NANP_AREA:
            return "+1" + digits
    return normalize_phone(raw, region=region, field=field)


def fast_fold(text: str | None) -> str:
    """kit.text.fold, skipping the Unicode decomposition for ASCII (where it changes nothing)."""
    if not text:
        return ""
    if text.isascii():
        return _SPACES.sub(" ", text).strip().lower()
    return fold(text)


# -- writing ---------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One value as CSV text that the importer reads back to the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


class RowWriter:
    """csv.writer into a reusable buffer: write rows, then take the text written so far."""

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\r\n")

    def write(self, values: list[Any]) -> None:
        self._writer.writerow([cell(v) for v in values])

    def take(self) -> str:
        out = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return out
