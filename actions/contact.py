"""Contact form (name, email, marketing channels, phone, call time, transactional consent)
and later corrections ("actually my email is ...")."""

from __future__ import annotations

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import SlotSet

from actions import backend_link
from actions.common import (
    CTA_BUTTONS,
    BackendAction,
    clear_choice,
    clear_yes,
    entity,
    latest_intent,
    sender,
    whatsapp_number,
)

MAX_FAILURES = 3
SKIPPED = "skipped"  # the person chose to go on without this value
SKIP_WORDS = {"skip", "skip it", "no", "none", "no thanks", "pass", "later", "rather not"}
CHANNELS = ("email", "sms", "whatsapp")
CHANNEL_LABELS = {"email": "email", "sms": "SMS", "whatsapp": "WhatsApp"}
RECEIPT_LABELS = {"email": "email", "sms": "text", "whatsapp": "WhatsApp"}


def _wants_skip(value, tracker) -> bool:
    return latest_intent(tracker) == "deny" or str(value).strip().lower().strip(".!") in SKIP_WORDS


def _refuse(dispatcher, tracker, slot: str, reason: str, example: str) -> dict:
    failures = int(tracker.get_slot(f"{slot}_failures") or 0) + 1
    text = f"Hmm, {reason}. Could you type it again? (for example {example})"
    if failures >= MAX_FAILURES:
        text += ' If it\'s easier, say "skip" to go on without it, or ask to talk to a person.'
        dispatcher.utter_message(
            text=text,
            buttons=[
                {"title": "Skip", "payload": "/deny"},
                {"title": "Talk to a person", "payload": "/request_human"},
            ],
        )
    else:
        dispatcher.utter_message(text=text)
    return {slot: None, f"{slot}_failures": failures}


def check_email(value):
    from backend.contacts.validation import check_email

    return check_email(value)


def check_phone(value):
    from backend.contacts.validation import check_phone

    return check_phone(value, default_region=backend_link.settings().default_region)


class ValidateContactForm(FormValidationAction):
    def name(self) -> str:
        return "validate_contact_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        callback = tracker.get_slot("contact_purpose") == "callback"
        channels = set(tracker.get_slot("marketing_channels") or [])
        wanted = []
        for slot in domain_slots:
            if slot == "phone" and not (callback or channels & {"sms", "whatsapp"}):
                continue
            if slot == "preferred_time" and not callback:
                continue
            wanted.append(slot)
        return wanted

    async def validate_name(self, value, dispatcher, tracker, domain):
        from backend.contacts.validation import check_name

        checked = check_name(str(value))
        if not checked.ok:
            dispatcher.utter_message(text=f"Sorry, {checked.reason}.")  # the form asks again
            return {"name": None}
        return {"name": checked.value}

    async def validate_email(self, value, dispatcher, tracker, domain):
        return _validate_reachable(
            "email",
            value,
            dispatcher,
            tracker,
            check=check_email,
            label="an email address",
            example="name@example.com",
        )

    async def validate_phone(self, value, dispatcher, tracker, domain):
        return _validate_reachable(
            "phone",
            value,
            dispatcher,
            tracker,
            check=check_phone,
            label="a phone number",
            example="+1 415 555 0123",
        )

    async def validate_marketing_channels(self, value, dispatcher, tracker, domain):
        values = [str(v).lower() for v in (value or [])]
        if "none" in values:
            return {"marketing_channels": []}
        chosen = [c for c in CHANNELS if c in values]
        if chosen and not clear_choice(dispatcher, tracker):
            return {"marketing_channels": None}
        if not chosen:
            dispatcher.utter_message(text='Which ones? Tap email, SMS or WhatsApp, or "No thanks".')
            return {"marketing_channels": None}
        return {"marketing_channels": chosen}

    async def validate_transactional_consent(self, value, dispatcher, tracker, domain):
        if value and not clear_yes(dispatcher, tracker):
            return {"transactional_consent": None}
        return {"transactional_consent": bool(value)}

    async def validate_preferred_time(self, value, dispatcher, tracker, domain):
        text = str(value).strip()[:100]
        return {"preferred_time": text or None}


class AskMarketingChannels(Action):
    def name(self) -> str:
        return "action_ask_marketing_channels"

    async def run(self, dispatcher, tracker, domain):
        from backend.contacts.service import MARKETING_WORDING

        dispatcher.utter_message(
            text=MARKETING_WORDING,
            buttons=[
                {"title": "Email", "payload": '/inform{"channel":"email"}'},
                {"title": "SMS", "payload": '/inform{"channel":"sms"}'},
                {"title": "WhatsApp", "payload": '/inform{"channel":"whatsapp"}'},
                {"title": "All three", "payload": '/inform{"channel":["email","sms","whatsapp"]}'},
                {"title": "No thanks", "payload": "/deny"},
            ],
        )
        return []


