"""The executive overview: KPIs, funnel, pipeline, alerts and charts over data made by the
product's own services (chat consent, recommendations, checkout and payment, leads, audit)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.contacts import service as contacts
from backend.contacts.models import ConsentEvent
from backend.dashboard import overview
from backend.db import session_scope, utcnow
from backend.jobs.registry import run_job
from backend.orders.models import Receipt
from backend.sales import service as sales
from tests.integration.orders_support import add_product, pay, place
from tests.integration.test_dashboard import bearer, make_keys

V = "privacy-v1"


def _privacy(session, sender):
    contacts.ensure_conversation(session, sender_id=sender)
    contacts.record_privacy(
        session,
        sender_id=sender,
        channel="rest",
        granted=True,
        wording=contacts.privacy_wording(policy_url="http://127.0.0.1:8000/privacy"),
        version=V,
    )


def make_world(factory, settings) -> None:
    """Three chats: one buys, one only consents and becomes a high-intent lead, one leaves."""
    add_product(factory)
    with session_scope(factory) as s:
        _privacy(s, "buyer")
        contacts.record_consent(
            s,
            sender_id="buyer",
            purpose="health_data",
            channel="chat",
            granted=True,
            wording="May we keep your wellness goal?",
            version="health-v1",
        )
        contacts.show_recommendations(s, sender_id="buyer", goal="diabetes")
        _privacy(s, "browser")
        sales.create_lead(s, sender_id="browser", kind="high_intent", reason="asked for price")
        contacts.ensure_conversation(s, sender_id="passer-by")
    placed = place(factory, settings, conversation_id="buyer")
    pay(factory, settings, placed.public_id)


def audit(factory, settings) -> None:
    assert run_job("audit_verify", factory=factory, settings=settings).status == "ok"


@pytest.fixture
def world(session_factory, settings):
    make_world(session_factory, settings)
    audit(session_factory, settings)


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


@pytest.fixture
def keys(session_factory):
    return make_keys(session_factory)


def figures(factory, days=30) -> dict:
    with session_scope(factory) as s:
        return overview.executive(s, now=utcnow(), days=days)


def test_funnel_counts_each_step_of_the_chats(world, session_factory):
    steps = {row["step"]: row["count"] for row in figures(session_factory)["funnel"]}
    assert steps == {
        "chats": 3,
        "consent": 2,
        "goal": 1,
        "recommendation": 1,
        "checkout": 1,
        "paid": 1,
    }


def test_sales_kpis(world, session_factory):
    sales_kpis = figures(session_factory)["sales"]
    assert sales_kpis["new_leads_24h"] == 1
    assert sales_kpis["high_intent_leads"] == 1
    assert sales_kpis["conversion_percent"] == 33.3
    (usd,) = sales_kpis["revenue"]
    assert (usd["currency"], usd["amount_minor"], usd["display"]) == ("USD", 2999, "$29.99")
    assert usd["growth_percent"] is None  # nothing in the month before


def test_compliance_kpis_come_from_the_audit_run(world, session_factory):
    verified = {v["kind"]: v for v in figures(session_factory)["compliance"]["verified"]}
    assert (verified["consent"]["verified"], verified["consent"]["total"]) == (3, 3)
    assert (verified["receipt"]["verified"], verified["receipt"]["total"]) == (1, 1)
    assert (verified["invoice"]["verified"], verified["invoice"]["percent"]) == (1, 100.0)


def test_tampered_receipt_and_consent_show_as_mismatches_and_alerts(
    world, session_factory, settings
):
    with session_scope(session_factory) as s:
        s.execute(select(Receipt)).scalar_one().sha256 = "0" * 64
        first = s.execute(select(ConsentEvent).order_by(ConsentEvent.id)).scalars().first()
        first.wording = "something else"
    audit(session_factory, settings)
    data = figures(session_factory)
    verified = {v["kind"]: v for v in data["compliance"]["verified"]}
    assert (verified["receipt"]["verified"], verified["receipt"]["mismatched"]) == (0, 2)
    assert (verified["consent"]["verified"], verified["consent"]["total"]) == (2, 3)
    assert data["compliance"]["alerts_30d"]["mismatches"] == 3
    alerts = {a["kind"]: a["count"] for a in data["alerts"]}
    assert alerts == {"receipt_mismatch": 2, "consent_mismatch": 1}
    # the compliance score of each audit run: 5 of 5 verified, then 3 verified and 3 mismatches
    trend = data["compliance_trend"]
    assert [(r["verified"], r["mismatches"], r["score"]) for r in trend] == [
        (5, 0, 100.0),
        (3, 3, 50.0),
    ]


def test_nothing_verified_before_the_audit_runs(session_factory, settings):
    make_world(session_factory, settings)
    data = figures(session_factory)["compliance"]
    assert data["audited_at"] is None
    assert all(v["verified"] == 0 and v["total"] >= 1 for v in data["verified"])


def test_pipeline_by_stage(world, session_factory):
    stages = {row["stage"]: row for row in figures(session_factory)["pipeline"]}
    assert stages["new"] == {"stage": "new", "leads": 1, "with_consent": 1, "with_receipt": 0}
    assert stages["closed"]["leads"] == 0


def test_orders_per_day_and_leads_per_day(world, session_factory):
    data = figures(session_factory, days=7)
    today = utcnow().date().isoformat()
    assert len(data["orders_per_day"]) == 7
    (row,) = [r for r in data["orders_per_day"] if r["day"] == today]
    assert (row["orders"], row["revenue_minor"], row["currency"]) == (1, 2999, "USD")
    assert sum(r["orders"] for r in data["orders_per_day"]) == 1
    assert data["leads_per_day"]["kinds"] == ["high_intent"]
    (leads_today,) = [r for r in data["leads_per_day"]["days"] if r["day"] == today]
    assert leads_today["high_intent"] == 1


# --- the page and the API ------------------------------------------------------------------
@pytest.mark.parametrize("role", ["executive", "admin", "compliance"])
def test_page_shows_kpis_charts_and_their_tables(world, client, keys, role):
    response = client.get("/dashboard/executive?days=30", headers=bearer(keys[role]))
    assert response.status_code == 200
    html = response.text
    assert re.search(r'id="kpi-consent">.*?<p class="big ?">3/3</p>', html, re.S)
    assert "$29.99" in html
    assert html.count('<svg class="chart"') == 7
    assert "<title>Response time to leads vs SLA (minutes)</title>" in html
    assert "<title>Conversion funnel</title>" in html
    # the funnel's numbers are in a table beside the chart
    assert re.search(r'<th scope="row">paid</th><td>1</td><td>33.3%</td>', html)
    assert "style=" not in html and "<script" not in html


def test_sales_role_may_not_see_the_overview(client, keys):
    assert client.get("/api/admin/overview", headers=bearer(keys["sales"])).status_code == 403
    assert client.get("/dashboard/executive", headers=bearer(keys["sales"])).status_code == 403


def test_api_returns_the_same_figures_and_bounds_the_period(world, client, keys):
    response = client.get("/api/admin/overview?days=7", headers=bearer(keys["executive"]))
    assert response.status_code == 200
    body = response.json()
    assert body["period"]["days"] == 7 and len(body["orders_per_day"]) == 7
    assert body["funnel"][-1] == {"step": "paid", "count": 1, "percent": 33.3}
    for days in (0, 367, "x"):
        bad = client.get(f"/api/admin/overview?days={days}", headers=bearer(keys["executive"]))
        assert bad.status_code == 422
    assert "/api/admin/overview" in client.get("/openapi.json").json()["paths"]


def test_chart_text_is_escaped():
    from backend.dashboard import charts

    svg = charts.lines("t<x>", ["<b>"], {"<script>": [1.0]})
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_overview_and_trend_history_on_postgres(settings, pg_session_factory):
    make_world(pg_session_factory, settings)
    audit(pg_session_factory, settings)
    data = figures(pg_session_factory, days=7)
    assert [row["count"] for row in data["funnel"]] == [3, 2, 1, 1, 1, 1]
    verified = {v["kind"]: (v["verified"], v["total"]) for v in data["compliance"]["verified"]}
    assert verified == {"consent": (3, 3), "receipt": (1, 1), "invoice": (1, 1)}
    today = utcnow().date().isoformat()
    (row,) = [r for r in data["orders_per_day"] if r["day"] == today]
    assert (row["orders"], row["revenue_minor"]) == (1, 2999)
    keys = make_keys(pg_session_factory)
    with TestClient(create_app(settings, pg_session_factory)) as c:
        assert c.get("/dashboard/trends", headers=bearer(keys["admin"])).status_code == 200
        assert c.get("/dashboard/executive", headers=bearer(keys["admin"])).status_code == 200


def test_reports_as_csv_and_json_are_access_logged(world, client, keys, session_factory):
    from backend.auth.models import AccessLog

    response = client.get(
        "/api/admin/reports/compliance?days=30", headers=bearer(keys["compliance"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0] == "section,item,value,total,percent"
    assert "verified,consent,3,3,100.0" in lines and "verified,receipt,1,1,100.0" in lines

    sales_csv = client.get("/api/admin/reports/sales?days=7", headers=bearer(keys["executive"]))
    assert sales_csv.status_code == 200
    rows = sales_csv.text.splitlines()
    assert rows[0] == "day,orders,revenue,currency,leads_high_intent"
    assert f"{utcnow().date().isoformat()},1,29.99,USD,1" in rows
    assert "paid,1,33.3" in rows and "conversion_percent,33.3" in rows

    as_json = client.get(
        "/api/admin/reports/sales?days=7&format=json", headers=bearer(keys["admin"])
    ).json()
    assert as_json["rows"][0][:2] == ["day", "orders"] and as_json["days"] == 7
    with session_scope(session_factory) as s:
        logged = [(a.role, a.action, a.resource) for a in s.execute(select(AccessLog)).scalars()]
    assert logged == [
        ("compliance", "export_report", "compliance report, 30 days"),
        ("executive", "export_report", "sales report, 7 days"),
        ("admin", "export_report", "sales report, 7 days"),
    ]


def test_reports_refuse_other_roles_and_unknown_names(client, keys):
    assert client.get("/api/admin/reports/sales", headers=bearer(keys["sales"])).status_code == 403
    admin = bearer(keys["admin"])
    assert client.get("/api/admin/reports/other", headers=admin).status_code == 422
    assert client.get("/api/admin/reports/sales?format=xml", headers=admin).status_code == 422
    for bad in ("from=2026-02-01&to=2026-01-01", "from=2024-01-01&to=2026-01-01", "to=yesterday"):
        response = client.get(f"/api/admin/reports/sales?{bad}", headers=admin)
        assert response.status_code == 422 and response.json()["error"], bad
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/admin/reports/{name}" in paths


def test_reports_for_a_chosen_period_as_pdf_and_json(world, client, keys):
    today = utcnow().date()
    admin = bearer(keys["admin"])
    span = f"from={(today - timedelta(days=2)).isoformat()}&to={today.isoformat()}"
    as_json = client.get(f"/api/admin/reports/sales?{span}&format=json", headers=admin).json()
    assert as_json["days"] == 3 and as_json["period"]["start"][:10] == str(today - timedelta(2))
    assert [row[:2] for row in as_json["rows"][1:4]] == [
        [str(today - timedelta(days=2)), 0],
        [str(today - timedelta(days=1)), 0],
        [str(today), 1],
    ]
    last_month = f"from={today - timedelta(days=40)}&to={today - timedelta(days=10)}"
    old = client.get(f"/api/admin/reports/sales?{last_month}&format=json", headers=admin).json()
    assert sum(row[1] for row in old["rows"][1:32]) == 0  # the order is outside that period

    pdf = client.get(f"/api/admin/reports/compliance?{span}&format=pdf", headers=admin)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"DejaVuSans" in pdf.content
    assert "compliance-report-" in pdf.headers["content-disposition"]
    assert b"/Title (Compliance report)" in pdf.content  # the document's metadata


def test_csv_cells_cannot_become_formulas():
    from backend.dashboard.reports import to_csv

    assert to_csv([["=HYPERLINK(1)", "-5", "ok"]]) == "'=HYPERLINK(1),'-5,ok\n"


@pytest.fixture(params=["sqlite", "postgres"])
def any_factory(request):
    if request.param == "sqlite":
        return request.getfixturevalue("session_factory")
    return request.getfixturevalue("pg_session_factory")


def test_response_time_to_leads_vs_sla(any_factory, settings):
    """Four leads made by the chat, three answered through the inbox: the median first-reply
    time, the SLA target and the breaches per day come out of SQL (SQLite and Postgres), and
    the page shows them in the chart's table."""
    from datetime import timedelta

    from backend.auth.models import StaffUser
    from backend.sales import inbox
    from backend.sales.models import Lead, LeadActivity

    keys = make_keys(any_factory)
    now = utcnow()
    with session_scope(any_factory) as s:
        leads = []
        for sender in ("a", "b", "c", "d"):
            contacts.ensure_conversation(s, sender_id=sender)
            leads.append(
                sales.create_lead(s, sender_id=sender, kind="handoff", reason="asked for a human")
            )
        actor = s.execute(select(StaffUser).where(StaffUser.role == "sales")).scalar_one()
        for lead in leads[:3]:
            inbox.mark_contacted(s, lead_id=lead.id, actor=actor)
        s.flush()
        # Time travel: the leads came in 3 h ago; replies after 10, 30 and 90 minutes (the
        # handoff SLA is 1 hour, so the slow one breached); one lead still waits past its SLA.
        came_in = now - timedelta(hours=3)
        for lead, minutes in zip(leads, (10, 30, 90, None), strict=True):
            row = s.get(Lead, lead.id)
            row.created_at, row.sla_due_at = came_in, came_in + timedelta(hours=1)
            if minutes is not None:
                activity = s.execute(  # (its first row is the routing decision)
                    select(LeadActivity).where(
                        LeadActivity.lead_id == lead.id, LeadActivity.to_status == "contacted"
                    )
                ).scalar_one()
                activity.created_at = came_in + timedelta(minutes=minutes)

    series = figures(any_factory, days=7)["response_times"]
    assert len(series) == 7
    (day,) = [row for row in series if row["leads"]]
    assert day["day"] == came_in.date().isoformat()
    assert (day["leads"], day["replied"], day["breaches"]) == (4, 3, 2)
    assert day["median_minutes"] == pytest.approx(30.0, abs=0.1)
    assert day["sla_minutes"] == pytest.approx(60.0, abs=0.1)

    with TestClient(create_app(settings, any_factory)) as client:
        html = client.get("/dashboard/executive?days=7", headers=bearer(keys["executive"])).text
    table = re.search(r'<table class="list" id="sla-numbers">(.*?)</table>', html, re.S).group(1)
    assert re.search(
        rf'<th scope="row">{day["day"]}</th><td>4</td><td>3</td><td>30\.0</td><td>60\.0</td>'
        r'<td class="bad">2</td>',
        table,
    )
