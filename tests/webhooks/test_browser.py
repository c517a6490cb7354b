"""The webhook page in Chromium: reveal the secret, send a test, watch the log update itself,
replay, pause. Screenshot in test-artifacts/webhook-detail.png."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from aicrm.webhooks.signing import verify
from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page

pytestmark = pytest.mark.browser


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_webhook_page_in_the_browser(
    base_url: str, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    need_chromium()
    url, received = receiver
    user = make_user(base_url, org="Browser hooks", full_name="Hook Admin")
    r = httpx.post(
        f"{base_url}/api/v1/webhooks",
        json={"url": url, "event_types": ["deal.*"], "description": "Warehouse"},
        headers=user["headers"],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    hook = r.json()
    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/settings/webhooks")
        page.get_by_role("link", name=url).click()
        page.wait_for_url(f"{base_url}/settings/webhooks/{hook['id']}")

        secret = page.locator("#webhook-secret-value")
        assert not secret.is_visible()
        page.get_by_text("Reveal secret").click()
        assert secret.is_visible() and secret.input_value() == hook["secret"]

        page.get_by_role("button", name="Send test").click()
        log = page.locator("#webhook-deliveries")
        log.get_by_text("webhook.test").wait_for()
        # the log refreshes itself while a delivery is in flight
        log.locator(".badge", has_text="Succeeded").first.wait_for(timeout=20_000)

        log.get_by_role("button", name="Replay").first.click()
        log.get_by_text("replay of #").wait_for()
        page.wait_for_function(
            "document.querySelectorAll('#webhook-deliveries .badge-done').length >= 2",
            timeout=20_000,
        )
        page.get_by_role("button", name="Pause").click()
        page.locator("#webhook-summary .badge", has_text="Paused").wait_for()
        page.screenshot(path=str(artifacts() / "webhook-detail.png"), full_page=True)

    assert len(received) == 2
    bodies = [json.loads(body) for _, body in received]
    assert [b["type"] for b in bodies] == ["webhook.test", "webhook.test"]
    for headers, body in received:
        assert verify(hook["secret"], headers["aicrm-signature"], body)
