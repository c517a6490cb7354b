"""What the offline command engine decides for one user message: the contract with the engine.

`aicrm.assistant.offline.plan(ctx, history, text)` returns one of:

- `Call(name, args)`      — run this tool with these arguments (record references already
                            resolved to ids, statuses/stages in the organization's own names,
                            dates as ISO strings in the organization's time zone);
- `Clarify(question, options, pending)` — ask first: two records match, a required value is
                            missing. `pending` is what the next turn completes; the engine stores
                            it on the assistant's message and hands it back in `history`;
- `Refuse(text)`          — out of scope or not allowed by chat (bulk deletes): said plainly;
- `Answer(text)`          — small talk, help, thanks: no tool;
- `Confirm(accepted)`     — the user's "yes"/"no" to a pending confirmation (a delete);
- `Undo()`                — undo the conversation's last undoable action.

`Turn` is one earlier message of the conversation as the engine gives it back: its role, text
and — on an assistant turn that asked a question — the `Pending` question. A pending
clarification is answered by "the second one", "the one at Acme", a name, or the missing value;
anything else is a new command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import field as _field
from typing import Any, Literal

from aicrm.assistant.tools import Option


@dataclass(slots=True)
class Pending:
    """A question the assistant asked that the next user turn may answer.

    kind "clarification": `tool` with `args` so far; `field` is the argument the answer fills
    (`options` — each with the arguments that pick it — when the question lists candidates).
    kind "confirmation": `tool` with `args` waits for an explicit yes (a delete)."""

    kind: Literal["clarification", "confirmation"]
    tool: str
    args: dict[str, Any] = _field(default_factory=dict)
    field: str | None = None
    options: list[Option] = _field(default_factory=list)
    question: str = ""
    text: str = ""  # the user's command being completed (the answer is read with it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tool": self.tool,
            "args": self.args,
            "field": self.field,
            "options": [{"label": o.label, "args": o.args} for o in self.options],
            "question": self.question,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        return cls(
            kind=data["kind"],
            tool=data["tool"],
            args=dict(data.get("args") or {}),
            field=data.get("field"),
            options=[
                Option(o["label"], dict(o.get("args") or {})) for o in data.get("options") or []
            ],
            question=data.get("question") or "",
            text=data.get("text") or "",
        )


@dataclass(slots=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str
    pending: Pending | None = None


@dataclass(slots=True)
class Call:
    name: str
    args: dict[str, Any]


@dataclass(slots=True)
class Clarify:
    question: str
    options: list[Option] = field(default_factory=list)
    pending: Pending | None = None  # what the answer completes (None: nothing to resume)


@dataclass(slots=True)
class Refuse:
    text: str


@dataclass(slots=True)
class Answer:
    text: str


@dataclass(slots=True)
class Confirm:
    accepted: bool


@dataclass(slots=True)
class Undo:
    pass


Plan = Call | Clarify | Refuse | Answer | Confirm | Undo
