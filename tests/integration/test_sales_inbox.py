"""The sales inbox: routing, the lead state machine, roles, replies through the send gate,
hand-back to Rasa (against a local server answering like Rasa), the SLA job and CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.auth import service as auth
from backend.chat_ids import sign_chat_id
from backend.contacts import service as contacts
from backend.contacts.models import Conversation
from backend.db import session_scope, utcnow
from backend.incidents import Incident
from backend.jobs.registry import run_job
from backend.outbox.models import OutboxMessage
from backend.sales import service as sales
from backend.sales.models import ChatReply, Lead, LeadActivity
from backend.sales.routing import ROUTES
from tests.integration.messaging_support import make_contact, make_settings
from tests.integration.test_dashboard import PASSWORD, bearer, login, make_keys

TOKEN = "rasa-test-token-123"
CHAT_SECRET = "chat-id-secret-for-tests-0123"
WA_SENDER = "whatsapp:+14155550123"


@pytest.fixture
def rasa_settings(db_url, httpserver):
    return make_settings(
        db_url, RASA_URL=httpserver.url_for("/"), RASA_TOKEN=TOKEN, CHAT_ID_SECRET=CHAT_SECRET
    )


def _client(settings, session_factory):
    # https: the settings use an https PUBLIC_BASE_URL, so the session cookie is Secure
    return TestClient(create_app(settings, session_factory), base_url="https://testserver")


@pytest.fixture
def client(rasa_settings, session_factory):
    with _client(rasa_settings, session_factory) as c:
        yield c


@pytest.fixture
def keys(session_factory):
    return make_keys(session_factory)


def _lead(session_factory, *, status="new", kind="handoff", contact=None, sender=WA_SENDER,
          due=timedelta(hours=1)) -> int:  # fmt: skip
    with session_scope(session_factory) as s:
        contacts.mark_conversation(s, sender_id=sender, channel="whatsapp", handed_off=True)
        lead = Lead(
            contact_id=contact, conversation_id=sender, kind=kind, reason="asked for a human",
            priority="high", status=status, sla_due_at=utcnow() + due,
        )  # fmt: skip
        s.add(lead)
        s.flush()
        return lead.id


def _state(session_factory, lead_id: int) -> tuple:
    with session_scope(session_factory) as s:
        lead = s.get(Lead, lead_id)
        n = s.execute(
            select(func.count()).select_from(LeadActivity).where(LeadActivity.lead_id == lead_id)
        ).scalar_one()
        return lead.status, lead.assigned_to, n


def _staff_id(session_factory, role: str) -> int:
    with session_scope(session_factory) as s:
        return auth.find_staff(s, email=f"{role}@shop.example").id


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "priority", "within"),
    [
        ("emergency", "urgent", timedelta(minutes=15)),
        ("sensitive", "high", timedelta(hours=1)),
        ("handoff", "high", timedelta(hours=1)),
        ("high_intent", "normal", timedelta(hours=4)),
        ("callback", "normal", timedelta(hours=24)),
        ("something_new", "normal", timedelta(hours=24)),
    ],
)
def test_new_leads_get_priority_and_sla_from_their_kind(session, kind, priority, within):
    before = utcnow()
    lead = sales.create_lead(session, sender_id="chat-1", kind=kind, reason="r")
    due = lead.sla_due_at
    assert lead.priority == priority and lead.status == "new"
    assert before + within <= due <= utcnow() + within
    if kind in ROUTES:
        assert ROUTES[kind].priority == priority


# --- the state machine over the JSON API -------------------------------------------------------


def test_every_transition_and_its_history(client, keys, session_factory):
    lead_id = _lead(session_factory)
    sales_key, admin_id = keys["sales"], _staff_id(session_factory, "admin")
    url = f"/api/admin/leads/{lead_id}"

    r = client.post(f"{url}/assign", headers=bearer(sales_key))
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["status"] == "assigned"
    assert r.json()["lead"]["assigned_to"] == _staff_id(session_factory, "sales")

    r = client.post(f"{url}/assign", json={"staff_id": admin_id}, headers=bearer(sales_key))
    assert r.json()["lead"]["assigned_to"] == admin_id

    r = client.post(f"{url}/contacted", json={"note": "called"}, headers=bearer(sales_key))
    assert r.json()["lead"]["status"] == "contacted"

    r = client.post(
        f"{url}/notes", json={"text": "wants the blue one"}, headers=bearer(keys["admin"])
    )
    assert r.status_code == 200

    r = client.post(f"{url}/close", json={"reason": "bought"}, headers=bearer(sales_key))
    assert r.json()["lead"]["status"] == "closed"

    r = client.post(f"{url}/reopen", headers=bearer(sales_key))
    assert r.json()["lead"]["status"] == "assigned"
    assert r.json()["lead"]["assigned_to"] == admin_id  # back to its last owner

    r = client.get(f"{url}/activity", headers=bearer(sales_key))
    history = r.json()["activity"]
    assert [(a["action"], a["from_status"], a["to_status"]) for a in history] == [
        ("assigned", "new", "assigned"),
        ("assigned", "assigned", "assigned"),
        ("contacted", "assigned", "contacted"),
        ("note", "contacted", "contacted"),
        ("closed", "contacted", "closed"),
        ("reopened", "closed", "assigned"),
    ]
    assert history[3]["actor"] == "admin@shop.example"
    assert history[3]["detail"] == {"note": "wants the blue one"}
    assert history[4]["detail"] == {"reason": "bought"}


@pytest.mark.parametrize(
    ("status", "action", "body"),
    [
        ("contacted", "contacted", None),
        ("closed", "contacted", None),
        ("closed", "close", {"reason": "again"}),
        ("closed", "assign", None),
        ("new", "reopen", None),
        ("assigned", "reopen", None),
        ("closed", "reply", {"text": "hello"}),
    ],
)
def test_invalid_transitions_are_409_and_change_nothing(
    client, keys, session_factory, status, action, body
):
    lead_id = _lead(session_factory, status=status)
    before = _state(session_factory, lead_id)
    r = client.post(
        f"/api/admin/leads/{lead_id}/{action}", json=body, headers=bearer(keys["sales"])
    )
    assert r.status_code == 409
    assert f"it is {status}" in r.json()["error"]
    assert _state(session_factory, lead_id) == before


def test_bad_input_is_400_or_404_and_changes_nothing(client, keys, session_factory):
    lead_id = _lead(session_factory)
    before = _state(session_factory, lead_id)
    h = bearer(keys["sales"])
    r = client.post(f"/api/admin/leads/{lead_id}/close", json={"reason": "  "}, headers=h)
    assert r.status_code == 400 and r.json()["error"] == "reason is required"
    exec_id = _staff_id(session_factory, "executive")
    r = client.post(f"/api/admin/leads/{lead_id}/assign", json={"staff_id": exec_id}, headers=h)
    assert r.status_code == 400 and "sales or admin" in r.json()["error"]
    r = client.post(f"/api/admin/leads/{lead_id}/reply", json={"text": "x", "channel": "fax"},
                    headers=h)  # fmt: skip
    assert r.status_code == 400
    r = client.post("/api/admin/leads/9999/assign", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "there is no lead 9999"
    assert _state(session_factory, lead_id) == before


@pytest.mark.parametrize("role", ["executive", "compliance"])
def test_read_only_roles_get_403_with_a_message(client, keys, session_factory, role):
    lead_id = _lead(session_factory)
    before = _state(session_factory, lead_id)
    for action, body in [("assign", None), ("close", {"reason": "x"}), ("notes", {"text": "x"}),
                         ("reply", {"text": "x"}), ("hand-back", None)]:  # fmt: skip
        r = client.post(
            f"/api/admin/leads/{lead_id}/{action}", json=body, headers=bearer(keys[role])
        )
        assert r.status_code == 403
        assert r.json()["error"] == f"your role ({role}) cannot act on leads (read-only role)"
    assert _state(session_factory, lead_id) == before


# --- reply through the send gate ---------------------------------------------------------------


def _contact_lead(session_factory, **contact_args) -> int:
    with session_scope(session_factory) as s:
        contact = make_contact(s, sender="web-1", **contact_args)
        contact_id = contact.id
    return _lead(session_factory, contact=contact_id, sender="web-1")


def test_reply_allowed_goes_to_the_outbox(client, keys, session_factory):
    lead_id = _contact_lead(session_factory)  # transactional consent for email
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "Hi Jane, the serum is back in stock.", "subject": "Your question"},
        headers=bearer(keys["sales"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"]["channel"] == "email"
    assert r.json()["lead"]["status"] == "contacted"
    with session_scope(session_factory) as s:
        row = s.execute(
            select(OutboxMessage).where(OutboxMessage.topic == "lead_reply")
        ).scalar_one()
        assert (row.kind, row.status, row.purpose) == ("email", "pending", "transactional")
        assert row.recipient == "jane@shop.test"
        assert row.payload["template"] == "free_text"
        assert row.payload["preview"]["subject"] == "Your question"
        assert row.payload["preview"]["body"].startswith("Hi Jane, the serum is back in stock.")
        assert "Unsubscribe" in row.payload["preview"]["body"]  # the gate added the footer
        act = s.execute(select(LeadActivity).where(LeadActivity.action == "replied")).scalar_one()
        assert act.detail == {"channel": "email", "outbox_id": row.id}


def test_reply_refused_shows_the_reason_and_queues_nothing(client, keys, session_factory):
    lead_id = _contact_lead(session_factory, transactional=())  # no consent for any reply
    before = _state(session_factory, lead_id)
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply", json={"text": "hello"}, headers=bearer(keys["sales"])
    )
    assert r.status_code == 409
    error = r.json()["error"]
    assert "the send gate refused the reply" in error
    assert "email: no transactional consent for email" in error
    assert "sms: no transactional consent for sms" in error
    with session_scope(session_factory) as s:
        assert (
            s.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.topic == "lead_reply")
            ).scalar_one()
            == 0
        )
    assert _state(session_factory, lead_id) == before


def test_reply_to_an_anonymous_chat_is_refused(client, keys, session_factory):
    lead_id = _lead(session_factory)
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply", json={"text": "hello"}, headers=bearer(keys["sales"])
    )
    assert r.status_code == 409 and "no contact" in r.json()["error"]


# --- hand back to the bot (a local server answering like Rasa) --------------------------------


def _handed_off(session_factory, sender=WA_SENDER) -> bool:
    with session_scope(session_factory) as s:
        return s.execute(
            select(Conversation.handed_off).where(Conversation.sender_id == sender)
        ).scalar_one()


def test_hand_back_resumes_the_bot_without_calling_rasa(db_url, session_factory, keys, httpserver):
    # no RASA_TOKEN, and a Rasa that would fail: the pause is the backend's flag, nothing else
    httpserver.expect_request(f"/conversations/{WA_SENDER}/tracker/events").respond_with_json(
        {"message": "nope"}, status=500
    )
    lead_id = _lead(session_factory, status="contacted")
    settings = make_settings(db_url, RASA_URL=httpserver.url_for("/"))
    with _client(settings, session_factory) as c:
        r = c.post(f"/api/admin/leads/{lead_id}/hand-back", headers=bearer(keys["sales"]))
    assert r.status_code == 200, r.text
    assert r.json()["handed_back"] is True
    assert httpserver.log == []
    assert not _handed_off(session_factory)
    assert _state(session_factory, lead_id) == ("contacted", None, 1)


# --- SLA job -----------------------------------------------------------------------------------


def test_sla_job_opens_one_incident_per_breached_lead(rasa_settings, session_factory):
    late_new = _lead(session_factory, status="new", kind="emergency", sender="a",
                     due=-timedelta(minutes=5))  # fmt: skip
    late_assigned = _lead(session_factory, status="assigned", sender="b", due=-timedelta(hours=2))
    _lead(session_factory, status="contacted", sender="c", due=-timedelta(hours=2))
    _lead(session_factory, status="closed", sender="d", due=-timedelta(hours=2))
    _lead(session_factory, status="new", sender="e", due=timedelta(minutes=30))
    with session_scope(session_factory) as s:
        s.get(Lead, late_new).priority = "urgent"

    first = run_job("sla_check", factory=session_factory, settings=rasa_settings)
    second = run_job("sla_check", factory=session_factory, settings=rasa_settings)
    assert (first.status, first.counts["breached"], second.counts["breached"]) == ("ok", 2, 0)
    assert first.counts["at_risk"] == 0  # the lead due in 30 min still has half its hour left
    with session_scope(session_factory) as s:
        incidents = s.execute(select(Incident).order_by(Incident.id)).scalars().all()
        assert [(i.kind, i.entity_id, i.severity) for i in incidents] == [
            ("sla_breach", str(late_assigned), "warning"),
            ("sla_breach", str(late_new), "critical"),
        ]
        assert incidents[1].detail["kind"] == "emergency"
        assert incidents[0].detail["minutes_overdue"] >= 119
        assert (
            s.execute(
                select(func.count())
                .select_from(LeadActivity)
                .where(LeadActivity.action == "sla_breached")
            ).scalar_one()
            == 2
        )


# --- the dashboard forms and CSRF ----------------------------------------------------------------


def _logged_in(client, session_factory, role="sales"):
    make_keys(session_factory)
    assert login(client, f"{role}@shop.example", PASSWORD).status_code == 303
    page = client.get("/dashboard/leads")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_dashboard_form_needs_a_valid_csrf_token(client, session_factory):
    lead_id = _lead(session_factory)
    token = _logged_in(client, session_factory)
    before = _state(session_factory, lead_id)
    for forged in ("", "forged-token", token[:-2] + "xx"):
        r = client.post(f"/dashboard/leads/{lead_id}/contacted", data={"csrf": forged})
        assert r.status_code == 400 and "nothing changed" in r.text
    assert _state(session_factory, lead_id) == before
    # a cookie-authenticated JSON call needs the token in a header
    r = client.post(f"/api/admin/leads/{lead_id}/contacted")
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = client.post(f"/api/admin/leads/{lead_id}/contacted", headers={"X-CSRF-Token": token})
    assert r.status_code == 200

    r = client.post(f"/dashboard/leads/{lead_id}/close", data={"csrf": token, "reason": "done"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/leads?done=close")
    assert _state(session_factory, lead_id)[0] == "closed"
    assert "Lead closed." in client.get(r.headers["location"]).text


def test_a_token_from_another_session_is_refused(rasa_settings, session_factory):
    lead_id = _lead(session_factory)
    with _client(rasa_settings, session_factory) as first:
        token = _logged_in(first, session_factory)
    with _client(rasa_settings, session_factory) as other:
        assert login(other, "admin@shop.example", PASSWORD).status_code == 303
        r = other.post(f"/dashboard/leads/{lead_id}/contacted", data={"csrf": token})
        assert r.status_code == 400
    assert _state(session_factory, lead_id)[0] == "new"


def test_dashboard_shows_gate_refusal_and_invalid_transition(client, session_factory):
    lead_id = _contact_lead(session_factory, transactional=())
    token = _logged_in(client, session_factory)
    r = client.post(f"/dashboard/leads/{lead_id}/reply", data={"csrf": token, "text": "hi"})
    assert r.status_code == 409
    assert "no transactional consent for email" in r.text
    r = client.post(f"/dashboard/leads/{lead_id}/reopen", data={"csrf": token})
    assert r.status_code == 409 and "cannot reopen" in r.text
    assert _state(session_factory, lead_id) == ("new", None, 0)


def test_executive_sees_the_inbox_read_only(client, session_factory):
    lead_id = _lead(session_factory)
    make_keys(session_factory)
    assert login(client, "executive@shop.example", PASSWORD).status_code == 303
    r = client.post(f"/dashboard/leads/{lead_id}/contacted", data={"csrf": "x"})
    assert r.status_code == 403 and "cannot act on leads" in r.text
    assert _state(session_factory, lead_id)[0] == "new"


def test_on_postgres_transitions_and_sla_job(pg_session_factory, pg_url):
    from backend.sales import inbox

    settings = make_settings(pg_url)
    keys = make_keys(pg_session_factory)
    assert keys
    late = _lead(pg_session_factory, due=-timedelta(minutes=1))
    with session_scope(pg_session_factory) as s:
        actor = auth.find_staff(s, email="sales@shop.example")
        inbox.add_note(s, lead_id=late, actor=actor, text="on it")
    for _ in range(2):
        assert run_job("sla_check", factory=pg_session_factory, settings=settings).status == "ok"
    with session_scope(pg_session_factory) as s:
        actor = auth.find_staff(s, email="sales@shop.example")
        assert s.execute(select(func.count()).select_from(Incident)).scalar_one() == 1
        inbox.mark_contacted(s, lead_id=late, actor=actor)
        with pytest.raises(inbox.InvalidTransition):
            inbox.mark_contacted(s, lead_id=late, actor=actor)
    assert _state(pg_session_factory, late) == (
        "contacted",
        _staff_id(pg_session_factory, "sales"),
        3,
    )


def test_whatsapp_chat_reply_falls_back_to_email_outside_the_window(client, keys, session_factory):
    with session_scope(session_factory) as s:
        contact_id = make_contact(s, sender=WA_SENDER, transactional=("email", "whatsapp")).id
    lead_id = _lead(session_factory, contact=contact_id)  # no inbound WhatsApp message yet
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply", json={"text": "hello"}, headers=bearer(keys["sales"])
    )
    assert r.status_code == 200 and r.json()["message"]["channel"] == "email"
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "hello", "channel": "whatsapp"},
        headers=bearer(keys["sales"]),
    )
    assert r.status_code == 409 and "24-hour window" in r.json()["error"]


def test_hand_back_service_and_a_lead_without_a_chat(session_factory, keys):
    from backend.sales import inbox

    lead_id = _lead(session_factory, status="assigned")
    with session_scope(session_factory) as s:
        actor = auth.find_staff(s, email="sales@shop.example")
        inbox.hand_back(s, lead_id=lead_id, actor=actor)
        s.get(Lead, lead_id).conversation_id = None  # as after an erasure
        with pytest.raises(inbox.InvalidInput, match="no chat"):
            inbox.hand_back(s, lead_id=lead_id, actor=actor)
    assert not _handed_off(session_factory)


def test_reply_channels_are_what_the_gate_would_allow_chat_channel_first(session, db_url):
    from backend.messaging import gate
    from backend.sales.inbox import reply_channels

    settings = make_settings(db_url)
    make_contact(session, sender=WA_SENDER, transactional=("email", "whatsapp"))
    now = utcnow()
    # No inbound WhatsApp message yet: outside the 24-hour window, so email only.
    assert reply_channels(session, settings=settings, sender_id=WA_SENDER, now=now) == ["email"]
    gate.record_inbound(session, sender_id=WA_SENDER, at=now - timedelta(minutes=5))
    assert reply_channels(session, settings=settings, sender_id=WA_SENDER, now=now) == [
        "whatsapp",
        "email",
    ]
    assert reply_channels(session, settings=settings, sender_id="web-unknown", now=now) == []


# --- replies in the web chat window ------------------------------------------------------------

WEB_SENDER = "web-2f1c7a9e-5b3d-4c8e-9a71-0d4e6b2c8f13"


def chat_token(sender: str = WEB_SENDER) -> dict[str, str]:
    """The header the widget sends with its chat id's token (issued by POST /chat/session)."""
    return {"X-Chat-Token": sign_chat_id(sender, secret=CHAT_SECRET)}


