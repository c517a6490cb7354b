"""Load the AI models a process will need before the first request asks for them."""

from __future__ import annotations

import importlib
import threading
import time

from aicrm.logging import get_logger

log = get_logger("aicrm.ai")

# modules with a `warm()` function: the embeddings, then the text models (language, intent,
# sentiment) that every inbound message goes through
WARMERS = ("aicrm.ai.providers.warmup", "aicrm.ai.text")


def warm() -> dict[str, float]:
    took: dict[str, float] = {}
    for name in WARMERS:
        start = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # not part of this build
            raise
        fn = getattr(module, "warm", None)
        if fn is None:
            continue
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a model that fails to load must not stop the API
            log.warning("ai_warm_failed", module=name, error=str(exc)[:300])
            continue
        took[name] = round(time.perf_counter() - start, 3)
    log.info("ai_warm", seconds=took)
    return took


def warm_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm, name="aicrm-ai-warm", daemon=True)
    thread.start()
    return thread
