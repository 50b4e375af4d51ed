"""Messages through the outbox to local fake SendGrid and Twilio servers (pytest-httpserver):
request bodies and auth, error mapping, Twilio 21610 → recorded withdrawal, the local outbox
without credentials, the gate asked again at delivery time, and quiet-hours deferral."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from werkzeug import Response

from backend.contacts.models import ConsentEvent, Contact
from backend.db import session_scope
from backend.integrations import IntegrationError
from backend.ledger import LedgerEntry
from backend.messaging import adapters, deliver, gate, service
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from tests.integration.messaging_support import T0, make_contact, make_settings

SG_KEY = "SG.f3a9c2d1e0b8a7f6.realistic-looking-key-value"
SID = "AC" + "2e" * 16
TOKEN = "7c1d0e4b9a8f7e6d5c4b3a2f1e0d9c8b"
OUR_NUMBER = "+14155238886"
MESSAGES_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
UTC = timezone.utc


@pytest.fixture
def now(monkeypatch):
    """The delivery-time clock of the deliverer (quiet hours depend on it)."""
    holder = {"now": T0}
    monkeypatch.setattr(deliver, "clock", lambda: holder["now"])
    return holder


@pytest.fixture
def live_settings(db_url, httpserver):
    base = httpserver.url_for("").rstrip("/")
    return make_settings(
        db_url,
        SENDGRID_API_KEY=SG_KEY,
        SENDGRID_API_BASE=base,
        EMAIL_FROM="shop@shop.test",
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE=base,
        TWILIO_SMS_FROM=OUR_NUMBER,
        TWILIO_WHATSAPP_FROM=f"whatsapp:{OUR_NUMBER}",
    )


def queue(factory, settings, channel, *, template="follow_up_goal", context=None, when=T0,
          **contact_kw) -> int:  # fmt: skip
    with session_scope(factory) as session:
        contact = session.execute(select(Contact).limit(1)).scalar_one_or_none()
        if contact is None:
            contact = make_contact(session, **contact_kw)
        spec_purpose = "marketing" if template == "follow_up_goal" else "transactional"
        queued = service.queue_message(
            session,
            settings=settings,
            contact=contact,
            channel=channel,
            template=template,
            purpose=spec_purpose,
            context=context or {"first_name": "Jane"},
            idempotency_key=f"test:{channel}:{template}:{when.isoformat()}",
            now=when,
        )
        session.flush()
        return queued.message.id


def run(factory, settings, at=T0):
    return outbox.deliver_due(factory, settings, worker_id="t", now=at)


def row(factory, message_id) -> OutboxMessage:
    with factory() as session:
        return session.get(OutboxMessage, message_id)


def twilio_ok(sid="SM" + "0" * 31 + "1"):
    body = {"sid": sid, "status": "queued", "account_sid": SID}
    return Response(json.dumps(body), status=201, content_type="application/json")


def twilio_error(status, code, message, headers=None):
    body = {"code": code, "message": message, "more_info": "https://www.twilio.com/docs/errors"}
    return Response(
        json.dumps({**body, "status": status}),
        status=status,
        content_type="application/json",
        headers=headers or {},
    )


# --- real providers (fakes on 127.0.0.1) ------------------------------------------------------


def test_marketing_email_goes_to_sendgrid_with_link_address_and_one_click_header(
    session_factory, live_settings, httpserver, now
):
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_response(
        Response(status=202, headers={"X-Message-Id": "sg-msg-1"})
    )
    message_id = queue(session_factory, live_settings, "email")
    assert run(session_factory, live_settings)["sent"] == 1
    (request, _), = httpserver.log  # fmt: skip
    assert request.headers["Authorization"] == f"Bearer {SG_KEY}"
    body = request.get_json()
    assert body["personalizations"] == [{"to": [{"email": "jane@shop.test"}]}]
    assert body["from"] == {"email": "shop@shop.test", "name": live_settings.shop_name}
    assert body["subject"] == f"New wellness picks from {live_settings.shop_name}"
    (text,) = body["content"]
    assert text["type"] == "text/plain"
    assert "Hi Jane," in text["value"] and live_settings.shop_address in text["value"]
    link = body["headers"]["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://shop.test/unsubscribe/") and link in text["value"]
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["custom_args"] == {"outbox_ref": f"email:{message_id}"}
    sent = row(session_factory, message_id)
    assert (sent.status, sent.provider_ref) == ("sent", "sendgrid:sg-msg-1")
    assert (
        sent.payload["sent"]["via"] == "sendgrid" and sent.payload["sent"]["body"] == text["value"]
    )


@pytest.mark.parametrize(
    ("channel", "to", "from_"),
    [
        ("sms", "+14155550123", OUR_NUMBER),
        ("whatsapp", "whatsapp:+14155550123", f"whatsapp:{OUR_NUMBER}"),
    ],
)
def test_sms_and_whatsapp_go_through_the_twilio_client(
    session_factory, live_settings, httpserver, now, channel, to, from_
):
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_response(twilio_ok())
    message_id = queue(session_factory, live_settings, channel)
    assert run(session_factory, live_settings)["sent"] == 1
    (request, _), = httpserver.log  # fmt: skip
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.form["To"] == to and request.form["From"] == from_
    assert request.form["Body"].endswith("\nReply STOP to opt out.")
    sent = row(session_factory, message_id)
    assert (sent.status, sent.provider_ref) == ("sent", "twilio:SM" + "0" * 31 + "1")
    assert sent.recipient == to


@pytest.mark.parametrize(
    ("response", "status", "error"),
    [
        (Response(status=401), "dead", "sendgrid: credentials rejected (401)"),
        (Response(status=403), "dead", "sendgrid: credentials rejected (403)"),
        (Response(status=429, headers={"Retry-After": "120"}), "pending", "rate limited (429)"),
        (Response(status=503), "pending", "sendgrid: server error 503"),
        (
            Response(
                json.dumps(
                    {
                        "errors": [
                            {
                                "message": "The from address does not match a "
                                "verified Sender Identity.",
                                "field": "from",
                            }
                        ]
                    }
                ),
                status=400,
                content_type="application/json",
            ),  # fmt: skip
            "dead",
            "sendgrid: 400 The from address does not match a verified Sender Identity.",
        ),
    ],
)
def test_sendgrid_errors_are_permanent_or_temporary(
    session_factory, live_settings, httpserver, now, response, status, error
):
    httpserver.expect_request("/v3/mail/send").respond_with_response(response)
    message_id = queue(session_factory, live_settings, "email")
    run(session_factory, live_settings)
    failed = row(session_factory, message_id)
    assert failed.status == status and error in failed.last_error
    assert SG_KEY not in failed.last_error


@pytest.mark.parametrize(
    ("response", "status", "error"),
    [
        (twilio_error(401, 20003, "Authenticate"), "dead", "twilio: credentials rejected (401)"),
        (twilio_error(429, 20429, "Too Many Requests"), "pending", "twilio: rate limited (429)"),
        (twilio_error(500, 20500, "Internal Server Error"), "pending", "twilio: server error 500"),
        (
            twilio_error(400, 21211, "The 'To' number +14155550123 is not a valid phone number."),
            "dead",
            "twilio: 400 code 21211: The 'To' number",
        ),
    ],
)
def test_twilio_errors_are_permanent_or_temporary(
    session_factory, live_settings, httpserver, now, response, status, error
):
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(response)
    message_id = queue(session_factory, live_settings, "sms")
    run(session_factory, live_settings)
    failed = row(session_factory, message_id)
    assert failed.status == status and error in failed.last_error
    assert "+14155550123" not in failed.last_error and TOKEN not in failed.last_error


def test_rate_limits_keep_the_providers_retry_after(httpserver):
    httpserver.expect_request("/v3/mail/send").respond_with_response(
        Response(status=429, headers={"Retry-After": "120"})
    )
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(
        twilio_error(429, 20429, "Too Many Requests", headers={"Retry-After": "90"})
    )
    base = httpserver.url_for("").rstrip("/")
    message = gate.Outgoing("email", "a@shop.test", "body", subject="s")
    email = adapters.SendGridEmail(api_key=SG_KEY, base_url=base, sender="s@shop.test",
                                   clock=lambda: T0)  # fmt: skip
    with pytest.raises(adapters.RateLimited) as caught:
        email.send(message, ref="email:1")
    assert caught.value.retry_at == T0 + timedelta(seconds=120)
    assert not caught.value.permanent
    sms = adapters.TwilioText(account_sid=SID, auth_token=TOKEN, api_base=base,
                              sms_from=OUR_NUMBER, whatsapp_from="", clock=lambda: T0)  # fmt: skip
    with pytest.raises(adapters.RateLimited) as caught:
        sms.send(gate.Outgoing("sms", "+14155550123", "hi"), ref="sms:1")
    assert caught.value.retry_at == T0 + timedelta(seconds=90)
    with pytest.raises(IntegrationError, match="TWILIO_WHATSAPP_FROM is not set") as missing:
        sms.send(gate.Outgoing("whatsapp", "whatsapp:+14155550123", "hi"), ref="whatsapp:1")
    assert missing.value.permanent


def test_twilio_21610_blocks_and_records_the_withdrawal_with_its_ledger_entry(
    session_factory, live_settings, httpserver, now
):
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(
        twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    )
    message_id = queue(session_factory, live_settings, "sms", transactional=("email", "sms"))
    assert run(session_factory, live_settings)["blocked"] == 1
    blocked = row(session_factory, message_id)
    assert blocked.status == "blocked" and "unsubscribed" in blocked.last_error
    with session_factory() as session:
        stops = session.execute(
            select(ConsentEvent).where(ConsentEvent.source == "sms_stop").order_by(ConsentEvent.id)
        ).scalars().all()  # fmt: skip
        assert {(e.purpose, e.channel, e.granted) for e in stops} == {
            ("marketing", "email", False),
            ("marketing", "sms", False),
            ("marketing", "whatsapp", False),
            ("transactional", "sms", False),
        }
        ledgered = session.execute(
            select(LedgerEntry.entity_id).where(
                LedgerEntry.entity_type == "consent", LedgerEntry.action == "withdrawn"
            )
        ).scalars().all()  # fmt: skip
        assert {str(e.id) for e in stops} <= {str(i) for i in ledgered}
    # the next message is stopped by the gate without calling Twilio
    second = queue(session_factory, live_settings, "email", when=T0 + timedelta(minutes=1))
    assert row(session_factory, second).status == "blocked"
    assert len(httpserver.log) == 1


# --- without credentials: the local outbox -----------------------------------------------------


def test_placeholder_credentials_write_to_the_local_outbox_only(session_factory, db_url, now):
    settings = make_settings(
        db_url, SENDGRID_API_KEY="SG-TEST-KEY", TWILIO_ACCOUNT_SID="AC-TEST-SID",
        TWILIO_AUTH_TOKEN="TWILIO-TEST-TOKEN",
    )  # fmt: skip
    assert isinstance(adapters.email_sender_for(settings), adapters.LocalSender)
    assert isinstance(adapters.text_sender_for(settings), adapters.LocalSender)
    ids = {channel: queue(session_factory, settings, channel) for channel in gate.CHANNELS}
    assert run(session_factory, settings)["sent"] == 3
    for channel, message_id in ids.items():
        sent = row(session_factory, message_id)
        assert sent.provider_ref == f"local:{channel}:{message_id}"
        assert sent.payload["sent"]["via"] == "local"
    assert "Reply STOP to opt out." in row(session_factory, ids["sms"]).payload["sent"]["body"]


# --- the gate at delivery time ----------------------------------------------------------------


def test_consent_withdrawn_after_queuing_blocks_delivery(
    session_factory, live_settings, httpserver, now
):
    message_id = queue(session_factory, live_settings, "email")
    assert row(session_factory, message_id).status == "pending"
    with session_scope(session_factory) as session:
        contact = session.execute(select(Contact)).scalar_one()
        token = gate.unsubscribe_token(live_settings, contact=contact)
        service.unsubscribe(session, settings=live_settings, token=token)
    # The withdrawal blocks the queued marketing message at once (staff never see it pending).
    blocked = row(session_factory, message_id)
    assert (blocked.status, blocked.last_error) == (
        "blocked",
        "blocked: marketing consent withdrawn",
    )
    run(session_factory, live_settings)
    assert row(session_factory, message_id).status == "blocked"
    assert httpserver.log == []


def test_quiet_hours_defer_at_queue_time_and_at_delivery_time(
    session_factory, live_settings, httpserver, now
):
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(twilio_ok())
    evening = datetime(2026, 11, 26, 1, 55, tzinfo=UTC)  # 20:55 in New York: may go
    message_id = queue(session_factory, live_settings, "sms", when=evening)
    assert row(session_factory, message_id).status == "pending"
    # the worker only gets to it at 21:05 New York time: the gate defers it, not an attempt
    now["now"] = evening + timedelta(minutes=10)
    assert run(session_factory, live_settings, at=now["now"])["deferred"] == 1
    waiting = row(session_factory, message_id)
    next_morning = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert waiting.next_attempt_at.replace(tzinfo=UTC) == next_morning
    assert waiting.last_error == "deferred: quiet hours"
    # Not claimed a minute before 08:00. (The contact's CRM push is due at the real time it was
    # queued, so count this message's row, not every row the run claims.)
    run(session_factory, live_settings, at=next_morning - timedelta(minutes=1))
    assert (row(session_factory, message_id).status, httpserver.log) == ("pending", [])
    now["now"] = next_morning
    run(session_factory, live_settings, at=next_morning)
    assert row(session_factory, message_id).status == "sent"
    assert len(httpserver.log) == 1


def test_a_message_queued_in_quiet_hours_waits_in_the_outbox(session_factory, live_settings, now):
    message_id = queue(session_factory, live_settings, "email", tz="America/Los_Angeles")
    queued = row(session_factory, message_id)  # T0 is 07:00 in Los Angeles
    assert queued.status == "pending"
    assert queued.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 11, 25, 16, tzinfo=UTC)
    assert queued.payload["preview"]["body"]  # what will go, for the dashboard
    assert run(session_factory, live_settings)["claimed"] == 0
