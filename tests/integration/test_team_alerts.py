"""Team alerts (backend/alerts/): raised by the product's own flows, queued in the outbox, posted
by the real HTTP clients to local servers answering like Slack's and Teams' incoming webhooks
and SendGrid; one alert per lead (or record) per kind; never a customer's name, email or phone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug import Response

from backend.alerts.models import TeamAlert
from backend.config import reset_settings_cache
from backend.db import session_scope, utcnow
from backend.incidents import Incident
from backend.integrations import IntegrationError
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from backend.sales import service as sales
from backend.sales import sla
from backend.sales.models import Lead, LeadActivity
from tests.integration.messaging_support import make_contact, make_settings

NAME, EMAIL, PHONE = "Jane Doe", "jane.doe@customer.test", "+14155550123"
SLACK_PATH = "/services/T0001/B0001/sl4ck-s3cret-t0ken"
TEAMS_PATH = "/workflows/teams-s3cret/triggers/manual/run"
TEAM_KINDS = ["team_slack", "team_teams", "team_email"]


@pytest.fixture
def env_settings(db_url, httpserver, monkeypatch):
    """Every channel configured, pointing at the local fake servers; the event handlers read
    this process's settings (the environment), the deliverer gets the same values."""
    values = {
        "TEAM_SLACK_WEBHOOK_URL": httpserver.url_for(SLACK_PATH),
        "TEAM_TEAMS_WEBHOOK_URL": httpserver.url_for(TEAMS_PATH),
        "TEAM_ALERT_EMAIL": "sales-team@shop.test",
        "SENDGRID_API_KEY": "SG.real-looking-key-0123456789",
        "SENDGRID_API_BASE": httpserver.url_for("").rstrip("/"),
        "EMAIL_FROM": "shop@shop.test",
        "PUBLIC_BASE_URL": "https://shop.test",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield make_settings(db_url, **values)
    reset_settings_cache()


@pytest.fixture
def no_channels(monkeypatch):
    for name in ("TEAM_SLACK_WEBHOOK_URL", "TEAM_TEAMS_WEBHOOK_URL", "TEAM_ALERT_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


def fake_webhooks(httpserver):
    httpserver.expect_request(SLACK_PATH, method="POST").respond_with_data("ok")
    httpserver.expect_request(TEAMS_PATH, method="POST").respond_with_data("", status=202)
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_response(
        Response("", status=202, headers={"X-Message-Id": "sg-team-1"})
    )


def handoff(session_factory, sender="s1") -> int:
    with session_scope(session_factory) as s:
        make_contact(s, sender=sender, name=NAME, email=EMAIL, phone=PHONE)
        return sales.request_handoff(s, sender_id=sender, reason="asked for a human").id


def deliver(session_factory, settings, kinds=TEAM_KINDS) -> dict:
    return outbox.deliver_due(session_factory, settings, worker_id="t", kinds=kinds)


def alerts(session_factory) -> list[tuple[str, str, str]]:
    with session_scope(session_factory) as s:
        rows = s.execute(select(TeamAlert).order_by(TeamAlert.id)).scalars()
        return [(a.kind, a.entity_type, a.entity_id) for a in rows]


def team_rows(session_factory) -> list[OutboxMessage]:
    with session_scope(session_factory) as s:
        query = select(OutboxMessage).where(OutboxMessage.kind.in_(TEAM_KINDS))
        rows = list(s.execute(query.order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return rows


def assert_no_customer_data(text: str) -> None:
    for personal in (NAME, "Jane", EMAIL, PHONE, PHONE[2:], "4155550123"):
        assert personal not in text


def test_a_handoff_reaches_slack_teams_and_the_mailbox_without_customer_data(
    session_factory, env_settings, httpserver
):
    fake_webhooks(httpserver)
    lead_id = handoff(session_factory)
    assert alerts(session_factory) == [("handoff", "lead", str(lead_id))]
    rows = team_rows(session_factory)
    assert [(r.kind, r.topic, r.purpose, r.contact_id) for r in rows] == [
        (kind, "handoff", "team_alert", None) for kind in TEAM_KINDS
    ]
    counts = deliver(session_factory, env_settings)
    assert counts["sent"] == 3
    assert {r.status for r in team_rows(session_factory)} == {"sent"}

    bodies = {request.path: request.get_data(as_text=True) for request, _ in httpserver.log}
    link = f"https://shop.test/dashboard/leads#lead-{lead_id}"
    slack = json.loads(bodies[SLACK_PATH])
    assert slack["text"] == f"[high] Lead #{lead_id}: a customer asked for a person: {link}"
    section, actions = slack["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert actions["elements"][0]["url"] == link
    teams = json.loads(bodies[TEAMS_PATH])
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in the dashboard", "url": link}
    ]
    mail = json.loads(bodies["/v3/mail/send"])
    assert mail["personalizations"] == [{"to": [{"email": "sales-team@shop.test"}]}]
    assert link in mail["content"][0]["value"]
    for body in bodies.values():
        assert_no_customer_data(body)
    for row in team_rows(session_factory):  # nor in what the outbox stored
        assert_no_customer_data(json.dumps(row.payload))


def test_one_alert_per_lead_per_kind(session_factory, env_settings, httpserver):
    lead_id = handoff(session_factory)
    assert handoff(session_factory) == lead_id  # asked again in the same chat: same lead
    with session_scope(session_factory) as s:  # an emergency in that chat: its own lead, urgent
        urgent = sales.flag_sensitive(s, sender_id="s1", kind="emergency").id
        sales.flag_sensitive(s, sender_id="s1", kind="emergency")
        sales.flag_sensitive(s, sender_id="s1", kind="medical")  # sensitive, high: no alert
    assert alerts(session_factory) == [
        ("handoff", "lead", str(lead_id)), ("urgent_lead", "lead", str(urgent)),
    ]  # fmt: skip
    assert len(team_rows(session_factory)) == 6  # 2 alerts x 3 channels


def test_unconfigured_channels_list_the_alert_on_the_dashboard_only(
    session_factory, db_url, no_channels
):
    from fastapi.testclient import TestClient

    from backend.api.app import create_app
    from tests.integration.test_dashboard import bearer, make_keys

    lead_id = handoff(session_factory)
    assert alerts(session_factory) == [("handoff", "lead", str(lead_id))]
    assert team_rows(session_factory) == []
    keys = make_keys(session_factory)
    with TestClient(create_app(make_settings(db_url), session_factory)) as client:
        r = client.get("/api/admin/alerts", headers=bearer(keys["sales"]))
        assert r.status_code == 200
        assert r.json()["channels"] == {"slack": False, "teams": False, "email": False}
        (alert,) = r.json()["alerts"]
        assert (alert["kind"], alert["entity"], alert["delivery"]) == (
            "handoff", f"lead {lead_id}", {},
        )  # fmt: skip
        assert client.get("/api/admin/alerts", headers=bearer(keys["executive"])).status_code == 403
        page = client.get("/dashboard/alerts", headers=bearer(keys["compliance"]))
        assert page.status_code == 200
        assert page.text.count("not configured") >= 3 and "dashboard only" in page.text
        assert_no_customer_data(page.text)


def test_channel_status_never_shows_the_webhook_url(session_factory, env_settings):
    from fastapi.testclient import TestClient

    from backend.api.app import create_app
    from tests.integration.test_dashboard import bearer, make_keys

    keys = make_keys(session_factory)
    with TestClient(create_app(env_settings, session_factory)) as client:
        r = client.get("/api/admin/alerts", headers=bearer(keys["admin"]))
        assert r.json()["channels"] == {"slack": True, "teams": True, "email": True}
        page = client.get("/dashboard/alerts", headers=bearer(keys["admin"])).text
    for secret in ("sl4ck-s3cret-t0ken", "teams-s3cret"):
        assert secret not in r.text and secret not in page


def test_sla_warning_at_80_percent_then_breach_once_each(session_factory, env_settings):
    lead_id = handoff(session_factory)  # handoff: 1 hour to a first reply
    with session_scope(session_factory) as s:
        due = s.get(Lead, lead_id).sla_due_at.replace(tzinfo=utcnow().tzinfo)
    for minutes_before_due, expected in ((20, {"at_risk": 0, "breached": 0}),
                                         (11, {"at_risk": 1, "breached": 0}),
                                         (5, {"at_risk": 0, "breached": 0}),
                                         (-1, {"at_risk": 0, "breached": 1}),
                                         (-30, {"at_risk": 0, "breached": 0})):  # fmt: skip
        with session_scope(session_factory) as s:
            now = due - timedelta(minutes=minutes_before_due)
            assert sla.check_sla(s, now=now) == expected
    assert alerts(session_factory) == [
        ("handoff", "lead", str(lead_id)),
        ("sla_warning", "lead", str(lead_id)),
        ("sla_breach", "lead", str(lead_id)),
    ]
    with session_scope(session_factory) as s:
        actions = [a.action for a in s.execute(select(LeadActivity).where(
            LeadActivity.lead_id == lead_id).order_by(LeadActivity.id)).scalars()]  # fmt: skip
        assert actions[-2:] == ["sla_at_risk", "sla_breached"]
        breach = s.execute(select(TeamAlert).where(TeamAlert.kind == "sla_breach")).scalar_one()
        assert (breach.priority, breach.link) == (
            "warning", f"https://shop.test/dashboard/leads#lead-{lead_id}",
        )  # fmt: skip


def test_a_dead_outbox_row_alerts_the_team_but_a_dead_alert_does_not(
    session_factory, env_settings, httpserver, monkeypatch
):
    def refuse(session, message, settings):
        raise IntegrationError("crm: 400 property does not exist", permanent=True)

    outbox.registered_kinds()  # wired first, so the stand-in below is not overwritten
    monkeypatch.setitem(outbox._DELIVERERS, "crm", refuse)
    with session_scope(session_factory) as s:
        crm_row = outbox.enqueue(s, kind="crm", topic="lead_captured", payload={},
                                 idempotency_key="crm-test-1").id  # fmt: skip
    assert deliver(session_factory, env_settings, kinds=["crm"])["dead"] == 1
    assert alerts(session_factory) == [("outbox_dead", "outbox", str(crm_row))]
    # Slack says the webhook is gone (404 no_service): that alert row dies, permanently, with
    # the reason and without the URL's secret; no alert about an alert
    httpserver.expect_request(SLACK_PATH).respond_with_data("no_service", status=404)
    counts = deliver(session_factory, env_settings, kinds=["team_slack"])
    assert counts["dead"] == 1
    (slack_row,) = [r for r in team_rows(session_factory) if r.kind == "team_slack"]
    assert (slack_row.status, slack_row.last_error) == (
        "dead", "IntegrationError: slack: 404 no_service",
    )  # fmt: skip
    assert alerts(session_factory) == [("outbox_dead", "outbox", str(crm_row))]


def test_webhook_outages_are_retried_and_rate_limits_honoured(
    session_factory, env_settings, httpserver
):
    httpserver.expect_request(TEAMS_PATH).respond_with_data("busy", status=503)
    httpserver.expect_request(SLACK_PATH).respond_with_response(
        Response("rate_limited", status=429, headers={"Retry-After": "120"})
    )
    handoff(session_factory)
    now = utcnow()
    counts = deliver(session_factory, env_settings, kinds=["team_slack", "team_teams"])
    assert counts["retry"] == 2
    rows = {r.kind: r for r in team_rows(session_factory)}
    assert rows["team_teams"].status == rows["team_slack"].status == "pending"
    assert rows["team_teams"].last_error == "IntegrationError: teams: server error 503"
    slack_due = rows["team_slack"].next_attempt_at.replace(tzinfo=now.tzinfo)
    assert slack_due >= now + timedelta(seconds=115)


def test_a_removed_channel_blocks_its_queued_alerts(session_factory, env_settings, db_url):
    handoff(session_factory)
    without_slack = make_settings(db_url, TEAM_SLACK_WEBHOOK_URL="")
    assert deliver(session_factory, without_slack, kinds=["team_slack"])["blocked"] == 1
    (row,) = [r for r in team_rows(session_factory) if r.kind == "team_slack"]
    assert row.last_error == "blocked: TEAM_SLACK_WEBHOOK_URL is not configured"


def test_a_receipt_mismatch_alerts_once_per_record(session_factory, settings, env_settings):
    from backend.orders import audit
    from tests.integration.orders_support import add_product, paid_order
    from tests.integration.test_audit import receipt_number, run_audit, tamper

    add_product(session_factory, stock=5)
    paid_order(session_factory, settings, quantity=1)
    number = receipt_number(session_factory)
    tamper(session_factory, "UPDATE receipts SET issued_at = :t WHERE number = :n",
           params={"t": "2020-01-01 00:00:00", "n": number})  # fmt: skip
    with session_scope(session_factory) as s:
        assert audit.open_incidents(s, run_audit(session_factory)) == 2  # two problems
    assert alerts(session_factory) == [("ledger_mismatch", "receipt", number)]
    with session_scope(session_factory) as s:
        assert len(s.execute(select(Incident)).all()) == 2
        alert = s.execute(select(TeamAlert)).scalar_one()
        assert (alert.priority, alert.link) == ("critical", "https://shop.test/dashboard/incidents")
