"""Fixtures of the chat tests: a handle on the test server's database (to look at what the API
does not show: stored memory rows, actions, audit) and LLM mode against a local fake
OpenAI-compatible server (the live server runs in this process, so the settings it reads per
call — LLM_BASE_URL — are switched for one test and back)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aicrm.ai.providers import llm
from aicrm.config import get_settings
from tests.ai.fake_openai import FakeOpenAI, serve

LLM_ENV = {
    "LLM_MODEL": "fake-model",
    "LLM_API_KEY": "sk-test",
    "LLM_MAX_RETRIES": "0",
    "LLM_TIMEOUT_SECONDS": "10",
}


def use_env(values: dict[str, str | None]) -> None:
    """Set (or unset) variables and drop the cached settings and chat model built from them."""
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    llm.chat.cache_clear()


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    """LLM mode for this test: the assistant talks to a scripted fake model."""
    with serve() as fake:
        wanted = {**LLM_ENV, "LLM_BASE_URL": fake.url}
        saved = {k: os.environ.get(k) for k in wanted}
        use_env(wanted)
        try:
            yield fake
        finally:
            use_env(saved)
