"""A resent chat turn gets each custom action's first answer and writes nothing (backend/replay).

Action calls go through the real action server (rasa_sdk's app, served on 127.0.0.1) as Rasa
3.6 makes them (`RemoteAction._action_call_format`, the form's temporary tracker for a
validator); a resend is the same turn with a new message id and new timestamps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import aiohttp
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import func, select

from actions import backend_link
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.config import ROOT
from backend.contacts.models import ConsentEvent
from backend.db import Base, make_engine, make_session_factory, session_scope, utcnow
from backend.orders.models import CartLine
from backend.orders.payments import FakePayments
from backend.replay import jobs as replay_jobs
from backend.replay import service as replay
from backend.replay.models import ActionReplay
from backend.sales.models import Lead
from tests.helpers import free_port

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
SENDER = "web-replay-1"


@pytest.fixture(autouse=True)
def backend(settings, session_factory):
    with session_scope(session_factory) as s:
        load_catalog(s, source=str(SAMPLE_CATALOG))
    backend_link.override(
        settings=settings, session_factory=session_factory, payments=FakePayments()
    )
    yield
    backend_link.reset()


@pytest.fixture
async def action_server():
    """rasa_sdk's action server app (the `rasa run actions` one) on a free 127.0.0.1 port."""
    from rasa_sdk.endpoint import create_app
    from sanic import Sanic

    Sanic.test_mode = True  # one app per test, same name
    port = free_port()
    server = await create_app("actions").create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True
    )
    await server.startup()
    async with aiohttp.ClientSession() as client:

        async def call(body: dict) -> dict:
            async with client.post(f"http://127.0.0.1:{port}/webhook", json=body) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        yield call
    server.close()
    await server.wait_closed()


# --- trackers as Rasa builds them -------------------------------------------------------------


def stored(events: list[Event]) -> list[Event]:
    """Earlier turns as the tracker store gives them back (JSON round trip)."""
    return [Event.from_parameters(json.loads(json.dumps(e.as_dict()))) for e in events]


HISTORY = stored(
    [
        ActionExecuted("action_session_start", timestamp=1000.0),
        SessionStarted(timestamp=1000.1),
        ActionExecuted("action_listen", timestamp=1000.2),
        UserUttered("hi", {"name": "greet", "confidence": 0.99}, message_id="m0", timestamp=1001),
        ActionExecuted("utter_greet", timestamp=1001.1),
        BotUttered("Hello!", timestamp=1001.2),
        ActionExecuted("action_listen", timestamp=1001.3),
    ]
)


def user_turn(history, text, intent, *, message_id, entities=()) -> list[Event]:
    parse = {"name": intent, "confidence": 0.97}
    return [
        *history,
        UserUttered(
            text,
            parse,
            list(entities),
            message_id=message_id,
            input_channel="rest",
        ),
        DefinePrevUserUtteredFeaturization(False),
    ]


def action_call(action: str, events: list[Event], sender: str = SENDER) -> dict:
    tracker = DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots)
    return json.loads(json.dumps(RemoteAction(action, None)._action_call_format(tracker, DOMAIN)))


def privacy_validation(message_id: str, sender: str = SENDER) -> dict:
    """The onboarding form validating a "yes" to the privacy question (Rasa's temporary
    tracker: the form's own events and the slot candidate after the user's message)."""
    asked = stored(
        [
            *HISTORY,
            ActiveLoop("onboarding_form"),
            SlotSet("requested_slot", "privacy_consent"),
            ActionExecuted("onboarding_form"),
            ActionExecuted("action_listen"),
        ]
    )
    events = user_turn(asked, "/affirm", "affirm", message_id=message_id)
    tracker = DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots)
    form = FormAction("onboarding_form", None)
    temporary = form._temporary_tracker(tracker, [SlotSet("privacy_consent", True)], DOMAIN)
    call = RemoteAction("validate_onboarding_form", None)._action_call_format(temporary, DOMAIN)
    return json.loads(json.dumps(call))


def counts(session_factory) -> dict[str, int]:
    with session_scope(session_factory) as s:
        return {
            name: s.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }


# --- through the action server ----------------------------------------------------------------


