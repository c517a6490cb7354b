"""Load ten organizations with 1,000,000 contacts in one of them, for the HTTP benchmarks.

SQLite: sqlite3 `executemany` in one transaction; PostgreSQL: asyncpg `copy_records_to_table`.
The contact indexes are dropped during the load and rebuilt after it (faster than maintaining
them row by row). The organizations, their owners and an API key (scopes read+write, owner of
the big organization) go through the app's own code; the state file
bench/results/state-<db>.json tells the HTTP benchmark what was loaded.

    .venv/bin/python bench/load_contacts.py --db sqlite
    .venv/bin/python bench/load_contacts.py --db postgresql --contacts 1000000 --others 3000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from common import (
    PG_ADMIN_DSN,
    asyncpg_dsn,
    database_url,
    machine,
    pg_database_name,
    read_state,
    rerun_command,
    state_path,
    write_json,
)
from sqlalchemy import JSON, Boolean, Numeric, select

from aicrm import migrate
from aicrm import seed_data as words
from aicrm.auth import security
from aicrm.db import Database
from aicrm.kit.text import fold
from aicrm.models import ApiKey, Contact, Organization, User
from aicrm.models.base import UTCDateTime
from aicrm.orgs import service as org_service

ORG_COUNT = 10
BIG_SLUG = "bench-big"
CHUNK = 100_000
# Columns that vary per row; every other column takes the model's default.
VARYING = (
    "organization_id",
    "first_name",
    "last_name",
    "name",
    "name_key",
    "last_name_key",
    "email",
    "emails",
    "phone",
    "phones",
    "city",
    "region",
    "country",
    "timezone",
    "status",
    "lifetime_value",
    "preferred_channel",
    "title",
    "created_at",
    "updated_at",
)
STATUSES = ("lead", "prospect", "customer", "churned", "inactive")
STATUS_WEIGHTS = (25, 20, 40, 10, 5)
CHANNELS = ("email", "phone", "sms", "chat", "whatsapp")
AREA_CODES = (212, 312, 415, 512, 617, 206, 303, 404, 305, 503, 646, 718, 213, 408)


def _ascii_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", fold(text).translate(str.maketrans({"ø": "o", "ß": "ss"})))


# -- database preparation --------------------------------------------------------------------


async def _reset_postgres(url: str) -> None:
    name = pg_database_name(url)
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def reset_database(db: str, url: str) -> None:
    """An empty database with the schema built by the app's migrations."""
    if db == "sqlite":
        path = Path(url.split("///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        asyncio.run(_reset_postgres(url))
    migrate.upgrade(url)


async def create_organizations(url: str) -> dict[str, Any]:
    """Ten organizations through the app's service (default lead statuses, pipeline, owner) and
    an API key for the owner of the big one."""
    db = Database(url=url)
    password_hash = security.hash_password("bench-password")
    orgs: list[dict[str, Any]] = []
    try:
        async with db.sessionmaker() as session, session.begin():
            for i in range(1, ORG_COUNT + 1):
                owner = User(
                    email=f"owner{i}@bench.example",
                    full_name=f"Bench Owner {i}",
                    password_hash=password_hash,
                )
                session.add(owner)
                await session.flush()
                name = "Bench Big" if i == 1 else f"Bench Org {i}"
                org = await org_service.create_organization(session, name=name, owner=owner)
                owner.active_organization_id = org.id
                orgs.append({"id": org.id, "slug": org.slug, "owner_id": owner.id})
            key, prefix, hashed = security.new_api_key()
            session.add(
                ApiKey(
                    organization_id=orgs[0]["id"],
                    name="bench",
                    prefix=prefix,
                    key_hash=hashed,
                    scopes=["read", "write"],
                    created_by_id=orgs[0]["owner_id"],
                )
            )
        async with db.sessionmaker() as session:
            slugs = (await session.execute(select(Organization.slug))).scalars().all()
        assert BIG_SLUG in slugs, slugs
    finally:
        await db.dispose()
    return {"orgs": orgs, "api_key": key}


# -- rows ------------------------------------------------------------------------------------


class Rows:
    """Deterministic contact rows for one driver ("sqlite" or "postgresql"): the VARYING
    columns, then (PostgreSQL only) the constant ones, in `self.columns` order."""

    def __init__(self, dialect: str, db_columns: set[str], seed: int = 1) -> None:
        self.dialect = dialect
        self.rng = random.Random(seed)
        table = Contact.__table__
        missing = [v for v in VARYING if v not in db_columns]
        if missing:
            raise SystemExit(f"the contact table lacks {missing}; update bench/load_contacts.py")
        self.constant: dict[str, Any] = {}
        for col in table.columns:
            if col.name == "id" or col.name in VARYING or col.name not in db_columns:
                continue
            value = None
            if col.default is not None:
                arg = col.default.arg  # type: ignore[attr-defined]
                value = arg(None) if callable(arg) else arg
            if value is None and not col.nullable:
                raise SystemExit(f"contact.{col.name} is NOT NULL without a default")
            self.constant[col.name] = self._convert(col.type, value)
        self.columns = list(VARYING) + list(self.constant)
        self.firsts = [(n, fold(n), _ascii_key(n)) for n in words.FIRST_NAMES]
        self.lasts = [(n, fold(n), _ascii_key(n)) for n in words.LAST_NAMES]
        self.first_hits = [0] * len(self.firsts)
        self.last_hits = [0] * len(self.lasts)
        self.domains = [
            f"{_ascii_key(a)}-{_ascii_key(b)}.example"
            for a in words.COMPANY_FIRST
            for b in sorted({w for ws in words.COMPANY_SECOND.values() for w in ws})
        ]
        now = datetime.now(UTC).replace(microsecond=0)
        self.moments = [
            self._convert(UTCDateTime(), now - timedelta(seconds=self.rng.randrange(94_608_000)))
            for _ in range(20_000)
        ]

    def _convert(self, type_: Any, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(type_, JSON):
            return json.dumps(value)
        if isinstance(type_, UTCDateTime) or isinstance(value, datetime):
            if self.dialect == "sqlite":
                return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return value
        if isinstance(type_, Numeric):
            return float(value) if self.dialect == "sqlite" else Decimal(str(value))
        if isinstance(type_, Boolean):
            return int(value) if self.dialect == "sqlite" else bool(value)
        return value

    def sqlite_insert(self) -> str:
        """INSERT with the constant columns as literals: fewer parameters to bind per row."""

        def literal(v: Any) -> str:
            if v is None:
                return "NULL"
            if isinstance(v, str):
                return "'" + v.replace("'", "''") + "'"
            return repr(v)

        cols = ", ".join(self.columns)
        values = ["?"] * len(VARYING) + [literal(v) for v in self.constant.values()]
        return f"INSERT INTO contact ({cols}) VALUES ({', '.join(values)})"

    def prefix_counts(self) -> Counter[str]:
        """How many rows each 3-letter prefix of a first or last name matches."""
        counts: Counter[str] = Counter()
        for (_n, key, _a), hits in zip(self.firsts, self.first_hits, strict=True):
            counts[key[:3]] += hits
        for (_n, key, _a), hits in zip(self.lasts, self.last_hits, strict=True):
            counts[key[:3]] += hits
        return counts

    def generate(self, org_id: int, count: int, start: int) -> Iterator[tuple[Any, ...]]:
        rand = self.rng.random
        firsts, lasts, domains, moments = self.firsts, self.lasts, self.domains, self.moments
        n_first, n_last, n_dom, n_mom = len(firsts), len(lasts), len(domains), len(moments)
        first_hits, last_hits = self.first_hits, self.last_hits
        cities, n_city = words.CITIES, len(words.CITIES)
        titles = (None, *words.TITLES)
        statuses = [s for s, w in zip(STATUSES, STATUS_WEIGHTS, strict=True) for _ in range(w)]
        n_status = len(statuses)
        sqlite = self.dialect == "sqlite"
        const = () if sqlite else tuple(self.constant.values())
        zero: Any = 0.0 if sqlite else Decimal(0)
        for n in range(start, start + count):
            fi, li = int(rand() * n_first), int(rand() * n_last)
            first, ffold, fkey = firsts[fi]
            last, lfold, lkey = lasts[li]
            first_hits[fi] += 1
            last_hits[li] += 1
            city = cities[int(rand() * n_city)]
            status = statuses[int(rand() * n_status)]
            ltv = zero
            if status == "customer" or status == "churned":
                ltv = round(500 + rand() * 90_000, 2)
                if not sqlite:
                    ltv = Decimal(str(ltv))
            email = f"{fkey}.{lkey}.{n}@{domains[n % n_dom]}"
            phone = (
                f"+1{AREA_CODES[(n // 8_000_000) % len(AREA_CODES)]}"
                f"{200 + (n // 10_000) % 800}{n % 10_000:04d}"
            )
            moment = moments[n % n_mom]
            yield (
                org_id,
                first,
                last,
                f"{first} {last}",
                f"{ffold} {lfold}",
                lfold,
                email,
                f'["{email}"]',
                phone,
                f'["{phone}"]',
                city[0],
                city[1],
                city[2],
                city[3],
                status,
                ltv,
                CHANNELS[n % 7 % 5],
                titles[n % len(titles)],
                moment,
                moment,
            ) + const


# -- bulk loads ------------------------------------------------------------------------------


def load_sqlite(url: str, plan: list[tuple[int, int]]) -> dict[str, float]:
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        db_columns = {r[1] for r in conn.execute("PRAGMA table_info(contact)")}
        rows = Rows("sqlite", db_columns)
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'contact' AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        insert = rows.sqlite_insert()
        started = time.perf_counter()
        conn.execute("BEGIN")
        start = 0
        for org_id, count in plan:
            conn.executemany(insert, rows.generate(org_id, count, start))
            start += count
        conn.execute("COMMIT")
        loaded = time.perf_counter()
        for _name, sql in indexes:
            conn.execute(sql)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        indexed = time.perf_counter()
    finally:
        conn.close()
    return {
        "insert_seconds": round(loaded - started, 2),
        "index_seconds": round(indexed - loaded, 2),
        "prefix_counts": rows.prefix_counts(),  # type: ignore[dict-item]
    }


async def load_postgres(url: str, plan: list[tuple[int, int]]) -> dict[str, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        db_columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'contact'"
            )
        }
        rows = Rows("postgresql", db_columns)
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = 'public' AND i.tablename = 'contact' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        started = time.perf_counter()
        async with conn.transaction():
            # the rows are generated valid; skip the per-row foreign-key triggers during the load
            await conn.execute("SET LOCAL session_replication_role = replica")
            start = 0
            for org_id, count in plan:
                it = rows.generate(org_id, count, start)
                while chunk := list(itertools.islice(it, CHUNK)):
                    await conn.copy_records_to_table("contact", records=chunk, columns=rows.columns)
                start += count
        loaded = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for r in indexes:
            await conn.execute(r["indexdef"])
        await conn.execute("VACUUM ANALYZE contact")
        indexed = time.perf_counter()
    finally:
        await conn.close()
    return {
        "insert_seconds": round(loaded - started, 2),
        "index_seconds": round(indexed - loaded, 2),
        "prefix_counts": rows.prefix_counts(),
    }


def id_range(db: str, url: str, org_id: int) -> tuple[int, int]:
    sql = "SELECT min(id), max(id), count(*) FROM contact WHERE organization_id = "
    if db == "sqlite":
        conn = sqlite3.connect(url.split("///", 1)[1])
        try:
            lo, hi, n = conn.execute(sql + "?", (org_id,)).fetchone()
        finally:
            conn.close()
    else:

        async def fetch() -> tuple[int, int, int]:
            c = await asyncpg.connect(asyncpg_dsn(url))
            try:
                r = await c.fetchrow(sql + "$1", org_id)
                return r[0], r[1], r[2]
            finally:
                await c.close()

        lo, hi, n = asyncio.run(fetch())
    assert hi - lo + 1 == n, "the big organization's ids are contiguous"
    return lo, hi


def search_prefixes(counts: Counter[str], total: int) -> list[dict[str, Any]]:
    """Common 3-letter prefixes with thousands of matches (first or last name)."""
    low, high = max(200, total // 500), max(2_000, total // 40)
    picked = [(p, n) for p, n in counts.most_common() if low <= n <= high and p.isalpha()]
    return [{"prefix": p, "approx_matches": n} for p, n in picked[:24]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="database URL (default: the bench database of --db)")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="in the big organization")
    parser.add_argument("--others", type=int, default=3_000, help="in each of the nine others")
    args = parser.parse_args()
    url = database_url(args.db, args.url)
    if args.db == "postgresql":
        pg_database_name(url)

    t0 = time.perf_counter()
    reset_database(args.db, url)
    t1 = time.perf_counter()
    setup = asyncio.run(create_organizations(url))
    orgs = setup["orgs"]
    t2 = time.perf_counter()
    plan = [(orgs[0]["id"], args.contacts)] + [(o["id"], args.others) for o in orgs[1:]]
    if args.db == "sqlite":
        loaded = load_sqlite(url, plan)
    else:
        loaded = asyncio.run(load_postgres(url, plan))
    t3 = time.perf_counter()
    lo, hi = id_range(args.db, url, orgs[0]["id"])
    # prefix counts cover all organizations; scale to the big one
    big_share = args.contacts / (args.contacts + args.others * (len(orgs) - 1))
    scaled = Counter({p: int(n * big_share) for p, n in loaded.pop("prefix_counts").items()})
    prefixes = search_prefixes(scaled, args.contacts)
    total = args.contacts + args.others * (len(orgs) - 1)
    state = {
        "db": args.db,
        "database_url": url,
        "api_key": setup["api_key"],
        "big_org": {
            "id": orgs[0]["id"],
            "slug": BIG_SLUG,
            "contacts": args.contacts,
            "id_min": lo,
            "id_max": hi,
        },
        "organizations": len(orgs),
        "contacts_total": total,
        "search_prefixes": prefixes,
        "loaded_at": datetime.now(UTC).isoformat(),
    }
    write_json(state_path(args.db), state)
    out = {
        "benchmark": "load_contacts",
        "db": args.db,
        "machine": machine(),
        "organizations": len(orgs),
        "contacts_total": total,
        "big_org_contacts": args.contacts,
        "seconds": {
            "reset_and_migrate": round(t1 - t0, 2),
            "organizations": round(t2 - t1, 2),
            **loaded,
            "total_contacts_load": round(t3 - t2, 2),
        },
        "rows_per_second": round(total / max(loaded["insert_seconds"], 1e-9)),
        "api_key": setup["api_key"],
        "search_prefixes": [p["prefix"] for p in prefixes],
        "state_file": str(state_path(args.db)),
        "command": rerun_command(),
    }
    print(json.dumps(out, indent=2))
    read_state(args.db)  # the file is readable by the next step


if __name__ == "__main__":
    main()
