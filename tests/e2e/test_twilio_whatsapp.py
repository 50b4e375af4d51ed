"""End to end: `rasa run` with the project's credentials.yml and the action server on loopback,
WhatsApp messages posted the way Twilio posts them, replies caught by a local server answering
like Twilio's Messages API, the consent records checked in the database afterwards.

Needs models/current.tar.gz (scripts/test.sh trains it before pytest).
"""

from __future__ import annotations

import contextlib
import json
import os

import pytest
import requests
from sqlalchemy import select, text

from actions.takeover import HOLD_NOTICE
from backend import migrations
from backend.auth import service as auth
from backend.auth.models import StaffUser
from backend.config import ROOT
from backend.contacts import service as contacts
from backend.contacts.models import ConsentEvent
from backend.db import make_engine, make_session_factory, session_scope
from backend.outbox import queue as outbox
from backend.sales import inbox
from backend.sales.models import Lead
from tests.helpers import (
    chat_env,
    free_port,
    start_action_server,
    start_rasa,
    stop_group,
    wait_http,
    write_endpoints,
)
from tests.integration.messaging_support import make_settings
from tests.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CONTENT_PATH,
    MESSAGES_PATH,
    OUR_NUMBER,
    PUBLIC_URL,
    SENDER,
    FakeContentApi,
    FakeTwilio,
    sign,
    twilio_form,
)

pytestmark = pytest.mark.rasa
MODEL = ROOT / "models" / "current.tar.gz"


def _seed_whatsapp_marketing_consent(factory) -> None:
    with session_scope(factory) as session:
        contacts.record_privacy(
            session,
            sender_id=SENDER,
            channel="twilio_signed",
            granted=True,
            wording=contacts.privacy_wording(policy_url="https://shop.test/privacy"),
            version="2026-11",
        )
        contacts.record_consent(
            session,
            sender_id=SENDER,
            purpose=contacts.MARKETING,
            channel="whatsapp",
            granted=True,
            wording=contacts.MARKETING_WORDING,
            version="2026-11",
        )


@contextlib.contextmanager
def whatsapp_stack(tmp_path, httpserver, *, seed=_seed_whatsapp_marketing_consent):
    """`rasa run` (project credentials, HTTP API with a token) + the action server on loopback,
    Twilio's Messages API faked by `httpserver`; yields (webhook, base, engine, factory, twilio).
    """
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    db_url = f"sqlite:///{tmp_path / 'whatsapp.db'}"
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    seed(factory)
    twilio = FakeTwilio()
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(twilio)
    # interactive WhatsApp buttons: their content templates are created here
    httpserver.expect_request(CONTENT_PATH, method="POST").respond_with_handler(FakeContentApi())

    action_port, rasa_port = free_port(), free_port()
    write_endpoints(tmp_path / "endpoints.yml", action_port=action_port, db_url=db_url)
    env = {
        **os.environ,
        **chat_env(),
        "DATABASE_URL": db_url,
        "SANIC_HOST": "127.0.0.1",
        "HTS_ENV_FILE": "/nonexistent/.env",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": f"whatsapp:{OUR_NUMBER}",
        "TWILIO_API_BASE": httpserver.url_for("").rstrip("/"),
        "TWILIO_CONTENT_API_BASE": httpserver.url_for("").rstrip("/"),
        "TWILIO_WEBHOOK_URL": PUBLIC_URL,
    }
    actions = start_action_server(action_port, env=env, log=tmp_path / "actions.log")
    rasa = start_rasa(
        rasa_port,
        env=env,
        log=tmp_path / "rasa.log",
        model=MODEL,
        endpoints=tmp_path / "endpoints.yml",
        credentials=ROOT / "credentials.yml",  # the project's own channel configuration
        api=True,
    )
    base = f"http://127.0.0.1:{rasa_port}"
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", timeout=120, proc=actions)
        wait_http(f"{base}/status", timeout=240, proc=rasa)
        yield f"{base}/webhooks/twilio_signed/webhook", base, engine, factory, twilio
    finally:
        for proc in (rasa, actions):
            stop_group(proc)
        engine.dispose()


def signed_post(webhook: str, body: str) -> requests.Response:
    form = twilio_form(body)
    return requests.post(
        webhook, data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL, form)}, timeout=60
    )