async def test_a_resent_consent_answer_records_one_consent_and_answers_the_same(
    action_server, session_factory
):
    first = await action_server(privacy_validation("msg-1"))
    after_first = counts(session_factory)
    resent = await action_server(privacy_validation("msg-1-resent"))
    assert resent == first
    assert {"event": "slot", "name": "privacy_consent", "value": True} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in first["events"]
    ]
    assert "Thank you!" in [m.get("text") for m in first["responses"]]
    assert counts(session_factory) == after_first  # the resend wrote nothing, anywhere
    assert after_first["consent_events"] == 1 and after_first["action_replays"] == 1


async def test_a_resent_handoff_and_cart_line_are_stored_once_and_a_real_repeat_runs(
    action_server, session_factory
):
    human = user_turn(HISTORY, "can I talk to a person", "request_human", message_id="h1")
    first = await action_server(action_call("action_request_human", human))
    before = counts(session_factory)
    resent_turn = user_turn(HISTORY, "can I talk to a person", "request_human", message_id="h2")
    assert await action_server(action_call("action_request_human", resent_turn)) == first
    assert counts(session_factory) == before and before["leads"] == 1


async def test_a_resent_cart_add_adds_once_and_the_same_words_in_a_later_turn_add_again(
    action_server, session_factory
):
    def add(history, message_id):
        return user_turn(
            history,
            "add the fiber capsules",
            "add_to_cart",
            message_id=message_id,
            entities=[{"entity": "product", "value": "WL-002"}],
        )

    first = await action_server(action_call("action_cart_add", add(HISTORY, "c1")))
    assert await action_server(action_call("action_cart_add", add(HISTORY, "c2"))) == first
    assert quantities(session_factory) == [1]
    later = stored(
        [
            *add(HISTORY, "c1"),
            ActionExecuted("action_cart_add"),
            BotUttered("Added."),
            ActionExecuted("action_listen"),
        ]
    )
    second = await action_server(action_call("action_cart_add", add(later, "c3")))
    assert second != first and quantities(session_factory) == [2]


def quantities(session_factory) -> list[int]:
    with session_scope(session_factory) as s:
        return list(s.execute(select(CartLine.quantity)).scalars())


async def test_a_resend_while_the_first_attempt_still_runs_waits_and_replays(
    action_server, session_factory, monkeypatch
):
    from actions import rights

    started = asyncio.Event()
    act = rights.RequestHuman.act

    async def slow_act(self, dispatcher, tracker, domain):
        started.set()
        await asyncio.sleep(0.5)  # the instance is slow; the balancer resends meanwhile
        return await act(self, dispatcher, tracker, domain)

    monkeypatch.setattr(rights.RequestHuman, "act", slow_act)
    first_turn = user_turn(HISTORY, "a human please", "request_human", message_id="s1")
    resent_turn = user_turn(HISTORY, "a human please", "request_human", message_id="s2")
    first = asyncio.ensure_future(action_server(action_call("action_request_human", first_turn)))
    await started.wait()
    resent = await action_server(action_call("action_request_human", resent_turn))
    assert resent == await first
    with session_scope(session_factory) as s:
        assert s.execute(select(func.count()).select_from(Lead)).scalar_one() == 1
        assert s.execute(select(ActionReplay.state)).scalars().all() == ["done"]


# --- the guard: a first attempt still running, failing, dead; the store down ---------------------


def guard(session_factory, **kw) -> replay.TurnGuard:
    return replay.TurnGuard(session_factory, **{"wait_seconds": 0.3, **kw})


async def test_a_resend_gets_try_again_when_the_first_attempt_outlasts_the_wait(session_factory):
    release, runs, busy = asyncio.Event(), [], []

    async def work(messages):
        runs.append(1)
        messages.append({"text": "Done."})
        await release.wait()
        return [{"event": "slot", "name": "x", "value": 1}]

    def call(messages, key="k1"):
        return replay.once(
            guard(session_factory),
            key=key,
            sender_id=SENDER,
            action="action_x",
            messages=messages,
            work=lambda: work(messages),
            on_busy=lambda: busy.append(1),
        )

    first_messages, resent_messages, late_messages = [], [], []
    first = asyncio.ensure_future(call(first_messages))
    await asyncio.sleep(0.05)
    assert await call(resent_messages) == [] and busy == [1] and resent_messages == []
    release.set()
    assert await first == [{"event": "slot", "name": "x", "value": 1}]
    assert await call(late_messages) == await first and late_messages == [{"text": "Done."}]
    assert runs == [1]


