"""Screenshots of the main pages filled with demo-like data (test-artifacts/*.png), so the design
can be reviewed by eye; the test also fails on any JavaScript error or broken page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.browser import artifacts, make_user, need_chromium, signed_in_page
from tests.fixtures.factories import PASSWORD, unique_email

pytestmark = pytest.mark.browser

COMPANIES = [
    ("Northwind Traders", "northwind.example", "Wholesale", "Seattle", "US"),
    ("Globex", "globex.example", "Manufacturing", "Springfield", "US"),
    ("Initech", "initech.example", "Software", "Austin", "US"),
    ("Umbrella Health", "umbrella-health.example", "Healthcare", "Boston", "US"),
    ("Stark Solar", "starksolar.example", "Energy", "Denver", "US"),
]
PEOPLE = [
    ("Ada", "Lovelace", "Head of Operations", 0, "customer", ["vip"]),
    ("Grace", "Hopper", "CTO", 2, "customer", ["decision-maker"]),
    ("Alan", "Turing", "Data Lead", 1, "prospect", []),
    ("Katherine", "Johnson", "Procurement", 3, "lead", ["newsletter"]),
    ("Linus", "Pauling", "Plant Manager", 1, "prospect", ["decision-maker"]),
    ("Hedy", "Lamarr", "Founder", 4, "customer", ["vip", "partner"]),
    ("Edsger", "Dijkstra", "Architect", 2, "lead", []),
    ("Barbara", "Liskov", "VP Engineering", 2, "prospect", ["newsletter"]),
    ("Margaret", "Hamilton", "Director", 3, "churned", ["at-risk"]),
    ("Tim", "Berners-Lee", "Product Owner", 0, "lead", []),
]
LEADS = [
    ("Warehouse automation", "Northwind Traders", "New", 48000, 82, "high"),
    ("Analytics pilot", "Initech", "New", 12000, 45, "medium"),
    ("Fleet tracking", "Globex", "New", 27500, None, "low"),
    ("Patient portal", "Umbrella Health", "Contacted", 64000, 71, "high"),
    ("Solar monitoring", "Stark Solar", "Contacted", 18000, 38, "medium"),
    ("Support retainer", "Globex", "Qualified", 36000, 66, "medium"),
    ("Data migration", "Initech", "Qualified", 22000, 59, "high"),
    ("Annual licence", "Northwind Traders", "Proposal", 90000, 88, "high"),
    ("Training package", "Umbrella Health", "Won", 15000, 93, "medium"),
    ("Pilot extension", "Stark Solar", "Lost", 9000, 21, "low"),
]


def _post(
    base_url: str, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = httpx.post(f"{base_url}{path}", json=body, headers=headers, timeout=30)
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


def _teammate(base_url: str, headers: dict[str, str], name: str, role: str) -> int:
    email = unique_email(name.split()[0].lower())
    inv = _post(base_url, headers, "/api/v1/invitations", {"email": email, "role": role})
    r = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": name,
            "invitation_token": inv["token"],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    me = httpx.get(
        f"{base_url}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        timeout=30,
    )
    return int(me.json()["id"])


def _demo_data(base_url: str, headers: dict[str, str]) -> int:
    """A small, realistic organization; returns the id of the contact to photograph."""
    me = httpx.get(f"{base_url}/api/v1/auth/me", headers=headers, timeout=30).json()["id"]
    team = [
        me,
        _teammate(base_url, headers, "Priya Nair", "agent"),
        _teammate(base_url, headers, "Marcus Reid", "manager"),
    ]
    companies = [
        _post(
            base_url,
            headers,
            "/api/v1/companies",
            {"name": n, "domain": d, "industry": i, "city": c, "country": k},
        )["id"]
        for n, d, i, c, k in COMPANIES
    ]
    contacts = []
    for i, (first, last, title, company, status, tags) in enumerate(PEOPLE):
        contacts.append(
            _post(
                base_url,
                headers,
                "/api/v1/contacts",
                {
                    "first_name": first,
                    "last_name": last,
                    "email": f"{first.lower()}.{last.lower()}@{COMPANIES[company][1]}",
                    "phone": f"+1 415 555 01{i:02d}",
                    "title": title,
                    "company_id": companies[company],
                    "status": status,
                    "tags": tags,
                    "owner_id": team[i % 3],
                    "lifetime_value": 12000 + 3500 * i,
                    "city": COMPANIES[company][3],
                    "country": "US",
                },
            )["id"]
        )
    for i, (name, company, status, value, score, priority) in enumerate(LEADS):
        body: dict[str, Any] = {
            "name": name,
            "company": company,
            "status": status,
            "value": value,
            "priority": priority,
            "assignee_id": team[i % 3],
            "source": ["website", "referral", "event"][i % 3],
        }
        if score is not None:
            body["quality_score"] = score
        _post(base_url, headers, "/api/v1/leads", body)
    for i, (name, stage, amount) in enumerate(
        [
            ("Northwind: annual licence", "Negotiation", 90000),
            ("Globex: support retainer", "Proposal", 36000),
            ("Initech: data migration", "Qualification", 22000),
            ("Umbrella: patient portal", "Prospecting", 64000),
            ("Stark Solar: monitoring", "Closed Won", 18000),
        ]
    ):
        _post(
            base_url,
            headers,
            "/api/v1/deals",
            {
                "name": name,
                "stage": stage,
                "amount": amount,
                "company_id": companies[i],
                "contact_id": contacts[i],
                "expected_close_date": (datetime.now(UTC) + timedelta(days=20 + 9 * i))
                .date()
                .isoformat(),
            },
        )
    now = datetime.now(UTC)
    first_task = _post(
        base_url,
        headers,
        "/api/v1/tasks",
        {
            "title": "Send the revised proposal to Ada",
            "assignee_id": me,
            "due_at": (now - timedelta(days=1)).isoformat(),
            "priority": "high",
            "contact_id": contacts[0],
        },
    )
    second = _post(
        base_url,
        headers,
        "/api/v1/tasks",
        {
            "title": "Schedule the onboarding kickoff",
            "assignee_id": me,
            "due_at": (now + timedelta(hours=5)).isoformat(),
            "contact_id": contacts[0],
        },
    )
    _post(
        base_url,
        headers,
        f"/api/v1/tasks/{second['id']}/dependencies",
        {"blocked_by_id": first_task["id"]},
    )
    _post(
        base_url,
        headers,
        "/api/v1/tasks",
        {
            "title": "Prepare the quarterly review deck",
            "assignee_id": me,
            "due_at": (now + timedelta(days=3)).isoformat(),
            "category": "review",
        },
    )
    for days, kind, subject, body in [
        (1, "call", "Pricing follow-up", "Ada wants the three-year option priced before Friday."),
        (3, "email", "Proposal sent", "Sent the revised proposal with the volume discount."),
        (
            6,
            "meeting",
            "On-site demo",
            "Demo for Ada and two warehouse leads; strong interest in the routing module.",
        ),
        (
            9,
            "note",
            "Budget confirmed",
            "Budget for next year is approved; decision expected this month.",
        ),
    ]:
        activity: dict[str, Any] = {
            "type": kind,
            "subject": subject,
            "body": body,
            "contact_id": contacts[0],
            "occurred_at": (now - timedelta(days=days)).isoformat(),
        }
        if kind in ("call", "email"):
            activity["direction"] = "outbound"
        _post(base_url, headers, "/api/v1/activities", activity)
    return contacts[0]


def test_screenshots_of_the_main_pages(base_url: str) -> None:
    need_chromium()
    from playwright.sync_api import expect

    user = make_user(base_url, org="Acme Robotics", full_name="Alex Morgan")
    contact_id = _demo_data(base_url, user["headers"])
    out = artifacts()
    with signed_in_page(base_url, user["email"], login_shot=out / "login.png") as page:
        for name, path, marker in [
            ("dashboard", "/", "Lead funnel"),
            ("contacts", "/contacts", "Ada Lovelace"),
            ("contact", f"/contacts/{contact_id}", "On-site demo"),
            ("leads", "/leads", "Warehouse automation"),
            ("deals", "/deals", "Northwind: annual licence"),
            ("tasks", "/tasks", "Schedule the onboarding kickoff"),
            ("team", "/settings/team", "Priya Nair"),
        ]:
            page.goto(f"{base_url}{path}")
            expect(page.get_by_text(marker).first).to_be_visible()
            page.screenshot(path=str(out / f"{name}.png"))
        # the create dialog with field errors, and the quick search
        page.goto(f"{base_url}/contacts")
        page.get_by_role("button", name="New contact").click()
        page.locator("#contact-form [name=email]").fill("not-an-email")
        page.locator("#contact-form [name=first_name]").fill("Typo")
        page.locator("#contact-form button[type=submit]").click()
        expect(page.locator("#contact-form .field-error").first).to_be_visible()
        page.screenshot(path=str(out / "contact-form-errors.png"))
        page.keyboard.press("Escape")
        page.keyboard.press("/")
        page.keyboard.type("Ada")
        expect(page.locator("#search-results .sr-item").first).to_be_visible()
        page.screenshot(path=str(out / "search.png"))
    with signed_in_page(base_url, user["email"], width=900, height=1100) as page:
        page.goto(f"{base_url}/contacts/{contact_id}")
        page.screenshot(path=str(out / "contact-tablet.png"))
