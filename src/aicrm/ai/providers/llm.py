"""Chat models: one interface (`ChatModel.complete`) for the offline engine and for any
OpenAI-compatible `/chat/completions` endpoint (OpenAI, Azure, Ollama, vLLM, LM Studio, …).

Messages and tools use the OpenAI wire format (`{"role", "content"}`, tools as
`{"type": "function", "function": {"name", "description", "parameters"}}`), so the assistant can
hand the same tool list to either. With `LLM_BASE_URL` set, `chat()` returns a `FallbackChat`:
the endpoint first (timeout, retries with backoff on 429/5xx/network errors), the offline
engine when it still fails — the reply says which one answered (`provider`, `fallback`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from aicrm.config import Settings, get_settings
from aicrm.logging import get_logger

if TYPE_CHECKING:  # the SDK is imported only when an endpoint is configured (~15 MB)
    import openai

log = get_logger("aicrm.ai")
Message = dict[str, Any]


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


@dataclass(slots=True)
class ChatReply:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    provider: str = "offline"
    model: str = "offline"
    fallback: bool = False
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def message(self) -> Message:
        """The assistant message to append to the conversation."""
        msg: Message = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            msg["tool_calls"] = [c.wire() for c in self.tool_calls]
        return msg


class LLMError(RuntimeError):
    """The chat endpoint failed after its retries (or answered something unusable)."""


class ChatModel(Protocol):
    name: str

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> ChatReply: ...

    def describe(self) -> dict[str, Any]: ...


class OpenAIChat:
    """`chat.completions.create` on {LLM_BASE_URL} through the official `openai` client, which
    retries 408/409/429/5xx and network errors with backoff (`LLM_MAX_RETRIES`)."""

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout: float = 30.0,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self._transport = transport

    def _client(self) -> openai.AsyncOpenAI:
        # one client per call: calls come from API, worker and Celery event loops alike, and an
        # httpx connection pool belongs to the loop that opened it
        http = httpx.AsyncClient(transport=self._transport) if self._transport else None
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",
            timeout=self.timeout,
            max_retries=self.retries,
            http_client=http,
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> ChatReply:
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = list(tools)
            extra["tool_choice"] = "auto"
        if max_tokens:
            extra["max_tokens"] = max_tokens
        import openai

        try:
            async with self._client() as client:
                resp = await client.chat.completions.create(
                    model=self.model, messages=list(messages), temperature=temperature, **extra
                )
        except openai.OpenAIError as exc:
            raise LLMError(f"chat endpoint failed: {type(exc).__name__}: {exc}") from exc
        return self._parse(resp)

    def _parse(self, resp: Any) -> ChatReply:
        try:
            choice = resp.choices[0]
            msg = choice.message
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMError("chat endpoint answered without a choice") from exc
        calls = []
        for raw in msg.tool_calls or []:
            fn = raw.function
            try:
                parsed = json.loads(fn.arguments or "{}")
            except ValueError as exc:
                raise LLMError(f"tool call {fn.name!r} has invalid JSON arguments") from exc
            if not isinstance(parsed, dict):
                raise LLMError(f"tool call {fn.name!r} arguments are not an object")
            calls.append(ToolCall(id=raw.id or "", name=fn.name or "", arguments=parsed))
        usage = resp.usage.model_dump() if getattr(resp, "usage", None) else {}
        return ChatReply(
            content=msg.content or "",
            tool_calls=calls,
            provider=self.name,
            model=resp.model or self.model,
            finish_reason=choice.finish_reason or "stop",
            usage={k: v for k, v in usage.items() if isinstance(v, int)},
        )

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "base_url": self.base_url, "model": self.model}


class FallbackChat:
    """The configured endpoint, and the offline engine when it fails."""

    def __init__(self, primary: ChatModel, offline: ChatModel) -> None:
        self.primary = primary
        self.offline = offline
        self.name = primary.name
        self.failures = 0
        self.last_error: str | None = None

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> ChatReply:
        try:
            return await self.primary.complete(
                messages, tools=tools, temperature=temperature, max_tokens=max_tokens
            )
        except LLMError as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("llm_fallback", error=str(exc)[:300])
            reply = await self.offline.complete(
                messages, tools=tools, temperature=temperature, max_tokens=max_tokens
            )
            reply.fallback = True
            reply.error = str(exc)[:300]
            return reply

    def describe(self) -> dict[str, Any]:
        return {
            **self.primary.describe(),
            "fallback": self.offline.describe(),
            "failures": self.failures,
            "last_error": self.last_error,
        }


def build(settings: Settings) -> ChatModel:
    from aicrm.ai.providers.offline import OfflineChat

    offline = OfflineChat()
    if not settings.LLM_BASE_URL:
        return offline
    return FallbackChat(
        OpenAIChat(
            settings.LLM_BASE_URL,
            settings.LLM_MODEL,
            settings.LLM_API_KEY,
            timeout=settings.LLM_TIMEOUT_SECONDS,
            retries=settings.LLM_MAX_RETRIES,
        ),
        offline,
    )


@lru_cache(maxsize=1)
def chat() -> ChatModel:
    """The process's chat model, from the settings (built on first use)."""
    return build(get_settings())
