"""Folded name keys on leads and deals, and the "after the first word" index expression.

`name_key` is `kit.text.fold(name)`, kept by the models on every ORM write (a validator on
`name`), by a column default for Core inserts that leave it out, and by the CSV importer (which
refolds `name_key` of every row it writes). Prefix search on it is an index range scan; the
expression index on `after_first_word(name_key)` makes a later word ("Smith" of "John Smith",
"Corp" of "Acme Corp") a range scan too, on SQLite and PostgreSQL alike, with no column that a
writer could forget to keep.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from aicrm.kit.text import fold


class after_first_word(FunctionElement[str]):  # noqa: N801  (reads as SQL)
    """`name_key` from its second word on (the whole key when it has one word)."""

    type = String()
    name = "after_first_word"
    inherit_cache = True


def _render(element: after_first_word, compiler: Any, find: str, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    # the space is a literal, never a bound parameter: the planner must see the index's expression
    return f"substr({arg}, {find}({arg}, ' ') + 1)"


@compiles(after_first_word, "sqlite")
def _sqlite(element: after_first_word, compiler: Any, **kw: Any) -> str:
    return _render(element, compiler, "instr", **kw)


@compiles(after_first_word)
def _postgresql(element: after_first_word, compiler: Any, **kw: Any) -> str:
    return _render(element, compiler, "strpos", **kw)


def name_key_default(context: Any) -> str:
    """Column default for Core inserts that give a name but no key."""
    return fold(context.get_current_parameters().get("name"))
