"""Event → websocket delivery latency with 1,000 connected clients (issue 3: p99 ≤ 100 ms).

Real changes make the events: lead status moves through the REST API, each committing a
`lead.status_changed` that every client subscribed to `organization:<id>` receives. Latency is
the client's receive time minus the event's `ts` (its creation in the server, just before the
commit), on the same clock. Clients are spread over several processes so that one client loop
is not the bottleneck, and answer the server's heartbeats like browsers do.

- embedded: one `aicrm serve` process, in-memory bus;
- redis: two `aicrm serve` processes sharing Redis (REDIS_URL), clients split between them,
  changes made through the first one — half the clients hear each event through Redis.

    .venv/bin/python bench/websocket.py
    .venv/bin/python bench/websocket.py --clients 1000 --events 200 --rate 20 --modes embedded redis
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import RESULTS, ROOT, VENV_BIN, machine, rerun_command, write_json

TARGET_P99_MS = 100.0
DB_DIR = ROOT / "data" / "bench"


def raise_nofile() -> int:
    """1,000 sockets per process need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65_536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 2)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": round(values[-1], 2),
    }


# -- the server --------------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = RESULTS / f"ws-{name}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "aicrm"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server was not ready in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def fresh_database(name: str) -> str:
    DB_DIR.mkdir(parents=True, exist_ok=True)
    path = DB_DIR / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    subprocess.run(
        [str(VENV_BIN / "aicrm"), "migrate"],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return url


def api(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


# -- the clients (run as child processes of this script) ---------------------------------------
#
# A minimal websocket client on asyncio.Protocol: it timestamps frames as they come off the socket
# and parses them after the run, so the figure is the server's delivery time, not a client
# library's per-message overhead (the `websockets` client spends ~10x more CPU per message, which
# on two shared cores would be most of what is measured).


class WsClient(asyncio.Protocol):
    def __init__(self, path: str, host: str, channel: str) -> None:
        self.path = path
        self.host = host
        self.channel = channel
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()
        self.frames: list[tuple[float, bytes]] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buffer + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buf
                return
            if b" 101 " not in buf[:20]:
                self.subscribed.set_exception(RuntimeError(buf[:200].decode("latin-1")))
                return
            self.upgraded = True
            buf = buf[end + 4 :]
            self.send_text(json.dumps({"type": "subscribe", "channel": self.channel}))
        pos = 0
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            if opcode == 1:
                self.on_text(now, payload)
            elif opcode == 8:
                self.closed = True
        self.buffer = buf[pos:]

    def on_text(self, now: float, payload: bytes) -> None:
        if b"lead_updated" in payload:
            self.frames.append((now, payload))
        elif len(payload) < 40 and b'"ping"' in payload:
            self.send_text('{"type":"pong"}')
        elif not self.subscribed.done() and b'"subscribed"' in payload:
            self.subscribed.set_result(True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribing"))


async def client_main(cfg: dict[str, Any]) -> None:
    raise_nofile()
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(50)  # handshakes in waves, not all at once

    async def one(i: int) -> WsClient:
        parts = urlsplit(cfg["urls"][i % len(cfg["urls"])])
        path = "/ws?token=" + cfg["token"]
        async with gate:
            _, proto = await loop.create_connection(
                lambda: WsClient(path, parts.netloc, cfg["channel"]), parts.hostname, parts.port
            )
            await asyncio.wait_for(proto.subscribed, 60)
        return proto

    clients = await asyncio.gather(*(one(i) for i in range(cfg["clients"])))
    print("READY", flush=True)
    expected = cfg["events"]
    deadline = loop.time() + cfg["timeout"]
    while loop.time() < deadline:
        if all(len(c.frames) >= expected or c.closed for c in clients):
            break
        await asyncio.sleep(0.2)
    latencies = []
    for c in clients:
        for t, payload in c.frames:
            ts = json.loads(payload)["ts"]
            latencies.append(round((t - datetime.fromisoformat(ts).timestamp()) * 1000, 3))
    print(
        "RESULT "
        + json.dumps(
            {
                "latencies": latencies,
                "received": sum(len(c.frames) for c in clients),
                "closed": sum(1 for c in clients if c.closed),
                "unfinished": sum(1 for c in clients if len(c.frames) < expected),
            }
        ),
        flush=True,
    )


# -- one run -----------------------------------------------------------------------------------


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    database_url = fresh_database(f"websocket-{mode}")
    env = os.environ.copy()
    env.update(
        DATABASE_URL=database_url,
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_LEVEL="WARNING",
        DATA_DIR=str(RESULTS / "ws-server-data"),
        REDIS_URL=args.redis_url if mode == "redis" else "",
    )
    servers = [Server(env, f"{mode}-{i}") for i in range(2 if mode == "redis" else 1)]
    clients: list[subprocess.Popen[str]] = []
    try:
        for server in servers:
            server.wait_ready()
        first = servers[0].url
        reg = api(
            "POST",
            f"{first}/api/v1/auth/register",
            {
                "email": f"ws-bench-{secrets.token_hex(4)}@example.com",
                "password": "correct horse battery",
                "full_name": "Bench",
                "organization_name": "WS Bench",
            },
        )
        token, org_id = reg["access_token"], reg["organization_id"]
        lead = api("POST", f"{first}/api/v1/leads", {"name": "Bench lead"}, token)
        per_proc = [
            args.clients // args.client_procs + (1 if i < args.clients % args.client_procs else 0)
            for i in range(args.client_procs)
        ]
        for i, n in enumerate(per_proc):
            # with two API processes each client process connects to both, alternating
            cfg = {
                "urls": [s.url for s in servers][i % len(servers) :]
                + [s.url for s in servers][: i % len(servers)],
                "clients": n,
                "events": args.events,
                "channel": f"organization:{org_id}",
                "token": token,
                "timeout": args.events / args.rate + 60,
            }
            clients.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--client", json.dumps(cfg)],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
            )
        t0 = time.perf_counter()
        for proc in clients:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "READY":
                raise SystemExit(f"a client process failed to connect: {line!r}")
        connect_s = time.perf_counter() - t0
        time.sleep(1)  # let the handshake burst settle before measuring

        statuses = ["Contacted", "New"]
        request_ms: list[float] = []
        cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
        start = time.perf_counter()
        for i in range(args.events):
            due = start + i / args.rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            t = time.perf_counter()
            api(
                "PUT",
                f"{first}/api/v1/leads/{lead['id']}/status",
                {"status": statuses[i % 2]},
                token,
            )
            request_ms.append((time.perf_counter() - t) * 1000)
        produce_s = time.perf_counter() - start

        latencies: list[float] = []
        received = closed = unfinished = 0
        for proc in clients:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    latencies += result["latencies"]
                    received += result["received"]
                    closed += result["closed"]
                    unfinished += result["unfinished"]
            proc.wait(timeout=120)
        server_cpu = [cpu_seconds(s.proc.pid) - c for s, c in zip(servers, cpu0, strict=True)]
        stats = percentiles(latencies)
        return {
            "api_processes": len(servers),
            "clients": args.clients,
            "client_processes": args.client_procs,
            "events": args.events,
            "event_rate_per_s": round(args.events / produce_s, 1),
            "deliveries_expected": args.clients * args.events,
            "deliveries_received": received,
            "clients_dropped": closed,
            "clients_unfinished": unfinished,
            "connect_all_s": round(connect_s, 2),
            "latency_ms": stats,
            "change_request_ms": percentiles(request_ms),
            # CPU the API process(es) spent per change: the REST request, its commit and the
            # fan-out to every client (the machine is shared, so this says more than latency)
            "server_cpu_ms_per_event": [round(c * 1000 / args.events, 2) for c in server_cpu],
            "meets_target": bool(stats) and stats["p99"] <= TARGET_P99_MS and closed == 0,
        }
    finally:
        for proc in clients:
            if proc.poll() is None:
                proc.kill()
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second")
    parser.add_argument("--modes", nargs="+", default=["embedded", "redis"])
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client_main(json.loads(args.client)))
        return
    nofile = raise_nofile()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {mode: run_mode(mode, args) for mode in args.modes}
    out = {
        "benchmark": "websocket event delivery latency",
        "what": "lead status change via REST → lead_updated on organization:<id> to every client",
        "target": {"p99_ms": TARGET_P99_MS, "clients": 1000},
        "open_files_limit": nofile,
        "results": results,
        "machine": machine(),
        "command": rerun_command(),
    }
    write_json(RESULTS / "websocket.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
