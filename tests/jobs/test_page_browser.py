"""The jobs page in a real browser: a dead job's error unfolds, Retry swaps its row and the
counts, and the test server's worker then runs it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from aicrm.db import Database
from aicrm.models import Job, utcnow
from tests.e2e.browser import artifacts, need_chromium, signed_in_page
from tests.fixtures.factories import PASSWORD, unique_email

pytestmark = pytest.mark.browser


async def _dead_job(database_url: str, org_id: int) -> int:
    db = Database(url=database_url)
    try:
        session = await db.session(write=True)
        job = Job(
            organization_id=org_id,
            name="jobs.noop",
            args={"why": "browser test"},
            status="dead",
            attempts=3,
            max_attempts=3,
            run_at=utcnow() - timedelta(minutes=5),
            finished_at=utcnow() - timedelta(minutes=4),
            last_error="ValueError: the receiving end said no\nTraceback (most recent call last):\n"
            '  File "jobs.py", line 12, in deliver\nValueError: the receiving end said no',
        )
        session.add(job)
        await session.commit()
        await session.close()
        return job.id
    finally:
        await db.dispose()


def test_retry_a_dead_job_from_the_page(base_url: str, database_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    email = unique_email("jobs")
    r = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": "Jo Ops",
            "organization_name": "Ops Co",
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job_id = asyncio.run(_dead_job(database_url, r.json()["organization_id"]))
    with signed_in_page(base_url, email) as page:
        page.goto(f"{base_url}/settings/jobs")
        row = page.locator(f"#job-{job_id}")
        expect(row).to_have_attribute("data-state", "dead")
        expect(page.locator('#job-stats [data-state="dead"] .stat-value')).to_have_text("1")
        row.locator("summary").click()
        expect(row.locator("pre")).to_contain_text('File "jobs.py", line 12')
        page.screenshot(path=str(artifacts() / "jobs.png"), full_page=True)
        row.get_by_role("button", name=f"Retry job {job_id}").click()
        expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-state", "queued")
        expect(page.locator('#job-stats [data-state="dead"] .stat-value')).to_have_text("0")
        expect(page.locator(".toast")).to_contain_text(f"Job #{job_id} queued")
        # the test server's worker runs it
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for _ in range(100):
            job = httpx.get(f"{base_url}/api/v1/jobs/{job_id}", headers=headers, timeout=30)
            if job.json()["status"] == "succeeded":
                break
            page.wait_for_timeout(100)
        page.reload()
        expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-state", "succeeded")
        expect(page.locator('#job-stats [data-state="succeeded"] .stat-value')).to_have_text("1")
