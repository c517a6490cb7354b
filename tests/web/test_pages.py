"""The web UI over real HTTP: cookie sign-in, page rendering, CSRF, tenant isolation, forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fixtures.factories import PASSWORD, Account, create, register

HX = {"HX-Request": "true"}


async def web_login(base_url: str, acc: Account) -> httpx.AsyncClient:
    """A browser-like client signed in through the login form."""
    c = httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False)
    r = await c.get("/login")
    assert r.status_code == 200
    csrf = c.cookies["aicrm_csrf"]
    r = await c.post(
        "/login",
        data={"email": acc.email, "password": PASSWORD, "csrf_token": csrf, "next": "/contacts"},
    )
    assert r.status_code == 303, r.text
    return c


def csrf_of(c: httpx.AsyncClient) -> str:
    return c.cookies["aicrm_csrf"]


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await register(client, org="Web Co", full_name="Wendy Owner")


@pytest.fixture
async def browser(base_url: str, owner: Account) -> AsyncIterator[httpx.AsyncClient]:
    c = await web_login(base_url, owner)
    yield c
    await c.aclose()


async def test_login_sets_cookies_and_redirects(base_url: str, owner: Account) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        r = await c.post(
            "/login",
            data={
                "email": owner.email,
                "password": PASSWORD,
                "csrf_token": csrf_of(c),
                "next": "/contacts?status=lead",
            },
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/contacts?status=lead"
        cookies = {line.split("=", 1)[0]: line.lower() for line in r.headers.get_list("set-cookie")}
        for name in ("aicrm_access", "aicrm_refresh"):
            assert "httponly" in cookies[name]
            assert "samesite=lax" in cookies[name]
            assert "path=/" in cookies[name]
        assert "httponly" not in cookies["aicrm_csrf"]
        # the session works for pages and for the JSON API
        assert (await c.get("/contacts")).status_code == 200
        me = await c.get("/api/v1/auth/me")
        assert me.status_code == 200
        assert me.json()["email"] == owner.email


async def test_login_refuses_open_redirects(base_url: str, owner: Account) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        r = await c.post(
            "/login",
            data={
                "email": owner.email,
                "password": PASSWORD,
                "csrf_token": csrf_of(c),
                "next": "//evil.example/",
            },
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/"


async def test_wrong_password_is_shown_inline(base_url: str, owner: Account) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        r = await c.post(
            "/login",
            data={"email": owner.email, "password": "nope-nope", "csrf_token": csrf_of(c)},
        )
        assert r.status_code == 401
        assert "text/html" in r.headers["content-type"]
        assert "Incorrect email or password" in r.text
        assert f'value="{owner.email}"' in r.text
        assert "aicrm_access" not in r.cookies


async def test_login_lockout_message(base_url: str, owner: Account) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        for _ in range(5):
            r = await c.post(
                "/login",
                data={"email": owner.email, "password": "wrong-pass", "csrf_token": csrf_of(c)},
            )
            assert r.status_code == 401
        r = await c.post(
            "/login", data={"email": owner.email, "password": PASSWORD, "csrf_token": csrf_of(c)}
        )
        assert r.status_code == 423
        assert "locked" in r.text
        assert int(r.headers["retry-after"]) > 0


async def test_login_form_needs_its_csrf_token(base_url: str, owner: Account) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        await c.get("/login")
        r = await c.post("/login", data={"email": owner.email, "password": PASSWORD})
        assert r.status_code == 403
        assert "expired" in r.text
        assert "aicrm_access" not in r.cookies


PAGES = [
    "/",
    "/contacts",
    "/companies",
    "/leads",
    "/deals",
    "/tasks",
    "/tasks?view=mine&status=any&overdue=1",
    "/settings/team",
    "/audit",
    "/search?q=Ada",
]


async def test_pages_render_for_a_signed_in_user(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    company = await create(client, owner, "/api/v1/companies", {"name": "Analytical Engines"})
    contact = await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Ada Lovelace", "email": "ada@example.com", "company_id": company["id"]},
    )
    lead = await create(client, owner, "/api/v1/leads", {"name": "Ada's lead", "value": 1200})
    deal = await create(client, owner, "/api/v1/deals", {"name": "Engine deal", "amount": 5000})
    task = await create(
        client, owner, "/api/v1/tasks", {"title": "Call Ada", "contact_id": contact["id"]}
    )
    await create(
        client,
        owner,
        "/api/v1/activities",
        {"type": "call", "body": "Talked", "contact_id": contact["id"]},
    )
    detail = [
        f"/contacts/{contact['id']}",
        f"/companies/{company['id']}",
        f"/leads/{lead['id']}",
        f"/deals/{deal['id']}",
        f"/tasks/{task['id']}",
    ]
    for path in PAGES + detail:
        r = await browser.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "text/html" in r.headers["content-type"]
        assert '<meta name="csrf-token"' in r.text
        assert "hx-headers" in r.text
    contact_page = (await browser.get(f"/contacts/{contact['id']}")).text
    assert "Ada Lovelace" in contact_page and "Analytical Engines" in contact_page
    assert "Talked" in contact_page  # the timeline
    assert "Call Ada" in contact_page  # related tasks
    board = (await browser.get("/leads")).text
    assert "Ada&#39;s lead" in board or "Ada's lead" in board
    assert 'data-move-url="/api/v1/leads/{id}/status"' in board


async def test_pages_redirect_to_login_without_cookies(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        for path in PAGES + ["/contacts/1", "/leads/1"]:
            r = await c.get(path)
            assert r.status_code == 303, path
            location = r.headers["location"]
            assert location.startswith("/login"), location
        r = await c.get("/contacts?status=lead")
        assert r.headers["location"] == "/login?next=/contacts%3Fstatus%3Dlead"
        # HTMX requests are told where to go instead of receiving the login page as a fragment
        r = await c.get("/search?q=x", headers={**HX, "HX-Current-URL": f"{base_url}/companies"})
        assert r.status_code == 401
        assert r.headers["hx-redirect"] == "/login?next=/companies"


async def test_cookie_api_write_needs_the_csrf_header(browser: httpx.AsyncClient) -> None:
    r = await browser.post("/api/v1/contacts", json={"name": "No Token"})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await browser.post(
        "/api/v1/contacts", json={"name": "With Token"}, headers={"X-CSRF-Token": csrf_of(browser)}
    )
    assert r.status_code == 201, r.text
    # web form posts are checked too
    r = await browser.post("/contacts", data={"first_name": "Form", "last_name": "NoToken"})
    assert r.status_code == 403
    assert "CSRF" in r.text


async def test_another_tenants_contact_is_a_404_page(
    client: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    other = await register(client, org="Other Tenant")
    theirs = await create(client, other, "/api/v1/contacts", {"name": "Secret Person"})
    their_lead = await create(client, other, "/api/v1/leads", {"name": "Secret lead"})
    for path in (
        f"/contacts/{theirs['id']}",
        f"/leads/{their_lead['id']}",
        f"/contacts/{theirs['id']}/edit",
    ):
        r = await browser.get(path)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
        assert "Secret" not in r.text
        assert "couldn" in r.text  # the styled error page, inside the app layout
        assert 'class="sidebar"' in r.text
    r = await browser.post(
        f"/contacts/{theirs['id']}",
        data={"first_name": "Hacked", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code in (404, 422)
    check = await client.get(f"/api/v1/contacts/{theirs['id']}", headers=other.headers)
    assert check.json()["name"] == "Secret Person"


async def test_unknown_page_is_html_for_browsers(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/no-such-page", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    r = await browser.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_expired_access_cookie_is_renewed_from_the_refresh_cookie(
    browser: httpx.AsyncClient,
) -> None:
    old_refresh = browser.cookies["aicrm_refresh"]
    browser.cookies.set("aicrm_access", "expired.or.tampered", domain="127.0.0.1")
    r = await browser.get("/contacts")
    assert r.status_code == 200
    assert r.cookies.get("aicrm_access")
    assert r.cookies.get("aicrm_refresh") and r.cookies["aicrm_refresh"] != old_refresh


async def test_logout_clears_the_session(browser: httpx.AsyncClient) -> None:
    refresh = browser.cookies["aicrm_refresh"]
    r = await browser.post("/logout", data={"csrf_token": csrf_of(browser)})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert (await browser.get("/contacts")).status_code == 303
    r = await browser.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert r.status_code == 401


async def test_contact_form_shows_field_errors(browser: httpx.AsyncClient) -> None:
    r = await browser.post(
        "/contacts",
        data={"first_name": "Bad", "email": "not-an-email", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 422
    assert 'id="contact-form"' in r.text
    # the message sits next to the email field
    assert re.search(r'name="email"[^>]*aria-invalid="true"', r.text)
    assert 'class="field-error" id="e-f-email"' in r.text
    ok = await browser.post(
        "/contacts",
        data={
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.com",
            "tags": "vip, navy",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert ok.status_code == 200
    target = ok.headers["hx-redirect"]
    assert re.fullmatch(r"/contacts/\d+", target)
    page = await browser.get(target)
    assert "Grace Hopper" in page.text and "navy" in page.text
    dup = await browser.post(
        "/contacts",
        data={"first_name": "Other", "email": "grace@example.com", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert dup.status_code == 422
    assert "Create a separate contact anyway" in dup.text


async def test_contacts_list_filters_and_load_more(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    for i in range(30):
        await create(
            client,
            owner,
            "/api/v1/contacts",
            {
                "name": f"Person {i:02d}",
                "status": "customer" if i % 2 else "lead",
                "tags": ["even"] if i % 2 == 0 else [],
            },
        )
    first = await browser.get("/contacts")
    assert first.text.count("<tr>") >= 25
    match = re.search(r'hx-get="(/contacts\?[^"]*cursor=[^"]+)"', first.text)
    assert match
    more = await browser.get(match.group(1).replace("&amp;", "&"), headers=HX)
    assert more.status_code == 200
    assert "Person 29" in more.text
    filtered = await browser.get(
        "/contacts?status=customer&tag=", headers={**HX, "HX-Target": "contact-list"}
    )
    assert "Person 01" in filtered.text and "Person 02" not in filtered.text
    # the address bar keeps only the filters that are set
    assert filtered.headers["hx-push-url"] == "/contacts?status=customer"
    tagged = await browser.get("/contacts?tag=even", headers={**HX, "HX-Target": "contact-list"})
    assert "Person 02" in tagged.text and "Person 01" not in tagged.text


async def test_new_lead_from_the_board_adds_the_card(browser: httpx.AsyncClient) -> None:
    r = await browser.post(
        "/leads",
        data={
            "name": "Board lead",
            "value": "2500",
            "status": "Qualified",
            "from": "board",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert r.status_code == 200, r.text
    assert 'hx-swap-oob="beforeend:#cards-' in r.text
    assert "Board lead" in r.text
    assert '"closeDialog"' in r.headers["hx-trigger"]
    bad = await browser.post(
        "/leads", data={"name": "", "from": "board", "csrf_token": csrf_of(browser)}, headers=HX
    )
    assert bad.status_code == 422
    assert 'id="e-f-name"' in bad.text


async def test_completing_a_blocked_task_explains_why(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    first = await create(client, owner, "/api/v1/tasks", {"title": "Draft contract"})
    second = await create(client, owner, "/api/v1/tasks", {"title": "Send contract"})
    r = await client.post(
        f"/api/v1/tasks/{second['id']}/dependencies",
        json={"blocked_by_id": first["id"]},
        headers=owner.headers,
    )
    assert r.status_code in (200, 201)
    listing = await browser.get("/tasks")
    assert "Blocked" in listing.text
    r = await browser.post(
        f"/tasks/{second['id']}/status",
        data={"status": "done", "where": "row", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 422
    assert "finish “Draft contract” first" in r.text
    r = await browser.post(
        f"/tasks/{first['id']}/status",
        data={"status": "done", "where": "row", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 200
    r = await browser.post(
        f"/tasks/{second['id']}/status",
        data={"status": "done", "where": "row", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 200


async def test_viewer_cannot_write_through_the_ui(
    client: httpx.AsyncClient, base_url: str, owner: Account
) -> None:
    from tests.fixtures.factories import member

    viewer = await member(client, owner, "viewer")
    c = await web_login(base_url, viewer)
    try:
        page = await c.get("/contacts")
        assert page.status_code == 200
        assert "New contact" not in page.text
        r = await c.post(
            "/contacts", data={"first_name": "Nope", "csrf_token": csrf_of(c)}, headers=HX
        )
        assert r.status_code == 422
        assert "may not do this" in r.text
        assert (await c.get("/audit")).status_code == 403
        # the board shows, but cards cannot be dragged
        assert "data-readonly" in (await c.get("/leads")).text
    finally:
        await c.aclose()


async def test_switch_organization(
    client: httpx.AsyncClient, base_url: str, owner: Account
) -> None:
    from tests.fixtures.factories import member

    agent = await member(client, owner, "agent")
    # the agent also founds an organization of their own
    r = await client.post(
        "/api/v1/organizations", json={"name": "Agent's Own"}, headers=agent.headers
    )
    assert r.status_code == 201
    own_org = r.json()["organization_id"]
    c = await web_login(base_url, agent)
    try:
        page = await c.get("/")
        assert 'id="org-switch"' in page.text
        r = await c.post(
            "/switch-organization",
            data={"organization_id": str(owner.organization_id), "csrf_token": csrf_of(c)},
        )
        assert r.status_code == 303
        me = await c.get("/api/v1/auth/me")
        assert me.json()["active_organization_id"] == owner.organization_id
        r = await c.post(
            "/switch-organization", data={"organization_id": str(own_org), "csrf_token": csrf_of(c)}
        )
        assert (await c.get("/api/v1/auth/me")).json()["active_organization_id"] == own_org
    finally:
        await c.aclose()


async def test_invitation_shows_a_link_that_registers(
    base_url: str, browser: httpx.AsyncClient
) -> None:
    r = await browser.post(
        "/settings/invitations",
        data={"email": "new.person@example.com", "role": "agent", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 200, r.text
    link = re.search(r'data-copy="([^"]+)"', r.text)
    assert link
    path = link.group(1).replace(base_url, "")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as newcomer:
        page = await newcomer.get(path)
        assert page.status_code == 200 and "Join your team" in page.text
        token = re.search(r'name="invitation_token" value="([^"]+)"', page.text).group(1)
        r = await newcomer.post(
            "/register",
            data={
                "email": "new.person@example.com",
                "password": PASSWORD,
                "full_name": "New Person",
                "invitation_token": token,
                "csrf_token": csrf_of(newcomer),
            },
        )
        assert r.status_code == 303
        me = await newcomer.get("/api/v1/auth/me")
        assert me.json()["role"] == "agent"
    team = await browser.get("/settings/team")
    assert "New Person" in team.text


async def test_saved_views_on_the_contacts_list(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    await create(
        client,
        owner,
        "/api/v1/contacts",
        {"name": "Vera Vip", "status": "customer", "tags": ["vip"]},
    )
    await create(client, owner, "/api/v1/contacts", {"name": "Norm Plain", "status": "lead"})
    r = await browser.post(
        "/contacts/views",
        data={
            "name": "VIP customers",
            "shared": "1",
            "status": "customer",
            "tag": "vip",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert r.status_code == 200, r.text
    target = r.headers["hx-redirect"]
    assert re.fullmatch(r"/contacts\?view=\d+", target)
    page = await browser.get(target)
    assert "Vera Vip" in page.text and "Norm Plain" not in page.text
    assert re.search(r'class="view-chip on"[^>]*>.*VIP customers', page.text)
    again = await browser.post(
        "/contacts/views",
        data={"name": "VIP customers", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert again.status_code == 422
    assert 'id="e-view-name"' in again.text


async def test_audit_log_lists_changes_newest_first(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    first = await create(client, owner, "/api/v1/contacts", {"name": "Audited First"})
    await client.patch(
        f"/api/v1/contacts/{first['id']}", json={"title": "Auditor"}, headers=owner.headers
    )
    page = await browser.get("/audit")
    assert page.status_code == 200
    assert f'href="/contacts/{first["id"]}"' in page.text
    # the update (newest) comes before the create
    assert page.text.index("Auditor") < page.text.index("Audited First")
    assert "Wendy Owner" in page.text


async def test_company_form_and_page(browser: httpx.AsyncClient) -> None:
    bad = await browser.post(
        "/companies",
        data={"name": "", "domain": "not a domain", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert bad.status_code == 422
    assert 'id="e-f-name"' in bad.text and 'id="e-f-domain"' in bad.text
    ok = await browser.post(
        "/companies",
        data={
            "name": "Cyberdyne",
            "domain": "cyberdyne.example",
            "industry": "Robotics",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert ok.status_code == 200
    page = await browser.get(ok.headers["hx-redirect"])
    assert "Cyberdyne" in page.text and "Robotics" in page.text


async def test_lead_conversion_and_deal_stage_reason(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    lead = await create(
        client,
        owner,
        "/api/v1/leads",
        {
            "name": "Convert me",
            "company": "Tyrell",
            "email": "rachael@tyrell.example",
            "value": 7000,
        },
    )
    r = await browser.post(
        f"/leads/{lead['id']}/convert",
        data={
            "deal_name": "Tyrell: replicants",
            "amount": "7000",
            "stage": "Proposal",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert r.status_code == 200, r.text
    deal_path = r.headers["hx-redirect"]
    deal_id = int(deal_path.rsplit("/", 1)[1])
    page = await browser.get(deal_path)
    assert "Tyrell: replicants" in page.text and "Proposal" in page.text
    lead_page = await browser.get(f"/leads/{lead['id']}")
    assert "Converted" in lead_page.text and "Convert to deal" not in lead_page.text
    pipelines = (await client.get("/api/v1/pipelines", headers=owner.headers)).json()
    lost = next(s for s in pipelines[0]["stages"] if s["is_lost"])
    r = await browser.post(
        f"/deals/{deal_id}/stage",
        data={"stage_id": str(lost["id"]), "won_lost_reason": "", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert r.status_code == 422
    assert "A lost deal needs a reason" in r.text
    r = await browser.post(
        f"/deals/{deal_id}/stage",
        data={
            "stage_id": str(lost["id"]),
            "won_lost_reason": "Budget cut",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert r.status_code == 200
    deal = (await client.get(f"/api/v1/deals/{deal_id}", headers=owner.headers)).json()
    assert deal["status"] == "lost" and deal["won_lost_reason"] == "Budget cut"


async def test_timeline_note_on_a_contact(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, owner: Account
) -> None:
    contact = await create(client, owner, "/api/v1/contacts", {"name": "Tim Line"})
    empty = await browser.post(
        f"/contacts/{contact['id']}/activities",
        data={"type": "note", "body": "", "csrf_token": csrf_of(browser)},
        headers=HX,
    )
    assert empty.status_code == 422
    assert "Write what happened" in empty.text
    r = await browser.post(
        f"/contacts/{contact['id']}/activities",
        data={
            "type": "call",
            "direction": "outbound",
            "body": "Left a voicemail",
            "csrf_token": csrf_of(browser),
        },
        headers=HX,
    )
    assert r.status_code == 200
    assert "Left a voicemail" in r.text
    timeline = (
        await client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=owner.headers)
    ).json()
    assert timeline["items"][0]["type"] == "call"
