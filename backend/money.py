"""Money: the one place where decimal amounts and integer minor units convert.

Amounts are stored as integers in the currency's minor unit (cents for USD), never as
floats. `to_minor("29.99", "USD") == 2999`; `format_minor(2999, "USD") == "$29.99"`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Currencies whose minor unit is not 1/100 (ISO 4217); every other code uses 2 decimals.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3}
_SYMBOLS = {"USD": "$"}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly; the message says why."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(_check_currency(currency), 2)


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
