"""Opt-out, data deletion and access, and handing the chat to a person."""

from __future__ import annotations

from rasa_sdk.events import AllSlotsReset, SlotSet

from actions import backend_link
from actions.common import BackendAction, channel, sender, whatsapp_number


class OptOut(BackendAction):
    def name(self) -> str:
        return "action_opt_out"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts.service import opt_out

        with backend_link.unit_of_work() as session:
            withdrawn = opt_out(
                session,
                sender_id=sender(tracker),
                version=backend_link.settings().privacy_policy_version,
            )
        if withdrawn:
            text = (
                "Done: you won't get any more marketing messages by email, SMS or WhatsApp. "
                "Receipts for orders you place still arrive if you asked for them."
            )
        else:
            text = (
                "You're not on any of our marketing lists: "
                "I have no contact details stored for you."
            )
        dispatcher.utter_message(text=text)
        return [SlotSet("marketing_channels", [])]


def _send_code(dispatcher, tracker, purpose: str) -> None:
    """The chat has not proved it is the person: a one-time code to their own email/phone."""
    from backend import bootstrap
    from backend.contacts.verification import request_chat_proof

    settings = backend_link.settings()
    with backend_link.unit_of_work() as session:
        sent = request_chat_proof(
            session,
            key=settings.pseudonym_key,
            sender_id=sender(tracker),
            purpose=purpose,
            send=bootstrap.verification_send(session, settings=settings),
        )
    if sent is None:
        dispatcher.utter_message(
            text="I can't confirm it's you from this chat. Please write to us from the email "
            "address we have for you, or chat with us from your WhatsApp number."
        )
        return
    where = "by email" if sent.channel == "email" else "by text message"
    dispatcher.utter_message(
        text=f"To protect your data I've sent a 6-digit code {where} to {sent.to}. "
        "Type the code here to continue (it expires in 10 minutes)."
    )


class DeleteData(BackendAction):
    def name(self) -> str:
        return "action_delete_data"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts.service import ProofRequired

        try:
            return _erase(dispatcher, tracker)
        except ProofRequired:
            _send_code(dispatcher, tracker, "erasure")
            return []


def _erase(dispatcher, tracker) -> list:
    from backend.contacts.service import erase
    from backend.sales.inbox import is_web_chat

    settings = backend_link.settings()
    with backend_link.unit_of_work() as session:
        result = erase(
            session,
            sender_id=sender(tracker),
            defer_tracker=True,
            version=settings.privacy_policy_version,
            key=settings.pseudonym_key,
        )
    from backend.privacy.registry import scrub_storage

    scrub_storage(backend_link.session_factory().kw["bind"])  # SQLite: no copy left in the WAL
    dispatcher.utter_message(
        text=(
            "Done: I've erased your name, contact details and wellness goal from all your "
            "records and chats, and withdrawn every consent. "
            if result.contact_erased
            else "I had no contact details stored for you. "
        )
        + "This chat's history will be deleted within a few minutes. Invoices for past "
        "orders are kept as tax law requires, without your contact details.",
        # the website widget forgets the history it shows and starts a new chat id (custom
        # payloads are website-only: Rasa's other channels would send them as JSON text)
        json_message={"erased": True} if is_web_chat(sender(tracker)) else None,
    )
    return [AllSlotsReset()]


class DataAccess(BackendAction):
    def name(self) -> str:
        return "action_data_access"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts.service import ProofRequired

        try:
            return _show_data(dispatcher, tracker)
        except ProofRequired:
            _send_code(dispatcher, tracker, "access")
            return []


def _show_data(dispatcher, tracker) -> list:
    from backend.contacts.service import access_summary

    settings = backend_link.settings()
    with backend_link.unit_of_work() as session:
        summary = access_summary(session, sender_id=sender(tracker), key=settings.pseudonym_key)
    if not summary.stored:
        dispatcher.utter_message(
            text="I have no personal details stored for you: you haven't accepted the "
            "privacy policy in this chat (or your data was erased)."
        )
        return []
    consents = ", ".join(
        f"{key.replace(':', ' / ')}: {'yes' if granted else 'no'}"
        for key, granted in summary.consents.items()
    )
    lines = [
        "Here's what we store about you:",
        f"• Name: {summary.name or '-'}",
        f"• Email: {summary.email or '-'}",
        f"• Phone: {summary.phone_e164 or '-'}",
        f"• Wellness goal: {(summary.wellness_goal or '-').replace('_', ' ')}",
        f"• Consents: {consents or '-'}",
        f"• Conversation records: {summary.interactions}; orders: {summary.orders}",
        "A full copy of everything we hold (all your chats, consent history with proofs), "
        f"valid for an hour: {settings.public_base_url.rstrip('/')}{summary.export_path}",
        'To correct something just tell me ("my email is ..."); to delete it all say '
        '"delete my data".',
    ]
    dispatcher.utter_message(text="\n".join(lines))
    return []


class ConfirmCode(BackendAction):
    """The one-time code typed in the chat: on success, do what it was asked for."""

    def name(self) -> str:
        return "action_confirm_code"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts.verification import VerificationError, confirm_chat_code

        settings = backend_link.settings()
        purpose = problem = None
        with backend_link.unit_of_work() as session:  # a wrong try is counted (committed)
            try:
                purpose = confirm_chat_code(
                    session,
                    key=settings.pseudonym_key,
                    sender_id=sender(tracker),
                    code=tracker.latest_message.get("text") or "",
                )
            except VerificationError as exc:
                problem = str(exc)
        if problem is not None:
            dispatcher.utter_message(
                text=f'Sorry, {problem}. Ask again ("show my data" or "delete my data") '
                "for a new code."
            )
            return []
        if purpose == "erasure":
            return _erase(dispatcher, tracker)
        return _show_data(dispatcher, tracker)


class RequestHuman(BackendAction):
    def name(self) -> str:
        return "action_request_human"

    async def act(self, dispatcher, tracker, domain):
        from backend.sales.takeover import hand_over

        with backend_link.unit_of_work() as session:
            handover = hand_over(
                session,
                settings=backend_link.settings(),
                sender_id=sender(tracker),
                channel=channel(tracker),
                reason="asked for a person in chat",
            )
        reachable = handover.reachable
        # Promise only what staff can do: say where their reply will come (the send gate's
        # channels, or this website chat's window), or say that they cannot reach the person.
        if not reachable:
            dispatcher.utter_message(
                text="I've passed your chat to our team, but they have no way to reach you yet: "
                "we only contact people who shared their details and agreed to it. Leave a "
                "phone number for a call back, or keep chatting with me.",
                buttons=[{"title": "Request a call back", "payload": "/request_callback"}],
            )
            return []
        here = whatsapp_number(tracker) and reachable[0] == "whatsapp"
        where = REPLY_WHERE["here" if here else reachable[0]]
        later = (
            " If you leave, their reply will wait here for you on this device."
            if reachable[0] == "chat"
            else ""
        )
        dispatcher.utter_message(
            text=f"I've asked a member of our team to get back to you. They will reply {where} "
            "as soon as possible (usually within an hour during opening times)."
            f"{later} {PAUSED if handover.paused else STILL_HERE}",
            # The website widget starts asking the backend for staff replies (chat_replies).
            json_message={"handoff": True} if "chat" in reachable else None,
        )
        return []


PAUSED = "Until they hand you back to me I'll stay quiet, except for anything urgent."
STILL_HERE = "Meanwhile I can still answer questions here."
REPLY_WHERE = {
    "chat": "here in this chat",
    "here": "here on WhatsApp",
    "whatsapp": "on WhatsApp",
    "email": "by email",
    "sms": "by text message",
}
