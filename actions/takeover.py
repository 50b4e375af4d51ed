"""The bot's one answer while a person from the team has the chat (backend/sales/takeover.py)."""

from __future__ import annotations

from rasa_sdk import Action

from actions import backend_link
from actions.common import safety_check, sender

HOLD_NOTICE = (
    "A person from our team has your conversation and will get back to you. I'll stay quiet "
    "meanwhile, but if anything is urgent (for example a medical emergency) I'll still answer."
)


class TakeoverHold(Action):
    """Chosen by TakeoverPolicy instead of the usual answer: safety first, else "a person is
    on it" once per takeover, else nothing (the team reads the message in the inbox)."""

    def name(self) -> str:
        return "action_takeover_hold"

    async def run(self, dispatcher, tracker, domain):
        from backend.sales import takeover

        if safety_check(dispatcher, tracker):  # the keyword net, even when NLU missed it
            return []
        with backend_link.unit_of_work() as session:
            notice = takeover.hold_notice_due(session, sender_id=sender(tracker))
        if notice:
            dispatcher.utter_message(text=HOLD_NOTICE)
        return []
