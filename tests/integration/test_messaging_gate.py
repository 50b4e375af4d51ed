"""The one send gate on a migrated database: consent per purpose and channel, withdrawal on
"all", erased contacts, quiet hours across time zones and DST, the WhatsApp 24-hour window, and
the final text (opt-out line, unsubscribe link, postal address, DSHEA disclaimer)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from backend.contacts import service as contacts
from backend.messaging import gate
from backend.trends.recommend import DSHEA_DISCLAIMER
from tests.integration.messaging_support import T0, V, consent, make_contact, make_settings

UTC = timezone.utc
HOUR = timedelta(hours=1)


@pytest.fixture
def settings(db_url):
    return make_settings(db_url)


def check(session, settings, contact, channel, *, template="follow_up_goal", purpose=None,
          context=None, now=T0):  # fmt: skip
    purpose = purpose or ("marketing" if template == "follow_up_goal" else "transactional")
    return gate.check(
        session,
        settings=settings,
        contact=contact,
        channel=channel,
        purpose=purpose,
        template=template,
        context=context or {},
        now=now,
    )


# --- consent ----------------------------------------------------------------------------------


def test_marketing_goes_only_on_channels_with_marketing_consent(session, settings):
    contact = make_contact(session, marketing=("email",))
    assert check(session, settings, contact, "email").outcome == gate.SEND
    sms = check(session, settings, contact, "sms")
    assert (sms.outcome, sms.reason) == (gate.REFUSE, "no marketing consent for sms")
    assert sms.message is None


def test_latest_event_per_channel_wins(session, settings):
    contact = make_contact(session)
    for channel in ("email", "sms", "whatsapp"):
        consent(session, contact, "marketing", channel, False, source="chat")
        decision = check(session, settings, contact, channel)
        assert decision.outcome == gate.REFUSE, channel
    consent(session, contact, "marketing", "email", True)  # a later grant on one channel
    assert check(session, settings, contact, "email").outcome == gate.SEND
    assert check(session, settings, contact, "sms").outcome == gate.REFUSE
    consent(session, contact, "marketing", "email", False)
    assert check(session, settings, contact, "email").outcome == gate.REFUSE


def test_there_is_no_wildcard_channel(session, settings):
    """Consent is given channel by channel (backend/contacts/consent.py): "all" is no channel."""
    contact = make_contact(session, marketing=())
    consent(session, contact, "marketing", "all", True)
    assert check(session, settings, contact, "sms").reason == "no marketing consent for sms"


def test_transactional_messages_need_transactional_consent_for_their_channel(session, settings):
    contact = make_contact(session, marketing=("email", "sms"), transactional=("email",))
    context = {"order_ref": "AB12", "total": "$10.00", "items": [], "receipt_url": "u"}
    email = check(session, settings, contact, "email", template="order_receipt", context=context)
    assert email.outcome == gate.SEND
    # marketing consent on SMS is not transactional consent on SMS
    sms = check(session, settings, contact, "sms", template="order_receipt", context=context)
    assert (sms.outcome, sms.reason) == (gate.REFUSE, "no transactional consent for sms")
    # a marketing template cannot be slipped through as "transactional"
    sneaky = check(session, settings, contact, "email", purpose="transactional")
    assert sneaky.outcome == gate.REFUSE and "needs marketing consent" in sneaky.reason


def test_erased_contacts_and_withdrawn_privacy_are_refused(session, settings):
    erased = make_contact(session, sender="gone")
    contacts.erase(session, sender_id="gone", version=V)
    assert check(session, settings, erased, "email").reason == "contact erased"
    assert check(session, settings, None, "email").reason == "contact erased"
    other = make_contact(session, sender="s2", email="b@shop.test", phone="+14155550124")
    consent(session, other, "privacy", "chat", False, source="chat")
    assert check(session, settings, other, "email").reason == "privacy consent withdrawn"


def test_no_address_unknown_template_or_channel_are_refused(session, settings):
    contact = make_contact(session, email=None)
    assert check(session, settings, contact, "email").reason == "no email address"
    assert check(session, settings, contact, "fax").reason == "unknown channel 'fax'"
    assert "unknown template" in check(session, settings, contact, "sms", template="nope").reason


# --- quiet hours ------------------------------------------------------------------------------


def test_quiet_hours_follow_the_recipients_time_zone(session, settings):
    la = make_contact(session, tz="America/Los_Angeles")  # T0 is 07:00 there
    decision = check(session, settings, la, "sms")
    assert decision.outcome == gate.DEFER
    assert decision.not_before == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert decision.message is not None  # the text is ready for when it may go
    ny = make_contact(session, sender="s2", email="ny@shop.test", phone="+12125550100")
    assert check(session, settings, ny, "sms").outcome == gate.SEND  # shop zone: 10:00 NY
    tokyo = make_contact(
        session, sender="s3", email="t@shop.test", phone="+81312345678", tz="Asia/Tokyo"
    )  # T0 is 00:00 the next day in Tokyo
    assert check(session, settings, tokyo, "sms").not_before == datetime(
        2026, 11, 25, 23, 0, tzinfo=UTC
    )  # 08:00 JST on 26 November


def test_quiet_hours_boundaries_and_transactional_messages(session, settings):
    contact = make_contact(session, transactional=("email", "sms"))  # New York (shop zone)
    at = lambda h, m=0: datetime(2026, 11, 25, h, m, tzinfo=UTC) + timedelta(hours=5)  # noqa: E731
    assert check(session, settings, contact, "sms", now=at(8)).outcome == gate.SEND
    assert check(session, settings, contact, "sms", now=at(20, 59)).outcome == gate.SEND
    late = check(session, settings, contact, "sms", now=at(21))
    assert late.outcome == gate.DEFER and late.not_before == at(8) + timedelta(days=1)
    receipt = check(session, settings, contact, "sms", template="callback_confirmation", now=at(23))
    assert receipt.outcome == gate.SEND  # quiet hours are for marketing only


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # New York, the night clocks spring forward (8 March 2026): 08:00 EDT is 12:00 UTC
        ("America/New_York", datetime(2026, 3, 8, 3, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0)),
        # London, the night clocks fall back (25 October 2026): 08:00 GMT is 08:00 UTC
        ("Europe/London", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), datetime(2026, 10, 25, 8)),
        # Sydney (southern hemisphere) falls back on 5 April 2026: 08:00 AEST is 22:00 UTC
        ("Australia/Sydney", datetime(2026, 4, 4, 12, 0, tzinfo=UTC), datetime(2026, 4, 4, 22)),
    ],
)
def test_deferral_lands_on_local_eight_oclock_across_dst(session, settings, zone, now, expected):
    contact = make_contact(session, tz=zone)
    decision = check(session, settings, contact, "email", now=now)
    assert decision.outcome == gate.DEFER
    assert decision.not_before == expected.replace(tzinfo=UTC)
    local = decision.not_before.astimezone(gate.recipient_zone(contact, settings))
    assert (local.hour, local.minute) == (8, 0)


def test_an_unknown_contact_time_zone_falls_back_to_the_shops(session, settings):
    contact = make_contact(session, tz="Mars/Olympus_Mons")
    assert gate.recipient_zone(contact, settings).key == "America/New_York"


# --- the WhatsApp window ------------------------------------------------------------------------


def whatsapp_contact(session):
    """A contact who chats with us on WhatsApp (sender id = whatsapp:+E164)."""
    return make_contact(session, sender="whatsapp:+14155550123", transactional=("whatsapp",))


def test_free_text_on_whatsapp_needs_an_inbound_message_in_the_last_24_hours(session, settings):
    contact = whatsapp_contact(session)
    free = dict(template="free_text", context={"body": "Your parcel left today."})
    refused = check(session, settings, contact, "whatsapp", **free)
    assert refused.outcome == gate.REFUSE and "24-hour window" in refused.reason
    gate.record_inbound(session, sender_id="whatsapp:+14155550123", at=T0 - timedelta(hours=2))
    allowed = check(session, settings, contact, "whatsapp", **free)
    assert allowed.outcome == gate.SEND
    assert allowed.message.to == "whatsapp:+14155550123"
    closed = check(session, settings, contact, "whatsapp", now=T0 + timedelta(hours=23), **free)
    assert closed.outcome == gate.REFUSE  # 25 hours after the last inbound message


def test_approved_templates_may_go_outside_the_window(session, settings):
    contact = whatsapp_contact(session)
    assert check(session, settings, contact, "whatsapp").outcome == gate.SEND
    free_on_sms = check(
        session, settings, contact, "sms", template="free_text", context={"body": "hi"}
    )
    assert free_on_sms.reason == "no transactional consent for sms"  # the window is WhatsApp's


def test_the_window_is_also_read_from_rasas_tracker_store(session, settings):
    contact = whatsapp_contact(session)
    session.execute(
        text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
             "type_name VARCHAR(255), timestamp FLOAT)")
    )  # fmt: skip
    session.execute(
        text("INSERT INTO events (sender_id, type_name, timestamp) VALUES (:s, :t, :ts)"),
        [
            {"s": "whatsapp:+14155550123", "t": "user", "ts": (T0 - HOUR * 3).timestamp()},
            {"s": "whatsapp:+14155550123", "t": "bot", "ts": T0.timestamp()},
            {"s": "whatsapp:+19995550000", "t": "user", "ts": T0.timestamp()},
        ],
    )
    assert gate.last_inbound_whatsapp(session, contact=contact) == T0 - timedelta(hours=3)
    free = dict(template="free_text", context={"body": "Your parcel left today."})
    assert check(session, settings, contact, "whatsapp", **free).outcome == gate.SEND


# --- the final text ---------------------------------------------------------------------------


def test_sms_and_whatsapp_end_with_the_stop_line(session, settings):
    contact = make_contact(session)
    for channel in ("sms", "whatsapp"):
        body = check(session, settings, contact, channel).message.body
        assert body.endswith("\nReply STOP to opt out."), channel
        assert body.startswith(f"{settings.shop_name}:")


def test_marketing_email_has_a_signed_unsubscribe_link_and_the_postal_address(session, settings):
    contact = make_contact(session)
    message = check(session, settings, contact, "email").message
    assert message.to == "jane@shop.test" and message.subject
    assert message.unsubscribe_url.startswith("https://shop.test/unsubscribe/")
    assert message.unsubscribe_url in message.body
    assert settings.shop_address in message.body
    token = message.unsubscribe_url.rsplit("/", 1)[1]
    assert gate.read_unsubscribe_token(settings, token) == contact.public_id
    receipt = check(
        session,
        settings,
        contact,
        "email",
        template="order_receipt",
        context={"order_ref": "AB12", "total": "$10.00", "items": [], "receipt_url": "u"},
    ).message
    assert receipt.unsubscribe_url in receipt.body  # every email can stop marketing
    assert settings.shop_address not in receipt.body  # the address rule is for marketing


def test_forged_or_foreign_unsubscribe_tokens_are_refused(session, settings, db_url):
    contact = make_contact(session)
    token = gate.unsubscribe_token(settings, contact=contact)
    other_shop = make_settings(db_url, SESSION_SECRET="another-shops-secret-value")
    for bad in (token[:-2] + "xx", gate.unsubscribe_token(other_shop, contact=contact), "x"):
        with pytest.raises(gate.BadUnsubscribeToken):
            gate.read_unsubscribe_token(settings, bad)


PRODUCTS = [
    {"sku": "MAG-1", "name": "Magnesium Glycinate", "is_supplement": True},
    {"sku": "TEA-1", "name": "Green Tea", "is_supplement": False},
]


def test_products_bring_the_dshea_disclaimer_and_no_disease_claims(session, settings):
    contact = make_contact(session, health_goal="diabetes")
    context = {"goal_label": "balanced blood sugar", "products": PRODUCTS,
               "products_from_goal": True}  # fmt: skip
    for channel in ("email", "sms"):
        body = check(session, settings, contact, channel, context=context).message.body
        assert DSHEA_DISCLAIMER in body and "Magnesium Glycinate" in body
        assert "balanced blood sugar" in body
        without_disclaimer = body.replace(DSHEA_DISCLAIMER, "").lower()
        for claim in ("diabetes", "cure", "treat", "prevent", "disease"):
            assert claim not in without_disclaimer, (channel, claim)


def test_the_goal_and_its_products_are_dropped_once_health_consent_is_withdrawn(session, settings):
    contact = make_contact(session, health_goal="blood_pressure")
    consent(session, contact, contacts.HEALTH, "chat", False, source="chat")
    context = {"goal_label": "heart health", "products": PRODUCTS, "products_from_goal": True}
    body = check(session, settings, contact, "email", context=context).message.body
    assert "heart health" not in body and "Magnesium" not in body
    assert DSHEA_DISCLAIMER not in body  # no products named, so nothing to disclaim
