"""AI providers behind two small interfaces, chosen by settings:

- `embedder()` → `Embedder` (aicrm.ai.providers.embeddings): text → L2-normalised float32
  vectors. Default: the bundled wordllama model (CPU, no download); or a sentence-transformers
  model folder (`AI_MODEL_PATH`); or an OpenAI-compatible `/embeddings` endpoint.
- `chat()` → `ChatModel` (aicrm.ai.providers.llm): messages (+ tools) → reply (+ tool calls).
  Default: the offline engine; with `LLM_BASE_URL`, an OpenAI-compatible endpoint that falls
  back to the offline engine when it fails.

Both are process-wide singletons built on first use.
"""

from __future__ import annotations

from aicrm.ai.providers.embeddings import Embedder, embedder
from aicrm.ai.providers.llm import ChatModel, ChatReply, ToolCall, chat

__all__ = ["ChatModel", "ChatReply", "Embedder", "ToolCall", "chat", "embedder"]
