"""Payment providers: an interface, Stripe Checkout, the local sandbox, and a fake for tests.

`create_checkout` runs while the order's stock is reserved; the provider's own idempotency
(Stripe's Idempotency-Key = the order's public id) makes a retried call return the same session.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import stripe

from backend.config import Settings
from backend.integrations import IntegrationError
from backend.money import MoneyError, to_stripe_amount


@dataclass(frozen=True)
class CheckoutLine:
    name: str
    quantity: int
    unit_amount_minor: int


@dataclass(frozen=True)
class CheckoutRequest:
    """What a provider needs to open a payment page for one order."""

    order_public_id: str
    currency: str
    lines: tuple[CheckoutLine, ...]
    tax_minor: int
    total_minor: int
    email: str | None
    expires_at: datetime


class PaymentProvider(ABC):
    name: str

    @abstractmethod
    def create_checkout(self, order: CheckoutRequest) -> tuple[str, str, datetime]:
        """Open a payment page; returns (provider ref, payment URL, expires_at)."""

    @abstractmethod
    def refund(
        self,
        *,
        payment_ref: str,
        amount_minor: int,
        currency: str,
        order_public_id: str,
        refund_key: str,
    ) -> str:
        """Refund part or all of a payment; returns the provider's refund reference."""


class SandboxPayments(PaymentProvider):
    """No money moves: the pay page at /sandbox/pay/{order} plays the provider's part."""

    name = "sandbox"

    def __init__(self, public_base_url: str):
        self.public_base_url = public_base_url.rstrip("/")

    def create_checkout(self, order: CheckoutRequest) -> tuple[str, str, datetime]:
        ref = f"sandbox_cs_{order.order_public_id}"
        return ref, f"{self.public_base_url}/sandbox/pay/{order.order_public_id}", order.expires_at

    def refund(
        self,
        *,
        payment_ref: str,
        amount_minor: int,
        currency: str,
        order_public_id: str,
        refund_key: str,
    ) -> str:
        return f"sandbox_re_{refund_key}"


@dataclass
class FakePayments(PaymentProvider):
    """In-memory provider for tests: records calls, can be told to fail."""

    name: str = "fake"
    checkouts: list[CheckoutRequest] = field(default_factory=list)
    refunds: list[tuple[str, int]] = field(default_factory=list)
    fail_with: IntegrationError | None = None

    def create_checkout(self, order: CheckoutRequest) -> tuple[str, str, datetime]:
        if self.fail_with:
            raise self.fail_with
        self.checkouts.append(order)
        return (
            f"fake_cs_{order.order_public_id}",
            f"https://pay.test/{order.order_public_id}",
            order.expires_at,
        )

    def refund(
        self,
        *,
        payment_ref: str,
        amount_minor: int,
        currency: str,
        order_public_id: str,
        refund_key: str,
    ) -> str:
        if self.fail_with:
            raise self.fail_with
        self.refunds.append((payment_ref, amount_minor))
        return f"fake_re_{uuid.uuid4().hex[:12]}"


# Stripe Checkout sessions live between 30 minutes and 24 hours.
_MIN_SESSION, _MAX_SESSION = timedelta(minutes=30), timedelta(hours=24)


class StripePayments(PaymentProvider):
    name = "stripe"

    def __init__(self, settings: Settings, *, max_network_retries: int = 1):
        self.success_url = f"{settings.public_base_url.rstrip('/')}/orders/{{order}}/thanks"
        self.cancel_url = f"{settings.public_base_url.rstrip('/')}/orders/{{order}}/cancelled"
        # One client per provider (no module-level stripe.api_key/api_base): tests point
        # base_addresses at a local server; the secret is only ever sent as the auth header.
        self.client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base.rstrip("/")},
            max_network_retries=max_network_retries,
        )

    def create_checkout(self, order: CheckoutRequest) -> tuple[str, str, datetime]:
        now = datetime.now(timezone.utc)
        expires_at = min(
            max(order.expires_at, now + _MIN_SESSION + timedelta(seconds=30)), now + _MAX_SESSION
        )
        line_items = [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": order.currency.lower(),
                    "unit_amount": _stripe_amount(line.unit_amount_minor, order.currency),
                    "product_data": {"name": line.name},
                },
            }
            for line in order.lines
        ]
        if order.tax_minor:
            line_items.append(
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": _stripe_amount(order.tax_minor, order.currency),
                        "product_data": {"name": "Tax"},
                    },
                }
            )
        params: dict = {
            "mode": "payment",
            "line_items": line_items,
            "client_reference_id": order.order_public_id,
            "metadata": {"order_id": order.order_public_id},
            # so charge.refunded events can be traced back to the order
            "payment_intent_data": {"metadata": {"order_id": order.order_public_id}},
            "success_url": self.success_url.format(order=order.order_public_id),
            "cancel_url": self.cancel_url.format(order=order.order_public_id),
            "expires_at": int(expires_at.timestamp()),
            # an unpaid session that expires gets a recovery URL (checkout.session.expired):
            # the abandoned-checkout reminder links to it
            "after_expiration": {"recovery": {"enabled": True}},
        }
        if order.email:
            params["customer_email"] = order.email
        session = self._call(
            self.client.v1.checkout.sessions.create,
            params,
            idempotency_key=f"checkout-{order.order_public_id}",
        )
        return session.id, session.url, datetime.fromtimestamp(session.expires_at, timezone.utc)

    def refund(
        self,
        *,
        payment_ref: str,
        amount_minor: int,
        currency: str,
        order_public_id: str,
        refund_key: str,
    ) -> str:
        params = {
            "payment_intent": payment_ref,
            "amount": _stripe_amount(amount_minor, currency),
            "metadata": {"order_id": order_public_id},
        }
        refund = self._call(
            self.client.v1.refunds.create, params, idempotency_key=f"refund-{refund_key}"
        )
        return refund.id

    @staticmethod
    def _call(method, params: dict, *, idempotency_key: str):
        try:
            return method(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _integration_error(exc) from exc


def _stripe_amount(amount_minor: int, currency: str) -> int:
    """An amount Stripe cannot charge exactly (e.g. 0.005 KWD) is a permanent refusal."""
    try:
        return to_stripe_amount(amount_minor, currency)
    except MoneyError as exc:
        raise IntegrationError(str(exc), permanent=True) from exc


def _integration_error(exc: stripe.StripeError) -> IntegrationError:
    """Map Stripe errors: bad input/cards/keys are permanent; limits, outages, network retry."""
    status = exc.http_status or 0
    detail = exc.user_message or "payment provider error"
    if isinstance(exc, stripe.CardError):
        return IntegrationError(f"card declined: {detail}", permanent=True)
    if (
        isinstance(exc, (stripe.RateLimitError, stripe.APIConnectionError))
        or status == 429
        or status >= 500
    ):
        return IntegrationError(
            f"Stripe is unavailable (HTTP {status or 'no response'})", permanent=False
        )
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return IntegrationError("Stripe refused the API key", permanent=True)
    if (
        isinstance(exc, (stripe.InvalidRequestError, stripe.IdempotencyError))
        or 400 <= status < 500
    ):
        return IntegrationError(
            f"Stripe rejected the request: {exc.code or status}", permanent=True
        )
    return IntegrationError(f"Stripe error (HTTP {status})", permanent=False)
