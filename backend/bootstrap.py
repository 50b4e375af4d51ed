"""The one wiring place: what reacts to what, which adapters, jobs, deliverers, routes and
commands exist.

Read this file to answer "what happens when …?": every event and the handlers that run for it,
in order, in the same transaction as the change that caused it (backend/bus.py). Adapters are
chosen here from settings (real provider when its credentials are set, else the local fake)
and built once per process and settings.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from backend import bus
from backend.config import Settings
from backend.events import (
    CallbackRequested,
    CheckoutExpired,
    ConsentRecorded,
    ConsentWithdrawn,
    ContactChanged,
    ContactDetailsSubmitted,
    ContactErased,
    IncidentOpened,
    LeadCreated,
    LeadSlaAtRisk,
    OrderPaid,
    OutboxMessageDead,
)
from backend.privacy import registry as privacy


def handler_table() -> dict[type, list]:
    """Event → handlers, in the order they run."""
    from backend.alerts import handlers as alerts
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
        # a lead for the sales team: pushed to the CRM (not sensitive/emergency ones); an
        # urgent lead or a handoff alerts the team (Slack/Teams/mailbox, through the outbox)
        LeadCreated: [crm.push_lead, alerts.new_lead],
        # most of a waiting lead's SLA window is gone: the team is warned, once per lead
        LeadSlaAtRisk: [alerts.sla_at_risk],
        # an SLA breach or a ledger/receipt mismatch: the team is alerted, once per record
        IncidentOpened: [alerts.incident],
        # an outbox row gave up (not an alert row itself): the team is alerted
        OutboxMessageDead: [alerts.outbox_dead],
        # a callback: a confirmation message is scheduled
        CallbackRequested: [messaging.callback_confirmation],
        # payment succeeded: the receipt email is scheduled; a pending abandoned-checkout
        # reminder of that contact is dropped (they bought)
        OrderPaid: [messaging.receipt_email, messaging.drop_checkout_reminders],
        # a payment link expired unpaid: one reminder with a fresh-checkout link, if the
        # contact gave marketing consent for a channel
        CheckoutExpired: [messaging.checkout_reminder],
    }


# --- adapters: real or fake, chosen by settings ---------------------------------------------


@dataclass(frozen=True)
class Adapters:
    """The outside services one process talks to, for one set of settings."""

    settings: Settings

    @functools.cached_property
    def crm(self):
        from backend.crm.adapters import crm_for

        return crm_for(self.settings)  # HubSpot with a real token, else the local CRM

    @functools.cached_property
    def email(self):
        from backend.messaging.adapters import email_sender_for

        return email_sender_for(self.settings)  # SendGrid with a real key, else local outbox

    @functools.cached_property
    def text(self):
        from backend.messaging.adapters import text_sender_for

        return text_sender_for(self.settings)  # Twilio SMS/WhatsApp with real keys, else local

    @functools.cached_property
    def payments(self):
        from backend.orders.bootstrap import payment_provider

        return payment_provider(self.settings)  # Stripe with a real key, else the sandbox

    def team_alerts(self, channel: str):
        """The team's Slack or Teams webhook, or the team mailbox through the email sender."""
        from backend.alerts.transports import SlackWebhook, TeamMailbox, TeamsWebhook

        if channel == "slack":
            return SlackWebhook(self.settings.team_slack_webhook_url)
        if channel == "teams":
            return TeamsWebhook(self.settings.team_teams_webhook_url)
        return TeamMailbox(self.settings.team_alert_email, self.email)

    @functools.cached_property
    def chat_feed(self):
        from backend.chat_feed import feed_for

        return feed_for(self.settings)  # Redis pub/sub with REDIS_URL, else in this process


def verification_send(session, *, settings: Settings):
    """How one-time codes and double opt-in links go out: the outbox, through the send gate."""
    from backend.messaging.privacy import verification_sender

    return verification_sender(session, settings=settings)


def double_opt_in(session, *, settings: Settings):
    """The contact form's `confirm_email` hook: email offers given in a chat start with a
    confirmation link (docs/data-protection.md)."""
    from backend.contacts.verification import DoubleOptIn

    return DoubleOptIn(
        session,
        key=settings.pseudonym_key,
        base_url=settings.public_base_url,
        send=verification_send(session, settings=settings),
    )


@functools.lru_cache(maxsize=8)
def adapters(settings: Settings) -> Adapters:
    """The adapters for these settings, built once (settings are frozen, so hashable)."""
    return Adapters(settings)


# --- outbox deliverers: one per kind of row ---------------------------------------------------


