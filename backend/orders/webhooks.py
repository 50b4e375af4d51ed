"""Stripe webhook events → PaymentEvent. Verification happens here, before anything is stored:
the signature (with its time inside the tolerance, past or future), then the event's shape."""

from __future__ import annotations

import json
import time

import stripe

from backend.money import MoneyError, from_stripe_amount
from backend.orders.service import PaymentEvent

SIGNATURE_TOLERANCE_SECONDS = 300
CHECKOUT_COMPLETED = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
DISPUTES = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
HANDLED = (
    *CHECKOUT_COMPLETED,
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    *DISPUTES,
)
MAX_ID_LENGTH = 200


class BadSignature(Exception):
    """The request is not provably from Stripe (message says why, without secrets)."""


class BadEvent(Exception):
    """Signed, but not an event of the shape Stripe sends; nothing is stored."""


def verify(
    payload: bytes,
    signature_header: str | None,
    secret: str,
    *,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict:
    """Return the event as a dict when the Stripe-Signature header proves it; else BadSignature.

    Stripe's library refuses signatures older than the tolerance; one dated further ahead than
    the tolerance is refused here too (a captured request cannot be pre-dated to live longer).
    """
    if not signature_header:
        raise BadSignature("missing Stripe-Signature header")
    now = time.time() if now is None else now
    if _signed_at(signature_header) > now + tolerance:
        raise BadSignature("timestamp is in the future, outside the tolerance zone")
    try:
        # Only the signature: the body's shape is checked below, by us (Stripe's event builder
        # fails with AttributeError on a signed JSON array).
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance)
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


def _signed_at(header: str) -> float:
    """The header's first t= value, read as Stripe's library reads it; -inf when unreadable
    (the signature check then refuses the header)."""
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return float("-inf")
    return float("-inf")


def to_payment_event(event: dict) -> PaymentEvent | None:
    """Our view of a Stripe event, or None for types we do not act on; BadEvent on odd shapes."""
    event_id, kind = _text(event, "id", required=True), _text(event, "type", required=True)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise BadEvent("data.object must be an object")
    if kind not in HANDLED:
        return None
    obj = data["object"]
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadEvent("metadata must be an object")
    order_id = _text(metadata, "order_id") or _text(obj, "client_reference_id")
    base = {"provider": "stripe", "event_id": event_id, "order_public_id": order_id or ""}
    currency = _currency(obj)
    if kind in DISPUTES:
        return PaymentEvent(
            **base,
            kind="dispute",
            payment_ref=_text(obj, "payment_intent") or _text(obj, "charge"),
            amount_minor=_amount(obj, "amount", required=True, currency=currency),
            currency=currency,
            dispute_ref=_text(obj, "id", required=True),
            dispute_status=_text(obj, "status", required=True),
            dispute_reason=_text(obj, "reason"),
        )
    if not order_id:
        return None
    if kind in CHECKOUT_COMPLETED:
        if obj.get("payment_status") not in ("paid", "no_payment_required"):
            return None  # delayed payment methods: wait for async_payment_succeeded
        return PaymentEvent(
            **base,
            kind="completed",
            payment_ref=_text(obj, "payment_intent") or _text(obj, "id"),
            amount_minor=_amount(obj, "amount_total", currency=currency),
            currency=currency,
        )
    if kind == "checkout.session.async_payment_failed":
        return PaymentEvent(**base, kind="failed")
    if kind == "checkout.session.expired":
        return PaymentEvent(
            **base, kind="expired", payment_ref=_text(obj, "id"), recovery_url=_recovery_url(obj)
        )
    refunds = obj.get("refunds") or {}
    refund_list = refunds.get("data") if isinstance(refunds, dict) else None
    if not isinstance(refund_list or [], list):
        raise BadEvent("refunds.data must be a list")
    refund_list = refund_list or []
    only = refund_list[0] if len(refund_list) == 1 else None
    return PaymentEvent(
        **base,
        kind="refunded",
        payment_ref=_text(obj, "payment_intent"),
        refunded_total_minor=_amount(obj, "amount_refunded", required=True, currency=currency),
        refund_ref=_text(only, "id") if isinstance(only, dict) else None,
    )


def _recovery_url(session: dict) -> str | None:
    """after_expiration.recovery.url of an expired Checkout Session (an https URL), or None."""
    after = session.get("after_expiration")
    recovery = after.get("recovery") if isinstance(after, dict) else None
    url = recovery.get("url") if isinstance(recovery, dict) else None
    if url is None:
        return None
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 1000:
        raise BadEvent("after_expiration.recovery.url must be an https URL")
    return url


def _text(obj: dict, key: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise BadEvent(f"{key} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def _amount(
    obj: dict, key: str, *, required: bool = False, currency: str | None = None
) -> int | None:
    """Stripe amounts are whole units of Stripe's count (strings, floats, booleans and
    negatives are not), converted to our minor units when the currency is known."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise BadEvent(f"{key} must be a whole, non-negative number of minor units")
    if currency is None:
        return value
    try:
        return from_stripe_amount(value, currency)
    except MoneyError as exc:
        raise BadEvent(f"{key}: {exc}") from None


def _currency(obj: dict) -> str | None:
    value = _text(obj, "currency")
    if value is None:
        return None
    if len(value) != 3 or not value.isalpha() or not value.isascii():
        raise BadEvent("currency must be a three-letter code")
    return value.upper()
