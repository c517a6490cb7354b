"""Two people on the same board in two browser contexts: what one drags, the other sees move
without reloading — column, position, counts and totals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.browser import ARGS, CHROMIUM, artifacts, drag, make_user, need_chromium
from tests.fixtures.factories import PASSWORD, unique_email

pytestmark = pytest.mark.browser


def _colleague(base_url: str, owner: dict[str, Any], full_name: str) -> dict[str, Any]:
    email = unique_email("colleague")
    r = httpx.post(
        f"{base_url}/api/v1/invitations",
        json={"email": email, "role": "agent"},
        headers=owner["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": full_name,
            "invitation_token": r.json()["token"],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return {"email": email, "headers": {"Authorization": f"Bearer {r.json()['access_token']}"}}


def _sign_in(browser: Any, base_url: str, email: str, errors: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1800, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"{base_url}/")
    return page


def _open_board(page: Any, base_url: str, path: str) -> None:
    """Open a board and wait until its live connection is subscribed."""
    page.goto(f"{base_url}{path}")
    page.wait_for_function(
        "() => window.aicrmRealtime && window.aicrmRealtime.connected", timeout=10_000
    )
    # the organization channel is confirmed before anything is moved
    page.evaluate(
        """() => new Promise((resolve) => {
            const org = document.body.dataset.orgId;
            const done = window.aicrmRealtime.on('subscribed', (m) => {
                if (m.channel === 'organization:' + org) { done(); resolve(); }
            });
            window.aicrmRealtime.unsubscribe('organization:' + org);
            window.aicrmRealtime.subscribe('organization:' + org);
        })"""
    )


def test_a_dragged_lead_moves_on_the_other_board(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    owner = make_user(base_url, org="Live Board Co", full_name="Alex Mover")
    colleague = _colleague(base_url, owner, "Bea Watcher")
    for name, value in (("Live Card Ltd", 3000), ("Stays Put", 1000)):
        r = httpx.post(
            f"{base_url}/api/v1/leads",
            json={"name": name, "value": value},
            headers=owner["headers"],
            timeout=30,
        )
        assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base_url}/api/v1/leads",
        json={"name": "Already Qualified", "value": 500, "status": "Qualified"},
        headers=owner["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            mover = _sign_in(browser, base_url, owner["email"], errors)
            watcher = _sign_in(browser, base_url, colleague["email"], errors)
            _open_board(mover, base_url, "/leads")
            _open_board(watcher, base_url, "/leads")
            watcher.evaluate(
                """() => { window.__reloaded = false;
                           window.addEventListener('beforeunload', () => { window.__reloaded = true; });
                           window.__marker = 'same page'; }"""
            )
            qualified = watcher.locator('[data-column="Qualified"]')
            expect(qualified.locator(".kcard")).to_have_count(1)
            expect(qualified.locator("[data-count]")).to_have_text("1")

            # the mover drags the card to the top of Qualified
            card = mover.locator(".kcard", has_text="Live Card Ltd")
            target = mover.locator('[data-column="Qualified"] .kcard').first
            with mover.expect_response(
                lambda r: r.url.endswith("/status") and r.request.method == "PUT"
            ) as moved:
                drag(mover, card, target, y_offset=-30)
            assert moved.value.status == 200, moved.value.text()

            # the watcher's board follows without a reload, in the mover's order
            expect(qualified.locator(".kcard", has_text="Live Card Ltd")).to_have_count(1)
            order = mover.locator('[data-column="Qualified"] .kcard-title').all_inner_texts()
            assert sorted(order) == ["Already Qualified", "Live Card Ltd"]
            expect(qualified.locator(".kcard-title")).to_have_text(order)
            expect(qualified.locator("[data-count]")).to_have_text("2")
            expect(qualified.locator("[data-total]")).to_contain_text("3,500")
            new_col = watcher.locator('[data-column="New"]')
            expect(new_col.locator(".kcard", has_text="Live Card Ltd")).to_have_count(0)
            expect(new_col.locator("[data-count]")).to_have_text("1")
            expect(new_col.locator("[data-total]")).to_contain_text("1,000")
            assert watcher.evaluate("() => window.__marker") == "same page"
            assert watcher.evaluate("() => window.__reloaded") is False
            watcher.screenshot(path=str(artifacts() / "live-board-watcher.png"))

            # the mover's own board is not moved again by the echo of its own change
            mover.wait_for_timeout(500)
            mover_q = mover.locator('[data-column="Qualified"]')
            expect(mover_q.locator(".kcard")).to_have_count(2)
            expect(mover_q.locator("[data-count]")).to_have_text("2")
            expect(mover.locator('[data-column="New"] [data-count]')).to_have_text("1")

            # and the other way round, through the API (a third client): both boards follow
            lead_id = int(
                watcher.locator(".kcard", has_text="Stays Put").get_attribute("data-id") or 0
            )
            r = httpx.put(
                f"{base_url}/api/v1/leads/{lead_id}/status",
                json={"status": "Proposal"},
                headers=colleague["headers"],
                timeout=30,
            )
            assert r.status_code == 200, r.text
            for page in (mover, watcher):
                proposal = page.locator('[data-column="Proposal"]')
                expect(proposal.locator(".kcard", has_text="Stays Put")).to_have_count(1)
                expect(proposal.locator("[data-count]")).to_have_text("1")
                expect(page.locator('[data-column="New"] [data-count]')).to_have_text("0")
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_deal_moved_elsewhere_moves_on_the_deal_board(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    owner = make_user(base_url, org="Live Deals Co", full_name="Dee Deals")
    r = httpx.post(
        f"{base_url}/api/v1/deals",
        json={"name": "Live renewal", "amount": 7000},
        headers=owner["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = _sign_in(browser, base_url, owner["email"], errors)
            _open_board(page, base_url, "/deals")
            first = page.locator(f'[data-column="{deal["stage_id"]}"]')
            expect(first.locator(".kcard", has_text="Live renewal")).to_have_count(1)
            r = httpx.put(
                f"{base_url}/api/v1/deals/{deal['id']}/stage",
                json={"stage": "Proposal"},
                headers=owner["headers"],
                timeout=30,
            )
            assert r.status_code == 200, r.text
            stage_id = r.json()["stage_id"]
            target = page.locator(f'[data-column="{stage_id}"]')
            expect(target.locator(".kcard", has_text="Live renewal")).to_have_count(1)
            expect(first.locator(".kcard", has_text="Live renewal")).to_have_count(0)
            expect(target.locator("[data-total]")).to_contain_text("7,000")
            expect(first.locator("[data-count]")).to_have_text("0")
            # a deleted deal leaves the board
            r = httpx.delete(
                f"{base_url}/api/v1/deals/{deal['id']}", headers=owner["headers"], timeout=30
            )
            assert r.status_code == 204, r.text
            expect(page.locator(".kcard", has_text="Live renewal")).to_have_count(0)
            expect(target.locator("[data-count]")).to_have_text("0")
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
