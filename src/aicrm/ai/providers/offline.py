"""The offline chat engine: the `ChatModel` interface with no model endpoint.

It never invents facts. It answers a conversation in one of two ways:

1. **Planners** — functions registered with `@planner` that may turn the user's last message
   into tool calls from the tools offered (the assistant's command engine registers one); the
   first that returns a reply wins.
2. **Extractive composition** — otherwise the reply is built from sentences already present in
   the conversation's context (system and tool messages: records, histories, documents), picked
   by similarity to the question with the bundled embeddings and kept in their original order.
   With no context it says plainly that it needs a configured model for free-form answers.

`summarize()` is the extractive summariser used wherever a feature needs a summary offline.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from aicrm.ai.providers.llm import ChatReply, Message

Planner = Callable[[Sequence[Message], Sequence[dict[str, Any]]], Awaitable[ChatReply | None]]
PLANNERS: list[Planner] = []

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def planner(fn: Planner) -> Planner:
    """Register an offline planner (tried in registration order)."""
    if fn not in PLANNERS:
        PLANNERS.append(fn)
    return fn


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if len(s.strip()) > 2]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def rank_sentences(query: str, candidates: Sequence[str], k: int) -> list[int]:
    """Indices of the `k` candidates most similar to `query` (or most central when the query
    is empty), returned in their original order."""
    from aicrm.ai.providers.embeddings import embedder

    if not candidates:
        return []
    emb = embedder()
    vecs = emb.embed(list(candidates))
    if query.strip():
        scores = vecs @ emb.embed([query])[0]
    else:
        centroid = vecs.mean(axis=0)
        scores = vecs @ (centroid / (np.linalg.norm(centroid) or 1.0))
    # a little redundancy control: skip near-duplicates of sentences already chosen
    chosen: list[int] = []
    for i in np.argsort(-scores):
        if len(chosen) >= k:
            break
        if all(float(vecs[i] @ vecs[j]) < 0.95 for j in chosen):
            chosen.append(int(i))
    return sorted(chosen)


def summarize(text: str | Sequence[str], *, max_sentences: int = 3, query: str = "") -> str:
    """Extractive summary: the most central (or most query-relevant) sentences, in order."""
    parts = sentences(text) if isinstance(text, str) else [s for t in text for s in sentences(t)]
    if len(parts) <= max_sentences:
        return " ".join(parts)
    return " ".join(parts[i] for i in rank_sentences(query, parts, max_sentences))


class OfflineChat:
    name = "offline"

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> ChatReply:
        for plan in PLANNERS:
            reply = await plan(messages, tools or ())
            if reply is not None:
                reply.provider = self.name
                return reply
        question = next(
            (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        context = [
            s
            for m in messages
            if m.get("role") in ("system", "tool")
            for s in sentences(_text(m.get("content")))
        ]
        if not context:
            return ChatReply(
                content=(
                    "I can run CRM commands offline, but free-form answers need a language model: "
                    "set LLM_BASE_URL to an OpenAI-compatible endpoint."
                ),
                model="offline-extractive",
            )
        picked = rank_sentences(question, context, 3)
        return ChatReply(content=" ".join(context[i] for i in picked), model="offline-extractive")

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": "offline-extractive", "planners": len(PLANNERS)}