def test_a_reply_to_an_anonymous_web_chat_is_shown_in_its_window(
    client, keys, session_factory, httpserver
):
    lead_id = _lead(session_factory, sender=WEB_SENDER)  # asked for a person, gave no details
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "Hi! Yes, the magnesium is vegan."},
        headers=bearer(keys["sales"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"]["channel"] == "chat"
    assert r.json()["lead"]["status"] == "contacted"
    # The widget of that chat (and only it) gets the reply, once per `after`.
    first = client.get(f"/chat/{WEB_SENDER}/replies", headers=chat_token())
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert [m["text"] for m in body["replies"]] == ["Hi! Yes, the magnesium is vegan."]
    assert body["with_team"] is True
    last = body["replies"][-1]["id"]
    replies_after = f"/chat/{WEB_SENDER}/replies?after={last}"
    assert client.get(replies_after, headers=chat_token()).json()["replies"] == []
    other = "web-00000000-0000-4000-8000-000000000000"
    assert client.get(f"/chat/{other}/replies", headers=chat_token(other)).json() == {
        "replies": [],
        "with_team": False,
    }
    # Without this chat's token (none, another chat's), nothing: the id alone proves nothing.
    for headers in ({}, chat_token(other), {"X-Chat-Token": "0" * 64}):
        assert client.get(f"/chat/{WEB_SENDER}/replies", headers=headers).status_code == 404
    for bad in (WA_SENDER, "web-1", "../admin"):
        assert client.get(f"/chat/{bad}/replies", headers=chat_token(bad)).status_code == 404
    assert (
        client.get(f"/chat/{WEB_SENDER}/replies?after=-1", headers=chat_token()).status_code == 404
    )
    with session_scope(session_factory) as s:
        act = s.execute(select(LeadActivity).where(LeadActivity.action == "replied")).scalar_one()
        assert act.detail["channel"] == "chat"
        assert s.execute(select(ChatReply.fetched_at)).scalar_one() is not None
    # Handed back to the bot, the team may still write until the lead is closed; then the
    # widget is told to stop asking.
    httpserver.expect_oneshot_request(
        f"/conversations/{WEB_SENDER}/tracker/events", method="POST"
    ).respond_with_json({"sender_id": WEB_SENDER, "paused": False, "events": []})
    assert client.post(f"/api/admin/leads/{lead_id}/hand-back", headers=bearer(keys["sales"]))
    assert client.get(replies_after, headers=chat_token()).json()["with_team"] is True
    closed = client.post(
        f"/api/admin/leads/{lead_id}/close",
        json={"reason": "answered"},
        headers=bearer(keys["sales"]),
    )
    assert closed.status_code == 200, closed.text
    assert client.get(replies_after, headers=chat_token()).json()["with_team"] is False


def test_chat_is_a_choice_only_for_web_chats(client, keys, session_factory):
    lead_id = _lead(session_factory)  # a WhatsApp chat
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "hello", "channel": "chat"},
        headers=bearer(keys["sales"]),
    )
    assert r.status_code == 409 and "no web chat to reply in" in r.json()["error"]
    r = client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "hello", "channel": "pigeon"},
        headers=bearer(keys["sales"]),
    )
    assert r.status_code == 400 and "email, sms, whatsapp, chat" in r.json()["error"]
    with session_scope(session_factory) as s:
        assert s.execute(select(func.count()).select_from(ChatReply)).scalar_one() == 0


