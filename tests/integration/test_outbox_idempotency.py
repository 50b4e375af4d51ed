"""A worker dies after the provider accepted a message but before the outbox recorded it: the
row is delivered again after its lease. What the providers make of the second request, through
the real adapters and local fake servers: HubSpot upserts by a unique key (one record, no
duplicate); SendGrid has no idempotency key, so the second request carries the same
`custom_args.outbox_ref` (a duplicate the shop can spot in SendGrid's event webhook)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from werkzeug import Response

from backend.contacts import service as contacts
from backend.db import session_scope, utcnow
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from tests.integration.messaging_support import SENDGRID_KEY, make_settings, queue_emails

HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
LEASE = timedelta(seconds=30)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs (not an Exception: the outbox cannot catch it)."""


def crash_after_delivery(monkeypatch, kind: str) -> None:
    deliver = outbox._DELIVERERS[kind]

    def deliver_then_die(session, message, settings):
        deliver(session, message, settings)
        raise WorkerKilled

    monkeypatch.setitem(outbox._DELIVERERS, kind, deliver_then_die)


def deliver_twice(factory, settings, monkeypatch, kind: str) -> OutboxMessage:
    """Deliver, die after the provider answered, then deliver again once the lease ran out."""
    first = utcnow() + timedelta(seconds=1)
    with monkeypatch.context() as patch:
        crash_after_delivery(patch, kind)
        with pytest.raises(WorkerKilled):
            outbox.deliver_due(factory, settings, worker_id="w1", now=first, kinds=[kind])
    with factory() as session:
        (row,) = session.query(OutboxMessage).filter_by(kind=kind).all()
        assert row.status == "sending"  # what the dead worker left behind
    later = first + LEASE + timedelta(seconds=1)
    counts = outbox.deliver_due(factory, settings, worker_id="w2", now=later, kinds=[kind])
    assert counts["sent"] == 1
    with factory() as session:
        return session.get(OutboxMessage, row.id)


def test_hubspot_upsert_by_email_makes_a_redelivery_no_duplicate(
    session_factory, db_url, httpserver, monkeypatch
):
    records: dict[tuple[str, str], str] = {}  # HubSpot's contacts by their unique key
    inputs = []

    def upsert(request):
        [item] = request.get_json()["inputs"]
        inputs.append(item)
        key = (item["idProperty"], item["id"])
        new = key not in records
        records.setdefault(key, str(700 + len(records)))
        body = {"status": "COMPLETE", "results": [{"id": records[key], "new": new}]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(
        "/crm/v3/properties/contacts/shop_contact_ref", method="GET"
    ).respond_with_json({"name": "shop_contact_ref", "type": "string", "hasUniqueValue": True})
    httpserver.expect_request(
        "/crm/v3/objects/contacts/batch/upsert", method="POST"
    ).respond_with_handler(upsert)
    settings = make_settings(
        db_url, HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN, HUBSPOT_API_BASE=httpserver.url_for("")
    )
    with session_scope(session_factory) as session:
        contacts.record_privacy(
            session, sender_id="s1", channel="rest", granted=True, wording="w", version="2026-11"
        )
        contacts.save_contact_details(
            session,
            sender_id="s1",
            version="2026-11",
            details=contacts.ContactDetails(
                name="Jane Doe",
                email="jane@shop.test",
                phone_e164=None,
                marketing_channels=(),
                transactional=True,
            ),  # fmt: skip
        )
    row = deliver_twice(session_factory, settings, monkeypatch, "crm")

    assert len(inputs) == 2 and inputs[0] == inputs[1]  # the same upsert, twice
    assert inputs[0]["idProperty"] == "email" and inputs[0]["id"] == "jane@shop.test"
    assert records == {("email", "jane@shop.test"): "700"}  # one contact in HubSpot
    assert (row.status, row.provider_ref) == ("sent", "hubspot:700")


def test_a_sendgrid_redelivery_carries_the_same_outbox_ref(
    session_factory, db_url, httpserver, monkeypatch
):
    refs = []

    def mail_send(request):
        refs.append(request.get_json()["custom_args"]["outbox_ref"])
        return Response(status=202, headers={"X-Message-Id": f"m{len(refs)}"})

    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_handler(mail_send)
    settings = make_settings(
        db_url,
        SENDGRID_API_KEY=SENDGRID_KEY,
        SENDGRID_API_BASE=httpserver.url_for("").rstrip("/"),
        EMAIL_FROM="shop@shop.test",
    )
    (message_id,) = queue_emails(session_factory, settings, count=1, tag="idem")
    row = deliver_twice(session_factory, settings, monkeypatch, "email")

    # SendGrid cannot refuse the second request: the customer gets the email twice, and both
    # requests say which outbox row they are, so the duplicate is visible and counted
    assert refs == [f"email:{message_id}", f"email:{message_id}"]
    assert (row.status, row.provider_ref) == ("sent", "sendgrid:m2")
