"""Staff access to the dashboards and /api/admin: login, API keys, roles, access log, counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.auth import service as auth
from backend.auth.models import AccessLog
from backend.auth.web import SESSION_COOKIE
from backend.contacts.models import Contact
from backend.db import session_scope, utcnow
from backend.incidents import Incident
from backend.jobs.models import JobRun
from backend.orders.models import Order
from backend.outbox.models import OutboxMessage
from backend.sales.models import Lead

PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


@pytest.fixture
def keys(session_factory) -> dict[str, str]:
    return make_keys(session_factory)


def make_keys(session_factory) -> dict[str, str]:
    """One staff user and API key per role."""
    with session_scope(session_factory) as s:
        out = {}
        for role in ("admin", "compliance", "sales", "executive"):
            staff = auth.create_staff(
                s, email=f"{role}@shop.example", name=role.title(), role=role, password=PASSWORD
            )
            out[role] = auth.issue_api_key(s, staff_id=staff.id)
        return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def login(client: TestClient, email: str, password: str, next_path: str = "/dashboard"):
    form = client.get(f"/login?next={next_path}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf, "next": next_path},
        follow_redirects=False,
    )


@pytest.fixture
def rows(session_factory):
    insert_rows(session_factory)


def insert_rows(session_factory) -> None:
    """A little of everything the overview counts."""
    now = utcnow()
    with session_scope(session_factory) as s:
        ann = Contact(name="Ann Buyer", email="ann@customer.example")
        s.add(ann)
        s.flush()
        s.add_all(
            [
                Lead(
                    contact_id=ann.id,
                    conversation_id="c1",
                    kind="handoff",
                    status="new",
                    sla_due_at=now - timedelta(minutes=5),
                ),
                Lead(
                    conversation_id="c2",
                    kind="callback",
                    status="assigned",
                    sla_due_at=now + timedelta(hours=3),
                ),
                Lead(
                    conversation_id="c3",
                    kind="callback",
                    status="closed",
                    sla_due_at=now - timedelta(days=1),
                ),
                Incident(kind="ledger_mismatch", severity="critical", detail={"seq": 4}),
                Incident(kind="job_failed", severity="warning", status="resolved"),
                Order(currency="USD", status="paid", subtotal_minor=2999, total_minor=2999),
                Order(
                    currency="USD",
                    status="partially_refunded",
                    subtotal_minor=5000,
                    total_minor=5000,
                    refunded_minor=1000,
                ),
                Order(
                    currency="USD", status="pending_payment", subtotal_minor=700, total_minor=700
                ),
                JobRun(
                    job="trend_ingest",
                    status="failed",
                    error="boom",
                    started_at=now - timedelta(hours=2),
                ),
                JobRun(
                    job="trend_ingest",
                    status="ok",
                    counts={"trends": 7, "source.rss": "ok", "source.x": "not configured"},
                    started_at=now - timedelta(hours=1),
                    finished_at=now - timedelta(hours=1),
                ),
                OutboxMessage(kind="email", topic="follow_up", idempotency_key="k1"),
                OutboxMessage(kind="crm", topic="lead_captured", idempotency_key="k2"),
                OutboxMessage(
                    kind="crm", topic="lead_captured", idempotency_key="k3", status="sent"
                ),
            ]
        )


def access_log(session_factory) -> list[AccessLog]:
    with session_scope(session_factory) as s:
        return list(s.execute(select(AccessLog)).scalars())


# --- who may call -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/api/admin/summary", "/api/admin/leads", "/api/admin/incidents", "/api/admin/jobs"]
)
def test_api_without_credentials_is_401_json(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


def test_pages_without_login_redirect_to_login(client):
    response = client.get("/dashboard/leads", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/dashboard/leads"


def test_bad_or_revoked_key_is_401(client, keys, session_factory):
    assert client.get("/api/admin/summary", headers=bearer(keys["admin"] + "x")).status_code == 401
    with session_scope(session_factory) as s:
        auth.revoke_api_key(s, prefix=keys["admin"].split("_")[1])
    assert client.get("/api/admin/summary", headers=bearer(keys["admin"])).status_code == 401


WRONG_ROLES = [
    ("executive", "/api/admin/leads", "your role (executive) cannot read leads (personal data)"),
    ("compliance", "/api/admin/leads", "your role (compliance) cannot read leads (personal data)"),
    ("sales", "/api/admin/incidents", "your role (sales) cannot read incidents"),
    ("sales", "/api/admin/jobs", "your role (sales) cannot read job runs"),
    ("compliance", "/api/admin/jobs", "your role (compliance) cannot read job runs"),
]


def test_wrong_role_is_403_and_reads_nothing(client, keys, rows, session_factory):
    for role, path, message in WRONG_ROLES:
        response = client.get(path, headers=bearer(keys[role]))
        assert (response.status_code, response.json()) == (403, {"error": message})
    assert access_log(session_factory) == []


def test_wrong_role_page_is_403_html(client, keys):
    response = client.get("/dashboard/leads", headers=bearer(keys["executive"]))
    assert response.status_code == 403
    assert "cannot read leads" in response.text and "ann@customer.example" not in response.text


RIGHT_ROLES = [
    ("sales", "/api/admin/leads"),
    ("admin", "/api/admin/leads"),
    ("compliance", "/api/admin/incidents"),
    ("admin", "/api/admin/incidents"),
    ("admin", "/api/admin/jobs"),
    ("executive", "/api/admin/summary"),
    ("sales", "/api/admin/summary"),
]


def test_right_role_with_api_key_is_200(client, keys, rows):
    for role, path in RIGHT_ROLES:
        response = client.get(path, headers=bearer(keys[role]))
        assert response.status_code == 200, (role, path, response.text)


# --- personal data reads are logged -------------------------------------------------------
def test_lead_read_is_logged_without_customer_data(client, keys, rows, session_factory):
    response = client.get("/api/admin/leads", headers=bearer(keys["sales"]))
    leads = response.json()["leads"]
    assert [lead["kind"] for lead in leads] == ["handoff", "callback"]  # closed hidden, SLA order
    assert leads[0]["contact"]["email"] == "ann@customer.example"
    (entry,) = access_log(session_factory)
    assert (entry.actor, entry.role, entry.action) == ("sales@shop.example", "sales", "read_leads")
    ids = [lead["id"] for lead in leads]
    assert entry.resource == f"leads {min(ids)}..{max(ids)} (2 rows)"
    assert "ann" not in entry.resource.lower()


def test_every_leads_page_view_is_logged(client, keys, rows, session_factory):
    for _ in range(2):
        page = client.get("/dashboard/leads?include_closed=true", headers=bearer(keys["admin"]))
        assert page.status_code == 200 and "ann@customer.example" in page.text
    assert [e.action for e in access_log(session_factory)] == ["read_leads", "read_leads"]
    assert access_log(session_factory)[0].resource.endswith("(3 rows)")


def test_erased_contact_shows_no_personal_data(client, keys, rows, session_factory):
    with session_scope(session_factory) as s:
        s.execute(select(Contact)).scalar_one().erased_at = utcnow()
    contact = client.get("/api/admin/leads", headers=bearer(keys["sales"])).json()["leads"][0][
        "contact"
    ]
    assert contact["erased"] is True and contact["name"] is None and contact["email"] is None


# --- login with a cookie ------------------------------------------------------------------
def test_login_sets_a_safe_session_cookie_that_opens_the_dashboard(client, keys):
    response = login(client, "compliance@shop.example", PASSWORD, next_path="/dashboard/incidents")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/incidents"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age=43200" in cookie
    assert client.get("/dashboard/incidents").status_code == 200
    assert client.get("/api/admin/incidents").status_code == 200
    assert client.get("/api/admin/leads").status_code == 403  # compliance: no personal data
    client.post("/logout", follow_redirects=False)
    assert client.get("/api/admin/incidents").status_code == 401


def test_wrong_password_re_renders_with_message_and_no_session(client, keys):
    response = login(client, "admin@shop.example", "not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/api/admin/summary").status_code == 401


def test_login_without_the_form_token_is_refused(client, keys):
    response = client.post(
        "/login",
        data={"email": "admin@shop.example", "password": PASSWORD, "csrf": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "expired" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_login_never_redirects_off_site(client, keys):
    response = login(client, "admin@shop.example", PASSWORD, next_path="//evil.example/x")
    assert response.headers["location"] == "/dashboard"


def test_tampered_cookie_or_deactivated_user_is_logged_out(client, keys, session_factory):
    login(client, "sales@shop.example", PASSWORD)
    token = client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token[:-2] + "xx")
    assert client.get("/api/admin/summary").status_code == 401
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/api/admin/summary").status_code == 200
    with session_scope(session_factory) as s:
        auth.deactivate_staff(s, email="sales@shop.example")
    assert client.get("/api/admin/summary").status_code == 401


# --- what the overview shows ---------------------------------------------------------------
def test_summary_counts_reflect_rows(client, keys, rows):
    summary = client.get("/api/admin/summary", headers=bearer(keys["executive"])).json()
    assert summary["leads"] == {"new": {"handoff": 1}, "open": {"handoff": 1, "callback": 1}}
    assert summary["handoffs"]["waiting"] == 2 and summary["handoffs"]["overdue"] == 1
    assert summary["orders"]["by_status"] == {
        "paid": 1,
        "partially_refunded": 1,
        "pending_payment": 1,
    }
    assert summary["orders"]["revenue"] == [
        {"currency": "USD", "amount_minor": 6999, "display": "$69.99"}
    ]
    assert summary["incidents"] == {"open": 1, "by_severity": {"critical": 1}}
    assert summary["outbox"] == {"pending": 2, "by_kind": {"email": 1, "crm": 1}}
    assert [(j["job"], j["status"]) for j in summary["jobs"]] == [("trend_ingest", "ok")]
    assert summary["trend_sources"]["sources"] == {"rss": "ok", "x": "not configured"}
    assert "ann" not in str(summary).lower()


def test_summary_and_leads_on_postgres(settings, pg_session_factory):
    keys = make_keys(pg_session_factory)
    insert_rows(pg_session_factory)
    with TestClient(create_app(settings, pg_session_factory)) as client:
        summary = client.get("/api/admin/summary", headers=bearer(keys["admin"])).json()
        leads = client.get("/api/admin/leads", headers=bearer(keys["sales"])).json()["leads"]
    assert (
        summary["handoffs"]["overdue"] == 1
        and summary["orders"]["revenue"][0]["amount_minor"] == 6999
    )
    assert [lead["kind"] for lead in leads] == ["handoff", "callback"]


def test_overview_page_renders_counts_and_empty_tables(client, keys, rows):
    page = client.get("/dashboard", headers=bearer(keys["executive"]))
    assert page.status_code == 200
    assert "$69.99" in page.text and "1 past SLA" in page.text and "not configured" in page.text
    assert 'href="/dashboard/leads"' not in page.text  # executives get no link they cannot open


def test_empty_database_renders_every_page(client, keys):
    for path in ("/dashboard", "/dashboard/leads", "/dashboard/incidents", "/dashboard/jobs"):
        response = client.get(path, headers=bearer(keys["admin"]))
        assert response.status_code == 200, path
    summary = client.get("/api/admin/summary", headers=bearer(keys["admin"])).json()
    assert summary["trend_sources"] is None and summary["orders"]["revenue"] == []
    assert (
        "Trend ingestion has not run yet"
        in client.get("/dashboard", headers=bearer(keys["admin"])).text
    )