def test_signed_stop_over_whatsapp_withdraws_consent_and_unsigned_one_changes_nothing(
    tmp_path, httpserver
):
    def user_texts() -> list[str]:
        """What Rasa's tracker store holds of this sender's messages."""
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user'"),
                {"s": SENDER},
            )
            return [json.loads(data)["text"] for (data,) in rows]

    def withdrawn_channels() -> list[str]:
        with session_scope(factory) as session:
            rows = session.execute(
                select(ConsentEvent.channel).where(
                    ConsentEvent.purpose == contacts.MARKETING, ConsentEvent.granted.is_(False)
                )
            )
            return sorted(rows.scalars())

    with whatsapp_stack(tmp_path, httpserver) as (webhook, _, engine, factory, twilio):
        forged = twilio_form("STOP")
        refused = requests.post(
            webhook, data=forged, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}, timeout=30
        )
        assert refused.status_code == 403
        assert user_texts() == [] and withdrawn_channels() == [] and twilio.forms == []

        accepted = signed_post(webhook, "Stop")
        assert accepted.status_code == 200, (tmp_path / "rasa.log").read_text()[-3000:]
        assert user_texts() == ["/opt_out"]
        assert withdrawn_channels() == ["email", "sms", "whatsapp"]
        [(to, from_, body)] = twilio.sent()
        assert (to, from_) == (SENDER, f"whatsapp:{OUR_NUMBER}")
        assert body.startswith("Done: you won't get any more marketing messages")


def _seed_whatsapp_receipts_consent(factory) -> None:
    """Privacy, the number (as the contact form stores it) and transactional consent on
    WhatsApp: the team may answer there."""
    with session_scope(factory) as session:
        contact = contacts.record_privacy(
            session,
            sender_id=SENDER,
            channel="twilio_signed",
            granted=True,
            wording=contacts.privacy_wording(policy_url="https://shop.test/privacy"),
            version="2026-11",
        )
        contact.phone_e164 = SENDER.removeprefix("whatsapp:")
        contacts.record_consent(
            session,
            sender_id=SENDER,
            purpose=contacts.TRANSACTIONAL,
            channel="whatsapp",
            granted=True,
            wording=contacts.TRANSACTIONAL_WORDING,
            version="2026-11",
        )


def test_whatsapp_takeover_holds_the_bot_answers_emergencies_and_hands_back(tmp_path, httpserver):
    """The issue's path on WhatsApp: the customer asks for a person, the agent answers from the
    inbox and the customer receives it through Twilio, the bot stays quiet on a product question
    but answers an emergency, the agent hands back and the bot answers again."""
    with whatsapp_stack(tmp_path, httpserver, seed=_seed_whatsapp_receipts_consent) as (
        webhook, _, engine, factory, twilio,
    ):  # fmt: skip
        settings = make_settings(
            str(engine.url),
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_WHATSAPP_FROM=f"whatsapp:{OUR_NUMBER}",
            TWILIO_API_BASE=httpserver.url_for("").rstrip("/"),
        )

        def said(message: str) -> list[str]:
            before = len(twilio.sent())
            assert signed_post(webhook, message).status_code == 200
            return [body for _, _, body in twilio.sent()[before:]]

        said("hi")  # a message in Rasa's tracker: WhatsApp's 24-hour window is open
        [handover] = said("I want to talk to a real person")
        assert "here on WhatsApp" in handover and "stay quiet" in handover
        # its buttons went as a Content API template (tappable), the text as its variable 1
        assert any("ContentSid" in form for form in twilio.forms)
        with session_scope(factory) as s:
            auth.create_staff(
                s, email="agent@shop.example", name="Agent", role="sales", password="x" * 16
            )
        with session_scope(factory) as s:  # the agent answers from the inbox
            lead = s.execute(
                select(Lead).where(Lead.conversation_id == SENDER, Lead.kind == "handoff")
            ).scalar_one()
            agent = s.execute(select(StaffUser).where(StaffUser.role == "sales")).scalar_one()
            text = "Hi, Sam here. How can I help?"
            sent = inbox.reply(s, settings=settings, lead_id=lead.id, actor=agent, text=text)
            assert sent.channel == "whatsapp"
            lead_id, agent_id = lead.id, agent.id
        before = len(twilio.sent())
        outbox.deliver_due(factory, settings, worker_id="e2e")  # the scheduler's outbox job
        # the customer gets it through Twilio (the other rows due are CRM pushes, kept locally)
        [(to, from_, body)] = twilio.sent()[before:]
        assert (to, from_) == (SENDER, f"whatsapp:{OUR_NUMBER}")
        assert body.startswith("Hi, Sam here. How can I help?")

        assert said("how much is the blood pressure support kit?") == [HOLD_NOTICE]
        assert said("/checkout") == []  # no product answer while a person has the chat
        assert any("911" in body for body in said("I have chest pain and can't breathe"))
        with session_scope(factory) as s:  # the inbox's hand-back
            inbox.hand_back(s, lead_id=lead_id, actor=s.get(StaffUser, agent_id))
        assert said("/checkout") != []  # the bot answers again
