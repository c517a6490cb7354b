"""Jobs admin API and page over real HTTP: states, filters, pagination, retry/discard rules,
audit, tenant isolation (other organizations' and system jobs are 404) and permissions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from aicrm.db import Database
from aicrm.models import Job, utcnow
from tests.fixtures.factories import Account, member, register
from tests.web.test_pages import HX, csrf_of, web_login

JOBS = "/api/v1/jobs"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test server's database, to put jobs in states no API produces on demand."""
    database = Database(url=database_url)
    yield database
    await database.dispose()


async def add_job(db: Database, org_id: int | None, **fields: Any) -> int:
    now = utcnow()
    values: dict[str, Any] = {
        "name": "jobs.noop",
        "args": {},
        "status": "queued",
        "attempts": 0,
        "max_attempts": 3,
        "run_at": now + timedelta(hours=1),
    }
    values.update(fields)
    session = await db.session(write=True)
    try:
        job = Job(organization_id=org_id, **values)
        session.add(job)
        await session.commit()
        return job.id
    finally:
        await session.close()


async def states(db: Database, org: Account) -> dict[str, int]:
    """One job of each state for `org` (none of them due, so the test server's worker leaves
    them alone)."""
    later = utcnow() + timedelta(hours=1)
    return {
        "queued": await add_job(db, org.organization_id, run_at=later),
        "failed": await add_job(
            db,
            org.organization_id,
            name="probe.flaky",
            attempts=1,
            last_error="RuntimeError: flaky failure 1\nTraceback ...",
            run_at=later,
        ),
        "running": await add_job(
            db, org.organization_id, status="running", attempts=1, lease_until=later, worker="w"
        ),
        "dead": await add_job(
            db,
            org.organization_id,
            status="dead",
            attempts=3,
            last_error="ValueError: boom\nTraceback (most recent call last): ...",
            finished_at=utcnow(),
        ),
        "succeeded": await add_job(
            db, org.organization_id, status="succeeded", attempts=1, finished_at=utcnow()
        ),
        "discarded": await add_job(
            db, org.organization_id, status="discarded", finished_at=utcnow()
        ),
    }


async def wait_state(client: httpx.AsyncClient, acc: Account, job_id: int, state: str) -> dict:
    for _ in range(200):
        r = await client.get(f"{JOBS}/{job_id}", headers=acc.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] == state:
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never became {state}: {r.json()}")


async def test_ping_is_run_by_the_worker(client: httpx.AsyncClient) -> None:
    owner = await register(client, org="Ping Co")
    r = await client.post(f"{JOBS}/ping", headers=owner.headers)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["name"] == "jobs.noop" and job["status"] == "queued"
    assert job["args"] == {"requested_by": owner.user_id}
    done = await wait_state(client, owner, job["id"], "succeeded")
    assert done["attempts"] == 1 and done["finished_at"] is not None and done["worker"]
    stats = (await client.get(f"{JOBS}/stats", headers=owner.headers)).json()
    assert stats["succeeded"] >= 1 and stats["total"] == sum(
        v for k, v in stats.items() if k != "total"
    )


