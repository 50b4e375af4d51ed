"""Money: exponents from CLDR (Babel) and Stripe's documented wire-format special cases."""

from __future__ import annotations

import pytest

from backend.money import (
    STRIPE_ZERO_DECIMAL,
    MoneyError,
    exponent,
    format_minor,
    from_stripe_amount,
    to_minor,
    to_stripe_amount,
)


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("PLN", 2),
        ("JPY", 0),
        ("ISK", 0),
        ("BHD", 3),
        ("JOD", 3),
        ("TND", 3),
        ("XAF", 0),
        ("PYG", 0),
        ("UGX", 0),
        ("HUF", 2),
        ("TWD", 2),
    ],
)
def test_exponents_come_from_currency_data(currency, places):
    assert exponent(currency) == places


@pytest.mark.parametrize("currency", sorted(STRIPE_ZERO_DECIMAL))
def test_zero_decimal_currencies_are_sent_to_stripe_in_whole_units(currency):
    # 500 of the currency is 500 on the wire, not 50,000 (100x overcharge).
    assert to_minor("500", currency) == 500
    assert to_stripe_amount(500, currency) == 500
    assert from_stripe_amount(500, currency) == 500


def test_isk_is_whole_kronur_but_two_decimals_on_the_wire():
    assert to_minor("5", "ISK") == 5
    assert to_stripe_amount(5, "ISK") == 500  # Stripe: "to charge 5 ISK, provide 500"
    assert from_stripe_amount(500, "ISK") == 5
    with pytest.raises(MoneyError):
        to_minor("5.50", "ISK")  # no fractional kronur since 2023-04-14
    with pytest.raises(MoneyError):
        from_stripe_amount(550, "ISK")


def test_three_decimal_currencies_must_end_in_zero_for_stripe():
    assert to_minor("5.120", "KWD") == 5120
    assert to_stripe_amount(5120, "KWD") == 5120
    with pytest.raises(MoneyError, match="last"):
        to_stripe_amount(5124, "KWD")
    assert to_stripe_amount(12340, "JOD") == 12340


@pytest.mark.parametrize("currency", ["HUF", "TWD"])
def test_huf_and_twd_charge_with_two_decimals(currency):
    # Only Stripe payouts treat them as zero-decimal; charges keep both decimals.
    assert to_minor("10.45", currency) == 1045
    assert to_stripe_amount(1045, currency) == 1045


def test_ugx_is_zero_decimal_everywhere():
    assert to_minor("5000", "UGX") == 5000
    assert to_stripe_amount(5000, "UGX") == 5000
    with pytest.raises(MoneyError):
        to_minor("1.50", "UGX")


def test_formatting_follows_the_exponent():
    assert format_minor(2999, "USD") == "$29.99"
    assert format_minor(1500, "JPY") == "1,500 JPY"
    assert format_minor(5120, "KWD") == "5.120 KWD"
    assert format_minor(-500, "USD") == "-$5.00"


@pytest.mark.parametrize("bad", [29.99, True, "abc", "NaN"])
def test_bad_amounts_are_refused(bad):
    with pytest.raises(MoneyError):
        to_minor(bad, "USD")
