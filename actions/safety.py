"""Safety paths: medical-advice questions, emergencies, and the low-confidence fallback."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import UserUtteranceReverted

from actions.common import HUMAN_BUTTON, latest_text, safety_reply


class MedicalAdvice(Action):
    def name(self) -> str:
        return "action_medical_advice"

    async def run(self, dispatcher, tracker, domain):
        from backend import safety

        verdict = safety.classify(latest_text(tracker))
        safety_reply(
            dispatcher, tracker, kind=safety.EMERGENCY if verdict.is_emergency else safety.MEDICAL
        )
        return []


class Emergency(Action):
    def name(self) -> str:
        return "action_emergency"

    async def run(self, dispatcher, tracker, domain):
        from backend import safety

        # Second check: the emergency script and its urgent lead only with the net's evidence
        # (or a button that says so). A report_emergency intent without it (an older model, an
        # injected intent) gets the medical-advice answer, which still offers a person.
        text = (tracker.latest_message or {}).get("text") or ""
        confirmed = text.startswith("/") or safety.classify(text).is_emergency
        safety_reply(dispatcher, tracker, kind=safety.EMERGENCY if confirmed else safety.MEDICAL)
        return []


MISSES = ("nlu_fallback", "out_of_scope")  # gibberish is often classified out of scope
OUT_OF_SCOPE = (
    "Sorry, I can't help with that. I can recommend wellness products, answer product "
    "questions, arrange a call back or help you order."
)
OFFER_PERSON = "I'm still not sure I understand. Would you like to talk to a person?"


def _consecutive_misses(tracker) -> int:
    """How many user turns in a row the assistant did not understand (this one included)."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") not in MISSES:
            break
        count += 1
    return count


class Fallback(Action):
    """Low NLU confidence: the safety net first, then ask to rephrase once, then offer a human."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain):
        from backend import safety

        verdict = safety.classify(latest_text(tracker))
        if verdict.flagged:
            safety_reply(dispatcher, tracker, kind=verdict.kind)
            return []
        if _consecutive_misses(tracker) >= 2:
            dispatcher.utter_message(text=OFFER_PERSON, buttons=[HUMAN_BUTTON])
        else:
            dispatcher.utter_message(
                text="Sorry, I didn't quite get that. Could you say it another way?"
            )
        return []


class OutOfScope(Action):
    """What the assistant can't do; the second miss in a row offers a person instead."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher, tracker, domain):
        if _consecutive_misses(tracker) >= 2:
            dispatcher.utter_message(text=OFFER_PERSON, buttons=[HUMAN_BUTTON])
        else:
            dispatcher.utter_message(text=OUT_OF_SCOPE)
        return []


class CoreFallback(Action):
    """No rule or story knows what to do next (the core fallback of the RulePolicy).

    The safety net still comes first; otherwise the person hears what the assistant can do and
    gets a way to a person. The user turn is reverted, as Rasa's default fallback does, so the
    conversation (and any active form) carries on from where it was.
    """

    def name(self) -> str:
        return "action_core_fallback"

    async def run(self, dispatcher, tracker, domain):
        from backend import safety

        verdict = safety.classify(latest_text(tracker))
        if verdict.flagged:
            safety_reply(dispatcher, tracker, kind=verdict.kind)
            return [UserUtteranceReverted()]
        dispatcher.utter_message(
            text="Sorry, I'm not sure how to help with that here. I can suggest products for a "
            "wellness goal, answer product questions, take an order or put you in touch with a "
            "person.",
            buttons=[HUMAN_BUTTON],
        )
        return [UserUtteranceReverted()]
