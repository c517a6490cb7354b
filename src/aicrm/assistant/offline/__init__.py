"""The offline command engine (the default, no model): everyday English → one tool call."""

from aicrm.assistant.offline.parser import plan
from aicrm.assistant.offline.plan import (
    Answer,
    Call,
    Clarify,
    Confirm,
    Pending,
    Plan,
    Refuse,
    Turn,
    Undo,
)

__all__ = [
    "Answer",
    "Call",
    "Clarify",
    "Confirm",
    "Pending",
    "Plan",
    "Refuse",
    "Turn",
    "Undo",
    "plan",
]
