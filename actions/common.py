"""Small helpers shared by the actions: who is talking, what they said, the safety reply."""

from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import backend_link

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on our side. Please try again in a moment."
HUMAN_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}
CTA_BUTTONS = [
    {"title": "Ask a question", "payload": "/ask_product_question"},
    {"title": "Request call back", "payload": "/request_callback"},
    {"title": "Checkout", "payload": "/checkout"},
]


def sender(tracker: Tracker) -> str:
    return tracker.sender_id


def channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "web"


def whatsapp_number(tracker: Tracker) -> str | None:
    """The E.164 number of a WhatsApp chat (Twilio's signed sender id), else None."""
    from backend.contacts.service import whatsapp_number as number

    return number(sender(tracker))


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.startswith("/") else text  # button payloads carry no user wording


def latest_intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def clear_yes(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Whether the latest answer is a yes with legal weight; if not, says how to answer."""
    from backend.contacts.consent_answer import is_button_payload, is_clear_affirmation

    text = (tracker.latest_message or {}).get("text") or ""
    answer = is_clear_affirmation(
        text=text, intent=latest_intent(tracker), via_button=is_button_payload(text)
    )
    if not answer.clear:
        dispatcher.utter_message(text=answer.reason)
    return answer.clear


def clear_choice(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Whether the latest answer is a button or short enough to be a clear choice."""
    from backend.contacts.consent_answer import is_button_payload, is_clear_choice

    text = (tracker.latest_message or {}).get("text") or ""
    answer = is_clear_choice(text=text, via_button=is_button_payload(text))
    if not answer.clear:
        dispatcher.utter_message(text=answer.reason)
    return answer.clear


def entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def safety_reply(dispatcher: CollectingDispatcher, tracker: Tracker, *, kind: str) -> None:
    """Emergency guidance or the medical-advice answer, and the chat flagged for a person.

    The message goes out even when the database is down: safety text never waits on storage.
    """
    from backend import safety
    from backend.sales import service as sales
    from backend.sales.inbox import is_web_chat

    # In the website chat the team can answer in the window: the widget starts asking for it.
    team_can_write = {"handoff": True} if is_web_chat(sender(tracker)) else None
    if kind == safety.EMERGENCY:
        dispatcher.utter_message(text=safety.EMERGENCY_GUIDANCE, json_message=team_can_write)
    else:
        dispatcher.utter_message(
            text=f"{safety.MEDICAL_DISCLAIMER} I've flagged this as a sensitive question so "
            "someone from our team can follow up. Would you like to talk to a person now?",
            buttons=[HUMAN_BUTTON],
            json_message=team_can_write,
        )
    try:
        with backend_link.unit_of_work() as session:
            sales.flag_sensitive(
                session,
                sender_id=sender(tracker),
                channel=channel(tracker),
                kind="emergency" if kind == safety.EMERGENCY else "medical_advice",
            )
    except Exception:  # noqa: BLE001 - the person already has the guidance; log and carry on
        log.exception("could not flag a sensitive conversation")


def safety_check(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """The keyword net before any product answer: True when it answered instead."""
    from backend import safety

    verdict = safety.classify(latest_text(tracker))
    if verdict.flagged:
        safety_reply(dispatcher, tracker, kind=verdict.kind)
        return True
    return False


async def run_once(action, dispatcher, tracker, work) -> list:
    """`work()` at most once per action call of a turn: a resent turn (a Rasa instance died
    mid-turn, a client sent it again) gets the first attempt's messages and events back
    (backend/replay/service.py)."""
    from backend.replay import service as replay

    return await replay.once(
        replay.guard_for(backend_link.session_factory(), settings=backend_link.settings()),
        key=replay.turn_key(
            sender_id=sender(tracker),
            action=action.name(),
            events=tracker.events,
            slots=tracker.slots,
        ),
        sender_id=sender(tracker),
        action=action.name(),
        messages=dispatcher.messages,
        work=work,
        on_busy=lambda: dispatcher.utter_message(text=SORRY),
    )


class ReplaySafe:
    """Mixin (first base) for a form validator that writes to the backend: see `run_once`."""

    async def run(self, dispatcher, tracker, domain):
        parent = super()
        return await run_once(
            self, dispatcher, tracker, lambda: parent.run(dispatcher, tracker, domain)
        )


class BackendAction(Action, metaclass=ABCMeta):
    """An action whose backend failure becomes a polite message instead of silence, run once
    per turn however often the turn is sent (`run_once`)."""

    async def run(self, dispatcher, tracker, domain):
        try:
            return await run_once(
                self, dispatcher, tracker, lambda: self.act(dispatcher, tracker, domain)
            )
        except Exception:  # noqa: BLE001 - one clear reply; details go to the log
            log.exception("action failed", extra={"action": self.name()})
            dispatcher.utter_message(text=SORRY)
            return []

    @abstractmethod
    async def act(self, dispatcher, tracker, domain) -> list[dict]:
        """The action's work (raise on backend failure)."""
