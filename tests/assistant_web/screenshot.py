"""The README's picture of the assistant panel: `python -m tests.assistant_web.screenshot`.

Loads the demo data (`aicrm seed-demo`, seed 42) into a throwaway SQLite database, serves the
real app, signs in as the demo admin and uses the panel on the leads kanban through the real
chat API and the offline engine, then writes docs/assistant-panel.png."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "assistant-panel.png"


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="aicrm-panel-shot-"))
    url = f"sqlite+aiosqlite:///{data / 'demo.db'}"
    os.environ["DATA_DIR"] = str(data)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from playwright.sync_api import expect, sync_playwright

    from aicrm import migrate
    from aicrm.seed import DEMO_LOGIN, run_seed
    from tests.e2e.browser import ARGS, CHROMIUM
    from tests.fixtures.server import LiveServer

    try:
        migrate.upgrade(url)
        asyncio.run(run_seed(seed=42, database_url=url))
        server = LiveServer(url)
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{server.url}/login")
                page.fill("#email", DEMO_LOGIN["email"])
                page.fill("#password", DEMO_LOGIN["password"])
                page.press("#password", "Enter")
                page.wait_for_url(f"{server.url}/")
                page.goto(f"{server.url}/leads")
                page.keyboard.press("Control+j")
                panel = page.locator("#assistant-panel")
                box = page.locator("#assistant-input")
                for text, done in [
                    ("What's the pipeline worth this quarter?", ".asst-bubble"),
                    ("add a lead Jane Doe from Example Corp, 75k, source website", ".asst-card"),
                ]:
                    box.fill(text)
                    box.press("Enter")
                    reply = panel.locator(".asst-bot").last.locator(done)
                    expect(reply.first).to_be_visible(timeout=30_000)
                    expect(panel.locator(".asst-pending")).to_have_count(0, timeout=30_000)
                href = panel.locator(".asst-card a").last.get_attribute("href") or ""
                card = page.locator(f'[data-board] .kcard[data-id="{href.rsplit("/", 1)[-1]}"]')
                expect(card).to_be_visible(timeout=10_000)
                # the AI score arrives a moment later and redraws the card; then it stays
                expect(card.locator(".score")).to_be_visible(timeout=15_000)
                page.wait_for_timeout(1500)  # the card's flash fades
                # bring the new card into view inside its column, the page itself at the top
                card.evaluate(
                    "el => { const list = el.closest('[data-cards]');"
                    " list.scrollTop = el.offsetTop - list.offsetTop - list.clientHeight / 2;"
                    " window.scrollTo(0, 0); }"
                )
                box.fill("move Jane Doe to Contacted")
                page.mouse.move(0, 0)
                OUT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote {OUT}")  # noqa: T201


if __name__ == "__main__":
    main()