async def test_a_failed_attempt_gives_the_key_up_and_a_dead_ones_claim_is_taken_over(
    session_factory,
):
    async def boom():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        await replay.once(
            guard(session_factory), key="k2", sender_id=SENDER, action="a", messages=[],
            work=boom, on_busy=lambda: None,
        )  # fmt: skip
    with session_scope(session_factory) as s:
        assert s.execute(select(func.count()).select_from(ActionReplay)).scalar_one() == 0
        s.add(
            ActionReplay(
                key="k3", sender_id=SENDER, action="a", claim="dead",
                claimed_at=utcnow() - timedelta(minutes=5),
            )
        )  # fmt: skip

    async def ok():
        return [{"event": "followup", "name": "action_listen"}]

    events = await replay.once(
        guard(session_factory, stale_seconds=60), key="k3", sender_id=SENDER, action="a",
        messages=[], work=ok, on_busy=lambda: None,
    )  # fmt: skip
    assert events == [{"event": "followup", "name": "action_listen"}]
    with session_scope(session_factory) as s:
        row = s.execute(select(ActionReplay)).scalar_one()
        assert (row.state, row.events) == ("done", events) and row.claim != "dead"


async def test_the_action_runs_as_before_when_the_store_is_down(tmp_path, caplog):
    broken = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'none.db'}"))  # no tables
    messages: list = []

    async def work():
        messages.append({"text": "hello jane@example.com"})
        return []

    assert await replay.once(
        guard(broken), key="k4", sender_id="whatsapp:+14155550123", action="a",
        messages=messages, work=work, on_busy=lambda: None,
    ) == []  # fmt: skip
    assert messages == [{"text": "hello jane@example.com"}]
    assert "replay store unavailable" in caplog.text
    assert "+1415" not in caplog.text and "jane@" not in caplog.text


@pytest.mark.postgres
def test_two_attempts_racing_for_one_key_on_postgres_one_wins(pg_session_factory):
    barrier, results = threading.Barrier(8), []

    def attempt():
        barrier.wait()
        results.append(
            guard(pg_session_factory)._try_claim(key="race", sender_id=SENDER, action="a")
        )

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.kind if r else "waits" for r in results) == ["run"] + ["waits"] * 7


# --- retention and erasure --------------------------------------------------------------------


def _row(s, key: str, sender: str, age: timedelta) -> None:
    s.add(
        ActionReplay(
            key=key, sender_id=sender, action="a", state="done", claim="c",
            events=[{"event": "slot", "name": "email", "value": "jane@example.com"}],
            messages=[], created_at=utcnow() - age,
        )
    )  # fmt: skip


def test_stored_answers_go_after_the_retention_window(session_factory, settings):
    with session_scope(session_factory) as s:
        _row(s, "old", SENDER, timedelta(hours=settings.action_replay_keep_hours, minutes=1))
        _row(s, "new", SENDER, timedelta(minutes=5))
    with session_scope(session_factory) as s:
        assert replay_jobs.action_replay_retention(s, settings) == {"deleted": 1}
    with session_scope(session_factory) as s:
        assert s.execute(select(ActionReplay.key)).scalars().all() == ["new"]


async def test_erasure_deletes_the_persons_stored_answers_and_the_erasure_turn_stores_none(
    action_server, session_factory, settings
):
    from backend.contacts import service as contacts

    await action_server(privacy_validation("e1"))  # consent: the chat has a contact
    with session_scope(session_factory) as s:
        _row(s, "other", "web-someone-else", timedelta(minutes=1))
    with session_scope(session_factory) as s:
        contacts.erase(s, sender_id=SENDER, version="v1", key=settings.pseudonym_key)
    with session_scope(session_factory) as s:
        assert s.execute(select(ActionReplay.sender_id)).scalars().all() == ["web-someone-else"]
    # in the chat: the erasure action's own claim is erased with the rest, so its answer
    # (and the chat id) is not stored afterwards
    chat = "web-replay-2"
    await action_server(privacy_validation("e2", sender=chat))
    erase = user_turn(HISTORY, "delete my data", "request_data_deletion", message_id="d1")
    answer = await action_server(action_call("action_delete_data", erase, sender=chat))
    assert "erased your name" in answer["responses"][0]["text"]
    with session_scope(session_factory) as s:
        assert s.execute(select(ActionReplay.sender_id)).scalars().all() == ["web-someone-else"]
        assert s.execute(select(func.count()).select_from(ConsentEvent)).scalar_one() >= 2
