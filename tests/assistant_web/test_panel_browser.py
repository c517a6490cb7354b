"""The assistant panel in a real browser, against the real chat API and the offline engine:
Ctrl+J opens it, a command streams its reply and draws an action card that links to the record
(the kanban shows the new lead live), Undo takes it back, an ambiguous name offers its
candidates as buttons, a delete asks Yes / No, the conversation survives a reload, "New
conversation" starts over from the suggestions, a refused request reads as an error, and a
change to the record on screen (a page that does not redraw itself) offers a reload."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page

pytestmark = pytest.mark.browser

REPLY_MS = 20_000  # the first turn loads the engine (dateparser, rapidfuzz) in the server


def _lead(base_url: str, user: dict[str, Any], **body: Any) -> int:
    r = httpx.post(f"{base_url}/api/v1/leads", json=body, headers=user["headers"], timeout=30)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _get_lead(base_url: str, user: dict[str, Any], lead_id: int) -> httpx.Response:
    return httpx.get(f"{base_url}/api/v1/leads/{lead_id}", headers=user["headers"], timeout=30)


def _find_leads(base_url: str, user: dict[str, Any], name: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{base_url}/api/v1/leads",
        params={"q": name, "limit": 50},
        headers=user["headers"],
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["items"] if isinstance(body, dict) else body
    return [lead for lead in items if lead["name"] == name]


def _wait(check: Any, what: str, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _send(page: Any, text: str) -> None:
    box = page.locator("#assistant-input")
    box.fill(text)
    box.press("Enter")


def _reply(page: Any, n: int) -> Any:
    """The assistant's n-th message of the conversation on screen (0 = the first)."""
    return page.locator("#assistant-panel .asst-bot").nth(n)


def _answered(page: Any, n: int) -> Any:
    """The n-th reply, once it has finished streaming (some text, no typing dots)."""
    from playwright.sync_api import expect

    reply = _reply(page, n)
    expect(reply).to_be_visible(timeout=REPLY_MS)
    expect(reply).not_to_have_class(re.compile(r"asst-pending"), timeout=REPLY_MS)
    expect(reply.locator(".asst-typing")).to_have_count(0, timeout=REPLY_MS)
    expect(reply.locator(".asst-bubble")).to_have_text(re.compile(r"\w"), timeout=REPLY_MS)
    return reply


