"""The chat widget in a real browser (Debian's chromium driven by playwright) on 127.0.0.1.

Rasa is replaced by a local HTTP server that answers exactly like Rasa's REST channel, so this
test checks the widget itself: sending, rendering text/links/buttons, and never rendering HTML.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from werkzeug.wrappers import Response

from backend.config import ROOT
from tests.helpers import backend_cli, free_port, wait_http

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (scripts/test.sh installs Debian's package)",
    ),
]
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def fake_rasa(httpserver):
    received: list[dict] = []

    def handler(request):
        body = json.loads(request.data)
        received.append(body)
        if body["message"] == "/greet":
            replies = [
                {
                    "recipient_id": body["sender"],
                    "text": "Hi! Read our policy at http://127.0.0.1/privacy",
                    "buttons": [{"title": "I accept", "payload": "/affirm"}],
                }
            ]
        else:
            replies = [
                {
                    "recipient_id": body["sender"],
                    "text": "<img src=x onerror=alert(1)> echo " + body["message"],
                }
            ]
        return Response(
            json.dumps(replies),
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
        )

    def preflight(_request):
        return Response(
            "",
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Allow-Methods": "POST",
            },
        )

    httpserver.expect_request("/webhooks/rest/webhook", method="OPTIONS").respond_with_handler(
        preflight
    )
    httpserver.expect_request("/webhooks/rest/webhook", method="POST").respond_with_handler(handler)
    return httpserver.url_for("").rstrip("/"), received


@pytest.fixture
def shop(tmp_path, fake_rasa):
    rasa_url, _ = fake_rasa
    env = {
        **os.environ,
        "HTS_ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "RASA_URL": rasa_url,
    }
    assert backend_cli("db", "upgrade", env=env).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,  # noqa: S603
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_widget_greets_shows_buttons_and_sends_messages(shop, fake_rasa, tmp_path):
    from playwright.sync_api import sync_playwright

    _, received = fake_rasa
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(shop)
        page.click("text=Chat with us")
        page.wait_for_selector(".msg.buttons button")
        assert page.locator("a[href='http://127.0.0.1/privacy']").count() == 1
        page.click("text=I accept")
        page.wait_for_selector("text=echo /affirm")
        page.fill("#chat-input", "hello there")
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=echo hello there")
        page.screenshot(path=str(tmp_path / "widget.png"))
        # bot text is shown as text, never interpreted as HTML
        assert page.locator(".chat-log img").count() == 0 and dialogs == []
        browser.close()
    messages = [r["message"] for r in received]
    assert messages == ["/greet", "/affirm", "hello there"]
    assert len({r["sender"] for r in received}) == 1  # one conversation per browser