def wire_deliverers() -> None:
    from backend.alerts.deliver import AlertDeliverer
    from backend.alerts.service import OUTBOX_KIND
    from backend.crm.deliver import KIND as CRM
    from backend.crm.deliver import CrmDeliverer
    from backend.messaging.deliver import MessageDeliverer
    from backend.messaging.gate import CHANNELS
    from backend.outbox import queue as outbox

    outbox.register(CRM, CrmDeliverer(lambda settings: adapters(settings).crm))
    messages = MessageDeliverer(
        email_for=lambda settings: adapters(settings).email,
        text_for=lambda settings: adapters(settings).text,
    )
    for channel in CHANNELS:  # email, sms, whatsapp; sms and whatsapp share Twilio's circuit
        outbox.register(
            channel, messages, provider="twilio" if channel in ("sms", "whatsapp") else channel
        )
    # team alerts: their own lanes and circuits, no customer send gate (staff, no customer data)
    alerts = AlertDeliverer(lambda settings, channel: adapters(settings).team_alerts(channel))
    for kind in OUTBOX_KIND.values():
        outbox.register(kind, alerts)


# --- scheduled jobs, web routes, CLI commands ------------------------------------------------


def load_jobs() -> None:
    """Import the modules whose `@job` functions the scheduler runs."""
    from backend.catalog import jobs as _catalog  # noqa: F401 - catalog sync
    from backend.contacts import jobs as _contacts  # noqa: F401 - tracker erasures
    from backend.jobs import builtin as _builtin  # noqa: F401 - ledger verification
    from backend.messaging import jobs as _messaging  # noqa: F401 - follow-ups
    from backend.orders import jobs as _orders  # noqa: F401 - unpaid orders
    from backend.outbox import jobs as _outbox  # noqa: F401 - outbox delivery
    from backend.replay import jobs as _replay  # noqa: F401 - stored action answers retention
    from backend.sales import jobs as _sales  # noqa: F401 - SLA checks
    from backend.training import jobs as _training  # noqa: F401 - review queue scan
    from backend.trends import jobs as _trends  # noqa: F401 - trend ingestion


def routers() -> list:
    """Every area's web routes, in the order the app adds them (after backend/api/public.py)."""
    from backend.admin import views as admin
    from backend.alerts import views as alerts
    from backend.catalog import views as catalog
    from backend.contacts import views as contacts
    from backend.dashboard import views as dashboard
    from backend.jobs import views as jobs
    from backend.messaging import views as messaging
    from backend.orders import views as orders
    from backend.sales import views as sales
    from backend.training import views as training
    from backend.trends import views as trends

    return [
        m.router
        for m in (
            orders,
            trends,
            catalog,
            dashboard,
            jobs,
            admin,
            messaging,
            sales,
            contacts,
            alerts,
            training,
        )
    ]


def load_commands() -> None:
    """Import the modules whose `@command_group` functions add `backend …` sub-commands."""
    from backend import cli_commands as _base  # noqa: F401 - db, ledger, servers, jobs
    from backend.auth import cli as _auth  # noqa: F401
    from backend.catalog import cli as _catalog  # noqa: F401
    from backend.contacts import cli as _contacts  # noqa: F401
    from backend.crm import cli as _crm  # noqa: F401
    from backend.orders import cli as _orders  # noqa: F401
    from backend.training import cli as _training  # noqa: F401 - review queue, export, compare
    from backend.trends import cli as _trends  # noqa: F401


# --- the whole wiring -------------------------------------------------------------------------


def wire_handlers() -> None:
    """Subscribe every handler, register what areas provide to each other; once per process.

    Called by the bus on first use (backend/bus.py), so every process — API, action server,
    scheduler, CLI, tests — runs with the same table.
    """
    import backend.models  # noqa: F401 - every table in the metadata (the erasure registry)
    from backend.contacts import service as contacts
    from backend.messaging import privacy as messaging_privacy
    from backend.messaging import service as messaging
    from backend.orders import cart as orders_cart
    from backend.orders import service as orders
    from backend.sales import service as sales

    for event_type, handlers in handler_table().items():
        for handler in handlers:
            bus.subscribe(event_type, handler)
    # what orders hold about a contact, for the right of access
    contacts.HOLDINGS["orders"] = orders.count_for_contact
    # a withdrawal cancels scheduled follow-ups and blocks queued messages at once, even when
    # nothing new was recorded (backend/privacy/registry.py)
    privacy.register_withdraw_hook(messaging_privacy.cancel_pending)
    # the callback confirmation's values come from the sales lead
    messaging.register_context("callback_confirmation", sales.callback_context)
    # the abandoned-checkout reminder's values (items, total, fresh-checkout link) from orders
    messaging.register_context("checkout_reminder", orders_cart.reminder_context)
    wire_deliverers()
    load_jobs()
    bus.mark_wired()