def test_add_a_lead_from_the_kanban_then_undo(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Panel Kanban Co", full_name="Pat Panel")
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/leads")
        panel = page.locator("#assistant-panel")
        trigger = page.locator("[data-asst-toggle]")
        expect(panel).to_be_hidden()
        expect(trigger).to_have_attribute("aria-expanded", "false")

        # Ctrl+J opens it with the cursor in the message box; an empty chat offers suggestions
        page.keyboard.press("Control+j")
        expect(panel).to_be_visible()
        expect(trigger).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#assistant-input")).to_be_focused()
        expect(panel.locator(".asst-chip").first).to_be_visible()

        with page.expect_response(lambda r: r.url.endswith("/api/v1/chat/stream")) as streamed:
            _send(page, "add a lead Jane Doe from Example Corp, 75k")
        response = streamed.value
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        reply = _reply(page, 0)
        card = reply.locator(".asst-card")
        expect(card).to_have_count(1, timeout=REPLY_MS)
        expect(reply.locator(".asst-bubble")).to_contain_text("Jane Doe")
        expect(card).to_contain_text("Jane Doe")
        expect(card).to_have_class(re.compile(r"asst-op-created"))
        # the polite status region carries the reply for screen readers
        expect(panel.locator("[data-asst-status]")).to_contain_text("Jane Doe")

        leads = _wait(lambda: _find_leads(base_url, user, "Jane Doe"), "the lead was not made")
        assert len(leads) == 1
        lead = leads[0]
        assert float(lead["value"]) == 75000
        link = card.locator("a")
        expect(link).to_have_attribute("href", f"/leads/{lead['id']}")

        # the kanban follows without a reload (the service's event, through realtime.js)
        board_card = page.locator(f'[data-board] .kcard[data-id="{lead["id"]}"]')
        expect(board_card).to_be_visible(timeout=10_000)
        expect(board_card).to_contain_text("Jane Doe")
        page.screenshot(path=str(artifacts() / "assistant-kanban.png"))

        # Undo takes it back: the card says so, the lead is gone, and so is its kanban card
        undo = card.get_by_role("button", name=re.compile("Undo"))
        expect(undo).to_be_visible()
        with page.expect_response(lambda r: r.url.endswith("/api/v1/chat/undo")) as undone:
            undo.click()
        assert undone.value.status == 200, undone.value.text()
        expect(card).to_have_class(re.compile(r"asst-undone"))
        expect(card.get_by_role("button", name=re.compile("Undo"))).to_have_count(0)
        _wait(
            lambda: _get_lead(base_url, user, lead["id"]).status_code == 404,
            "undo left the lead",
        )
        expect(board_card).to_have_count(0, timeout=10_000)

        # Escape closes it and gives the focus back to the button that opened it
        page.locator("#assistant-input").focus()
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(trigger).to_be_focused()
        expect(trigger).to_have_attribute("aria-expanded", "false")
        # closed stays closed on the next page; the button opens it, and the history it loads
        # knows the action was undone
        page.reload()
        expect(panel).to_be_hidden()
        trigger.click()
        expect(panel).to_be_visible()
        expect(page.locator("#assistant-input")).to_be_focused()
        expect(panel.locator(".asst-card")).to_have_count(1)
        expect(panel.locator(".asst-card.asst-undone")).to_have_count(1)
        expect(panel.locator(".asst-undo")).to_have_count(0)


def test_ambiguous_name_and_delete_confirmation(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Panel Questions Co", full_name="Quinn Question")
    acme = _lead(base_url, user, name="John Smith", company="Acme Robotics", value=1000)
    globex = _lead(base_url, user, name="John Smith", company="Globex Shipping", value=2000)
    doomed = _lead(base_url, user, name="Zed Zebrowski", company="Zoo Partners", value=500)

    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/")
        page.keyboard.press("Control+j")
        panel = page.locator("#assistant-panel")
        expect(panel).to_be_visible()

        # two leads match: the candidates are buttons, and clicking one answers the question
        _send(page, "move John Smith to Qualified")
        options = _reply(page, 0).locator(".asst-option")
        expect(options).to_have_count(2, timeout=REPLY_MS)
        expect(options.filter(has_text="Globex")).to_have_count(1)
        # asked once, each candidate shown once (as its button, not again as a numbered list)
        expect(_reply(page, 0)).to_contain_text("Which lead do you mean")
        assert _reply(page, 0).inner_text().count("Globex") == 1, _reply(page, 0).inner_text()
        expect(panel.locator("[data-asst-status]")).to_contain_text("Options:")
        options.filter(has_text="Globex").click()
        expect(options.first).to_be_disabled()
        card = _reply(page, 1).locator(".asst-card")
        expect(card).to_have_count(1, timeout=REPLY_MS)
        expect(card.locator("a")).to_have_attribute("href", f"/leads/{globex}")
        moved = _get_lead(base_url, user, globex).json()
        assert moved["status"] == "Qualified", moved
        assert _get_lead(base_url, user, acme).json()["status"] != "Qualified"

        # a delete asks first, naming the record; "No" keeps it, "Yes" deletes it
        _send(page, "delete the lead Zed Zebrowski")
        question = _reply(page, 2).locator(".asst-question")
        expect(question.get_by_role("button", name="Yes")).to_be_visible(timeout=REPLY_MS)
        expect(_reply(page, 2)).to_contain_text("Zed Zebrowski")
        # the open question survives a reload, still answerable
        page.reload()
        expect(panel).to_be_visible()
        expect(question.get_by_role("button", name="Yes")).to_be_enabled()
        expect(_reply(page, 0).locator(".asst-option").first).to_be_disabled()
        question.get_by_role("button", name="No").click()
        expect(question.get_by_role("button", name="Yes")).to_be_disabled()
        expect(_answered(page, 3).locator(".asst-card")).to_have_count(0)
        assert _get_lead(base_url, user, doomed).status_code == 200

        _send(page, "delete the lead Zed Zebrowski")
        question = _reply(page, 4).locator(".asst-question")
        yes = question.get_by_role("button", name="Yes")
        expect(yes).to_be_visible(timeout=REPLY_MS)
        yes.click()
        deleted = _reply(page, 5).locator(".asst-card.asst-op-deleted")
        expect(deleted).to_have_count(1, timeout=REPLY_MS)
        expect(deleted).to_contain_text("Zed Zebrowski")
        _wait(
            lambda: _get_lead(base_url, user, doomed).status_code == 404,
            "the confirmed delete did not happen",
        )
        page.screenshot(path=str(artifacts() / "assistant-questions.png"))


def test_the_conversation_survives_a_reload(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Panel Memory Co", full_name="Mo Memory")
    other = make_user(base_url, org="Panel Other Co", full_name="Oz Other")
    for name in ("Remembered Lead", "Recalled Lead", "Retained Lead"):
        _lead(base_url, user, name=name, company="Memory Ltd", value=4000)
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/leads")
        page.locator("[data-asst-toggle]").click()
        panel = page.locator("#assistant-panel")
        expect(panel.locator(".asst-chip").first).to_be_visible()
        # a suggestion chip sends itself
        panel.get_by_role("button", name="What's the pipeline worth this quarter?").click()
        expect(panel.locator(".asst-user")).to_have_count(1)
        expect(_answered(page, 0).locator(".asst-error")).to_have_count(0)
        expect(panel.locator(".asst-chip").first).to_be_hidden()
        _send(page, "add a lead Kim Keep from Keep Co, 12k")
        expect(_reply(page, 1).locator(".asst-card")).to_have_count(1, timeout=REPLY_MS)
        # an answer listing records reads as a list
        _send(page, "find leads from Memory Ltd")
        expect(_reply(page, 2).locator(".asst-list li")).to_have_count(3, timeout=REPLY_MS)
        expect(_reply(page, 2).locator(".asst-list-head")).to_have_text("Found 3 leads:")
        session = page.evaluate(
            "Object.keys(sessionStorage).filter(k => k.endsWith(':session'))"
            ".map(k => sessionStorage.getItem(k))[0]"
        )
        assert session

        # a reload (and another page) keeps the panel open with the same conversation
        page.reload()
        expect(panel).to_be_visible()
        expect(panel.locator(".asst-user")).to_have_count(3)
        expect(panel.locator(".asst-user").first).to_contain_text("pipeline worth")
        expect(_reply(page, 2).locator(".asst-list li")).to_have_count(3)
        expect(panel.locator(".asst-card")).to_have_count(1)
        expect(panel.locator(".asst-card")).to_contain_text("Kim Keep")
        expect(panel.locator(".asst-card .asst-undo")).to_have_count(1)
        page.goto(f"{base_url}/contacts")
        expect(panel).to_be_visible()
        expect(panel.locator(".asst-user")).to_have_count(3)

        # the conversation is this user's: another organization's user with the same
        # session id sees none of it
        r = httpx.get(
            f"{base_url}/api/v1/chat/history",
            params={"session_id": session},
            headers=other["headers"],
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["messages"] == []
        r = httpx.get(
            f"{base_url}/api/v1/chat/history",
            params={"session_id": session},
            headers=user["headers"],
            timeout=30,
        )
        assert len(r.json()["messages"]) == 6

        # "New conversation" starts over
        with page.expect_response(lambda r: r.url.endswith("/api/v1/chat/clear")) as cleared:
            panel.get_by_role("button", name="New conversation").click()
        assert cleared.value.status == 200
        expect(panel.locator(".asst-msg")).to_have_count(0)
        expect(panel.locator(".asst-chip").first).to_be_visible()
        page.reload()
        expect(panel).to_be_visible()
        expect(panel.locator(".asst-chip").first).to_be_visible()
        expect(panel.locator(".asst-msg")).to_have_count(0)


def test_an_error_reads_as_a_message(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Panel Errors Co", full_name="Erin Error")
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/tasks")
        page.keyboard.press("Control+j")
        panel = page.locator("#assistant-panel")
        expect(panel).to_be_visible()
        # a session id the API refuses: its problem+json detail is shown, not a crash
        page.evaluate(
            "Object.keys(sessionStorage).filter(k => k.endsWith(':session'))"
            ".forEach(k => sessionStorage.setItem(k, '#bad id#'))"
        )
        page.reload()
        expect(panel).to_be_visible()
        error = panel.locator(".asst-error")
        expect(error).to_be_visible()
        expect(error).to_have_attribute("role", "alert")
        expect(error).to_contain_text("session_id")
        _send(page, "how many leads do we have?")
        expect(error.last).to_contain_text("session_id")
        expect(panel.get_by_role("button", name="Try again")).to_be_visible()


def test_a_change_to_the_record_on_screen_offers_a_reload(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Panel Record Co", full_name="Ray Record")
    lead = _lead(base_url, user, name="Rhea Record", company="Record Works", value=3000)
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/leads/{lead}")
        expect(page.locator("#lead-status")).to_have_value("New")
        page.keyboard.press("Control+j")
        _send(page, "move Rhea Record to Contacted")
        card = _reply(page, 0).locator(".asst-card")
        expect(card).to_have_count(1, timeout=REPLY_MS)
        expect(card.locator("a")).to_have_attribute("href", f"/leads/{lead}")
        # this page does not redraw itself: the card offers the reload, which shows the change
        card.get_by_role("button", name=re.compile("Reload this page")).click()
        expect(page.locator("#lead-status")).to_have_value("Contacted")
        panel = page.locator("#assistant-panel")
        expect(panel).to_be_visible()
        # from the history, the card is what happened, not a prompt to reload
        expect(panel.locator(".asst-card")).to_have_count(1)
        expect(panel.locator(".asst-card-reload")).to_have_count(0)
