"""What happened, as small frozen values: the vocabulary areas use to tell each other.

A service records an event with `bus.publish(session, event)` at the point where the change is
made; the handlers of the areas that react (wired in backend/bootstrap.py, the one table of
"when X, then Y") run at once, in the same session, so an outbox row they enqueue commits or
rolls back with its cause. Events carry ids, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass


class Event:
    """Base class of every event (a marker: handlers are looked up by the concrete class)."""


@dataclass(frozen=True)
class ConsentRecorded(Event):
    """A consent decision was stored (a grant, or a withdrawal made in the chat)."""

    contact_id: int
    consent_event_id: int
    purpose: str
    channel: str
    granted: bool


@dataclass(frozen=True)
class ConsentWithdrawn(Event):
    """Marketing (and maybe transactional) consent was withdrawn outside the chat (link, STOP)."""

    contact_id: int
    consent_event_ids: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class ContactChanged(Event):
    """Contact details or what is known about the contact changed.

    `cause` names the change for idempotency (`details`, `interaction-<id>`).
    """

    contact_id: int
    cause: str


@dataclass(frozen=True)
class ContactErased(Event):
    """Right to erasure: the contact's personal fields are blank, every consent withdrawn.

    `contact_id` is None for a chat that never became a contact (it may still have leads).
    """

    contact_id: int | None
    conversation_id: str


@dataclass(frozen=True)
class ContactDetailsSubmitted(Event):
    """The chat's contact form was saved; `marketing_channels` are the channels opted into."""

    contact_id: int
    marketing_channels: tuple[str, ...]


@dataclass(frozen=True)
class LeadCreated(Event):
    """A new lead for the sales team (callback, handoff, sensitive inquiry, emergency…)."""

    lead_id: int
    kind: str
    contact_id: int | None


@dataclass(frozen=True)
class CallbackRequested(Event):
    """A consenting contact with a phone number asked to be called back."""

    lead_id: int
    contact_id: int


@dataclass(frozen=True)
class OrderPaid(Event):
    """An order's payment succeeded (its invoice and receipt are issued)."""

    order_id: int
    contact_id: int | None


@dataclass(frozen=True)
class LeadSlaAtRisk(Event):
    """A lead still waits for a first human reply and most of its SLA window is gone."""

    lead_id: int
    kind: str
    priority: str


@dataclass(frozen=True)
class IncidentOpened(Event):
    """An incident was raised (backend/incidents.py): SLA breach, ledger mismatch, failed job…"""

    incident_id: int
    kind: str
    severity: str
    entity_type: str | None
    entity_id: str | None


@dataclass(frozen=True)
class OutboxMessageDead(Event):
    """An outbox row gave up (permanent error or too many attempts): nothing will send it."""

    message_id: int
    kind: str
    topic: str


@dataclass(frozen=True)
class CheckoutExpired(Event):
    """An order's payment link expired unpaid (its stock is back on the shelf)."""

    order_id: int
    contact_id: int | None
