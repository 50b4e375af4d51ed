"""Onboarding: privacy consent, then (separately) health-data consent, then the wellness goal."""

from __future__ import annotations

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import SlotSet

from actions import backend_link
from actions.common import ReplaySafe, clear_yes, entity, sender
from backend.goals import GOALS

YES_NO = [
    {"title": "Yes, I agree", "payload": "/affirm"},
    {"title": "No thanks", "payload": "/deny"},
]


class AskPrivacyConsent(Action):
    def name(self) -> str:
        return "action_ask_privacy_consent"

    async def run(self, dispatcher, tracker, domain):
        from backend.contacts.service import privacy_wording

        if entity(tracker, "email") or entity(tracker, "phone"):
            dispatcher.utter_message(
                text="I haven't saved the contact details you typed: I only keep them after "
                "you accept our privacy policy."
            )
        url = backend_link.settings().privacy_policy_url
        dispatcher.utter_message(text=privacy_wording(policy_url=url), buttons=YES_NO)
        return []


class AskHealthConsent(Action):
    def name(self) -> str:
        return "action_ask_health_consent"

    async def run(self, dispatcher, tracker, domain):
        from backend.contacts.service import HEALTH_WORDING

        dispatcher.utter_message(text=HEALTH_WORDING, buttons=YES_NO)
        return []


class ResetPrivacy(Action):
    """Lets the onboarding form ask for privacy consent again (after a decline)."""

    def name(self) -> str:
        return "action_reset_privacy"

    async def run(self, dispatcher, tracker, domain):
        return [SlotSet("privacy_consent", None)]


class ValidateOnboardingForm(ReplaySafe, FormValidationAction):
    """Records consent decisions: a resent turn gets the first answer (ReplaySafe)."""

    def name(self) -> str:
        return "validate_onboarding_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        if tracker.get_slot("privacy_consent") is False:
            return [s for s in domain_slots if s != "health_consent"]  # nothing will be stored
        if tracker.get_slot("privacy_consent") and tracker.get_slot("contact_purpose"):
            # A checkout or call back asked before consent: resume it right after the privacy
            # answer (the goal and its health-data consent are not needed for it).
            return ["privacy_consent"]
        return domain_slots

    async def validate_privacy_consent(self, value, dispatcher, tracker, domain):
        from backend.contacts import service

        if value and not clear_yes(dispatcher, tracker):
            return {"privacy_consent": None}  # nothing recorded; the buttons come again
        settings = backend_link.settings()
        with backend_link.unit_of_work() as session:
            service.record_privacy(
                session,
                sender_id=sender(tracker),
                channel=tracker.get_latest_input_channel(),
                granted=bool(value),
                wording=service.privacy_wording(policy_url=settings.privacy_policy_url),
                version=settings.privacy_policy_version,
            )
        if value:
            dispatcher.utter_message(text="Thank you!")
        else:
            dispatcher.utter_message(
                text="No problem: I won't store anything about you. I can still share general "
                "product information."
            )
        return {"privacy_consent": bool(value)}

    async def validate_health_consent(self, value, dispatcher, tracker, domain):
        from backend.contacts import service

        if value and not clear_yes(dispatcher, tracker):
            return {"health_consent": None}
        with backend_link.unit_of_work() as session:
            service.record_consent(
                session,
                sender_id=sender(tracker),
                purpose=service.HEALTH,
                channel="chat",
                granted=bool(value),
                wording=service.HEALTH_WORDING,
                version=backend_link.settings().privacy_policy_version,
            )
        if not value:
            dispatcher.utter_message(
                text="Understood: I won't save your goal. I can still show suggestions for it."
            )
        return {"health_consent": bool(value)}

    async def validate_goal(self, value, dispatcher, tracker, domain):
        if value in GOALS:
            return {"goal": value}
        return {"goal": None}  # utter_ask_goal repeats the buttons
