"""The forecast page in a real browser: Chart.js (from node_modules) draws both charts from the
server's numbers, without JavaScript errors (a new organization has no past months to
backtest, so only the forecast chart is there)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page

pytestmark = pytest.mark.browser


def test_forecast_page_draws_its_charts(base_url: str) -> None:
    need_chromium()
    user = make_user(base_url, org="Forecast Co", full_name="Fran Cast")
    with httpx.Client(base_url=base_url, headers=user["headers"], timeout=30) as api:
        for i, stage in enumerate(["Proposal", "Negotiation", "Qualification", "Proposal"]):
            r = api.post(
                "/api/v1/deals", json={"name": f"Deal {i}", "stage": stage, "amount": 5000}
            )
            assert r.status_code == 201, r.text
        r = api.put(f"/api/v1/deals/{r.json()['id']}/stage", json={"stage": "Closed Won"})
        assert r.status_code == 200, r.text

    with signed_in_page(base_url, user["email"]) as page:
        page.goto(f"{base_url}/forecast")
        page.wait_for_function("() => window.Chart && Chart.getChart('forecast-chart')")
        drawn = page.evaluate(
            "() => Chart.getChart('forecast-chart').data.datasets.map(d => d.label)"
        )
        assert "Commit" in drawn and any(label.startswith("Forecast") for label in drawn)
        box = page.locator("#forecast-chart").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200
        assert page.locator("#forecast-table tbody tr").count() == 6
        page.screenshot(path=str(artifacts() / "forecast.png"), full_page=True)
