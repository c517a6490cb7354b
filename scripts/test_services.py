"""Print shell exports for the local services the test suite can use (PostgreSQL, Redis).

An already-set TEST_DATABASE_URL / TEST_REDIS_URL wins; otherwise the usual local ports are
probed and used when they answer."""

from __future__ import annotations

import os
import socket


def _open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    db = os.environ.get("TEST_DATABASE_URL")
    if db is None and _open("127.0.0.1", 5432):
        db = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    redis = os.environ.get("TEST_REDIS_URL")
    if redis is None and _open("127.0.0.1", 6379):
        redis = "redis://127.0.0.1:6379/0"
    if db:
        print(f"export TEST_DATABASE_URL='{db}'")
    if redis:
        print(f"export TEST_REDIS_URL='{redis}'")


if __name__ == "__main__":
    main()
