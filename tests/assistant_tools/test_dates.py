"""Dates in tool arguments: ISO forms in the organization's zone, a few everyday words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aicrm.assistant.tools import ToolContext
from aicrm.assistant.toolset import common as c
from aicrm.errors import Invalid
from aicrm.kit.principal import Principal, Role

NOW = datetime(2026, 12, 9, 14, 30, tzinfo=UTC)  # Wednesday, 15:30 in Paris


def ctx() -> ToolContext:
    session: Any = None  # the zone is given: no database needed
    return ToolContext(session, Principal(1, Role.owner, 1), NOW, timezone="Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected", "has_time"),
    [
        ("2026-12-12", "2026-12-11T23:00:00+00:00", False),
        ("2026-12-12T14:30", "2026-12-12T13:30:00+00:00", True),
        ("2026-12-12 14:30", "2026-12-12T13:30:00+00:00", True),
        ("2026-12-12T14:30:00+00:00", "2026-12-12T14:30:00+00:00", True),
        ("tomorrow", "2026-12-09T23:00:00+00:00", False),
        ("today", "2026-12-08T23:00:00+00:00", False),
        ("now", "2026-12-09T14:30:00+00:00", True),
        ("Friday 3pm", "2026-12-11T14:00:00+00:00", True),
    ],
)
async def test_moments(text: str, expected: str, has_time: bool) -> None:
    at, timed = await c.moment(ctx(), text, field="due")
    assert (at.isoformat(), timed) == (expected, has_time)


async def test_a_date_alone_is_the_end_of_that_day_and_nonsense_names_the_field() -> None:
    assert (await c.when(ctx(), "2026-12-12", field="due")).isoformat() == (
        "2026-12-12T22:59:00+00:00"
    )
    assert (await c.day(ctx(), "2026-12-31T23:30", field="close")).isoformat() == "2026-12-31"
    with pytest.raises(Invalid) as err:
        await c.when(ctx(), "the twelfth of never", field="due")
    assert err.value.errors[0]["field"] == "due"
