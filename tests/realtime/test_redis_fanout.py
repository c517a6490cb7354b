"""Several API processes share Redis: a change made through one reaches websocket clients
connected to another, and so does a change committed by a process with no websocket hub at all
(a CLI command or a worker). Runs when TEST_REDIS_URL answers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.fixtures.factories import create, member, register
from tests.fixtures.server import free_port
from tests.realtime.helpers import drain_events, open_ws, recv_until, subscribe

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def _redis_up() -> bool:
    if not REDIS_URL:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_up(), reason="TEST_REDIS_URL is not set or not reachable"
)

AICRM = str(Path(sys.executable).with_name("aicrm"))


def _env(database_url: str, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        DATA_DIR=str(tmp),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


class ApiProcess:
    """`aicrm serve` in its own process on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [AICRM, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aicrm serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("aicrm serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    env = _env(database_url, tmp_path)
    servers = (ApiProcess(env, tmp_path / "a.log"), ApiProcess(env, tmp_path / "b.log"))
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_change_through_one_process_reaches_a_client_of_the_other(
    two_servers: tuple[ApiProcess, ApiProcess], database_url: str, tmp_path: Path
) -> None:
    one, other = two_servers
    async with httpx.AsyncClient(base_url=one.url, timeout=30) as api:
        a = await register(api, org="Fan-out A")
        colleague = await member(api, a, "agent")
        b = await register(api, org="Fan-out B")
        lead = await create(api, a, "/api/v1/leads", {"name": "Across processes"})
        async with (
            open_ws(other.url, colleague.access_token) as ws,
            open_ws(other.url, b.access_token) as ws_b,
            open_ws(one.url, a.access_token) as ws_local,
        ):
            for sock, channel in (
                (ws, f"organization:{a.organization_id}"),
                (ws, f"user:{colleague.user_id}"),
                (ws_b, f"organization:{b.organization_id}"),
                (ws_local, f"lead:{lead['id']}"),
            ):
                assert (await subscribe(sock, channel))["type"] == "subscribed"

            r = await api.put(
                f"/api/v1/leads/{lead['id']}/status",
                json={"status": "Contacted"},
                headers=a.headers,
            )
            assert r.status_code == 200, r.text
            message = await recv_until(ws, "lead_updated")
            assert message["channel"] == f"organization:{a.organization_id}"
            assert message["event"] == "lead.status_changed"
            assert message["entity_id"] == lead["id"]
            assert message["data"]["to"] == "Contacted"
            # the process that made the change delivers to its own clients exactly once
            local = await recv_until(ws_local, "lead_updated")
            assert local["event_id"] == message["event_id"]
            assert [m for m in await drain_events(ws_local) if m["type"] == "lead_updated"] == []
            assert await drain_events(ws_b) == []

            # a process with no hub (a CLI command, a worker) commits and exits at once
            script = (
                "import asyncio\n"
                "from aicrm.config import get_settings\n"
                "from aicrm.db import Database\n"
                "from aicrm.jobs import backend\n"
                "from aicrm.kit.principal import system_principal\n"
                "from aicrm.notifications.service import notify\n"
                "async def main():\n"
                "    backend.configure(get_settings())\n"
                "    db = Database()\n"
                "    s = await db.session()\n"
                f"    await notify(s, system_principal({a.organization_id}),"
                f" user_ids=[{colleague.user_id}], type_='automation.notify', title='From the CLI')\n"
                "    await s.commit()\n"
                "    await s.close()\n"
                "    await db.dispose()\n"
                "asyncio.run(main())\n"
            )
            done = subprocess.run(
                [sys.executable, "-c", script],
                env=_env(database_url, tmp_path),
                capture_output=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr.decode()[-2000:]
            note = await recv_until(ws, "notification")
            assert note["channel"] == f"user:{colleague.user_id}"
            assert note["data"]["title"] == "From the CLI"


async def test_subscriber_reconnects_after_losing_redis(
    client: httpx.AsyncClient, base_url: str
) -> None:
    """The test server's Redis subscription is killed on the Redis side; messages that other
    processes publish reach its clients again once it has reconnected (with backoff)."""
    import asyncio
    import json

    from aicrm.realtime.bus import get_bus
    from aicrm.realtime.redis_bus import RedisBus

    bus = get_bus()
    assert isinstance(bus, RedisBus)
    a = await register(client, org="Reconnect Co")
    channel = f"organization:{a.organization_id}"
    r = redis.Redis.from_url(REDIS_URL)

    def publish_from_elsewhere(i: int) -> None:
        # what another API process or a worker puts on the channel
        message = {
            "organization_id": a.organization_id,
            "channels": [channel],
            "type": "lead_updated",
            "event": "lead.updated",
            "data": {"i": i},
        }
        r.publish(bus.channel, json.dumps({"src": "another-process", "m": message}))

    async with open_ws(base_url, a.access_token) as ws:
        assert (await subscribe(ws, channel))["type"] == "subscribed"
        publish_from_elsewhere(0)
        assert (await recv_until(ws, "lead_updated"))["data"] == {"i": 0}

        killed = [c for c in r.client_list() if c.get("name") == bus.subscriber_name]
        assert killed, "the subscriber connection is not in CLIENT LIST"
        for c in killed:
            r.client_kill_filter(_id=c["id"])

        # publish until the resubscribed listener hears one (nothing is replayed, as with
        # any pub/sub: messages published while it was away are lost; the outbox keeps them)
        for i in range(1, 100):
            publish_from_elsewhere(i)
            try:
                message = await recv_until(ws, "lead_updated", timeout=0.2)
            except TimeoutError:
                continue
            assert message["data"]["i"] >= 1
            break
        else:
            pytest.fail("the Redis subscription did not come back")
        assert await asyncio.to_thread(bus.wait_ready, 5)
    r.close()
