"""The executive overview in a real browser (Debian's chromium driven by playwright): data made
by the product's own services (chat consent, recommendation, checkout, payment, a lead), the
audit run from the jobs page's "Run now" button, then the overview read as an executive.
The screenshots go to the test's temp folder; with HTS_UPDATE_SCREENSHOTS=1 they refresh
docs/img/executive-overview.png and docs/img/dashboard-*.png (a test run never changes a tracked
file otherwise)."""

from __future__ import annotations

import os

import pytest

from backend.auth import service as auth
from backend.config import ROOT, load_settings
from backend.db import make_engine, make_session_factory, session_scope
from tests.e2e.test_widget_browser import CHROMIUM, LAUNCH_ARGS
from tests.helpers import backend_cli, serve_backend
from tests.integration.test_executive_overview import make_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]
PASSWORD = "correct horse battery"
SCREENSHOT = ROOT / "docs" / "img" / "executive-overview.png"


@pytest.fixture
def dashboard(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    env = {**os.environ, "HTS_ENV_FILE": "/nonexistent/.env", "DATABASE_URL": url}
    assert backend_cli("db", "upgrade", env=env).returncode == 0
    engine = make_engine(url)
    factory = make_session_factory(engine)
    make_world(factory, load_settings({"DATABASE_URL": url, "TAX_RATE_PERCENT": "0"}, dotenv=False))
    with session_scope(factory) as s:
        for role in ("admin", "executive", "compliance"):
            auth.create_staff(
                s, email=f"{role}@shop.example", name=role.title(), role=role, password=PASSWORD
            )
    engine.dispose()
    with serve_backend(env) as base:
        yield base


def fail_crm_deliveries(factory, url: str) -> None:
    """A contact entered by staff (pushed to the CRM through the outbox); the CRM refuses the
    push (a permanent error quoting an address): the outbox marks it dead, as the scheduler's
    delivery would."""
    from backend import bootstrap
    from backend.contacts import staff_entry
    from backend.integrations import IntegrationError
    from backend.outbox import queue as outbox

    with session_scope(factory) as s:
        staff_entry.enter_contact(
            s, name="Ann Buyer", email="ann@customer.example", phone_e164=None,
            consent_source="phone call", marketing_channels=(), staff_id=1,
            privacy_wording="Do you accept the privacy policy?", marketing_wording="",
            version="privacy-v1", confirm_email=lambda **_: None,
        )  # fmt: skip

    def refuse(_session, _message, _settings):
        raise IntegrationError("crm: 400 contact ann@customer.example rejected", permanent=True)

    settings = load_settings({"DATABASE_URL": url}, dotenv=False)
    outbox.register("crm", refuse)
    try:
        counts = outbox.deliver_due(factory, settings, worker_id="e2e", kinds=["crm"])
        assert counts["dead"] >= 1
    finally:
        bootstrap.wire_deliverers()


def _login(page, base: str, email: str, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}{next_path}*")


def test_admin_runs_the_audit_and_the_executive_sees_it(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            admin = browser.new_page()
            _login(admin, dashboard, "admin@shop.example", "/dashboard/jobs")
            admin.click("form[action='/dashboard/jobs/audit_verify/run'] button")
            assert "audit_verify" in admin.inner_text("#ran") and "ok" in admin.inner_text("#ran")

            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _login(page, dashboard, "executive@shop.example", "/dashboard/executive")
            assert page.inner_text("#kpi-consent .big") == "3/3"
            assert page.inner_text("#kpi-receipt .big") == "1/1"
            assert "$29.99" in page.inner_text("#kpi-revenue")
            assert page.inner_text("#kpi-conversion .big") == "33.3%"
            assert page.locator("svg.chart").count() == 7
            box = page.locator("#chart-funnel svg").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert errors == []  # no CSP violation, no script error
            shot = SCREENSHOT if os.environ.get("HTS_UPDATE_SCREENSHOTS") == "1" else None
            shot = shot or tmp_path / "executive-overview.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def _shot(tmp_path, page_name: str):
    """Where a page's screenshot goes: docs/img/dashboard-<page>.png with HTS_UPDATE_SCREENSHOTS=1
    (docs/dashboard.md shows them), else the test's temp folder."""
    if os.environ.get("HTS_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "img" / f"dashboard-{page_name}.png"
    return tmp_path / f"{page_name}.png"


def test_catalog_orders_outbox_pages_and_the_sla_chart(dashboard, tmp_path):
    """An admin syncs the catalog and ingests trends with the buttons, reads inventory, orders
    (receipt verified) and the outbox (error without the address), retries a dead message; a
    compliance officer sees the outbox without the Retry button."""
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'd.db'}"  # the dashboard fixture's database
    engine = make_engine(url)
    fail_crm_deliveries(make_session_factory(engine), url)
    engine.dispose()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            failed: list[str] = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            _login(page, dashboard, "admin@shop.example", "/dashboard/catalog")
            page.click("#sync-catalog button")
            assert "catalog_sync" in page.inner_text("#ran") and "ok" in page.inner_text("#ran")
            page.goto(f"{dashboard}/dashboard/catalog")
            page.click("#ingest-trends button")
            assert "trend_ingest" in page.inner_text("#ran") and "ok" in page.inner_text("#ran")

            page.click("nav >> text=Catalog")
            assert int(page.inner_text("#kpi-products .big")) >= 39
            assert int(page.inner_text("#kpi-out-of-stock .big")) >= 1
            assert page.locator("#inventory tr").count() > 39
            page.screenshot(path=str(_shot(tmp_path, "catalog")), full_page=True)

            page.click("nav >> text=Orders")
            row = page.locator("#orders tr[id^=order-]").first
            assert "paid" in row.inner_text() and "$29.99" in row.inner_text()
            assert row.locator(".verified").inner_text().startswith("✓")
            assert row.locator("a[download]").get_attribute("href").endswith("/receipt.pdf")
            page.screenshot(path=str(_shot(tmp_path, "orders")), full_page=True)

            page.click("nav >> text=Outbox")
            dead = page.locator("#messages tr", has_text="dead").first
            assert "crm" in dead.inner_text() and "<email>" in dead.inner_text()
            assert "ann@customer.example" not in page.content()
            dead.locator("button:has-text('Retry')").click()
            assert "back in the queue" in page.inner_text("#retried")
            page.screenshot(path=str(_shot(tmp_path, "outbox")), full_page=True)

            page.goto(f"{dashboard}/dashboard/executive")
            chart = page.locator("#chart-sla svg").first
            box = chart.bounding_box()
            assert box is not None and box["width"] > 300
            assert "Response time to leads vs SLA" in chart.inner_html()
            page.click("#chart-sla summary")
            assert page.locator("#sla-numbers tr").count() == 2  # the world's one lead today
            assert failed == []  # every page, form post and redirect answered
            # no CSP violation, no script error (the browser's own /favicon.ico probe aside)
            assert [e for e in errors if not e.startswith("Failed to load resource")] == []

            officer = browser.new_page()
            _login(officer, dashboard, "compliance@shop.example", "/dashboard/outbox")
            assert officer.locator("#messages").count() == 1
            assert officer.locator("button:has-text('Retry')").count() == 0
        finally:
            browser.close()
