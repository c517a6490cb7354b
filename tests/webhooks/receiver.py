"""A webhook receiver for tests and the bench: a small HTTP/1.1 server (asyncio streams,
keep-alive) in the test's own event loop that records every request and answers with a
scripted status — e.g. 500 for the first N requests, then 200."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered


@dataclass
class Receiver:
    """`status(n)` gives the answer to the n-th request (1-based)."""

    status: Callable[[int], int] = lambda n: 200
    requests: list[Received] = field(default_factory=list)
    answer: bytes = b'{"ok":true}'
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def succeeded(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 30) -> None:
        """Until `predicate(self)` holds (checked on every request), or fail after `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"receiver: condition not met after {timeout}s "
                    f"({len(self.requests)} requests, statuses "
                    f"{[r.status for r in self.requests][-20:]})"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                n = len(self.requests) + 1
                status = self.status(n)
                self.requests.append(Received(method, path, headers, body, status))
                self._arrived.set()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
                    + self.answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def fail_first(n: int, code: int = 500) -> Callable[[int], int]:
    """Answer `code` to the first `n` requests, then 200."""
    return lambda i: code if i <= n else 200
