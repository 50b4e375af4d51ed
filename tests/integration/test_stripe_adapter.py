"""The real `stripe` client against a local server answering like Stripe's API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
from werkzeug import Response

from backend.config import load_settings
from backend.integrations import IntegrationError
from backend.orders.bootstrap import payment_provider
from backend.orders.payments import CheckoutLine, CheckoutRequest, SandboxPayments, StripePayments

KEY = "sk_test_localserver_51abc"
ORDER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


@pytest.fixture
def stripe_settings(httpserver):
    return load_settings(
        {
            "STRIPE_SECRET_KEY": KEY,
            "STRIPE_API_BASE": httpserver.url_for("").rstrip("/"),
            "PUBLIC_BASE_URL": "https://shop.test",
        },
        dotenv=False,
    )


@pytest.fixture
def provider(stripe_settings):
    return StripePayments(stripe_settings, max_network_retries=0)


def _request(expires_in=timedelta(hours=1)) -> CheckoutRequest:
    return CheckoutRequest(
        order_public_id=ORDER,
        currency="USD",
        lines=(CheckoutLine("Diabetes Care Pack", 2, 2999),),
        tax_minor=495,
        total_minor=6493,
        email="buyer@shop.test",
        expires_at=datetime.now(timezone.utc) + expires_in,
    )


def _error(status: int, type_: str, code: str | None = None, message: str = "error") -> Response:
    body = {"error": {"type": type_, "message": message, **({"code": code} if code else {})}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def test_bootstrap_picks_stripe_only_with_a_real_key(stripe_settings):
    assert isinstance(payment_provider(stripe_settings), StripePayments)
    assert isinstance(payment_provider(load_settings({}, dotenv=False)), SandboxPayments)
    assert isinstance(
        payment_provider(load_settings({"STRIPE_SECRET_KEY": "sk_test_123"}, dotenv=False)),
        SandboxPayments,
    )


def test_checkout_session_is_created_with_metadata_and_idempotency_key(httpserver, provider):
    seen = {}

    def handler(request):
        seen["headers"], seen["form"] = (
            dict(request.headers),
            parse_qs(request.get_data(as_text=True)),
        )
        expires = int(seen["form"]["expires_at"][0])
        return Response(
            json.dumps(
                {
                    "id": "cs_test_a1",
                    "object": "checkout.session",
                    "expires_at": expires,
                    "url": "https://checkout.stripe.com/c/pay/cs_test_a1",
                    "metadata": {"order_id": ORDER},
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_oneshot_request("/v1/checkout/sessions", method="POST").respond_with_handler(
        handler
    )
    ref, url, expires_at = provider.create_checkout(_request())
    assert (ref, url) == ("cs_test_a1", "https://checkout.stripe.com/c/pay/cs_test_a1")
    assert expires_at > datetime.now(timezone.utc) + timedelta(minutes=30)
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    assert seen["headers"]["Idempotency-Key"] == f"checkout-{ORDER}"
    form = seen["form"]
    assert form["metadata[order_id]"] == [ORDER]
    assert form["payment_intent_data[metadata][order_id]"] == [ORDER]
    assert form["mode"] == ["payment"] and form["customer_email"] == ["buyer@shop.test"]
    assert form["line_items[0][price_data][unit_amount]"] == ["2999"]
    assert form["line_items[0][quantity]"] == ["2"]
    assert form["line_items[1][price_data][product_data][name]"] == ["Tax"]
    assert form["success_url"] == [f"https://shop.test/orders/{ORDER}/thanks"]
    # an unpaid session that expires comes back with a recovery URL (abandoned checkout)
    assert form["after_expiration[recovery][enabled]"] == ["true"]


def test_session_expiry_is_kept_within_stripes_limits(httpserver, provider):
    captured = {}

    def handler(request):
        captured["expires_at"] = int(parse_qs(request.get_data(as_text=True))["expires_at"][0])
        return Response(
            json.dumps({"id": "cs_1", "url": "u", "expires_at": captured["expires_at"]}),
            content_type="application/json",
        )

    httpserver.expect_oneshot_request("/v1/checkout/sessions").respond_with_handler(handler)
    provider.create_checkout(_request(expires_in=timedelta(minutes=5)))
    assert (
        captured["expires_at"] >= (datetime.now(timezone.utc) + timedelta(minutes=30)).timestamp()
    )


@pytest.mark.parametrize(
    "response, permanent, text",
    [
        (
            _error(402, "card_error", "card_declined", "Your card was declined."),
            True,
            "card declined",
        ),
        (_error(400, "invalid_request_error", "parameter_invalid_integer"), True, "rejected"),
        (_error(401, "invalid_request_error", None, "Invalid API Key provided"), True, "API key"),
        (_error(429, "invalid_request_error", "rate_limit", "Too many requests"), False, "429"),
        (_error(500, "api_error", None, "Something went wrong"), False, "500"),
        (_error(503, "api_error"), False, "503"),
    ],
)
def test_errors_map_to_permanent_or_temporary(httpserver, provider, response, permanent, text):
    httpserver.expect_oneshot_request("/v1/checkout/sessions").respond_with_response(response)
    with pytest.raises(IntegrationError, match=text) as caught:
        provider.create_checkout(_request())
    assert caught.value.permanent is permanent


def test_connection_failure_is_temporary(stripe_settings):
    down = StripePayments(
        stripe_settings.__class__(
            **{**stripe_settings.__dict__, "stripe_api_base": "http://127.0.0.1:9"}
        ),
        max_network_retries=0,
    )
    with pytest.raises(IntegrationError) as caught:
        down.create_checkout(_request())
    assert caught.value.permanent is False


def test_a_temporary_failure_is_retried_with_the_same_idempotency_key(httpserver, stripe_settings):
    keys = []

    def handler(request):
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            return Response(
                json.dumps({"error": {"type": "api_error"}}),
                status=500,
                content_type="application/json",
                headers={"Stripe-Should-Retry": "true"},
            )
        return Response(
            json.dumps({"id": "cs_2", "url": "u", "expires_at": 2_000_000_000}),
            content_type="application/json",
        )

    httpserver.expect_request("/v1/checkout/sessions").respond_with_handler(handler)
    ref, _, _ = StripePayments(stripe_settings, max_network_retries=1).create_checkout(_request())
    assert ref == "cs_2" and keys == [f"checkout-{ORDER}"] * 2


def test_refund_posts_amount_and_payment_intent(httpserver, provider):
    seen = {}

    def handler(request):
        seen["form"], seen["key"] = (
            parse_qs(request.get_data(as_text=True)),
            request.headers["Idempotency-Key"],
        )
        return Response(
            json.dumps({"id": "re_1", "object": "refund", "amount": 1000}),
            content_type="application/json",
        )

    httpserver.expect_oneshot_request("/v1/refunds", method="POST").respond_with_handler(handler)
    ref = provider.refund(
        payment_ref="pi_9",
        amount_minor=1000,
        currency="USD",
        order_public_id=ORDER,
        refund_key="k1",
    )
    assert ref == "re_1"
    assert seen["form"]["payment_intent"] == ["pi_9"] and seen["form"]["amount"] == ["1000"]
    assert seen["key"] == "refund-k1"


@pytest.mark.parametrize(
    ("currency", "unit_minor", "tax_minor", "wire_unit", "wire_tax"),
    [
        ("JPY", 1500, 120, "1500", "120"),
        ("ISK", 5, 1, "500", "100"),
        ("KWD", 5120, 410, "5120", "410"),
    ],
)
def test_checkout_amounts_use_stripes_units(
    httpserver, provider, currency, unit_minor, tax_minor, wire_unit, wire_tax
):
    seen = {}

    def handler(request):
        seen["form"] = parse_qs(request.get_data(as_text=True))
        body = {"id": "cs_1", "object": "checkout.session", "url": "https://pay.test/cs_1"}
        body["expires_at"] = int(seen["form"]["expires_at"][0])
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_oneshot_request("/v1/checkout/sessions", method="POST").respond_with_handler(
        handler
    )
    request = CheckoutRequest(
        order_public_id=ORDER,
        currency=currency,
        lines=(CheckoutLine("Pack", 1, unit_minor),),
        tax_minor=tax_minor,
        total_minor=unit_minor + tax_minor,
        email=None,
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    provider.create_checkout(request)
    assert seen["form"]["line_items[0][price_data][unit_amount]"] == [wire_unit]
    assert seen["form"]["line_items[1][price_data][unit_amount]"] == [wire_tax]
    assert seen["form"]["line_items[0][price_data][currency]"] == [currency.lower()]


def test_an_amount_stripe_cannot_charge_is_refused_before_any_request(httpserver, provider):
    with pytest.raises(IntegrationError) as err:
        provider.refund(
            payment_ref="pi_9",
            amount_minor=5125,
            currency="KWD",
            order_public_id=ORDER,
            refund_key="k2",
        )
    assert err.value.permanent and "KWD" in err.value.message
    assert len(httpserver.log) == 0


def test_webhook_amounts_are_read_back_in_our_minor_units():
    from backend.orders.webhooks import to_payment_event

    event = {
        "id": "evt_isk",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_1",
                "payment_status": "paid",
                "payment_intent": "pi_1",
                "amount_total": 600,
                "currency": "isk",
                "metadata": {"order_id": ORDER},
            }
        },
    }
    assert to_payment_event(event).amount_minor == 6  # 6 kronur, not 600
