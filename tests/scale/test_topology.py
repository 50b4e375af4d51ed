"""The production topology, run: two `rasa run` instances and two action servers behind HAProxy,
two schedulers, Postgres (backend + tracker store), Redis (lock store, quotas).

* one conversation's turns alternate between the two Rasa instances and stay consistent (every
  turn in the tracker in order, slots carried, the right answers on the consent → goal →
  recommendation path), its action calls go to both action servers;
* a Rasa instance killed with SIGKILL under load loses no conversation: the balancer sends the
  turns to the survivor and every conversation's tracker is complete, each message once;
* two schedulers never run one singleton job at the same time.

About 1 GB of memory per Rasa instance; 2-4 minutes on a 2-core machine. `make test-scale`.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select, text

from backend.contacts.models import ConsentEvent
from backend.db import make_engine, make_session_factory, session_scope
from backend.jobs.models import JobRun
from backend.jobs.registry import load_jobs
from tests.helpers import RASA_TOKEN, chat_message, web_chat
from tests.scale.topology import missing_requirements, running_topology

pytestmark = [pytest.mark.rasa, pytest.mark.postgres, pytest.mark.redis]

# The consent-first path and a part of each answer that shows it is the right one.
PATH = [
    ("hi", "privacy policy"),
    ("/affirm", "health information"),
    ("/affirm", "What would you like support with"),
    ('/choose_goal{"goal":"weight_loss"}', "Why:"),
]
# Two more turns for the load test, so the kill lands in the middle of conversations.
MORE = [("how much is the Weight Loss Support Bundle", ""), ("thanks", "")]
CLIENT_TIMEOUT = 150  # a turn retried after a kill may wait for the dead instance's lock (60 s)


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    with running_topology(tmp_path_factory.mktemp("topology")) as topology:
        yield topology


def say(topo, chat, message: str) -> tuple[str, str]:
    """One turn through the balancer: (the bot's text, the Rasa instance that answered)."""
    response = requests.post(topo.webhook, json=chat_message(chat, message), timeout=CLIENT_TIMEOUT)
    assert response.status_code == 200, (
        message,
        response.status_code,
        response.text[:300],
        topo.log("haproxy")[-3000:],  # the balancer's last requests: server, retries, state
    )
    replies = response.json()
    assert replies, f"no reply to {message!r}"
    return "\n".join(r.get("text", "") for r in replies), response.headers["X-Served-By"]


def tracker(topo, sender: str) -> dict:
    response = requests.get(
        f"{topo.rasa_url}/conversations/{sender}/tracker",
        params={"token": RASA_TOKEN},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    return response.json()


def user_texts(tracker_json: dict) -> list[str]:
    return [e["text"] for e in tracker_json["events"] if e["event"] == "user"]


def stored_user_texts(topo, sender: str) -> list[str]:
    """The user turns in Postgres (Rasa's events table), in the order they were stored."""
    engine = make_engine(topo.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' "
                    "ORDER BY id"
                ),
                {"s": sender},
            ).scalars()
            return [json.loads(row)["text"] for row in rows]
    finally:
        engine.dispose()


def action_answers(topo) -> dict[str, int]:
    stats = topo.stats()
    return {
        server: int(row["hrsp_2xx"] or 0)
        for (proxy, server), row in stats.items()
        if proxy == "actions" and server.startswith("actions")
    }


def test_turns_alternate_between_instances_and_the_conversation_stays_consistent(topo):
    before = action_answers(topo)
    chat = web_chat()
    served = []
    for message, expected in PATH:
        answer, instance = say(topo, chat, message)
        assert expected in answer, (message, answer)
        served.append(instance)
    # round robin: every turn on the other instance than the one before
    assert set(served) == {"rasa1", "rasa2"}
    assert all(a != b for a, b in zip(served, served[1:])), served
    # ... and each instance read the turns the other one stored
    state = tracker(topo, chat.sender)
    assert user_texts(state) == [m for m, _ in PATH]
    assert stored_user_texts(topo, chat.sender) == [m for m, _ in PATH]
    slots = state["slots"]
    assert (slots["privacy_consent"], slots["health_consent"], slots["goal"]) == (
        True,
        True,
        "weight_loss",
    )
    # the actions ran on both action servers (through the `actions` frontend)
    after = action_answers(topo)
    assert all(after[name] > before.get(name, 0) for name in after), (before, after)
    # the backend stored the two consents once each, for this conversation
    engine = make_engine(topo.db_url)
    try:
        with session_scope(make_session_factory(engine)) as s:
            decisions = s.execute(
                select(ConsentEvent.purpose, ConsentEvent.granted).where(
                    ConsentEvent.conversation_id == chat.sender
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(decisions) == [("health_data", True), ("privacy", True)]


def test_killing_one_instance_mid_load_loses_no_conversation(topo):
    conversations = 8
    script = PATH + MORE
    total = conversations * len(script)
    done = []
    lock = threading.Lock()
    killed = threading.Event()
    served_after_kill = []

    def converse(_i: int):
        chat = web_chat()
        for message, expected in script:
            answer, instance = say(topo, chat, message)
            assert expected in answer, (message, answer)
            with lock:
                done.append(instance)
                if killed.is_set():
                    served_after_kill.append(instance)
                elif len(done) >= total // 3:
                    topo.kill("rasa2")  # SIGKILL, no shutdown: in-flight turns are cut off
                    killed.set()
        return chat.sender

    with ThreadPoolExecutor(max_workers=conversations) as pool:
        senders = list(pool.map(converse, range(conversations)))

    assert killed.is_set() and topo.procs["rasa2"].poll() is not None
    assert len(done) == total  # every turn answered (200, the right text)
    assert {"rasa1", "rasa2"} <= set(done[: total // 3])  # both served before the kill
    topo.wait_for_state("rasa", "rasa2", "DOWN")
    # the balancer resent the turns rasa2 refused or dropped to rasa1
    rasa2 = topo.stats()[("rasa", "rasa2")]
    assert int(rasa2["wredis"] or 0) + int(rasa2["wretr"] or 0) > 0, rasa2
    assert served_after_kill and set(served_after_kill[len(served_after_kill) // 2 :]) == {"rasa1"}
    for sender in senders:
        # every turn stored once, in order, and the survivor serves the tracker
        assert stored_user_texts(topo, sender) == [m for m, _ in script]
        state = tracker(topo, sender)
        assert user_texts(state) == [m for m, _ in script]
        assert state["slots"]["goal"] == "weight_loss"


def test_two_schedulers_never_run_a_singleton_job_twice_at_once(topo):
    for name in ("scheduler1", "scheduler2"):
        assert topo.procs[name].poll() is None, topo.log(name)[-2000:]
        assert "scheduler started" in topo.log(name)
    singletons = {name for name, job in load_jobs().items() if job.exclusive}
    engine = make_engine(topo.db_url)
    try:
        with session_scope(make_session_factory(engine)) as s:
            runs = s.execute(select(JobRun).order_by(JobRun.started_at)).scalars().all()
            runs = [(r.job, r.status, r.started_at, r.finished_at) for r in runs]
    finally:
        engine.dispose()
    for job in singletons:
        mine = [r for r in runs if r[0] == job]
        # both schedulers tried it at start (each attempt is recorded, `skipped` included)
        assert len(mine) >= 2, (job, mine)
        ran = sorted((start, end) for _, status, start, end in mine if status != "skipped")
        assert ran, (job, mine)
        for (_, end), (next_start, _) in zip(ran, ran[1:]):
            assert end <= next_start, f"{job} ran twice at once: {ran}"
