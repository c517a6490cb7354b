"""The importer's fast paths must agree exactly with the normalisation the services use."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aicrm.errors import Invalid
from aicrm.imports.csvio import cell, fast_email, fast_fold, fast_phone, read_rows
from aicrm.imports.fields import CONTACTS, header_key, resolve_mapping
from aicrm.imports.repository import _json
from aicrm.imports.service import id_ranges
from aicrm.kit.text import fold, normalize_email, normalize_phone

EMAILS = [
    "ann@example.com",
    "  Ann.Lee+tag@Example.COM ",
    "a@b.co",
    "x@localhost",
    "x@test",
    "x@example.com.",
    "x@-bad.com",
    "x@xn--bcher-kva.com",
    "zoë@example.com",
    "user@bücher.de",
    ".lead@example.com",
    "trail.@example.com",
    "two..dots@example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "x@" + "d" * 250 + ".com",
    '"quoted"@example.com',
    "no-at-sign",
    "a@b@c.com",
    "x@1.2.3.4",
    "x@[1.2.3.4]",
    "weird!#$%&'*+/=?^_`{|}~-@example.org",
    "",
    "   ",
]


def _same(raw: str) -> None:
    try:
        expected: str | None = normalize_email(raw)
    except Invalid:
        expected = None
        with pytest.raises(Invalid):
            fast_email(raw)
        return
    assert fast_email(raw) == expected


@pytest.mark.parametrize("raw", EMAILS)
def test_fast_email_matches_normalize_email(raw: str) -> None:
    _same(raw)


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="abcXYZ019.+-_!#@ ü", min_size=1, max_size=20),
    st.sampled_from(["example.com", "EXAMPLE.org", "x.y", "localhost", "a-.com", "bücher.de", ""]),
)
def test_fast_email_agrees_on_generated_addresses(local: str, domain: str) -> None:
    _same(f"{local}@{domain}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_fast_fold_matches_fold(text: str) -> None:
    assert fast_fold(text) == fold(text)


def test_header_keys_and_aliases() -> None:
    assert header_key(" E-mail ") == "e_mail"
    assert header_key("Phone number") == "phone_number"
    assert header_key("custom.Tier") == "custom.tier"
    assert header_key("Prénom") == "prenom"
    header = ["E-mail", "Phone number", "Company", "First Name", "Email", "whatever"]
    cols = resolve_mapping(CONTACTS, header, None, {})
    assert cols.as_dict() == {
        "E-mail": "email",
        "Phone number": "phone",
        "Company": "company_name",
        "First Name": "first_name",
    }
    assert cols.ignored == ["Email", "whatever"]  # a second column for one field is ignored


def test_read_rows_sniffs_delimiter_strips_bom_and_numbers_rows() -> None:
    data = '\ufeffname;email\nA;a@x.io\n\n"B;\nC";b@x.io\nD;d@x.io\n'.encode()
    header, rows = read_rows(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    assert header == ["name", "email"]
    got = list(rows)
    assert got[0] == (2, ["A", "a@x.io"])
    assert got[-1] == (5, ["D", "d@x.io"])
    assert ["B;\nC", "b@x.io"] in [cells for _, cells in got]


def test_read_rows_rejects_empty_and_non_utf8() -> None:
    with pytest.raises(Invalid):
        read_rows(io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8-sig", newline=""))
    with pytest.raises(Invalid):
        read_rows(io.TextIOWrapper(io.BytesIO(b"name\xff\n"), encoding="utf-8-sig", newline=""))


def test_cells_read_back_as_the_same_value() -> None:
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell(["a", "b"]) == "a, b"
    assert cell(Decimal("12.50")) == "12.50"
    assert cell(Decimal("5000.00")) == "5000"
    assert cell(0.25) == "0.25"


PHONES = [
    "(415) 555-0100",
    "415.555.0100",
    "+1 415 555 0100",
    "1-415-555-0100",
    "+14155550100",
    "+1 (415) 555-0100",
    "  +1 415 555 0100 ",
    "+ 1 415 555 0100",
    "1 (015) 555-0100",
    "(015) 555-0100",
    "(115) 555-0100",
    "555-0100",
    "+44 20 7946 0958",
    "020 7946 0958",
    "+1 415 555 0100 ext 12",
    "415-555-0100 x12",
    "1-800-FLOWERS",
    "(+1) 415 555 0100",
    "++1 415 555 0100",
    "415",
    "12",
    "+1",
    "4155550100)",
    "((415)) 555--0100",
]


def _same_phone(raw: str, region: str) -> None:
    try:
        expected = normalize_phone(raw, region=region)
    except Invalid:
        with pytest.raises(Invalid):
            fast_phone(raw, region=region)
        return
    assert fast_phone(raw, region=region) == expected, (raw, region)


@pytest.mark.parametrize("region", ["US", "CA", "GB", "DE", "FR"])
@pytest.mark.parametrize("raw", PHONES)
def test_fast_phone_matches_normalize_phone(raw: str, region: str) -> None:
    _same_phone(raw, region)


@settings(max_examples=600, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=3, max_size=13),
    st.lists(st.sampled_from([" ", "(", ")", "-", ".", ""]), min_size=13, max_size=13),
    st.sampled_from(["", "+", "+1", "1 ", "+1 ("]),
    st.sampled_from(["US", "CA", "GB", "JM", "DE"]),
)
def test_fast_phone_agrees_on_generated_numbers(
    digits: str, seps: list[str], prefix: str, region: str
) -> None:
    raw = prefix + "".join(d + s for d, s in zip(digits, seps, strict=False))
    _same_phone(raw, region)


@settings(max_examples=600, deadline=None)
@given(
    st.from_regex(r"1?[0-9]{10}", fullmatch=True),
    st.lists(st.sampled_from([" ", "(", ")", "-", ".", ""]), min_size=11, max_size=11),
    st.booleans(),
    st.sampled_from(["US", "CA", "GB", "ZZ"]),
)
def test_fast_phone_agrees_on_north_american_numbers(
    digits: str, seps: list[str], plus: bool, region: str
) -> None:
    raw = ("+" if plus else "") + "".join(d + s for d, s in zip(digits, seps, strict=False))
    _same_phone(raw, region)


@settings(max_examples=300, deadline=None)
@example(["a trailing newline\n"])  # `$` matches before a final newline: it once slipped through
@given(
    st.one_of(
        st.lists(st.text(max_size=12), max_size=4),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
)
def test_json_shortcut_matches_json_dumps(value: list[str] | dict[str, int]) -> None:
    assert _json(value, json.dumps) == json.dumps(value)


def test_id_ranges() -> None:
    assert id_ranges([]) == []
    assert id_ranges([3, 4, 5, 9, 11, 12]) == [[3, 5], [9, 9], [11, 12]]


def test_explicit_mapping_wins_over_a_matching_header() -> None:
    cols = resolve_mapping(CONTACTS, ["Email", "Work mail"], {"Work mail": "email"}, {})
    assert cols.as_dict() == {"Work mail": "email"}
    assert cols.ignored == ["Email"]
