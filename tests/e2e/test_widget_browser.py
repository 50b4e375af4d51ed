"""The chat widget in a real browser (Debian's chromium driven by playwright) on 127.0.0.1.

Rasa is replaced by a local HTTP server that answers exactly like Rasa's REST channel, so this
test checks the widget itself: sending, rendering text/links/buttons, and never rendering HTML.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
from werkzeug.wrappers import Response

from backend.chat_ids import verify_chat_id
from tests.helpers import backend_cli, serve_backend

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


SHOP = {"base": ""}  # the shop's address, for the product pictures' URLs
RELEASE = threading.Event()  # the fake Rasa answers "slow please" once this is set


def product_card(sku: str, name: str, *, in_stock: bool) -> dict:
    """A card as action_recommend sends it (actions/recommend.py `_card`)."""
    return {
        "sku": sku,
        "name": name,
        "price": "$19.99",
        "stock": "in stock" if in_stock else "out of stock",
        "in_stock": in_stock,
        "why": "popular",
        "image_url": f"{SHOP['base']}/static/products/{sku}.png",
        "buttons": [
            {"title": "Add to cart", "payload": "/add_to_cart" + json.dumps({"product": sku})},
            {
                "title": "Ask a question",
                "payload": "/ask_product_question" + json.dumps({"product": sku}),
            },
        ],
    }


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
        elif body["message"] == "show me picks":
            cards = [
                product_card("WL-001", "<i>Green</i> Tea Extract", in_stock=True),
                product_card("WL-007", "Keto Shake", in_stock=False),
            ]
            replies = [
                {"recipient_id": body["sender"], "text": "Here's what matches:"},
                {"recipient_id": body["sender"], "custom": {"cards": cards}},
            ]
        elif body["message"] == "slow please":
            assert RELEASE.wait(30), "the test never released the slow answer"
            replies = [{"recipient_id": body["sender"], "text": "Sorry for the wait."}]
        elif body["message"] == "delete my data":
            replies = [
                {"recipient_id": body["sender"], "text": "Done: erased."},
                {"recipient_id": body["sender"], "custom": {"erased": True}},
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
    with serve_backend(env) as base:
        SHOP["base"] = base.rstrip("/")
        RELEASE.clear()
        yield base + "/"
        RELEASE.set()  # never leave the fake Rasa's thread waiting


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
        # (no wait_for_function: the page's CSP forbids the eval it needs)
        page.wait_for_selector(".msg.error >> nth=1")
        assert "please shorten it" in page.locator(".msg.error").nth(1).text_content()
        browser.close()
    assert [r["message"] for r in received] == ["/greet", "server says too long"]


def test_the_visible_history_survives_a_reload_and_an_erasure_clears_it(shop, fake_rasa):
    from playwright.sync_api import sync_playwright

    _, received = fake_rasa
    with sync_playwright() as pw:
        browser, page = open_chat(pw, shop)
        page.fill("#chat-input", "hello there")
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=echo hello there")
        before = page.locator(".chat-log .msg").all_inner_texts()
        page.reload()
        page.click("text=Chat with us")
        page.wait_for_selector("text=echo hello there")
        after = page.locator(".chat-log .msg").all_inner_texts()
        assert after == [t for t in before if t != "I accept"]  # text lines, not old buttons
        assert page.locator(".chat-log img").count() == 0  # restored as text, never HTML
        page.fill("#chat-input", "delete my data")
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=Done: erased.")
        stored = page.evaluate(
            "['hts-sender-id', 'hts-chat-token', 'hts-history']"
            ".map(function (k) { return localStorage.getItem(k); })"
        )
        assert stored == [None, None, None]
        page.reload()
        page.click("text=Chat with us")
        page.wait_for_selector(".msg.buttons button")  # a new chat, greeted afresh
        assert "echo hello there" not in page.locator(".chat-log").inner_text()
        browser.close()
    messages = [r["message"] for r in received]
    assert messages == ["/greet", "hello there", "delete my data", "/greet"]  # no re-greeting
    assert received[0]["sender"] == received[2]["sender"] != received[3]["sender"]


def test_product_cards_with_pictures_are_used_with_the_keyboard_alone(shop, fake_rasa):
    from playwright.sync_api import sync_playwright

    _, received = fake_rasa
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.goto(shop)
        page.focus(".chat-toggle")
        page.keyboard.press("Enter")  # opens the window; focus goes to the message box
        page.wait_for_selector(".msg.buttons button")
        assert page.evaluate("document.activeElement.id") == "chat-input"
        page.keyboard.type("show me picks")
        page.keyboard.press("Enter")
        card = page.wait_for_selector(".msg.cards .card")
        assert card.get_attribute("aria-label") == "<i>Green</i> Tea Extract"
        assert "$19.99" in card.inner_text() and "in stock" in card.inner_text()
        assert page.locator(".chat-log i").count() == 0  # the name is text, never HTML
        picture = page.locator(".card img").first
        picture.wait_for()
        assert picture.get_attribute("alt") == "<i>Green</i> Tea Extract"
        # the picture really loaded from the shop (served, and allowed by the page's CSP)
        assert page.locator(".card img").evaluate_all(
            "imgs => imgs.map(i => i.complete && i.naturalWidth)"
        ) == [240, 240]
        out_of_stock = page.locator(".card").nth(1)
        assert out_of_stock.locator("text=Add to cart").is_disabled()
        assert out_of_stock.locator("text=Ask a question").is_enabled()
        # Shift+Tab from the message box walks back through the cards' buttons
        focused = []
        for _ in range(4):
            page.keyboard.press("Shift+Tab")
            focused.append(page.evaluate("document.activeElement.getAttribute('aria-label')"))
            if focused[-1] == "Add to cart: <i>Green</i> Tea Extract":
                break
        assert focused == [
            "Ask a question: Keto Shake",
            "Ask a question: <i>Green</i> Tea Extract",  # the disabled button is skipped
            "Add to cart: <i>Green</i> Tea Extract",
        ]
        page.keyboard.press("Enter")
        page.wait_for_selector("text=echo /add_to_cart")
        browser.close()
    assert received[-1]["message"] == '/add_to_cart{"product": "WL-001"}'


def test_typing_indicator_unread_badge_and_escape_with_a_screen_reader_in_mind(shop, fake_rasa):
    from playwright.sync_api import sync_playwright

    _, received = fake_rasa
    with sync_playwright() as pw:
        browser, page = open_chat(pw, shop)
        assert page.get_attribute(".chat-log", "aria-live") == "polite"
        assert page.get_attribute(".chat-log", "role") == "log"
        quick = page.locator(".msg.buttons")
        assert quick.get_attribute("role") == "group"
        page.click("text=I accept")  # a quick reply: used once, then disabled
        page.wait_for_selector("text=echo /affirm")
        assert quick.locator("button").first.is_disabled()
        assert page.evaluate("document.activeElement.id") == "chat-input"
        page.fill("#chat-input", "slow please")
        page.press("#chat-input", "Enter")
        indicator = page.locator(".typing-indicator")
        indicator.wait_for(state="visible")  # while the bot has not answered
        assert indicator.get_attribute("role") == "status"
        assert indicator.inner_text().strip() == "The assistant is typing…"
        page.keyboard.press("Escape")  # closes the window, focus back on the toggle
        page.wait_for_selector("#chat-panel", state="hidden")
        assert "chat-toggle" in page.evaluate("document.activeElement.className")
        assert page.get_attribute(".chat-toggle", "aria-expanded") == "false"
        RELEASE.set()  # the answer arrives while the window is closed
        badge = page.wait_for_selector(".unread-badge:not([hidden])")
        assert badge.inner_text() == "1" and badge.get_attribute("aria-label") == "1 unread message"
        page.keyboard.press("Enter")  # the toggle still has focus
        page.wait_for_selector("text=Sorry for the wait.")
        assert page.locator(".unread-badge").is_hidden()
        assert indicator.is_hidden()
        assert page.evaluate("document.activeElement.id") == "chat-input"
        browser.close()
    assert [r["message"] for r in received] == ["/greet", "/affirm", "slow please"]


def test_on_a_phone_the_chat_window_takes_the_screen_width(shop, fake_rasa):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True)
        page.goto(shop)
        page.click("text=Chat with us")
        page.wait_for_selector(".msg.buttons button")
        panel = page.locator("#chat-panel").bounding_box()
        assert panel["width"] >= 375 - 2 * 8 - 1  # full width but for small margins
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 375
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
        browser.close()


def _staff_key(factory) -> str:
    from backend.auth import service as auth
    from backend.db import session_scope

    with session_scope(factory) as s:
        agent = auth.create_staff(
            s, email="sam@shop.example", name="Sam", role="sales", password="a-long-password-1"
        )
        return auth.issue_api_key(s, staff_id=agent.id)


def test_a_staff_reply_is_pushed_to_the_chat_window_after_a_handoff(shop, tmp_path):
    import requests
    from playwright.sync_api import sync_playwright

    import backend.models  # noqa: F401 - every mapper (foreign keys span areas)
    from backend.db import make_engine, make_session_factory, session_scope
    from backend.sales.models import Lead

    def staff_reply(text: str) -> None:  # the inbox's reply, through the admin API
        r = requests.post(
            f"{shop}api/admin/leads/{lead_id}/reply",
            json={"text": text, "channel": "chat"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text

    factory = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    key = _staff_key(factory)
    with sync_playwright() as pw:
        browser, page = open_chat(pw, shop)
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        sender = page.evaluate("localStorage.getItem('hts-sender-id')")
        with session_scope(factory) as s:  # what action_request_human stores before it answers
            lead = Lead(conversation_id=sender, kind="handoff", reason="asked", status="new")
            s.add(lead)
            s.flush()
            lead_id = lead.id
        page.fill("#chat-input", "a person please")
        page.press("#chat-input", "Enter")
        page.wait_for_selector("text=A colleague will reply here.")
        staff_reply("<b>Hi</b>, Sam here")
        shown = page.wait_for_selector(".msg.staff", timeout=15000)
        assert shown.text_content() == "Our team: <b>Hi</b>, Sam here"  # text, never HTML
        assert page.locator(".chat-log b").count() == 0
        assert any("/events?" in url for url in asked)
        assert not any("/replies?" in url for url in asked)  # pushed, not polled
        page.screenshot(path=str(tmp_path / "widget-staff-reply.png"))
        # After a reload the window shows its history and receives only what is new.
        page.reload()
        page.click("text=Chat with us")
        page.wait_for_selector("text=Our team: <b>Hi</b>, Sam here")
        staff_reply("Still there?")
        page.wait_for_selector("text=Our team: Still there?", timeout=15000)
        assert page.locator(".msg.staff").all_inner_texts() == [
            "Our team: <b>Hi</b>, Sam here",
            "Our team: Still there?",
        ]
        browser.close()
