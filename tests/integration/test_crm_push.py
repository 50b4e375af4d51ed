"""CRM pushes from the consent path: what is enqueued (only consented fields), the local CRM,
delivery-time consent checks, and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.contacts import service
from backend.crm.models import CrmRecord
from backend.db import session_scope
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage
from backend.sales import service as sales

V = "2026-11"
JANE = service.ContactDetails(
    name="Jane Doe",
    email="jane@shop.test",
    phone_e164="+14155550123",
    marketing_channels=("email",),
    transactional=True,
)


def crm_rows(session) -> list[OutboxMessage]:
    return list(
        session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "crm").order_by(OutboxMessage.id)
        ).scalars()
    )


def accept(session, sender="s1"):
    return service.record_privacy(
        session,
        sender_id=sender,
        channel="rest",
        granted=True,
        wording=service.privacy_wording(policy_url="http://127.0.0.1:8000/privacy"),
        version=V,
    )


def health(session, granted, sender="s1"):
    service.record_consent(
        session,
        sender_id=sender,
        purpose=service.HEALTH,
        channel="chat",
        granted=granted,
        wording=service.HEALTH_WORDING,
        version=V,
    )


def deliver(session_factory, settings):
    later = datetime.now(timezone.utc) + timedelta(seconds=1)  # everything queued so far is due
    return outbox.deliver_due(session_factory, settings, worker_id="t", now=later)


def test_nothing_is_pushed_before_privacy_consent_or_without_details(session):
    sales.flag_sensitive(session, sender_id="anon", kind="medical")
    service.record_privacy(
        session, sender_id="s2", channel="rest", granted=False, wording="w", version=V
    )
    accept(session)  # consent, but nothing that identifies a person yet
    health(session, True)
    assert crm_rows(session) == []


def test_contact_details_push_exactly_the_consented_fields(session):
    contact = accept(session)
    service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
    (push,) = crm_rows(session)
    assert (push.topic, push.contact_id, push.status) == ("contact_updated", contact.id, "pending")
    assert push.payload == {
        "contact_ref": contact.public_id,
        "fields": {"name": "Jane Doe", "email": "jane@shop.test", "phone": "+14155550123"},
        "health_consent": False,
        "marketing": {"email": True, "sms": False, "whatsapp": False},
    }
    assert push.idempotency_key.startswith(f"crm:{contact.public_id}:details-1-")
    # the same answers again: nothing new for the CRM
    service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
    assert len(crm_rows(session)) == 1


def test_the_goal_is_pushed_only_with_health_consent(session):
    load_catalog(session, source=str(SAMPLE_CATALOG))
    accept(session)
    service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
    service.show_recommendations(session, sender_id="s1", goal="weight_loss")  # no consent
    assert all("wellness_goal" not in m.payload["fields"] for m in crm_rows(session))
    assert len(crm_rows(session)) == 1

    health(session, True)
    service.show_recommendations(session, sender_id="s1", goal="weight_loss")
    with_goal = crm_rows(session)[-1]
    assert with_goal.payload["fields"]["wellness_goal"] == "weight_loss"
    assert with_goal.payload["health_consent"] is True
    assert with_goal.idempotency_key.split(":")[-1].startswith("interaction-")

    health(session, False)  # withdrawal: a push that no longer carries the goal
    withdrawn = crm_rows(session)[-1]
    assert "wellness_goal" not in withdrawn.payload["fields"]
    assert withdrawn.payload["health_consent"] is False
    assert withdrawn.idempotency_key.split(":")[-1].startswith("consent-")


def test_callback_lead_is_pushed_sensitive_leads_are_not(session):
    contact = accept(session)
    sales.submit_contact(
        session, sender_id="s1", details=JANE, version=V, callback_time="after 5pm"
    )
    sales.flag_sensitive(session, sender_id="s1", kind="medical")
    sales.flag_sensitive(session, sender_id="s1", kind="emergency")
    topics = [m.topic for m in crm_rows(session)]
    assert topics == ["contact_updated", "lead_created"]
    lead_push = crm_rows(session)[-1]
    assert lead_push.payload["lead"] == {
        "kind": "callback",
        "priority": "normal",
        "preferred_time": "after 5pm",
        "goal": None,
    }
    assert lead_push.payload["contact_ref"] == contact.public_id


def test_local_crm_records_what_would_have_been_sent(session_factory, settings):
    with session_scope(session_factory) as session:
        accept(session)
        service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
    counts = deliver(session_factory, settings)
    assert counts["sent"] == 1
    with session_factory() as session:
        (push,) = crm_rows(session)
        (record,) = session.execute(select(CrmRecord)).scalars().all()
        assert push.status == "sent" and push.provider_ref == f"local:{record.id}"
        assert (record.operation, record.topic, record.contact_id) == (
            "upsert",
            "contact_updated",
            push.contact_id,
        )
        assert record.properties == push.payload


def test_an_older_push_is_superseded_by_a_newer_one(session_factory, settings):
    with session_scope(session_factory) as session:
        accept(session)
        service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
        service.update_contact(session, sender_id="s1", email="jane.new@shop.test")
    deliver(session_factory, settings)
    with session_factory() as session:
        old, new = crm_rows(session)
        records = session.execute(select(CrmRecord)).scalars().all()
    assert (old.status, old.provider_ref) == ("sent", "superseded")
    assert new.status == "sent" and new.provider_ref.startswith("local:")
    assert [r.properties["fields"]["email"] for r in records] == ["jane.new@shop.test"]


def test_consent_is_checked_again_at_delivery(session_factory, settings):
    with session_scope(session_factory) as session:
        accept(session)
        service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
        service.record_privacy(  # withdrawn before the worker got to it
            session, sender_id="s1", channel="rest", granted=False, wording="w", version=V
        )
    assert deliver(session_factory, settings)["blocked"] == 1
    with session_factory() as session:
        (push,) = crm_rows(session)
        assert (push.status, push.last_error) == ("blocked", "blocked: privacy consent withdrawn")
        assert session.execute(select(CrmRecord)).scalars().all() == []


def test_health_consent_withdrawn_before_delivery_strips_the_goal(session_factory, settings):
    with session_scope(session_factory) as session:
        load_catalog(session, source=str(SAMPLE_CATALOG))
        accept(session)
        health(session, True)
        service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
        service.show_recommendations(session, sender_id="s1", goal="diabetes")
        lead = sales.request_handoff(session, sender_id="s1", reason="wants a person")
        assert lead.goal == "diabetes"
        # withdrawn in a way that enqueues nothing newer (a staff tool writing the event)
        contact = service.contact_for(session, sender_id="s1")
        service.add_consent_event(
            session,
            contact=contact,
            purpose=service.HEALTH,
            channel="chat",
            granted=False,
            wording=service.HEALTH_WORDING,
            version=V,
        )
    deliver(session_factory, settings)
    with session_factory() as session:
        records = session.execute(select(CrmRecord)).scalars().all()
    (lead_record,) = [r for r in records if r.topic == "lead_created"]
    assert "wellness_goal" not in lead_record.properties["fields"]
    assert lead_record.properties["lead"]["goal"] is None
    assert lead_record.properties["health_consent"] is False


def test_erasure_blanks_pushes_and_local_records_and_deletes_in_the_crm(session_factory, settings):
    with session_scope(session_factory) as session:
        accept(session)
        service.save_contact_details(session, sender_id="s1", details=JANE, version=V)
    deliver(session_factory, settings)  # one record in the local CRM
    with session_scope(session_factory) as session:
        service.update_contact(session, sender_id="s1", phone_e164="+14155550199")  # pending
        service.erase(session, sender_id="s1", version=V)
    with session_factory() as session:
        sent, pending, erasure = crm_rows(session)
        assert sent.payload == pending.payload == {"erased": True}
        assert (pending.status, pending.last_error) == ("blocked", "blocked: contact erased")
        assert (erasure.topic, erasure.status) == ("contact_erased", "pending")
        assert "jane" not in str(erasure.payload)
        (record,) = session.execute(select(CrmRecord)).scalars().all()
        assert record.properties == {"erased": True}
    counts = deliver(session_factory, settings)
    assert counts["sent"] == 1 and counts["claimed"] == 1
    with session_factory() as session:
        records = session.execute(select(CrmRecord).order_by(CrmRecord.id)).scalars().all()
        assert [(r.operation, r.properties) for r in records] == [
            ("upsert", {"erased": True}),
            ("erase", {}),
        ]
    # an erased contact is never pushed again
    with session_scope(session_factory) as session:
        with pytest.raises(service.ConsentRequired):
            service.update_contact(session, sender_id="s1", email="again@shop.test")
        assert len(crm_rows(session)) == 3


def test_erasing_a_contact_never_pushed_queues_no_crm_delete(session):
    accept(session)
    service.erase(session, sender_id="s1", version=V)
    assert crm_rows(session) == []
