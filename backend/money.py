"""Money: the one place where decimal amounts and integer minor units convert.

Amounts are stored as integers in the currency's minor unit (cents for USD), never as
floats. `to_minor("29.99", "USD") == 2999`; `format_minor(2999, "USD") == "$29.99"`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision

_SYMBOLS = {"USD": "$"}

# Stripe's wire format (https://docs.stripe.com/currencies): amounts are integers in the
# currency's smallest unit *as Stripe counts it*, which is not always ISO 4217's.
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# Three decimals on the wire, but the last digit must be 0 (Stripe's payment partners).
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
# ISK is zero-decimal in ISO 4217 and for card networks since 2023-04-14, yet Stripe keeps
# it two-decimal on the wire for backwards compatibility: 5 ISK is sent as 500, and any
# amount not divisible by 100 is refused (invalid_charge_amount_no_decimal_compatible).
STRIPE_TWO_DECIMAL_WHOLE_UNITS = frozenset({"ISK"})
# HUF and TWD charge with two decimals; only Stripe *payouts* treat them as zero-decimal.
# The shop never creates payouts, so charges and refunds keep both decimals.


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly; the message says why."""


def exponent(currency: str) -> int:
    """Decimals of the currency's minor unit (CLDR via Babel; 2 for a code it does not know)."""
    return get_currency_precision(_check_currency(currency))


def stripe_exponent(currency: str) -> int:
    """Decimals Stripe expects in API amounts for this currency."""
    code = _check_currency(currency)
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if code in STRIPE_THREE_DECIMAL else 2


def to_stripe_amount(amount_minor: int, currency: str) -> int:
    """Our minor units → Stripe's API amount; MoneyError when Stripe cannot charge it exactly."""
    code = _check_currency(currency)
    value = _rescale(amount_minor, exponent(code), stripe_exponent(code), code)
    if code in STRIPE_TWO_DECIMAL_WHOLE_UNITS and value % 100:
        raise MoneyError(f"Stripe charges {code} in whole units only")
    if code in STRIPE_THREE_DECIMAL and value % 10:
        raise MoneyError(f"Stripe needs {code} amounts whose last (third) decimal is 0")
    return value


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's API amount → our minor units (the inverse of `to_stripe_amount`)."""
    code = _check_currency(currency)
    return _rescale(amount, stripe_exponent(code), exponent(code), code)


def _rescale(amount: int, from_places: int, to_places: int, code: str) -> int:
    if to_places >= from_places:
        return amount * 10 ** (to_places - from_places)
    whole, rest = divmod(amount, 10 ** (from_places - to_places))
    if rest:
        raise MoneyError(f"{amount} has more than {to_places} decimals for {code}")
    return whole


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Decimal amount → integer minor units; refuses floats and extra decimals."""
    if isinstance(amount, (float, bool)):
        raise MoneyError("amount must be a decimal string such as '29.99', not a float")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise MoneyError(f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a number")
    places = exponent(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} has more than {places} decimals for {currency.upper()}")
    return int(scaled)


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    places = exponent(currency)
    return Decimal(amount_minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_minor(amount_minor: int, currency: str) -> str:
    """2999, "USD" → "$29.99"; 2999, "EUR" → "29.99 EUR" (negative: "-$5.00")."""
    code = _check_currency(currency)
    value = to_decimal(abs(amount_minor), code)
    sign = "-" if amount_minor < 0 else ""
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{value:,}" if symbol else f"{sign}{value:,} {code}"


def _check_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise MoneyError(f"currency must be a 3-letter ISO code such as USD, got {currency!r}")
    return code