def test_erasing_an_anonymous_chat_deletes_the_replies_shown_in_it(session_factory, keys):
    from backend.auth.models import StaffUser
    from backend.sales import inbox

    lead_id = _lead(session_factory, sender=WEB_SENDER)
    with session_scope(session_factory) as s:
        staff = s.get(StaffUser, _staff_id(session_factory, "sales"))
        inbox.reply(s, settings=None, lead_id=lead_id, actor=staff, text="hi there")
    with session_scope(session_factory) as s:
        contacts.erase(s, sender_id=WEB_SENDER, version="2026-11")
    with session_scope(session_factory) as s:
        assert s.execute(select(func.count()).select_from(ChatReply)).scalar_one() == 0
        lead = s.get(Lead, lead_id)
        assert (lead.conversation_id, lead.reason) == (None, "erased on request")


def test_the_inbox_offers_the_chat_window_only_for_web_chats(session_factory):
    from backend.dashboard.service import list_leads

    web = _lead(session_factory, sender=WEB_SENDER)
    whatsapp = _lead(session_factory)
    with session_scope(session_factory) as s:
        flags = {lead["id"]: lead["web_chat"] for lead in list_leads(s)}
    assert flags == {web: True, whatsapp: False}


# --- the conversation, for the team -------------------------------------------------------------


