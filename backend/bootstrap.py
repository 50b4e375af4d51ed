"""The one wiring place: what reacts to what, which jobs, deliverers, routes and commands exist.

Read this file to answer "what happens when …?": every event and the handlers that run for it,
in order, in the same transaction as the change that caused it (backend/bus.py).
"""

from __future__ import annotations

from backend import bus
from backend.events import (
    CallbackRequested,
    ConsentRecorded,
    ConsentWithdrawn,
    ContactChanged,
    ContactDetailsSubmitted,
    ContactErased,
    LeadCreated,
    OrderPaid,
)


def handler_table() -> dict[type, list]:
    """Event → handlers, in the order they run."""
    from backend.crm import handlers as crm
    from backend.messaging import handlers as messaging
    from backend.sales import handlers as sales

    return {
        # a consent decision in the chat (grant or withdrawal): the CRM gets the new view
        ConsentRecorded: [crm.push_contact],
        # withdrawal by STOP, the unsubscribe link or "stop messaging me": the CRM gets the new
        # view; nothing is cancelled here because the send gate re-reads consent before every
        # send (backend/messaging/gate.py), so a withdrawal takes effect at once
        ConsentWithdrawn: [crm.push_contact],
        # name/email/phone corrected, a recommendation kept with health-data consent
        ContactChanged: [crm.push_contact],
        # the chat's contact form: goal follow-ups on the marketing channels chosen
        ContactDetailsSubmitted: [messaging.goal_follow_ups],
        # right to erasure: the CRM deletes the contact, leads lose personal details
        ContactErased: [crm.erase_contact, sales.redact_erased],
        # a lead for the sales team: pushed to the CRM (not sensitive/emergency ones)
        LeadCreated: [crm.push_lead],
        # a callback: a confirmation message is scheduled
        CallbackRequested: [messaging.callback_confirmation],
        # payment succeeded: the receipt email is scheduled
        OrderPaid: [messaging.receipt_email],
    }


def wire_handlers() -> None:
    """Subscribe every handler, register what areas provide to each other; once per process."""
    from backend.contacts import service as contacts
    from backend.messaging import service as messaging
    from backend.orders import service as orders
    from backend.sales import service as sales

    for event_type, handlers in handler_table().items():
        for handler in handlers:
            bus.subscribe(event_type, handler)
    # what orders hold about a contact, for the right of access
    contacts.HOLDINGS["orders"] = orders.count_for_contact
    # the callback confirmation's values come from the sales lead
    messaging.register_context("callback_confirmation", sales.callback_context)
    bus.mark_wired()
