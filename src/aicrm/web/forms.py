"""HTML form posts → the domain's input schemas, with errors that name the form field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from aicrm.errors import Invalid

M = TypeVar("M", bound=BaseModel)


async def form_data(request: Request) -> dict[str, str]:
    """Single-valued form fields as stripped strings (csrf_token removed)."""
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if key == "csrf_token" or not isinstance(value, str):
            continue
        out[key] = value.strip()
    return out


def pick(
    data: dict[str, str],
    fields: Iterable[str],
    *,
    blank_as_none: bool = True,
) -> dict[str, Any]:
    """The named fields that were posted; empty inputs become None (clearing the value) or are
    dropped when `blank_as_none` is false (leaving the value alone)."""
    out: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            continue
        value = data[name]
        if value == "":
            if blank_as_none:
                out[name] = None
            continue
        out[name] = value
    return out


def split_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def build(model: type[M], data: dict[str, Any]) -> M:
    """Validate with the API's own schema; a failure becomes Invalid naming each field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            name = ".".join(loc) or "form"
            message = str(err.get("msg", "invalid value"))
            message = message.removeprefix("Value error, ")
            errors.append({"field": name, "message": message})
        raise Invalid("Some fields are invalid", errors=errors) from exc


def int_or_none(value: str | None, *, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError as exc:
        raise Invalid("must be a whole number", field=field) from exc