async def test_the_team_reads_the_chat_with_emails_and_phones_masked(
    client, keys, session_factory, db_url
):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from backend.auth.service import AccessLog
    from backend.config import ROOT
    from backend.rasa_ext.tracker_store import BackendSQLTrackerStore

    domain = Domain.load(str(ROOT / "domain.yml"))
    store = BackendSQLTrackerStore(host=db_url, domain=domain)  # Rasa's table, same database
    tracker = DialogueStateTracker(WEB_SENDER, domain.slots)
    tracker.update(UserUttered("hi, i'm jane@example.com, +1 415 555 0123", timestamp=1.0))
    tracker.update(BotUttered("Hello! May I ask for your consent first?", timestamp=2.0))
    tracker.update(UserUttered('/choose_goal{"goal": "diabetes"}', timestamp=3.0))
    tracker.update(UserUttered("can i talk to someone", timestamp=4.0))
    await store.save(tracker)
    lead_id = _lead(session_factory, sender=WEB_SENDER)
    client.post(
        f"/api/admin/leads/{lead_id}/reply",
        json={"text": "Hi, Sam from the shop here."},
        headers=bearer(keys["sales"]),
    )
    r = client.get(f"/api/admin/leads/{lead_id}/conversation", headers=bearer(keys["sales"]))
    assert r.status_code == 200, r.text
    said = [(m["who"], m["text"]) for m in r.json()["messages"]]
    assert said == [
        ("customer", "hi, i'm <email>, <phone>"),
        ("bot", "Hello! May I ask for your consent first?"),
        ("customer", "tapped: choose_goal"),
        ("customer", "can i talk to someone"),
        ("team", "Hi, Sam from the shop here."),
    ]
    page = client.get(f"/dashboard/leads/{lead_id}/conversation", headers=bearer(keys["sales"]))
    assert page.status_code == 200, page.text
    assert "&lt;email&gt;" in page.text and "Hi, Sam from the shop here." in page.text
    leads = client.get("/dashboard/leads", headers=bearer(keys["sales"])).text
    assert f'href="/dashboard/leads/{lead_id}/conversation"' in leads
    assert (
        client.get(
            f"/api/admin/leads/{lead_id}/conversation", headers=bearer(keys["executive"])
        ).status_code
        == 403
    )
    assert (
        client.get("/api/admin/leads/999/conversation", headers=bearer(keys["sales"])).status_code
        == 404
    )
    with session_scope(session_factory) as s:
        logged = s.execute(
            select(AccessLog.action, AccessLog.resource).where(
                AccessLog.action == "read_lead_conversation"
            )
        ).all()
        assert [tuple(row) for row in logged] == [("read_lead_conversation", f"lead {lead_id}")] * 2
