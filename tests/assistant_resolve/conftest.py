"""Resolution tests run in a database of their own (per backend)."""

from __future__ import annotations

import pytest

from tests.assistant_offline.databases import fresh_database


@pytest.fixture(scope="session")
def resolve_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database(
        backend, tmp_path_factory.mktemp("assistant_resolve"), "assistant_resolve"
    )