async def test_states_filters_and_pages(client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="States Co")
    ids = await states(db, owner)
    r = await client.get(JOBS, headers=owner.headers)
    assert r.status_code == 200, r.text
    listed = {j["id"]: j["status"] for j in r.json()["items"]}
    assert listed == {v: k for k, v in ids.items()}
    for state, job_id in ids.items():
        r = await client.get(JOBS, params={"status": state}, headers=owner.headers)
        assert [j["id"] for j in r.json()["items"]] == [job_id], (state, r.json())
    stats = (await client.get(f"{JOBS}/stats", headers=owner.headers)).json()
    assert stats == {**dict.fromkeys(ids, 1), "total": 6}
    failed = (await client.get(f"{JOBS}/{ids['failed']}", headers=owner.headers)).json()
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["last_error"].startswith("RuntimeError: flaky failure 1")
    # by name
    r = await client.get(JOBS, params={"name": "probe.flaky"}, headers=owner.headers)
    assert [j["id"] for j in r.json()["items"]] == [ids["failed"]]
    # keyset pages, newest first, no overlaps
    seen: list[int] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(JOBS, params=params, headers=owner.headers)).json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids.values(), reverse=True)
    r = await client.get(JOBS, params={"sort": "run_at", "limit": 3}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["next_cursor"]


async def test_bad_filters_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    for params, field in (
        ({"status": "exploded"}, "status"),
        ({"sort": "args"}, "sort"),
        ({"cursor": "%%%"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        r = await client.get(JOBS, params=params, headers=owner.headers)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in str(r.json()["errors"]), (params, r.json())


async def test_retry_and_discard(client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="Retry Co")
    ids = await states(db, owner)
    # retry: dead, discarded and failed jobs run again now, with a fresh set of attempts
    r = await client.post(f"{JOBS}/{ids['dead']}/retry", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["attempts"] == 0
    assert r.json()["last_error"].startswith("ValueError: boom")  # kept until a run succeeds
    done = await wait_state(client, owner, ids["dead"], "succeeded")
    assert done["attempts"] == 1 and done["last_error"] is None
    for state in ("queued", "running", "succeeded"):
        r = await client.post(f"{JOBS}/{ids[state]}/retry", headers=owner.headers)
        assert r.status_code == 409, (state, r.text)
        assert state in r.json()["detail"]
    # discard: queued, failed and dead jobs never run; twice is fine; running/succeeded: 409
    r = await client.post(f"{JOBS}/{ids['failed']}/discard", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "discarded"
    assert r.json()["finished_at"] is not None
    r = await client.post(f"{JOBS}/{ids['failed']}/discard", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "discarded"
    r = await client.post(f"{JOBS}/{ids['queued']}/discard", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "discarded"
    for state in ("running", "succeeded"):
        r = await client.post(f"{JOBS}/{ids[state]}/discard", headers=owner.headers)
        assert r.status_code == 409, (state, r.text)
    # a discarded job can be brought back
    r = await client.post(f"{JOBS}/{ids['discarded']}/retry", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    await wait_state(client, owner, ids["discarded"], "succeeded")
    # both kinds of change are audited
    r = await client.get("/api/v1/audit-log", params={"entity_type": "job"}, headers=owner.headers)
    audited = [(e["action"], e["entity_id"]) for e in r.json()["items"]]
    assert ("retry", ids["dead"]) in audited and ("discard", ids["failed"]) in audited
    entry = next(e for e in r.json()["items"] if e["action"] == "retry")
    assert entry["actor_user_id"] == owner.user_id
    assert entry["before"]["status"] in {"dead", "discarded"}
    assert entry["after"]["status"] == "queued"


async def test_other_tenants_and_system_jobs_are_hidden(
    client: httpx.AsyncClient, db: Database
) -> None:
    a = await register(client, org="Tenant A")
    b = await register(client, org="Tenant B")
    a_dead = await add_job(db, a.organization_id, status="dead", last_error="x", attempts=3)
    system_dead = await add_job(db, None, status="dead", last_error="x", attempts=3)
    for job_id in (a_dead, system_dead):
        for method, path in (
            ("GET", f"{JOBS}/{job_id}"),
            ("POST", f"{JOBS}/{job_id}/retry"),
            ("POST", f"{JOBS}/{job_id}/discard"),
        ):
            r = await client.request(method, path, headers=b.headers)
            assert r.status_code == 404, (method, path, r.text)
    assert (await client.get(f"{JOBS}/{system_dead}", headers=a.headers)).status_code == 404
    assert (await client.get(JOBS, headers=b.headers)).json()["items"] == []
    assert (await client.get(f"{JOBS}/stats", headers=b.headers)).json()["total"] == 0
    listed = [j["id"] for j in (await client.get(JOBS, headers=a.headers)).json()["items"]]
    assert listed == [a_dead]
    # B's attempts changed nothing
    assert (await client.get(f"{JOBS}/{a_dead}", headers=a.headers)).json()["status"] == "dead"


async def test_roles_without_settings_permission_are_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client)
    job_id = await add_job(db, owner.organization_id, status="dead", last_error="x")
    for role in ("viewer", "agent", "manager"):
        user = await member(client, owner, role)
        for method, path in (
            ("GET", JOBS),
            ("GET", f"{JOBS}/stats"),
            ("GET", f"{JOBS}/{job_id}"),
            ("POST", f"{JOBS}/ping"),
            ("POST", f"{JOBS}/{job_id}/retry"),
            ("POST", f"{JOBS}/{job_id}/discard"),
        ):
            r = await client.request(method, path, headers=user.headers)
            assert r.status_code == 403, (role, method, path, r.text)
    admin = await member(client, owner, "admin")
    r = await client.post(f"{JOBS}/{job_id}/discard", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "discarded"


async def test_jobs_page(base_url: str, client: httpx.AsyncClient, db: Database) -> None:
    owner = await register(client, org="Page Co")
    ids = await states(db, owner)
    other = await register(client, org="Other Page Co")
    foreign = await add_job(db, other.organization_id, status="dead", last_error="x")
    web = await web_login(base_url, owner)
    try:
        r = await web.get("/settings/jobs")
        assert r.status_code == 200, r.text
        html = r.text
        for job_id in ids.values():
            assert f'id="job-{job_id}"' in html
        assert f'id="job-{foreign}"' not in html
        assert "ValueError: boom" in html and "<details" in html
        assert f'hx-post="/settings/jobs/{ids["dead"]}/retry"' in html
        assert f'hx-post="/settings/jobs/{ids["running"]}/retry"' not in html
        # filtered list fragment
        r = await web.get(
            "/settings/jobs", params={"status": "dead", "fragment": "list"}, headers=HX
        )
        assert r.status_code == 200
        assert f'id="job-{ids["dead"]}"' in r.text and f'id="job-{ids["queued"]}"' not in r.text
        # retry from the page: the row comes back queued, counts swapped out of band
        r = await web.post(
            f"/settings/jobs/{ids['dead']}/retry", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 200, r.text
        assert 'data-state="queued"' in r.text and 'hx-swap-oob="true"' in r.text
        assert "HX-Trigger" in r.headers
        r = await web.post(
            f"/settings/jobs/{ids['running']}/discard",
            headers={**HX, "X-CSRF-Token": csrf_of(web)},
        )
        assert r.status_code == 409
        # another tenant's job is not there
        r = await web.post(
            f"/settings/jobs/{foreign}/retry", headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 404
        r = await web.post("/settings/jobs/ping", headers={**HX, "X-CSRF-Token": csrf_of(web)})
        assert r.status_code == 204 and "jobsChanged" in r.headers["HX-Trigger"]
        # no CSRF token, no change
        r = await web.post(f"/settings/jobs/{ids['queued']}/discard", headers=HX)
        assert r.status_code == 403
    finally:
        await web.aclose()
    viewer = await member(client, owner, "viewer")
    web = await web_login(base_url, viewer)
    try:
        r = await web.get("/settings/jobs")
        assert r.status_code == 403
        assert "/settings/jobs" not in (await web.get("/contacts")).text
    finally:
        await web.aclose()
