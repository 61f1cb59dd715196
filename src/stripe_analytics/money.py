"""Currencies and exact minor-unit arithmetic (Stripe's zero- and three-decimal currencies)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof",
    "xpf",
})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

SYMBOLS = {
    "usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF ", "sek": "kr ",
    "nok": "kr ", "dkk": "kr ", "inr": "₹", "brl": "R$", "mxn": "MX$", "krw": "₩", "cny": "CN¥", "nzd": "NZ$",
    "sgd": "S$", "hkd": "HK$", "pln": "zł ", "kwd": "KD ", "bhd": "BD ", "jod": "JD ", "omr": "OMR ",
    "tnd": "DT ", "vnd": "₫", "clp": "CLP$",
}

# Stripe's minimum charge amounts, in minor units (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}
# Stripe's largest amount: 8 digits in the minor unit (99,999,999), 12 for some zero-decimal currencies.
MAXIMUM_AMOUNT = 99_999_999

SUPPORTED_CURRENCIES = frozenset(SYMBOLS) | frozenset(MINIMUM_CHARGE) | THREE_DECIMAL


def decimals(currency: str) -> int:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount_minor: int | None, currency: str) -> Decimal | None:
    """Exact major-unit value of a Stripe amount."""
    if amount_minor is None:
        return None
    return Decimal(int(amount_minor)).scaleb(-decimals(currency))


def to_major_float(amount_minor: float | int | None, currency: str) -> float | None:
    """Major units as a float for JSON and charts (exact to the minor unit after rounding)."""
    if amount_minor is None:
        return None
    return round(float(amount_minor) / 10 ** decimals(currency), decimals(currency) + 6)


def to_minor(amount_major: str | int | float | Decimal, currency: str) -> int:
    """Minor units from a major-unit amount, exactly. Refuses more decimals than the currency has."""
    places = decimals(currency)
    try:
        value = Decimal(str(amount_major).strip()) if not isinstance(amount_major, Decimal) else amount_major
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not value.is_finite():
        raise ValueError("is not a finite number")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        if places == 0:
            raise ValueError(f"{currency.upper()} has no decimals")
        raise ValueError(f"{currency.upper()} has at most {places} decimals")
    return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))


def format_amount(amount_minor: int | float | None, currency: str, *, show_code: bool = False) -> str:
    """'$1,234.50', '¥5,000', 'KD 1.234'. Amounts are minor units."""
    if amount_minor is None:
        return "—"
    places = decimals(currency)
    value = float(amount_minor) / 10 ** places
    symbol = SYMBOLS.get(currency.lower(), currency.upper() + " ")
    sign = "-" if value < 0 else ""
    text = f"{sign}{symbol}{abs(value):,.{places}f}"
    return f"{text} {currency.upper()}" if show_code and symbol.strip() != currency.upper() else text


def format_major(amount_major: float | Decimal | None, currency: str) -> str:
    """Format an amount already in major units."""
    if amount_major is None:
        return "—"
    places = decimals(currency)
    return format_amount(float(amount_major) * 10 ** places, currency)
