"""Real worker processes for the jobs tests: `aicrm worker` / `aicrm beat` started as
subprocesses in their own process groups (so SIGKILL takes a Celery worker's pool too), with
their logs kept for failure messages."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


REDIS_BROKER = (
    os.environ.get("TEST_CELERY_BROKER_URL")
    or os.environ.get("TEST_REDIS_URL")
    or "redis://127.0.0.1:6379/0"
)
AMQP_BROKER = os.environ.get("TEST_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672//"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def kill(self) -> None:
        """SIGKILL the whole process group (a Celery worker's pool children too)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self.log.close()

    def tail(self, n: int = 40) -> str:
        if not self.log.closed:
            self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(lines[-n:])


class Processes:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.all: list[Proc] = []

    def start(self, name: str, *args: str) -> Proc:
        log_path = self.tmp / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "aicrm.cli", *args],
            env=self.env,
            cwd=self.tmp,  # no developer .env is read
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, log_path, log)
        self.all.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.all)

    def stop_all(self) -> None:
        for proc in self.all:
            proc.stop()


def worker_env(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    env.update(
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp / "data"),
        SECRET_KEY="test-secret-key-that-is-long-enough-for-hs256-0123456789",
        ENVIRONMENT="test",
        LOG_LEVEL="WARNING",
        REDIS_URL="",
        CELERY_BROKER_URL="",
        JOB_MODULES='["tests.jobs.probe_jobs"]',
        JOB_LEASE_SECONDS="2",
        JOB_POLL_SECONDS="0.2",
        JOB_BACKOFF_SECONDS="0.2",
        JOB_BACKOFF_MAX_SECONDS="1",
        JOB_REDISPATCH_SECONDS="3",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
        ),
    )
    env.update(extra)
    return env


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, procs: Processes
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")
        await asyncio.sleep(0.02)


def cleanup_redis(broker: str, queue: str) -> None:
    """Drop this test's queue (the messages the killed worker had taken went with it: Redis
    runs without ack emulation, the sweep re-sends)."""
    import redis

    client = redis.Redis.from_url(broker)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


async def enqueue_in_subprocess(procs: Processes, run: str, count: int, sleep: float) -> None:
    """Queue probe jobs from a separate process with the workers' settings (in Celery mode the
    jobs go out through the after-commit sender, up to 100 ids per message)."""
    code = (
        "import asyncio, sys; from tests.jobs.probe_jobs import enqueue_many; "
        "print(len(asyncio.run(enqueue_many(sys.argv[1], int(sys.argv[2]), batch=100, "
        "sleep=float(sys.argv[3])))))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        run,
        str(count),
        str(sleep),
        env=procs.env,
        cwd=procs.tmp,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    assert out.decode().strip().splitlines()[-1] == str(count), out.decode()


async def enqueue_specs_in_subprocess(
    procs: Processes, specs: list[dict[str, object]]
) -> list[int]:
    """Like enqueue_in_subprocess, for a few jobs of any kind (see probe_jobs.enqueue_specs)."""
    import json

    code = (
        "import asyncio, json, sys; from tests.jobs.probe_jobs import enqueue_specs; "
        "print(json.dumps(asyncio.run(enqueue_specs(json.loads(sys.argv[1])))))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        json.dumps(specs),
        env=procs.env,
        cwd=procs.tmp,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    ids = json.loads(out.decode().strip().splitlines()[-1])
    assert len(ids) == len(specs), out.decode()
    return [int(i) for i in ids]
