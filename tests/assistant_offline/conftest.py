"""A database of its own with the demo data loaded (per backend), for the offline engine's
evaluation and tests: the demo's fixed emails would clash with other tests' organizations."""

from __future__ import annotations

import asyncio

import pytest

from aicrm.seed import run_seed
from tests.assistant_offline.databases import fresh_database


@pytest.fixture(scope="session")
def demo_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = fresh_database(backend, tmp_path_factory.mktemp("assistant_demo"), "assistant_demo")
    asyncio.run(run_seed(seed=42, database_url=url))
    return url
