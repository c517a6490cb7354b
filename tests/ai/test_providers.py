"""AI providers: the OpenAI-compatible adapters against a local server speaking that wire
format, the fallback to the offline engine, the bundled embeddings and their cache."""

from __future__ import annotations

import numpy as np
import pytest

from aicrm.ai.providers.embeddings import (
    CachedEmbedder,
    EmbeddingError,
    OpenAIEmbedder,
    WordLlamaEmbedder,
)
from aicrm.ai.providers.llm import FallbackChat, LLMError, OpenAIChat
from aicrm.ai.providers.offline import OfflineChat, summarize
from tests.ai.fake_openai import serve, text_reply, tool_call_reply

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "update_lead_status",
            "description": "Move a lead on the kanban",
            "parameters": {
                "type": "object",
                "properties": {"lead_id": {"type": "integer"}, "status": {"type": "string"}},
                "required": ["lead_id", "status"],
            },
        },
    }
]


async def test_chat_tool_calls_come_back_parsed_and_tools_are_sent() -> None:
    with serve() as fake:
        fake.chat = lambda body: (
            200,
            tool_call_reply("update_lead_status", {"lead_id": 7, "status": "Won"}),
        )
        model = OpenAIChat(fake.url, "fake-model", "sk-test", retries=0)
        reply = await model.complete(
            [{"role": "user", "content": "move lead 7 to won"}], tools=TOOLS
        )
    assert reply.provider == "openai-compatible"
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("update_lead_status", {"lead_id": 7, "status": "Won"})
    ]
    assert reply.message()["tool_calls"][0]["function"]["name"] == "update_lead_status"
    path, body, headers = fake.requests[0]
    assert path == "/v1/chat/completions"
    assert body["tools"][0]["function"]["name"] == "update_lead_status"
    assert body["model"] == "fake-model"
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer sk-test"


async def test_chat_retries_server_errors_then_succeeds() -> None:
    calls = {"n": 0}

    def flaky(body: dict) -> tuple[int, dict]:
        calls["n"] += 1
        return (503, {"error": {"message": "busy"}}) if calls["n"] < 2 else (200, text_reply("ok"))

    with serve() as fake:
        fake.chat = flaky
        reply = await OpenAIChat(fake.url, "m", retries=2).complete(
            [{"role": "user", "content": "hi"}]
        )
    assert reply.content == "ok"
    assert calls["n"] == 2


async def test_client_errors_are_not_retried_and_fall_back_offline() -> None:
    with serve() as fake:
        fake.chat = lambda body: (401, {"error": {"message": "bad key"}})
        primary = OpenAIChat(fake.url, "m", retries=3)
        with pytest.raises(LLMError):
            await primary.complete([{"role": "user", "content": "hi"}])
        assert len(fake.requests) == 1
        chat = FallbackChat(primary, OfflineChat())
        reply = await chat.complete(
            [
                {
                    "role": "system",
                    "content": "Acme Corp renewed its contract in May. Acme has 40 seats.",
                },
                {"role": "user", "content": "How many seats does Acme have?"},
            ]
        )
    assert reply.fallback is True and reply.provider == "offline"
    assert "40 seats" in reply.content  # extractive: only sentences that were in the context
    assert chat.describe()["failures"] == 1


async def test_unreachable_endpoint_falls_back() -> None:
    chat = FallbackChat(
        OpenAIChat("http://127.0.0.1:9/v1", "m", retries=0, timeout=2), OfflineChat()
    )
    reply = await chat.complete([{"role": "user", "content": "hello"}])
    assert reply.fallback and "LLM_BASE_URL" in reply.content


async def test_offline_engine_never_invents_an_answer_without_context() -> None:
    reply = await OfflineChat().complete([{"role": "user", "content": "What is Acme's revenue?"}])
    assert "language model" in reply.content and not reply.tool_calls


def test_openai_embeddings_batched_normalised_in_order() -> None:
    with serve() as fake:
        emb = OpenAIEmbedder(fake.url, "emb-model", retries=0)
        emb.BATCH = 2
        vecs = emb.embed(["a", "b", "c"])
    assert vecs.shape == (3, 8)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    assert [len(r[1]["input"]) for r in fake.requests] == [2, 1]


def test_embeddings_endpoint_failure_is_an_embedding_error() -> None:
    with serve() as fake:
        fake.embeddings = lambda body: (400, {"error": {"message": "no such model"}})
        with pytest.raises(EmbeddingError):
            OpenAIEmbedder(fake.url, "x", retries=0).embed(["a"])


def test_bundled_embeddings_offline_semantics_and_cache() -> None:
    emb = CachedEmbedder(WordLlamaEmbedder(), size=100)
    vecs = emb.embed(["refund my card payment", "I want my money back", "the weather is sunny"])
    assert vecs.shape == (3, 256)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]  # paraphrases sit closer than unrelated text
    again = emb.embed(["I want my money back", "new text"])
    assert np.allclose(again[0], vecs[1])
    assert emb.hits == 1 and emb.misses == 4


def test_extractive_summary_keeps_original_sentences() -> None:
    text = (
        "Dana called about the invoice. She was charged twice in March. "
        "We refunded the second charge on April 2. She asked about an upgrade to 40 seats. "
        "The weather was mentioned."
    )
    summary = summarize(text, max_sentences=2)
    sentences = [s.strip() for s in summary.split(". ") if s]
    assert 1 <= len(sentences) <= 2
    assert all(s.rstrip(".") in text for s in sentences)
