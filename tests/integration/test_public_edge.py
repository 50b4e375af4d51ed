"""The backend's public edge: website chat ids are issued signed, and every public route has a
per-IP quota (429 + Retry-After) that leaves other clients alone."""

from __future__ import annotations

import httpx
import pytest

from backend.api.app import create_app
from backend.chat_ids import verify_chat_id
from tests.integration.messaging_support import make_settings

SECRET = "chat-id-secret-for-tests-0123"


def app_for(db_url, session_factory, **env):
    return create_app(make_settings(db_url, CHAT_ID_SECRET=SECRET, **env), session_factory)


def client_from(app, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_chat_session_issues_a_new_signed_web_chat_id_each_time(db_url, session_factory):
    async with client_from(app_for(db_url, session_factory), "10.0.0.1") as client:
        first = await client.post("/chat/session")
        second = await client.post("/chat/session")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    a, b = first.json(), second.json()
    assert a["sender"] != b["sender"] and a["sender"].startswith("web-")
    assert verify_chat_id(a["sender"], a["token"], secret=SECRET)
    assert not verify_chat_id(a["sender"], b["token"], secret=SECRET)


async def test_chat_session_without_a_secret_is_503(db_url, session_factory):
    app = create_app(make_settings(db_url), session_factory)
    async with client_from(app, "10.0.0.1") as client:
        reply = await client.post("/chat/session")
    assert reply.status_code == 503 and "not configured" in reply.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/chat/session"),
        ("GET", "/chat/web-00000000-0000-4000-8000-000000000000/replies"),
        ("GET", "/sandbox/pay/00000000-0000-4000-8000-000000000000"),
        ("POST", "/sandbox/pay/00000000-0000-4000-8000-000000000000"),
        ("GET", "/api/orders/00000000-0000-4000-8000-000000000000/receipt.pdf"),
        ("GET", "/unsubscribe/not-a-token"),
        ("POST", "/unsubscribe/not-a-token"),
    ],
)
async def test_public_route_quota_is_per_ip_with_retry_after(db_url, session_factory, method, path):
    app = app_for(db_url, session_factory, RATE_LIMIT_PUBLIC_PER_IP="2")
    async with client_from(app, "10.0.0.1") as busy, client_from(app, "10.0.0.2") as other:
        answers = [(await busy.request(method, path)).status_code for _ in range(2)]
        refused = await busy.request(method, path)
        calm = await other.request(method, path)
    assert 429 not in answers
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many requests" in refused.json()["error"]
    assert calm.status_code == answers[0]  # another client is unaffected


async def test_stripe_webhook_has_its_own_quota(db_url, session_factory):
    app = app_for(db_url, session_factory, RATE_LIMIT_WEBHOOK_PER_IP="1")
    async with client_from(app, "10.0.0.1") as stripe, client_from(app, "10.0.0.2") as other:
        first = await stripe.post("/webhooks/stripe", content=b"{}")
        refused = await stripe.post("/webhooks/stripe", content=b"{}")
        calm = await other.post("/webhooks/stripe", content=b"{}")
    assert first.status_code != 429 and calm.status_code == first.status_code
    assert refused.status_code == 429 and "retry-after" in refused.headers
