"""The lead board in a real browser: create a lead through the dialog, drag it to another column,
reload and find it there; a refused move goes back with a toast; deals ask why they were lost."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser import artifacts, drag, make_user, need_chromium, signed_in_page

pytestmark = pytest.mark.browser


def test_create_and_drag_a_lead(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Kanban Co", full_name="Kim Board")
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/leads")
        page.get_by_role("button", name="New lead").first.click()
        form = page.locator("#lead-form")
        expect(form).to_be_visible()
        form.locator("[name=name]").fill("Drag me Ltd")
        form.locator("[name=company]").fill("Dragon Industries")
        form.locator("[name=value]").fill("4200")
        form.locator("[name=name]").press("Enter")

        new_col = page.locator('[data-column="New"]')
        card = new_col.locator(".kcard", has_text="Drag me Ltd")
        expect(card).to_be_visible()
        expect(page.locator("#new-lead")).not_to_be_visible()
        expect(new_col.locator("[data-count]")).to_have_text("1")
        # the AI score arrives a moment later and redraws the card: drag the card it becomes
        expect(card.locator(".score")).to_be_visible()

        target = page.locator('[data-column="Qualified"] [data-cards]')
        with page.expect_response(
            lambda r: r.url.endswith("/status") and r.request.method == "PUT"
        ) as moved:
            drag(page, card, target)
        assert moved.value.status == 200, moved.value.text()
        expect(page.locator('[data-column="Qualified"] [data-count]')).to_have_text("1")
        expect(new_col.locator("[data-count]")).to_have_text("0")

        page.reload()
        expect(
            page.locator('[data-column="Qualified"] .kcard', has_text="Drag me Ltd")
        ).to_have_count(1)
        expect(new_col.locator(".kcard")).to_have_count(0)
        expect(page.locator('[data-column="Qualified"] [data-total]')).to_contain_text("4,200")
        page.screenshot(path=str(artifacts() / "kanban.png"))

    r = httpx.get(f"{base_url}/api/v1/leads/kanban", headers=user["headers"], timeout=30)
    qualified = next(c for c in r.json()["columns"] if c["status"] == "Qualified")
    assert [lead["name"] for lead in qualified["leads"]] == ["Drag me Ltd"]


def test_a_refused_move_goes_back(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Stale Co", full_name="Sam Stale")
    r = httpx.post(
        f"{base_url}/api/v1/leads",
        json={"name": "Stale card", "status": "Contacted"},
        headers=user["headers"],
        timeout=30,
    )
    assert r.status_code == 201
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/leads")
        card = page.locator(".kcard", has_text="Stale card")
        # someone else changed the lead since the page loaded
        card.evaluate("el => { el.dataset.version = '999' }")
        with page.expect_response(lambda r: r.url.endswith("/status")) as moved:
            drag(page, card, page.locator('[data-column="Proposal"] [data-cards]'))
        assert moved.value.status == 412
        expect(page.locator(".toast-error").first).to_be_visible()
        expect(
            page.locator('[data-column="Contacted"] .kcard', has_text="Stale card")
        ).to_have_count(1)
        expect(page.locator('[data-column="Proposal"] [data-count]')).to_have_text("0")


def test_losing_a_deal_asks_why(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Deal Co", full_name="Dana Deals")
    r = httpx.post(
        f"{base_url}/api/v1/deals",
        json={"name": "Big renewal", "amount": 9000},
        headers=user["headers"],
        timeout=30,
    )
    assert r.status_code == 201
    deal_id = r.json()["id"]
    # wide enough for every stage to be on screen without scrolling the board
    with signed_in_page(base_url, user["email"], width=2300) as page:
        page.goto(f"{base_url}/deals")
        card = page.locator(".kcard", has_text="Big renewal")
        lost = page.locator('[data-lost="true"] [data-cards]')
        drag(page, card, lost)
        dialog = page.locator("#reason-dialog")
        expect(dialog).to_be_visible()
        # a lost deal needs a reason: submitting empty keeps the dialog open
        dialog.get_by_role("button", name="Move deal").click()
        expect(dialog.locator("[data-reason-error]")).to_be_visible()
        dialog.locator("textarea").fill("Chose a competitor")
        with page.expect_response(lambda r: r.url.endswith("/stage")) as moved:
            dialog.get_by_role("button", name="Move deal").click()
        assert moved.value.status == 200, moved.value.text()
    deal = httpx.get(
        f"{base_url}/api/v1/deals/{deal_id}", headers=user["headers"], timeout=30
    ).json()
    assert deal["status"] == "lost"
    assert deal["won_lost_reason"] == "Chose a competitor"
