"""Text templates in actions: `Call {{ record.name }} about {{ record.value }}`.

Rendered by Jinja2's SandboxedEnvironment and, on top of the sandbox, limited to expressions:
names, attribute and item lookups, constants, a short list of text filters, `~` and `if/else`.
Statements (`{% for %}`), calls and arithmetic are refused when the rule is saved, so a template
can neither run away with CPU nor reach anything but the values it is given.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

FILTERS = frozenset(
    {
        "default",
        "d",
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "truncate",
        "round",
        "int",
        "float",
        "string",
        "join",
        "replace",
        "length",
        "first",
        "last",
    }
)
ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Const,
    nodes.Filter,
    nodes.Concat,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Keyword,
)
_KINDS = {
    "Call": "calling a function",
    "For": "a loop",
    "If": "an if block",
    "Assign": "assignment",
    "Macro": "a macro",
    "Mul": "arithmetic",
    "Pow": "arithmetic",
    "Add": "arithmetic",
}
NAMES = frozenset({"record", "event", "rule", "link"})

_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


def problem(source: str) -> str | None:
    """Why a template cannot be used, or None."""
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        return f"template error on line {exc.lineno}: {exc.message}"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, ALLOWED):
            kind = _KINDS.get(type(node).__name__, type(node).__name__)
            return f"templates may only show values ({{{{ record.name }}}}); {kind} is not allowed"
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"{node.attr!r} is not a field"
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            return f"filter {node.name!r} is not available; use one of {sorted(FILTERS)}"
        if isinstance(node, nodes.Name) and node.name not in NAMES:
            return f"unknown name {node.name!r}; use one of {sorted(NAMES)}"
    return None


def render(source: str, context: dict[str, Any], *, limit: int = 20000) -> str:
    """The rendered text (checked by `problem()` when the rule was saved), cut to `limit`."""
    if "{" not in source:
        return source[:limit]
    return _env.from_string(source).render(**context)[:limit]
