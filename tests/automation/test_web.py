"""The automation pages over real HTTP (cookie sign-in, CSRF), and the rule editor in Chromium:
the issue's rule built by clicking, saved, tried in the dry-run panel."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.automation.helpers import RULES, create_rule, qualified_rule, sales_org
from tests.e2e.browser import artifacts, need_chromium, signed_in_page
from tests.fixtures.factories import PASSWORD, create, member, register, unique_email
from tests.web.test_pages import HX, csrf_of, web_login


async def test_pages_render_and_the_switch_toggles(
    base_url: str, client: httpx.AsyncClient
) -> None:
    org = await sales_org(client, "Web Rules Co")
    rule = await create_rule(client, org.owner, qualified_rule(org.team_id))
    lead = await create(client, org.owner, "/api/v1/leads", {"name": "Big", "value": 20000})
    web = await web_login(base_url, org.owner)
    try:
        r = await web.get("/automation")
        assert r.status_code == 200
        assert "Big qualified leads" in r.text and "When lead.status_changed" in r.text
        assert 'aria-checked="true"' in r.text and "/automation/new" in r.text

        r = await web.get(f"/automation/{rule['id']}")
        assert r.status_code == 200
        assert 'id="rule-editor"' in r.text and "automation.js" in r.text
        assert "Execution log" in r.text and "Dry run" in r.text
        assert (await web.get("/automation/new")).status_code == 200

        # the switch pauses the rule (CSRF checked), and the row comes back re-rendered
        r = await web.post(
            f"/automation/{rule['id']}/toggle",
            data={"enabled": "false", "csrf_token": csrf_of(web)},
            headers=HX,
        )
        assert r.status_code == 200, r.text
        assert 'aria-checked="false"' in r.text
        got = await client.get(f"{RULES}/{rule['id']}", headers=org.owner.headers)
        assert got.json()["enabled"] is False
        r = await web.post(f"/automation/{rule['id']}/toggle", data={"enabled": "true"}, headers=HX)
        assert r.status_code == 403

        # the record picker and the dry run (JSON posted by the page's script)
        r = await web.get("/automation/records", params={"entity_type": "lead", "q": "bi"})
        assert f'value="{lead["id"]}"' in r.text
        body: dict[str, Any] = {
            "rule": qualified_rule(org.team_id),
            "entity_type": "lead",
            "entity_id": lead["id"],
        }
        r = await web.post(
            "/automation/dry-run", json=body, headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 200, r.text
        assert "The conditions do not hold" in r.text  # the lead is still New
        assert "Call Big (20000)" in r.text
        body["event"] = {
            "type": "lead.status_changed",
            "payload": {"from": "New", "to": "Qualified"},
        }
        body["rule"]["conditions"]["all"][0] = {
            "field": "event.to",
            "op": "eq",
            "value": "Qualified",
        }
        r = await web.post(
            "/automation/dry-run", json=body, headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert "The conditions hold" in r.text and "Nothing was written" in r.text
        body["rule"]["actions"][0]["team_id"] = 10**9
        r = await web.post(
            "/automation/dry-run", json=body, headers={**HX, "X-CSRF-Token": csrf_of(web)}
        )
        assert r.status_code == 422
        assert "actions[0].team_id" in r.text

        r = await web.post(f"/automation/{rule['id']}/delete", data={"csrf_token": csrf_of(web)})
        assert r.status_code == 303 and r.headers["location"] == "/automation"
        assert (
            await client.get(f"{RULES}/{rule['id']}", headers=org.owner.headers)
        ).status_code == 404
    finally:
        await web.aclose()


async def test_members_read_and_try_but_do_not_edit(
    base_url: str, client: httpx.AsyncClient
) -> None:
    org = await sales_org(client, "Web Viewers Co")
    rule = await create_rule(client, org.owner, qualified_rule(org.team_id))
    viewer = await member(client, org.owner, "viewer")
    stranger = await register(client, org="Web Stranger Co")
    web = await web_login(base_url, viewer)
    try:
        r = await web.get(f"/automation/{rule['id']}")
        assert r.status_code == 200
        assert 'id="rule-editor"' not in r.text and "How it works" in r.text
        assert "/automation/new" not in (await web.get("/automation")).text
        assert (await web.get("/automation/new")).status_code == 403
        r = await web.post(
            f"/automation/{rule['id']}/toggle",
            data={"enabled": "false", "csrf_token": csrf_of(web)},
            headers=HX,
        )
        assert r.status_code == 403
        r = await web.post(
            "/automation/dry-run",
            json={"rule_id": rule["id"], "record": {"name": "x", "value": 1}},
            headers={**HX, "X-CSRF-Token": csrf_of(web)},
        )
        assert r.status_code == 200 and "The conditions do not hold" in r.text
    finally:
        await web.aclose()
    web = await web_login(base_url, stranger)
    try:
        assert (await web.get(f"/automation/{rule['id']}")).status_code == 404
        assert (await web.get(f"/automation/{rule['id']}/runs")).status_code == 404
    finally:
        await web.aclose()


@pytest.mark.browser
def test_build_the_issue_rule_by_clicking(base_url: str) -> None:
    need_chromium()
    email = unique_email("rules")
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "full_name": "Rita Rules",
                "organization_name": "Clicky Co",
            },
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        team = c.post("/api/v1/teams", json={"name": "Sales"}, headers=headers).json()
        me = c.get("/api/v1/auth/me", headers=headers).json()
        c.post(
            f"/api/v1/teams/{team['id']}/members",
            json={"user_id": me["id"], "is_manager": True},
            headers=headers,
        )
        lead = c.post(
            "/api/v1/leads",
            json={"name": "Globex", "value": 20000, "status": "Qualified"},
            headers=headers,
        ).json()
    with signed_in_page(base_url, email) as page:
        page.goto(f"{base_url}/automation/new")
        page.fill("#au-name", "Big qualified leads")
        # When: the default trigger is lead.status_changed
        assert (
            page.locator('#au-trigger select[data-path="trigger.event"]').input_value()
            == "lead.status_changed"
        )
        # Only if: status changed to Qualified, and value > 10000
        add = page.get_by_role("button", name="+ Condition")
        add.click()
        add.click()
        page.select_option('[data-path="conditions.all[0].field"]', "status")
        page.select_option('[data-path="conditions.all[0].op"]', "changed_to")
        page.fill('[data-path="conditions.all[0].value"]', "Qualified")
        page.select_option('[data-path="conditions.all[1].field"]', "value")
        page.select_option('[data-path="conditions.all[1].op"]', "gt")
        page.fill('[data-path="conditions.all[1].value"]', "10000")
        # Then: a task for the sales team, and tell its manager
        page.select_option('select[aria-label="Add an action"]', "create_task")
        page.fill('[data-path="actions[0].title"]', "Call {{ record.name }}")
        page.select_option('[data-path="actions[0].user_id"]', f"team:{team['id']}")
        page.select_option('select[aria-label="Add an action"]', "notify")
        page.fill('[data-path="actions[1].title"]', "Qualified: {{ record.name }}")
        page.uncheck('[data-path="actions[1].owner"]')
        page.select_option('[data-path="actions[1].team_id"]', str(team["id"]))
        # try it on the lead before saving
        page.select_option("#au-dry-id", str(lead["id"]))
        page.click("#au-dry-go")
        page.wait_for_selector("text=The conditions hold")
        assert page.locator("#dry-run-result").get_by_text("Call Globex").count() == 1
        page.screenshot(path=str(artifacts() / "automation-editor.png"), full_page=True)
        # a mistake is shown next to its field
        page.fill('[data-path="actions[0].title"]', "Call {{ record.name")
        page.click("#au-save")
        page.wait_for_selector(".has-error .field-error")
        assert "template error" in page.locator(".has-error .field-error").first.inner_text()
        page.fill('[data-path="actions[0].title"]', "Call {{ record.name }}")
        page.click("#au-save")
        page.wait_for_url(re.compile(r".*/automation/\d+$"))
        page.wait_for_selector("text=Execution log")
    with httpx.Client(base_url=base_url, timeout=30) as c:
        rules = c.get(RULES, headers=headers).json()["items"]
    assert len(rules) == 1
    saved = rules[0]
    assert saved["conditions"] == {
        "all": [
            {"field": "status", "op": "changed_to", "value": "Qualified"},
            {"field": "value", "op": "gt", "value": 10000},
        ]
    }
    assert [a["type"] for a in saved["actions"]] == ["create_task", "notify"]
    assert saved["actions"][0]["team_id"] == team["id"]
    assert saved["actions"][1]["team_id"] == team["id"] and saved["actions"][1]["owner"] is False
