"""A local HTTP server speaking the OpenAI wire format (`/v1/chat/completions` with tool_calls,
`/v1/embeddings`), scripted per test: no hosted model is reachable from here. `script()` answers
successive calls in order; `chat_bodies` and `tool_messages()` read what the client sent."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any]
Handler = Callable[[Body], tuple[int, Body]]


def tool_call_reply(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> Body:
    prefix, _, _ = call_id.rpartition("_")
    return tool_calls_reply((name, arguments), prefix=prefix or "call")


def tool_calls_reply(*calls: tuple[str, dict[str, Any]], prefix: str = "call") -> Body:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"{prefix}_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                        for i, (name, args) in enumerate(calls, 1)
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def text_reply(content: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
    }


def error_reply(status: int = 500) -> tuple[int, Body]:
    return status, {"error": {"message": "the model is down", "type": "server_error"}}


def fake_embedding(text: str, dim: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 for b in digest[:dim]]


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[tuple[str, Body, dict[str, str]]] = []
        self.chat: Handler = lambda body: (200, text_reply("hello"))
        self.embeddings: Handler = lambda body: (
            200,
            {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                    for i, t in enumerate(body["input"])
                ],
            },
        )
        self.url = ""

    def script(self, *replies: Body | tuple[int, Body]) -> None:
        """Answer the next calls with these replies in order (then repeat the last one)."""
        queue = list(replies)

        def next_reply(body: Body) -> tuple[int, Body]:
            item = queue.pop(0) if len(queue) > 1 else queue[0]
            return item if isinstance(item, tuple) else (200, item)

        self.chat = next_reply

    @property
    def chat_bodies(self) -> list[Body]:
        return [b for p, b, _ in self.requests if p.endswith("/chat/completions")]

    def tool_messages(self, index: int = -1) -> list[Body]:
        """The tool results the client sent in one request (default: the last)."""
        body = self.chat_bodies[index]
        return [m for m in body["messages"] if m.get("role") == "tool"]


@contextmanager
def serve() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            fake.requests.append((self.path, body, dict(self.headers)))
            if self.path.endswith("/chat/completions"):
                status, payload = fake.chat(body)
            elif self.path.endswith("/embeddings"):
                status, payload = fake.embeddings(body)
            else:
                status, payload = 404, {"error": {"message": "not found"}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