class AskTransactionalConsent(Action):
    def name(self) -> str:
        return "action_ask_transactional_consent"

    async def run(self, dispatcher, tracker, domain):
        from backend.contacts.service import transactional_question

        wording, _ = transactional_question(
            email=bool(_valid_or_none(check_email, tracker.get_slot("email"))),
            sms=bool(_valid_or_none(check_phone, tracker.get_slot("phone"))),
            whatsapp=bool(whatsapp_number(tracker)),
        )
        dispatcher.utter_message(
            text=wording,
            buttons=[
                {"title": "Yes please", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
        )
        return []


def _valid_or_none(checker, value) -> str | None:
    """Slots are re-checked before storage: a value that skipped validation is never stored."""
    if not value or value == SKIPPED:
        return None
    checked = checker(value)
    return checked.value if checked.ok else None


class SubmitContact(BackendAction):
    """Stores the form in one transaction: details, a decision per consent, a callback lead."""

    def name(self) -> str:
        return "action_submit_contact"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts.service import ContactDetails, spoken_list
        from backend.sales import service as sales

        purpose = tracker.get_slot("contact_purpose")
        channels = tuple(tracker.get_slot("marketing_channels") or ())
        phone = _valid_or_none(check_phone, tracker.get_slot("phone"))
        details = ContactDetails(
            name=tracker.get_slot("name"),
            email=_valid_or_none(check_email, tracker.get_slot("email")),
            phone_e164=phone,
            marketing_channels=channels,  # the backend keeps SMS/WhatsApp only with a phone
            transactional=tracker.get_slot("transactional_consent"),
            whatsapp_e164=whatsapp_number(tracker),
        )
        from backend import bootstrap

        settings = backend_link.settings()
        with backend_link.unit_of_work() as session:
            # Email offers asked for here start with a confirmation link (double opt-in).
            double_opt_in = bootstrap.double_opt_in(session, settings=settings)
            stored = sales.submit_contact(
                session,
                sender_id=sender(tracker),
                details=details,
                version=settings.privacy_policy_version,
                callback_time=tracker.get_slot("preferred_time") if purpose == "callback" else None,
                confirm_email=double_opt_in,
            )
        agreed = [CHANNEL_LABELS[c] for c in stored.marketing_channels]
        receipts = spoken_list([RECEIPT_LABELS[c] for c in stored.receipt_channels])
        summary = (f"offers by {', '.join(agreed)}" if agreed else "no marketing messages") + (
            f"; receipts and order updates by {receipts}" if details.transactional else ""
        )
        first = (details.name or "").split(" ")[0]
        dispatcher.utter_message(text=f"Thanks{', ' + first if first else ''}! Saved: {summary}.")
        if double_opt_in.started:
            dispatcher.utter_message(
                text="One more step for offers by email: I've sent you a link to confirm it's "
                "your address. Nothing is sent until you follow it."
            )
        if purpose == "callback":
            if phone:
                dispatcher.utter_message(
                    text="Our team will call you back"
                    + (
                        f" ({tracker.get_slot('preferred_time')})."
                        if tracker.get_slot("preferred_time")
                        else "."
                    )
                )
            else:
                dispatcher.utter_message(
                    text="Without a phone number we can't call you back, but a person can get "
                    "back to you another way.",
                    buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
                )
        return [
            SlotSet("email", details.email or tracker.get_slot("email")),
            SlotSet("phone", phone or tracker.get_slot("phone")),
        ]


class UpdateContact(BackendAction):
    """Outside the form: corrections, and a clear "not stored" before consent."""

    def name(self) -> str:
        return "action_update_contact"

    async def act(self, dispatcher, tracker, domain):
        from backend.contacts import service

        email_raw, phone_raw = entity(tracker, "email"), entity(tracker, "phone")
        if not email_raw and not phone_raw:
            dispatcher.utter_message(
                text="Thanks! What would you like to do next?", buttons=CTA_BUTTONS
            )
            return []
        if tracker.get_slot("privacy_consent") is None:
            return []  # the privacy question comes next and says nothing was saved
        if tracker.get_slot("privacy_consent") is False:
            dispatcher.utter_message(
                text="I haven't saved that: I only keep contact details after you accept our "
                "privacy policy."
            )
            return []
        checked = {
            "email": check_email(email_raw) if email_raw else None,
            "phone": check_phone(phone_raw) if phone_raw else None,
        }
        bad = [c.reason for c in checked.values() if c is not None and not c.ok]
        if bad:
            dispatcher.utter_message(
                text=f"Hmm, {bad[0]}. Nothing was changed; could you type it again?"
            )
            return []
        email = checked["email"].value if checked["email"] else None
        phone = checked["phone"].value if checked["phone"] else None
        with backend_link.unit_of_work() as session:
            service.update_contact(
                session, sender_id=sender(tracker), email=email, phone_e164=phone
            )
        what = " and ".join(x for x, v in (("email", email), ("phone number", phone)) if v)
        dispatcher.utter_message(text=f"Done: I've updated your {what}.")
        events = []
        if email:
            events.append(SlotSet("email", email))
        if phone:
            events.append(SlotSet("phone", phone))
        return events


def _validate_reachable(slot, value, dispatcher, tracker, *, check, label, example) -> dict:
    """Email or phone: skipped on request, else validated (re-asked with the reason)."""
    if value == SKIPPED:
        return {slot: SKIPPED}
    if _wants_skip(value, tracker):
        dispatcher.utter_message(text=f"OK, we'll go on without {label}.")
        return {slot: SKIPPED}
    checked = check(value)
    if not checked.ok:
        return _refuse(dispatcher, tracker, slot, checked.reason, example)
    return {slot: checked.value, f"{slot}_failures": 0}
