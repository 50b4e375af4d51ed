"""Lead routing and team alerts in a real browser (Debian's chromium driven by playwright): the
admin sets a sales user's coverage on the Team page, a customer who gave health-data consent
asks for a person in the chat flow, and the inbox shows the lead routed to that user with the
reason; the Alerts page lists the handoff alert with every channel "not configured"."""

from __future__ import annotations

import os

import pytest

from backend.auth import service as auth
from backend.db import make_engine, make_session_factory, session_scope
from backend.sales import service as sales
from tests.e2e.test_dashboard_browser import PASSWORD, _login
from tests.e2e.test_widget_browser import CHROMIUM, LAUNCH_ARGS
from tests.helpers import backend_cli, serve_backend
from tests.integration.messaging_support import make_contact

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]


@pytest.fixture
def team(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    env = {**os.environ, "HTS_ENV_FILE": "/nonexistent/.env", "DATABASE_URL": url}
    assert backend_cli("db", "upgrade", env=env).returncode == 0
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        for role in ("admin", "sales"):
            auth.create_staff(
                s, email=f"{role}@shop.example", name=role.title(), role=role, password=PASSWORD
            )
        sales_id = auth.find_staff(s, email="sales@shop.example").id
    with serve_backend(env) as base:
        yield base, factory, sales_id
    engine.dispose()


def test_admin_routes_diabetes_leads_from_gb_to_a_sales_user(team, tmp_path):
    from playwright.sync_api import sync_playwright

    base, factory, sales_id = team
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            failed: list[str] = []  # every resource of the pages loads
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            _login(page, base, "admin@shop.example", "/dashboard/team")
            row = page.locator(f"#staff-{sales_id}")
            row.locator("input[value=diabetes]").check()
            row.locator("input[name=regions]").fill("gb, Europe/London")
            row.locator("input[name=active]").check()
            row.locator("button:has-text('Save')").click()
            page.wait_for_url(f"{base}/dashboard/team?done={sales_id}*")
            assert f"Coverage of staff user {sales_id} saved" in page.inner_text("[role=status]")
            row = page.locator(f"#staff-{sales_id}")
            assert row.locator("input[value=diabetes]").is_checked()
            assert row.locator("input[name=regions]").input_value() == "GB, Europe/London"

            with session_scope(factory) as s:  # the chat: consent, goal, "talk to a human"
                make_contact(s, sender="web-gb-1", phone="+447700900123", health_goal="diabetes")
                lead_id = sales.request_handoff(s, sender_id="web-gb-1", reason="asked").id

            page.goto(f"{base}/dashboard/leads")
            lead = page.locator(f"#lead-{lead_id}")
            assert "sales@shop.example" in lead.inner_text() and "assigned" in lead.inner_text()
            page.locator(f"#lead-{lead_id} + tr summary").click()
            history = page.locator(f"#lead-{lead_id} + tr .history").inner_text()
            assert "matched goal diabetes and region GB; 0 open leads" in history

            page.goto(f"{base}/dashboard/alerts")
            assert page.locator("#channels").inner_text().count("not configured") == 3
            alert = page.locator("#alerts").inner_text()
            assert "handoff" in alert and f"lead {lead_id}" in alert and "dashboard only" in alert
            assert "Jane" not in page.content()
            # no script or CSP error; the one "failed to load" is chromium's own /favicon.ico
            # probe on a fresh profile (not a page resource: `failed` checks those)
            assert failed == []
            assert [e for e in errors if not e.startswith("Failed to load resource")] == []
            page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)
        finally:
            browser.close()
