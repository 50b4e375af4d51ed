"""Issue 11 item 5: login throttling, logout that ends the session, cookies, security headers
and the API docs in production."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.auth import service as auth_service
from backend.auth import throttle
from backend.auth.models import LoginFailure, StaffSession
from backend.auth.web import SESSION_COOKIE
from backend.db import session_scope, utcnow
from tests.integration.test_dashboard import PASSWORD, bearer, login, make_keys


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


@pytest.fixture
def keys(session_factory) -> dict[str, str]:
    return make_keys(session_factory)


def production(settings, **overrides):
    return replace(
        settings,
        app_env="production",
        session_secret="a-long-production-secret-4f1c",
        rasa_token="rasa-token-77",
        admin_password="admin-password-123",
        **overrides,
    )


def age_failures(session_factory, delta: timedelta) -> None:
    """Move every recorded failure into the past, as if `delta` had gone by."""
    with session_scope(session_factory) as s:
        for row in s.execute(select(LoginFailure)).scalars():
            row.created_at = row.created_at - delta


def failures(session_factory) -> int:
    with session_scope(session_factory) as s:
        return s.execute(select(func.count(LoginFailure.id))).scalar_one()


# --- throttling -----------------------------------------------------------------------------
def test_five_wrong_passwords_then_429_with_backoff_then_success_after_the_wait(
    client, keys, session_factory
):
    for _ in range(5):
        assert login(client, "admin@shop.example", "wrong password!").status_code == 401
    blocked = login(client, "admin@shop.example", PASSWORD)  # even the right password waits
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "30"
    assert "Too many attempts" in blocked.text
    assert SESSION_COOKIE not in blocked.headers.get("set-cookie", "")
    assert failures(session_factory) == 10  # 5 per account + 5 per address; the 429 adds none

    age_failures(session_factory, timedelta(seconds=31))
    assert login(client, "admin@shop.example", "wrong again!!").status_code == 401
    doubled = login(client, "admin@shop.example", PASSWORD)
    assert doubled.status_code == 429 and doubled.headers["retry-after"] == "60"

    age_failures(session_factory, timedelta(minutes=15))  # the whole window went by
    ok = login(client, "admin@shop.example", PASSWORD)
    assert ok.status_code == 303 and client.get("/api/admin/summary").status_code == 200


def test_a_throttled_attempt_runs_no_password_hash(client, keys, monkeypatch):
    for _ in range(5):
        login(client, "sales@shop.example", "wrong password!")
    calls = []
    real = auth_service._hasher

    class CountingHasher:
        def verify(self, *args):
            calls.append(1)
            return real.verify(*args)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(auth_service, "_hasher", CountingHasher())
    for _ in range(20):
        assert login(client, "sales@shop.example", PASSWORD).status_code == 429
    assert calls == []


def test_one_address_guessing_many_accounts_is_throttled(client, keys):
    for n in range(20):
        assert login(client, f"nobody{n}@shop.example", "guess-guess").status_code == 401
    response = login(client, "admin@shop.example", PASSWORD)
    assert response.status_code == 429 and int(response.headers["retry-after"]) == 30


def test_a_right_password_clears_the_account_count(client, keys, session_factory):
    for _ in range(4):
        login(client, "admin@shop.example", "wrong password!")
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    for _ in range(4):
        assert login(client, "admin@shop.example", "wrong password!").status_code == 401
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303


def test_redis_store_counts_and_backs_off_like_the_database(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    store = throttle.RedisThrottleStore(client, prefix=f"hts:test:{utcnow().timestamp()}")
    policy = throttle.ThrottlePolicy(account_limit=2, ip_limit=100)
    keys = throttle.throttle_keys(email="A@Shop.example ", client_ip="203.0.113.9")
    assert keys == throttle.throttle_keys(email="a@shop.example", client_ip="203.0.113.9")
    now = utcnow()
    assert throttle.retry_after(store=store, policy=policy, keys=keys, now=now) == 0
    for _ in range(3):
        throttle.record_failure(store=store, policy=policy, keys=keys, now=now)
    assert throttle.retry_after(store=store, policy=policy, keys=keys, now=now) == 60
    later = now + timedelta(minutes=16)
    assert throttle.retry_after(store=store, policy=policy, keys=keys, now=later) == 0
    throttle.record_success(store=store, keys=keys)
    assert throttle.retry_after(store=store, policy=policy, keys=keys, now=now) == 0


# --- logout and cookies ---------------------------------------------------------------------
def test_the_old_cookie_is_refused_after_logout(client, keys, session_factory):
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    stolen = client.cookies.get(SESSION_COOKIE)
    assert client.get("/api/admin/summary").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stolen)
    assert client.get("/api/admin/summary").status_code == 401
    with session_scope(session_factory) as s:
        assert s.execute(select(StaffSession.revoked_at)).scalar_one() is not None


def test_session_cookie_is_secure_in_production(settings, session_factory):
    make_keys(session_factory)
    app = create_app(production(settings), session_factory)
    with TestClient(app, base_url="https://testserver") as c:  # Secure cookies need https
        response = login(c, "admin@shop.example", PASSWORD)
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_session_cookie_is_not_secure_on_plain_http_development(client, keys):
    response = login(client, "admin@shop.example", PASSWORD)
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "Secure" not in cookie


# --- security headers -----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/login", "/privacy", "/health", "/api/admin/summary"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path, follow_redirects=False).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self' http://127.0.0.1:5005" in csp  # the widget talks to Rasa
    assert "unsafe-inline" not in csp
    assert "strict-transport-security" not in headers  # plain http in development


def test_pages_need_no_inline_script_or_style(client, keys, session_factory):
    """The CSP forbids inline code: the pages we serve must not carry any."""
    login(client, "admin@shop.example", PASSWORD)
    for path in ("/", "/login", "/privacy", "/dashboard", "/dashboard/leads",
                 "/dashboard/executive", "/dashboard/trends", "/dashboard/jobs"):  # fmt: skip
        html = client.get(path).text
        assert "style=" not in html and "<script>" not in html and " on" + "click" not in html


def test_hsts_in_production_and_shop_embeddable_only_where_configured(settings, session_factory):
    app = create_app(
        production(settings, shop_frame_ancestors="https://partner.example"), session_factory
    )
    with TestClient(app) as c:
        shop = c.get("/").headers
        dashboard = c.get("/login").headers
    assert shop["strict-transport-security"].startswith("max-age=31536000")
    assert "frame-ancestors https://partner.example" in shop["content-security-policy"]
    assert "x-frame-options" not in shop
    assert dashboard["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in dashboard["content-security-policy"]


# --- API docs -------------------------------------------------------------------------------
def test_docs_are_open_in_development(client):
    assert client.get("/openapi.json").status_code == 200
    assert "/api/admin/leads" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    nonce = docs.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in docs.text


def test_docs_are_staff_only_in_production(settings, session_factory):
    keys = make_keys(session_factory)
    with TestClient(create_app(production(settings), session_factory)) as c:
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/api/docs").status_code == 401
        assert c.get("/openapi.json", headers=bearer("hts_bad_key")).status_code == 401
        assert c.get("/openapi.json", headers=bearer(keys["sales"])).status_code == 200
        assert c.get("/api/docs", headers=bearer(keys["executive"])).status_code == 200


# --- integers beyond what a row id can be (issue 11 item 6) ---------------------------------
HUGE = [2**31, 2**63, 2**63 + 1, 2**64, 10**30]


@pytest.mark.parametrize("number", HUGE)
def test_huge_ids_in_paths_and_queries_are_4xx_never_5xx(client, keys, number):
    key = bearer(keys["admin"])
    for method, path in [
        ("get", f"/api/admin/leads/{number}/activity"),
        ("get", f"/api/admin/leads/{number}/conversation"),
        ("post", f"/api/admin/leads/{number}/contacted"),
        ("post", f"/api/admin/leads/{number}/reopen"),
        ("get", f"/dashboard/leads/{number}/conversation"),
        ("get", f"/chat/web-00000000-0000-4000-8000-000000000000/replies?after={number}"),
    ]:
        response = getattr(client, method)(path, headers=key)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    assigned = client.post("/api/admin/leads/1/assign", json={"staff_id": number}, headers=key)
    assert assigned.status_code == 422
