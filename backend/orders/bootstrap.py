"""The one place that chooses the payment provider from settings."""

from __future__ import annotations

from backend.config import Settings
from backend.orders.payments import PaymentProvider, SandboxPayments, StripePayments


def payment_provider(settings: Settings) -> PaymentProvider:
    """Stripe when a real secret key is configured, else the local test-mode sandbox."""
    if settings.configured("stripe_secret_key"):
        return StripePayments(settings)
    return SandboxPayments(settings.public_base_url)
