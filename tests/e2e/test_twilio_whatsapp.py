"""End to end: `rasa run` with the project's credentials.yml and the action server on loopback,
WhatsApp messages posted the way Twilio posts them, replies caught by a local server answering
like Twilio's Messages API, the consent records checked in the database afterwards.

Needs models/current.tar.gz (scripts/test.sh trains it before pytest).
"""

from __future__ import annotations

import json
import os

import pytest
import requests
from sqlalchemy import select, text

from backend import migrations
from backend.config import ROOT
from backend.contacts import service as contacts
from backend.contacts.models import ConsentEvent
from backend.db import make_engine, make_session_factory, session_scope
from tests.helpers import free_port, start_action_server, start_rasa, stop_group, wait_http
from tests.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MESSAGES_PATH,
    OUR_NUMBER,
    PUBLIC_URL,
    SENDER,
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


def test_signed_stop_over_whatsapp_withdraws_consent_and_unsigned_one_changes_nothing(
    tmp_path, httpserver
):
    if not MODEL.exists():
        pytest.skip("models/current.tar.gz is missing: run `make train` (scripts/test.sh does)")
    db_url = f"sqlite:///{tmp_path / 'whatsapp.db'}"
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    _seed_whatsapp_marketing_consent(factory)
    twilio = FakeTwilio()
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(twilio)

    action_port, rasa_port = free_port(), free_port()
    (tmp_path / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
        "tracker_store:\n  type: backend.rasa_ext.tracker_store.BackendSQLTrackerStore\n"
        f"  url: {db_url}\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SANIC_HOST": "127.0.0.1",
        "HTS_ENV_FILE": "/nonexistent/.env",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": f"whatsapp:{OUR_NUMBER}",
        "TWILIO_API_BASE": httpserver.url_for("").rstrip("/"),
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
    )
    base = f"http://127.0.0.1:{rasa_port}"
    webhook = f"{base}/webhooks/twilio_signed/webhook"

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

    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", timeout=120, proc=actions)
        wait_http(f"{base}/status", timeout=240, proc=rasa)

        forged = twilio_form("STOP")
        refused = requests.post(
            webhook, data=forged, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}, timeout=30
        )
        assert refused.status_code == 403
        assert user_texts() == [] and withdrawn_channels() == [] and twilio.forms == []

        signed = twilio_form("Stop")
        accepted = requests.post(
            webhook,
            data=signed,
            headers={"X-Twilio-Signature": sign(PUBLIC_URL, signed)},
            timeout=60,
        )
        assert accepted.status_code == 200, (tmp_path / "rasa.log").read_text()[-3000:]
        assert user_texts() == ["/opt_out"]
        assert withdrawn_channels() == ["email", "sms", "whatsapp"]
        [(to, from_, body)] = twilio.sent()
        assert (to, from_) == (SENDER, f"whatsapp:{OUR_NUMBER}")
        assert body.startswith("Done: you won't get any more marketing messages")
    finally:
        for proc in (rasa, actions):
            stop_group(proc)
        engine.dispose()
