"""Text embeddings: one interface, three providers, one content-hash cache in front.

Every provider returns L2-normalised float32 rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from numpy.typing import NDArray

from aicrm.config import Settings, get_settings
from aicrm.logging import get_logger

log = get_logger("aicrm.ai")
Vectors = NDArray[np.float32]


class EmbeddingError(RuntimeError):
    """The configured provider could not embed (bad endpoint, missing model folder, …)."""


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """(len(texts), dim) float32, each row of unit length (zero rows for empty texts)."""
        ...

    def describe(self) -> dict[str, Any]: ...


def _normalise(vectors: NDArray[Any]) -> Vectors:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v.reshape(1, -1)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


_WL_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def wordllama_model(dim: int = 256) -> Any:
    """The bundled wordllama model (weights from its own wheel, never downloaded), loaded once
    per process and shared by the embeddings provider and the custom classifiers."""
    with _WL_LOCK:
        import wordllama
        from wordllama import WordLlama

        return WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=dim
        )


class WordLlamaEmbedder:
    """wordllama's 256-dimension static token embeddings, weights from its own wheel."""

    name = "wordllama"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self._model = wordllama_model(dim)
        self.model_name = "l2_supercat"

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.embed(list(texts), norm=False, batch_size=256)
        return _normalise(out)

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": f"{self.model_name}_{self.dim}", "dim": self.dim}


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (no hub download). The
    package is not part of the default install: `pip install sentence-transformers`."""

    name = "sentence-transformers"

    def __init__(self, path: str) -> None:
        if not path or not Path(path).exists():
            raise EmbeddingError(f"AI_MODEL_PATH {path!r} is not a folder with a model")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on an optional install
            raise EmbeddingError(
                "AI_EMBEDDINGS=sentence-transformers needs `pip install sentence-transformers`"
            ) from exc
        self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        self.path = path
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts), batch_size=64))

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": self.path, "dim": self.dim}


class OpenAIEmbedder:
    """`embeddings.create` on an OpenAI-compatible endpoint (OpenAI, Azure, Ollama, vLLM,
    LM Studio, llama.cpp server…) through the `openai` client, in batches; the client retries
    429/5xx and network errors."""

    name = "openai"
    BATCH = 128

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout: float = 30.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise EmbeddingError("AI_EMBEDDINGS=openai needs EMBEDDINGS_BASE_URL")
        import openai  # only when configured: the SDK costs ~15 MB per process

        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=retries,
            http_client=httpx.Client(transport=transport) if transport else None,
        )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.dim = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        items = list(texts)
        for i in range(0, len(items), self.BATCH):
            batch = [t or " " for t in items[i : i + self.BATCH]]
            try:
                resp = self._client.embeddings.create(model=self.model, input=batch)
            except self._openai.OpenAIError as exc:
                raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
            if len(resp.data) != len(batch):
                raise EmbeddingError("embeddings endpoint returned a different number of rows")
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = _normalise(np.asarray(rows))
        self.dim = out.shape[1]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "dim": self.dim or None,
        }


class CachedEmbedder:
    """LRU cache keyed by a hash of the text in front of any provider; misses are embedded in
    one batched call."""

    def __init__(self, inner: Any, size: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.size = size
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
        found: dict[int, Vectors] = {}
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for i, k in enumerate(keys):
                row = self._cache.get(k)
                if row is not None:
                    self._cache.move_to_end(k)
                    found[i] = row
                else:
                    missing.setdefault(k, []).append(i)
            self.hits += len(found)
            self.misses += len(missing)
        if missing:
            order = list(missing)
            vecs = self.inner.embed([texts[missing[k][0]] for k in order])
            with self._lock:
                for k, v in zip(order, vecs, strict=True):
                    for i in missing[k]:
                        found[i] = v
                    if self.size:
                        self._cache[k] = v
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)

    def describe(self) -> dict[str, Any]:
        return {
            **self.inner.describe(),
            "cache": {
                "size": len(self._cache),
                "max": self.size,
                "hits": self.hits,
                "misses": self.misses,
            },
        }


def build(settings: Settings) -> CachedEmbedder:
    kind = settings.AI_EMBEDDINGS.strip().lower()
    inner: Any
    if kind in ("", "wordllama", "default"):
        inner = WordLlamaEmbedder()
    elif kind in ("sentence-transformers", "sentence_transformers", "local"):
        inner = SentenceTransformerEmbedder(settings.AI_MODEL_PATH)
    elif kind in ("openai", "openai-compatible", "remote"):
        inner = OpenAIEmbedder(
            settings.EMBEDDINGS_BASE_URL,
            settings.EMBEDDINGS_MODEL,
            settings.EMBEDDINGS_API_KEY,
            timeout=settings.LLM_TIMEOUT_SECONDS,
            retries=settings.LLM_MAX_RETRIES,
        )
    else:
        raise EmbeddingError(
            f"AI_EMBEDDINGS={settings.AI_EMBEDDINGS!r}: use wordllama, sentence-transformers or openai"
        )
    log.info("embeddings_ready", **inner.describe())
    return CachedEmbedder(inner, settings.AI_EMBEDDING_CACHE)


@lru_cache(maxsize=1)
def embedder() -> CachedEmbedder:
    """The process's embedder, from the settings (built on first use)."""
    return build(get_settings())
