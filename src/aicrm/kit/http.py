"""Small HTTP helpers shared by endpoints."""

from __future__ import annotations

from aicrm.errors import Invalid


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "3"` → 3 (the record version the client last read)."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not v.isdigit():
        raise Invalid('If-Match must carry the record version, e.g. "3"', field="If-Match")
    return int(v)
