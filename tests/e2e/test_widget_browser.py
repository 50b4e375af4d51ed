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

from backend.chat_ids import verify_chat_id
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
CHAT_SECRET = "chat-id-secret-for-browser-tests"
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
        if body["message"] == "server says too long":
            return Response(
                json.dumps({"error": "message too long"}),
                status=413,
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": "*"},
            )
        if body["message"] == "a person please":
            replies = [
                {"recipient_id": body["sender"], "text": "A colleague will reply here."},
                {"recipient_id": body["sender"], "custom": {"handoff": True}},
            ]
        elif body["message"] == "/greet":
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
        "CHAT_ID_SECRET": CHAT_SECRET,
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


def open_chat(pw, shop: str):
    """The shop page in chromium with the chat opened and greeted (consent buttons shown)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    page = browser.new_page()
    page.goto(shop)
    page.click("text=Chat with us")
    page.wait_for_selector(".msg.buttons button")
    return browser, page


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
        # one greeting, the bot's: no "Hi" bubble on the visitor's side
        assert page.locator(".msg.user").count() == 0
        assert page.locator(".msg.bot").all_inner_texts() == [
            "Hi! Read our policy at http://127.0.0.1/privacy"
        ]
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
    # ... whose id the backend issued and signed, sent with its token every time
    assert all(verify_chat_id(r["sender"], r["token"], secret=CHAT_SECRET) for r in received)


def test_too_long_messages_are_explained_not_sent(shop, fake_rasa):
    from playwright.sync_api import sync_playwright

    _, received = fake_rasa
    with sync_playwright() as pw:
        browser, page = open_chat(pw, shop)
        page.fill("#chat-input", "x" * 2001)
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=too long, please shorten it")
        assert page.input_value("#chat-input") == "x" * 2001  # kept, to shorten
        page.fill("#chat-input", "server says too long")  # the channel's 413
        page.press("#chat-input", "Enter")
        page.wait_for_function("document.querySelectorAll('.msg.error').length == 2")
        assert "please shorten it" in page.locator(".msg.error").nth(1).text_content()
        browser.close()
    assert [r["message"] for r in received] == ["/greet", "server says too long"]


def test_a_staff_reply_appears_in_the_chat_window_after_a_handoff(shop, tmp_path):
    from playwright.sync_api import sync_playwright

    import backend.models  # noqa: F401 - every mapper (foreign keys span areas)
    from backend.db import make_engine, make_session_factory, session_scope, utcnow
    from backend.sales.models import ChatReply, Lead

    with sync_playwright() as pw:
        browser, page = open_chat(pw, shop)
        page.fill("#chat-input", "a person please")
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=A colleague will reply here.")
        sender = page.evaluate("localStorage.getItem('hts-sender-id')")
        # The sales team answers in the inbox (what inbox.reply stores for a web chat).
        factory = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
        with session_scope(factory) as s:
            lead = Lead(conversation_id=sender, kind="handoff", reason="asked", status="new")
            s.add(lead)
            s.flush()
            s.add(ChatReply(lead_id=lead.id, conversation_id=sender, body="<b>Hi</b>, Sam here"))
        shown = page.wait_for_selector(".msg.staff", timeout=15000)
        assert shown.text_content() == "Our team: <b>Hi</b>, Sam here"  # text, never HTML
        assert page.locator(".chat-log b").count() == 0
        page.screenshot(path=str(tmp_path / "widget-staff-reply.png"))
        # After a reload the window keeps asking, and shows only what is new.
        page.reload()
        page.click("text=Chat with us")
        with session_scope(factory) as s:
            s.add(ChatReply(lead_id=lead.id, conversation_id=sender, body="Still there?",
                            created_at=utcnow()))  # fmt: skip
        page.wait_for_selector("text=Our team: Still there?", timeout=15000)
        assert page.locator(".msg.staff").count() == 1
        browser.close()
