"""Stripe webhook events → PaymentEvent. Verification happens here, before anything is stored."""

from __future__ import annotations

import json

import stripe

from backend.orders.service import PaymentEvent

SIGNATURE_TOLERANCE_SECONDS = 300
HANDLED = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
)


class BadSignature(Exception):
    """The request is not provably from Stripe (message says why, without secrets)."""


def verify(payload: bytes, signature_header: str | None, secret: str) -> dict:
    """Return the event as a dict when the Stripe-Signature header proves it; else BadSignature."""
    if not signature_header:
        raise BadSignature("missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise BadSignature(str(exc.user_message or exc).split(".")[0]) from None
    except (ValueError, UnicodeDecodeError):
        raise BadSignature("payload is not valid JSON") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("payload is not valid JSON") from None
    if not isinstance(event, dict) or "id" not in event or "type" not in event:
        raise BadSignature("payload is not a Stripe event")
    return event


def to_payment_event(event: dict) -> PaymentEvent | None:
    """Our view of a Stripe event, or None for types we do not act on."""
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    order_id = metadata.get("order_id") or obj.get("client_reference_id")
    if kind not in HANDLED or not order_id:
        return None
    base = {"provider": "stripe", "event_id": event["id"], "order_public_id": order_id}
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("payment_status") not in ("paid", "no_payment_required"):
            return None  # delayed payment methods: wait for async_payment_succeeded
        return PaymentEvent(
            **base,
            kind="completed",
            payment_ref=obj.get("payment_intent") or obj.get("id"),
            amount_minor=obj.get("amount_total"),
            currency=(obj.get("currency") or "").upper() or None,
        )
    if kind == "checkout.session.async_payment_failed":
        return PaymentEvent(**base, kind="failed")
    if kind == "checkout.session.expired":
        return PaymentEvent(**base, kind="expired", payment_ref=obj.get("id"))
    refunds = (obj.get("refunds") or {}).get("data") or []
    return PaymentEvent(
        **base,
        kind="refunded",
        payment_ref=obj.get("payment_intent"),
        refunded_total_minor=obj.get("amount_refunded"),
        refund_ref=refunds[0].get("id") if len(refunds) == 1 else None,
    )
