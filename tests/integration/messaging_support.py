"""Helpers shared by the messaging tests (not a test module): contacts with chosen consents."""

from __future__ import annotations

from datetime import datetime, timezone

from backend.config import load_settings
from backend.contacts import service as contacts
from backend.contacts.models import Contact

V = "2026-11"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York, 07:00 in LA


def make_settings(db_url: str, **extra: str):
    values = {
        "DATABASE_URL": db_url,
        "SESSION_SECRET": "a-long-random-session-secret-for-tests",
        "PUBLIC_BASE_URL": "https://shop.test",
        "SHOP_ADDRESS": "1 Wellness Way, Springfield, IL 62701, USA",
        "SHOP_TIMEZONE": "America/New_York",
        **extra,
    }
    return load_settings(values, dotenv=False)


def make_contact(
    session,
    *,
    sender: str = "s1",
    name: str = "Jane Doe",
    email: str | None = "jane@shop.test",
    phone: str | None = "+14155550123",
    marketing: tuple[str, ...] = ("email", "sms", "whatsapp"),
    transactional: tuple[str, ...] = ("email",),
    health_goal: str | None = None,
    tz: str | None = None,
) -> Contact:
    """A contact through the real consent path: privacy, details, marketing per channel."""
    contact = accept_privacy(session, sender)
    contacts.save_contact_details(
        session,
        sender_id=sender,
        details=contacts.ContactDetails(
            name=name,
            email=email,
            phone_e164=phone,
            marketing_channels=marketing,
            transactional=None,  # per channel below: exactly the channels asked for
        ),
        version=V,
    )
    for channel in transactional:
        consent(session, contact, contacts.TRANSACTIONAL, channel, True)
    if health_goal:
        contacts.record_consent(
            session,
            sender_id=sender,
            purpose=contacts.HEALTH,
            channel="chat",
            granted=True,
            wording=contacts.HEALTH_WORDING,
            version=V,
        )
        contact.wellness_goal = health_goal
    contact.timezone = tz
    session.flush()
    return contact


def consent(session, contact, purpose: str, channel: str, granted: bool, source: str = "api"):
    return contacts.add_consent_event(
        session,
        contact=contact,
        purpose=purpose,
        channel=channel,
        granted=granted,
        wording="test wording",
        version=V,
        source=source,
    )


SENDGRID_KEY = "SG.f3a9c2d1e0b8a7f6.realistic-looking-key-value"
WORKER_SETTINGS = {  # what make_settings sets, as environment variables for a worker process
    "SESSION_SECRET": "a-long-random-session-secret-for-tests",
    "PUBLIC_BASE_URL": "https://shop.test",
    "SHOP_ADDRESS": "1 Wellness Way, Springfield, IL 62701, USA",
    "SHOP_TIMEZONE": "America/New_York",
    "SENDGRID_API_KEY": SENDGRID_KEY,
    "EMAIL_FROM": "shop@shop.test",
}


def queue_emails(factory, settings, *, count: int, not_before=None, tag: str = "") -> list[int]:
    """`count` transactional emails (callback confirmations) to one consenting contact, in one
    transaction, due at `not_before` (default now); their outbox ids."""
    from backend.db import session_scope, utcnow
    from backend.messaging import service

    now = not_before or utcnow()
    with session_scope(factory) as session:
        stamp = f"{tag}-{int(now.timestamp() * 1000)}"
        contact = make_contact(
            session, sender=f"bulk-{stamp}", email=f"bulk-{stamp}@shop.test", phone=None
        )
        ids = [
            service.queue_message(
                session,
                settings=settings,
                contact=contact,
                channel="email",
                template="callback_confirmation",
                purpose="transactional",
                context={"first_name": "Jane"},
                idempotency_key=f"bulk:{tag}:{now.isoformat()}:{n}",
                now=now,
            ).message
            for n in range(count)
        ]
        session.flush()
        return [message.id for message in ids]


def accept_privacy(session, sender: str) -> Contact:
    """The chat's person accepts the privacy policy (the contact is created)."""
    return contacts.record_privacy(
        session,
        sender_id=sender,
        channel="rest",
        granted=True,
        wording=contacts.privacy_wording(policy_url="https://shop.test/privacy"),
        version=V,
    )
