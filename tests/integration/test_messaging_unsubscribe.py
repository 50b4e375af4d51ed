"""The unsubscribe link over HTTP: GET asks, POST withdraws marketing on every channel once
(ConsentEvent + ledger entry each), a forged link is a 400 that stores nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.contacts import service as contacts
from backend.contacts.models import ConsentEvent
from backend.db import session_scope
from backend.ledger import LedgerEntry
from backend.messaging import gate
from backend.outbox.models import OutboxMessage
from tests.integration.messaging_support import T0, V, make_contact, make_settings


@pytest.fixture
def settings(db_url):
    return make_settings(db_url)


@pytest.fixture
def client(settings, session_factory):
    return TestClient(create_app(settings, session_factory))


@pytest.fixture
def link_path(session_factory, settings) -> str:
    """The path of the unsubscribe link in a real marketing email for a consenting contact."""
    with session_scope(session_factory) as session:
        contact = make_contact(session)
        decision = gate.check(
            session,
            settings=settings,
            contact=contact,
            channel="email",
            purpose="marketing",
            template="follow_up_goal",
            context={},
            now=T0,
        )
    assert decision.message.unsubscribe_url in decision.message.body
    return urlsplit(decision.message.unsubscribe_url).path


def stored(session_factory) -> tuple[int, int, int]:
    """(consent events, ledger entries, outbox rows): what a request may have written."""
    with session_factory() as session:
        return tuple(
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (ConsentEvent, LedgerEntry, OutboxMessage)
        )


def marketing_state(session_factory) -> dict[str, bool]:
    with session_factory() as session:
        contact_id = session.execute(select(ConsentEvent.contact_id).limit(1)).scalar_one()
        state = contacts.consent_state(session, contact_id=contact_id)
    return {c: state[("marketing", c)] for c in contacts.MARKETING_CHANNELS}


def test_get_shows_a_confirm_page_and_stores_nothing(client, link_path, session_factory):
    before = stored(session_factory)
    page = client.get(link_path)
    assert page.status_code == 200
    assert 'method="post"' in page.text and "Yes, unsubscribe me" in page.text
    assert stored(session_factory) == before
    assert marketing_state(session_factory) == {"email": True, "sms": True, "whatsapp": True}


def test_post_withdraws_every_marketing_channel_once_even_when_clicked_twice(
    client, link_path, session_factory
):
    first = client.post(link_path)
    assert first.status_code == 200 and "You are unsubscribed" in first.text
    assert marketing_state(session_factory) == {"email": False, "sms": False, "whatsapp": False}
    after_first = stored(session_factory)
    second = client.post(link_path)
    assert second.status_code == 200 and "You are unsubscribed" in second.text
    assert stored(session_factory) == after_first  # idempotent: nothing new
    with session_factory() as session:
        events = (
            session.execute(select(ConsentEvent).where(ConsentEvent.source == "unsubscribe_link"))
            .scalars()
            .all()
        )
        assert sorted((e.purpose, e.channel, e.granted) for e in events) == [
            ("marketing", "email", False),
            ("marketing", "sms", False),
            ("marketing", "whatsapp", False),
        ]
        assert all(e.wording_version == V and "Unsubscribe link" in e.wording for e in events)
        ledgered = set(
            session.execute(
                select(LedgerEntry.entity_id).where(
                    LedgerEntry.entity_type == "consent", LedgerEntry.action == "withdrawn"
                )
            ).scalars()
        )
        assert {str(e.id) for e in events} <= {str(i) for i in ledgered}


def test_one_click_unsubscribe_from_a_mail_client_works(client, link_path, session_factory):
    response = client.post(
        link_path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert marketing_state(session_factory) == {"email": False, "sms": False, "whatsapp": False}


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_edited_link_is_a_400_and_stores_nothing(
    client, link_path, session_factory, settings, db_url, method
):
    before = stored(session_factory)
    other_secret = make_settings(db_url, SESSION_SECRET="not-this-shops-secret-at-all")
    with session_factory() as session:
        contact = session.execute(select(contacts.Contact)).scalar_one()
        forged = gate.unsubscribe_token(other_secret, contact=contact)
    for path in (link_path[:-3] + "abc", f"/unsubscribe/{forged}", "/unsubscribe/not-a-token"):
        response = getattr(client, method)(path)
        assert response.status_code == 400, path
        assert "this unsubscribe link is not valid" in response.text
        assert "You are unsubscribed" not in response.text
    assert stored(session_factory) == before
    assert marketing_state(session_factory) == {"email": True, "sms": True, "whatsapp": True}


def test_an_erased_contacts_link_confirms_without_storing_anything(
    client, link_path, session_factory
):
    with session_scope(session_factory) as session:
        contacts.erase(session, sender_id="s1", version=V)
    before = stored(session_factory)
    response = client.post(link_path)
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert stored(session_factory) == before
