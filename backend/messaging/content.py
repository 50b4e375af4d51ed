"""Message templates (Jinja2, backend/messaging/templates/) and what the send gate knows of each.

Every template declares its purpose (marketing or transactional), its email subject and whether
Meta approved it for WhatsApp outside the 24-hour customer-service window. Copy makes no
disease claims; a message that names products ends with the FDA/DSHEA disclaimer when any of
them is a supplement. The opt-out line and the postal address are added by the gate, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    UndefinedError,
)

from backend.trends.recommend import DSHEA_DISCLAIMER, GENERAL_DISCLAIMER

HERE = Path(__file__).resolve().parent
MARKETING, TRANSACTIONAL = "marketing", "transactional"
# A message the person asked for to prove who they are (a one-time code, a double opt-in
# link): it needs no consent of its own, only the address already on their record.
VERIFICATION = "verification"
PURPOSES = (MARKETING, TRANSACTIONAL, VERIFICATION)

# Wording for a wellness goal in messages: what it supports, never a disease.
GOAL_LABELS = {
    "weight_loss": "weight management",
    "blood_pressure": "heart health",
    "diabetes": "balanced blood sugar",
    "anti_aging": "healthy aging",
}


@dataclass(frozen=True)
class MessageTemplate:
    name: str
    purpose: str
    subject: str  # a Jinja2 expression source, rendered with the same context
    whatsapp_approved: bool  # an approved WhatsApp template: may go outside the 24-hour window


TEMPLATES: dict[str, MessageTemplate] = {
    t.name: t
    for t in (
        MessageTemplate(
            "follow_up_goal",
            MARKETING,
            "{% if goal_label %}New picks for {{ goal_label }}{% else %}New wellness picks"
            "{% endif %} from {{ shop_name }}",
            whatsapp_approved=True,
        ),
        MessageTemplate(
            "order_receipt",
            TRANSACTIONAL,
            "Your {{ shop_name }} receipt for order {{ order_ref }}",
            whatsapp_approved=True,
        ),
        # An abandoned checkout (payment link expired unpaid): a reminder is marketing, and
        # not an approved WhatsApp template (there it goes only inside the 24-hour window).
        MessageTemplate(
            "checkout_reminder",
            MARKETING,
            "Your {{ shop_name }} cart is waiting",
            whatsapp_approved=False,
        ),
        MessageTemplate(
            "callback_confirmation",
            TRANSACTIONAL,
            "{{ shop_name }}: we will call you",
            whatsapp_approved=True,
        ),
        MessageTemplate(
            "identity_code",
            VERIFICATION,
            "Your {{ shop_name }} code: {{ code }}",
            whatsapp_approved=True,
        ),
        MessageTemplate(
            "confirm_subscription",
            VERIFICATION,
            "Please confirm: offers and tips from {{ shop_name }}",
            whatsapp_approved=False,
        ),
        # Staff-written text (a reply from the dashboard): never approved for WhatsApp, so it
        # only goes there inside the 24-hour window.
        MessageTemplate(
            "free_text",
            TRANSACTIONAL,
            "{{ subject or 'A message from ' ~ shop_name }}",
            whatsapp_approved=False,
        ),
    )
}
WHATSAPP_APPROVED = frozenset(name for name, t in TEMPLATES.items() if t.whatsapp_approved)

_env = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=False,  # noqa: S701 - plain-text bodies only (text/plain email, SMS, WhatsApp)
    undefined=StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


class UnknownTemplate(KeyError):
    """No template of that name."""


class MissingValue(ValueError):
    """The template needs a value its context does not have (e.g. an order reference)."""


OPTIONAL = {
    "first_name": None,
    "goal_label": None,
    "products": [],
    "preferred_time": None,
    "subject": None,
}


def template(name: str) -> MessageTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplate(name) from None


def render(name: str, *, channel: str, context: dict) -> tuple[str, str]:
    """(subject, body) of a template for a channel; body carries the product disclaimers."""
    spec = template(name)
    values = {**OPTIONAL, **context, "channel": channel}
    try:
        body = _env.get_template(f"{name}.txt.j2").render(values).strip()
        subject = _env.from_string(spec.subject).render(values).strip()
    except TemplateNotFound:
        raise UnknownTemplate(name) from None
    except UndefinedError as exc:
        raise MissingValue(f"template {name}: {exc.message}") from None
    products = values.get("products") or []
    if products:
        notes = [GENERAL_DISCLAIMER]
        if any(p.get("is_supplement") for p in products):
            notes.insert(0, DSHEA_DISCLAIMER)
        body = f"{body}\n\n{' '.join(notes)}" if channel == "email" else f"{body} {notes[0]}"
    return subject, body


def goal_label(goal: str | None) -> str | None:
    return GOAL_LABELS.get(goal or "")
