"""The turn-replay key (backend/replay/service.py) on tracker JSON as Rasa 3.6 sends it.

Trackers are built with Rasa's own classes and serialised the way `RemoteAction` does
(`current_state(EventVerbosity.ALL)`); earlier turns come back through JSON, as from the
tracker store. A resend is the same turn again: new message id, new timestamps for everything
made in the turn, possibly another variation of a bot response.
"""

from __future__ import annotations

import json

from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from backend.replay.service import turn_key

SENDER = "whatsapp:+14155550123"


def stored(events: list[Event]) -> list[Event]:
    """Events as the tracker store gives them back (JSON round trip)."""
    return [Event.from_parameters(json.loads(json.dumps(e.as_dict()))) for e in events]


def session_start(at: float) -> list[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=at),
        SessionStarted(timestamp=at + 0.001),
        ActionExecuted("action_listen", timestamp=at + 0.002),
    ]


def user(text: str, intent: str, *, message_id: str, at: float) -> list[Event]:
    return [
        UserUttered(
            text,
            {"name": intent, "confidence": 0.97},
            message_id=message_id,
            timestamp=at,
            input_channel="rest",
        ),
        DefinePrevUserUtteredFeaturization(False, timestamp=at + 0.01),
    ]


def payload(events: list[Event]) -> dict:
    """The tracker part of Rasa's action call, as the action server receives it."""
    state = DialogueStateTracker.from_events(SENDER, events).current_state(EventVerbosity.ALL)
    return json.loads(json.dumps(state))


def key(events: list[Event], action: str = "action_request_human") -> str:
    state = payload(events)
    return turn_key(
        sender_id=state["sender_id"], action=action, events=state["events"], slots=state["slots"]
    )


HISTORY = stored(
    [
        *session_start(1000.0),
        *user("hi", "greet", message_id="m1", at=1001.0),
        ActionExecuted("utter_greet", timestamp=1001.1),
        BotUttered("Hello!", timestamp=1001.2),
        ActionExecuted("action_listen", timestamp=1001.3),
    ]
)


def test_a_resent_turn_has_the_same_key():
    first = [*HISTORY, *user("talk to a human", "request_human", message_id="a", at=1050.0)]
    resent = [*HISTORY, *user("talk to a human", "request_human", message_id="b", at=1093.7)]
    assert payload(first)["events"][-2]["message_id"] != payload(resent)["events"][-2]["message_id"]
    assert key(first) == key(resent)


def test_a_resend_later_in_the_turn_matches_despite_another_response_variation():
    def turn(message_id: str, at: float, greeting: str) -> list[Event]:
        return [
            *HISTORY,
            *user("add two of the tea", "add_to_cart", message_id=message_id, at=at),
            ActionExecuted("utter_on_it", timestamp=at + 0.1),
            BotUttered(greeting, timestamp=at + 0.2),
            SlotSet("quantity", 2, timestamp=at + 0.3),
        ]

    first, resent = turn("a", 1050.0, "On it!"), turn("b", 1090.0, "Sure, one moment.")
    assert key(first, "action_cart_add") == key(resent, "action_cart_add")
    # the first action of the same turn is another call
    assert key(first[:-3], "action_cart_add") != key(first, "action_cart_add")


def test_the_next_real_turn_and_a_repeated_message_get_new_keys():
    turn1 = [*HISTORY, *user("talk to a human", "request_human", message_id="a", at=1050.0)]
    done = stored(
        [*turn1, ActionExecuted("action_request_human", timestamp=1050.5), BotUttered("ok")]
    )
    next_turn = [
        *done,
        ActionExecuted("action_listen"),
        *user("thanks", "thank", message_id="c", at=1060.0),
    ]
    same_words_again = [
        *done,
        ActionExecuted("action_listen"),
        *user("talk to a human", "request_human", message_id="d", at=1070.0),
    ]
    keys = {key(turn1), key(next_turn), key(same_words_again)}
    assert len(keys) == 3


def test_other_actions_and_other_chats_get_other_keys():
    turn = [*HISTORY, *user("talk to a human", "request_human", message_id="a", at=1050.0)]
    state = payload(turn)
    other_chat = turn_key(
        sender_id="web-other", action="action_request_human", events=state["events"], slots={}
    )
    assert len({key(turn), key(turn, "action_opt_out"), other_chat}) == 3


def test_a_new_session_at_the_same_position_is_a_new_turn():
    """After a session expiry (or a restart) the store loads only the new session's events,
    so the same message can sit at the same index: the session's start time tells them apart."""
    earlier = [*session_start(1000.0), *user("hi", "greet", message_id="a", at=1001.0)]
    later = [*session_start(9000.0), *user("hi", "greet", message_id="b", at=9001.0)]
    assert [e["event"] for e in payload(earlier)["events"]] == [
        e["event"] for e in payload(later)["events"]
    ]
    assert key(earlier) != key(later)
    restarted = stored([*HISTORY, Restarted(timestamp=1100.0), *session_start(1100.5)])
    after_restart = [*restarted, *user("hi", "greet", message_id="c", at=1101.0)]
    before_restart = [*HISTORY[:3], *user("hi", "greet", message_id="m1", at=1001.0)]
    assert key(after_restart) != key(before_restart)
