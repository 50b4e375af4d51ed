"""The executive overview in a real browser (Debian's chromium driven by playwright): data made
by the product's own services (chat consent, recommendation, checkout, payment, a lead), the
audit run from the jobs page's "Run now" button, then the overview read as an executive.
The screenshot goes to the test's temp folder; with HTS_UPDATE_SCREENSHOTS=1 it refreshes
docs/img/executive-overview.png (a test run never changes a tracked file otherwise)."""

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
        for role in ("admin", "executive"):
            auth.create_staff(
                s, email=f"{role}@shop.example", name=role.title(), role=role, password=PASSWORD
            )
    engine.dispose()
    with serve_backend(env) as base:
        yield base


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
            assert page.locator("svg.chart").count() == 5
            box = page.locator("#chart-funnel svg").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert errors == []  # no CSP violation, no script error
            shot = SCREENSHOT if os.environ.get("HTS_UPDATE_SCREENSHOTS") == "1" else None
            shot = shot or tmp_path / "executive-overview.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
