"""Issue 17's whole path in a real browser (Debian's chromium driven by playwright) against the
real stack on 127.0.0.1: `rasa run` with the trained model, the action server and the backend
web app, one SQLite database.

A visitor gets recommendations and adds the suggested bundle to the cart, asks for a person; an
agent replies from the inbox and the reply arrives through the push stream (no polling request
in between; its latency is written to a results file, only its arrival is asserted); during the
takeover the bot says "a person is on it" once and gives no product answer, but answers an
emergency; the agent hands back and the bot answers again (with an "Add to cart" button); the
visible history survives a reload; the cart (two products and the bundle) is checked out as ONE
order, paid on the sandbox page, and yields one receipt.

Needs models/current.tar.gz (scripts/test.sh trains it before pytest). The latency goes to the
test's temp folder; with HTS_UPDATE_RESULTS=1 to benchmarks/results/whole_path_browser.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

import backend.models  # noqa: F401 - every mapper (foreign keys span areas)
from actions.takeover import HOLD_NOTICE
from backend import migrations
from backend.auth import service as auth
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.config import load_settings
from backend.db import make_engine, make_session_factory, session_scope
from backend.orders.models import Order, OrderItem, Receipt
from backend.sales.models import Lead
from tests.e2e.test_chat_rest import wait_until_up
from tests.e2e.test_widget_browser import CHROMIUM, LAUNCH_ARGS
from tests.helpers import (
    WEB_REST_CREDENTIALS,
    chat_env,
    free_port,
    start_action_server,
    start_logged,
    start_rasa,
    stop_group,
    write_endpoints,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "current.tar.gz"
RESULTS = ROOT / "benchmarks" / "results" / "whole_path_browser.json"
pytestmark = [
    pytest.mark.rasa,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    tmp = tmp_path_factory.mktemp("whole")
    db_url = f"sqlite:///{tmp / 'shop.db'}"
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        load_catalog(s, source=str(SAMPLE_CATALOG))
    action_port, rasa_port, web_port = free_port(), free_port(), free_port()
    shop = f"http://127.0.0.1:{web_port}"
    write_endpoints(tmp / "endpoints.yml", action_port=action_port, db_url=db_url)
    (tmp / "credentials.yml").write_text(WEB_REST_CREDENTIALS)
    env = {
        **os.environ,
        **chat_env(),
        "DATABASE_URL": db_url,
        "SANIC_HOST": "127.0.0.1",
        "HTS_ENV_FILE": "/nonexistent/.env",
        "TAX_RATE_PERCENT": "0",
        "PUBLIC_BASE_URL": shop,
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
    }
    actions = start_action_server(action_port, env=env, log=tmp / "actions.log")
    rasa = start_rasa(
        rasa_port,
        env=env,
        log=tmp / "rasa.log",
        model=MODEL,
        endpoints=tmp / "endpoints.yml",
        credentials=tmp / "credentials.yml",
        api=True,
        settings=load_settings(env, dotenv=False),
    )
    web = start_logged(
        [sys.executable, "-m", "backend", "serve", "--port", str(web_port)],
        env=env,
        log=tmp / "web.log",
    )
    try:
        wait_until_up(f"{shop}/health", web, "backend", tmp / "web.log")
        wait_until_up(
            f"http://127.0.0.1:{action_port}/health", actions, "action server", tmp / "actions.log"
        )
        wait_until_up(f"http://127.0.0.1:{rasa_port}/", rasa, "rasa", tmp / "rasa.log")
        yield shop, factory, tmp
    finally:
        stop_group(web)
        stop_group(rasa)
        stop_group(actions)
        engine.dispose()


def _agent_key(factory) -> str:
    with session_scope(factory) as s:
        agent = auth.create_staff(
            s, email="sam@shop.example", name="Sam", role="sales", password="a-long-password-1"
        )
        return auth.issue_api_key(s, staff_id=agent.id)


def say(page, text: str, expect: str, timeout: float = 90) -> str:
    """Type a message as the visitor does; the first new message containing `expect`."""
    before = page.locator(".chat-log .msg").count()
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    deadline = time.monotonic() + timeout
    while True:
        new = page.locator(".chat-log .msg").all_inner_texts()[before:]
        found = [m for m in new if expect in m]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{expect!r} not in the answer to {text!r}: {new}"
        page.wait_for_timeout(200)


def test_takeover_push_cart_and_one_receipt_in_a_real_browser(stack):
    from playwright.sync_api import sync_playwright

    shop, factory, tmp = stack
    key = _agent_key(factory)
    headers = {"Authorization": f"Bearer {key}"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(shop + "/")
        page.click("text=Chat with us")
        page.wait_for_selector("text=privacy policy")
        sender = page.evaluate("localStorage.getItem('hts-sender-id')")
        say(page, "/affirm", "health")
        say(page, "/deny", "What would you like support with?")
        say(page, '/choose_goal{"goal":"blood_pressure"}', "Bundle idea")
        page.locator(".msg.buttons button", has_text="Add the bundle to cart").last.click()
        page.wait_for_selector("text=Added. Your cart now:")

        # a person, please: the bot pauses and the widget listens to the push stream
        say(page, "I need to talk to a real person", "stay quiet, except for anything urgent")
        with session_scope(factory) as s:
            lead_id = s.execute(
                select(Lead.id).where(Lead.conversation_id == sender, Lead.kind == "handoff")
            ).scalar_one()
        asked: list[tuple[float, str]] = []
        page.on("request", lambda request: asked.append((time.time(), request.url)))
        page.evaluate(
            """() => {
                window.__staffAt = null;
                new MutationObserver(function () {
                    if (!window.__staffAt && document.querySelector('.msg.staff')) {
                        window.__staffAt = Date.now();
                    }
                }).observe(document.querySelector('.chat-log'), {childList: true, subtree: true});
            }"""
        )
        time.sleep(1.5)  # the stream is open before the agent writes
        sent_at = time.time()
        r = requests.post(
            f"{shop}/api/admin/leads/{lead_id}/reply",
            json={"text": "Hi, Sam here. Happy to help!", "channel": "chat"},
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page.wait_for_selector("text=Our team: Hi, Sam here. Happy to help!", timeout=30_000)
        arrived_at = page.evaluate("window.__staffAt") / 1000
        between = [url for at, url in asked if sent_at <= at <= arrived_at]
        polled = [url for url in between if "/replies?" in url]
        assert not polled  # pushed, never polled
        latency_ms = round((arrived_at - sent_at) * 1000, 1)

        # during the takeover: no product answer, "a person is on it" once; emergencies answered
        held = page.locator(".chat-log .msg").count()
        say(page, "how much is the hibiscus tea?", HOLD_NOTICE[:40])
        # a second product question gets nothing at all (asserted below, once the emergency
        # answer shows the chat's earlier messages were handled: one conversation, in order)
        say(page, "what's in the blood pressure kit?", "what's in the blood pressure kit?")
        say(page, "I have chest pain and can't breathe", "911")
        during = page.locator(".chat-log .msg").all_inner_texts()[held:]
        assert not [t for t in during if "Price:" in t or "Ingredients:" in t]  # no product answer
        assert len([t for t in during if t.startswith(HOLD_NOTICE[:40])]) == 1  # said once

        # the agent hands back: the bot answers again, with an add-to-cart button
        r = requests.post(
            f"{shop}/api/admin/leads/{lead_id}/hand-back", json={}, headers=headers, timeout=30
        )
        assert r.status_code == 200, r.text
        say(page, "how much is the hibiscus tea?", "Hibiscus Herbal Tea (BP-004): Price:")
        page.locator(".msg.buttons button", has_text="Add to cart").last.click()
        page.wait_for_selector("text=1 × Hibiscus Herbal Tea")

        # the visible history survives a reload (text, the staff reply included)
        before = page.locator(".chat-log .msg").all_inner_texts()
        page.reload()
        page.click("text=Chat with us")
        page.wait_for_selector("text=Our team: Hi, Sam here. Happy to help!")
        after = page.locator(".chat-log .msg").all_inner_texts()
        assert "Our team: Hi, Sam here. Happy to help!" in after
        assert [t for t in after if "Bundle idea" in t] == [t for t in before if "Bundle idea" in t]

        # a second product, then ONE checkout for the whole cart
        say(page, '/add_to_cart{"product":"BP-003","quantity":"2"}', "2 × Beetroot Nitric Oxide")
        say(page, "/checkout", "name")
        say(page, "Jane Doe", "email")
        say(page, "jane@example.com", "offers")
        say(page, "/deny", "receipts")
        confirm = say(page, "/affirm", "for all of it")
        assert "Bundle:" in confirm and "1 × Hibiscus Herbal Tea" in confirm
        say(page, "/affirm", "Pay securely here")
        link = page.locator(".chat-log a[href*='/sandbox/pay/']").last.get_attribute("href")
        page.goto(link)
        page.click("#pay")
        page.wait_for_selector("#receipt")
        receipt = requests.get(shop + page.locator("#receipt").get_attribute("href"), timeout=30)
        assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
        page.screenshot(path=str(tmp / "paid.png"))
        browser.close()

    with session_scope(factory) as s:
        [order] = s.execute(select(Order).where(Order.conversation_id == sender)).scalars()
        assert order.status == "paid"
        items = s.execute(
            select(OrderItem.sku, OrderItem.quantity, OrderItem.components)
            .where(OrderItem.order_id == order.id)
            .order_by(OrderItem.id)
        ).all()
        # the recommended bundle first (one line, its products as components), then the two
        assert [(sku, qty) for sku, qty, _ in items[1:]] == [("BP-004", 1), ("BP-003", 2)]
        bundle_sku, bundle_qty, components = items[0]
        assert bundle_qty == 1 and bundle_sku == "+".join(c["sku"] for c in components)
        assert s.execute(select(func.count()).select_from(Receipt)).scalar_one() == 1

    result = {
        "staff_reply_push_latency_ms": latency_ms,
        "measured": "agent's POST /api/admin/leads/{id}/reply sent -> the reply's bubble in the "
        "visitor's chromium window (MutationObserver, Date.now())",
        "polling_requests_in_between": len(polled),
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
        "note": "one run on a shared 2-core machine with other work running: noisy",
    }
    out = RESULTS if os.environ.get("HTS_UPDATE_RESULTS") == "1" else tmp / RESULTS.name
    out.write_text(json.dumps(result, indent=2) + "\n")
