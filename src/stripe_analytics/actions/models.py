"""Inputs of the write actions, shared by the forms, the CLI and the library.

Every rule is checked here, before any request is sent. A failed check raises
`InputError`, whose `errors` maps a field name (dotted for nested fields: `address.country`,
`items.0.price`) to a plain message, so a form can show each next to its field and the CLI
can name the option.

Amounts are entered in major units ("19.99") and converted exactly (`money.to_minor`,
no float rounding); the converted value is in `amount_minor`.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..money import MAXIMUM_AMOUNT, MINIMUM_CHARGE, SUPPORTED_CURRENCIES, format_amount, to_minor

# Stripe's metadata limits (docs.stripe.com/metadata).
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
EMAIL_MAX = 512
NAME_MAX = 256
PHONE_MAX = 20
DESCRIPTION_MAX = 1000
PRODUCT_NAME_MAX = 250
NICKNAME_MAX = 250
ADDRESS_LINE_MAX = 200
MAX_ITEMS = 20  # Stripe's limit of items per subscription
MAX_QUANTITY = 1_000_000
MAX_TRIAL_DAYS = 730  # Stripe refuses longer trials
INTERVAL_LIMITS = {"day": 365, "week": 52, "month": 12, "year": 1}  # at most one year

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^(?P<local>{_LOCAL})@(?P<domain>(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}}))$")
PHONE_RE = re.compile(r"^\+?[0-9 ().-]{3,20}$")
AMOUNT_RE = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
COUPON_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# Ids of objects this project refers to. Products and legacy plans may carry ids chosen by
# the account (e.g. "gold"); the others always have Stripe's prefix.
ID_PATTERNS = {
    "customer": (re.compile(r"^cus_[A-Za-z0-9]{1,250}$"), "a customer id like cus_…", "letters and digits after cus_"),
    "subscription": (re.compile(r"^sub_[A-Za-z0-9]{1,250}$"), "a subscription id like sub_…",
                     "letters and digits after sub_"),
    "product": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,249}$"), "a product id like prod_…",
                "letters, digits, _ and -"),
    "price": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,249}$"), "a price id like price_…", "letters, digits, _ and -"),
    "payment_method": (re.compile(r"^(?:pm|card|src)_[A-Za-z0-9_]{1,250}$"), "a payment method id like pm_…",
                       "letters, digits and _ after pm_"),
}
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0xFEFF)}


class InputError(ValueError):
    """Bad input: `errors` maps each bad field to a plain message. Nothing was sent."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be text",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be yes or no",
    "bool_type": "must be yes or no",
    "literal_error": "is not one of the choices",
    "extra_forbidden": "is not a known field",
    "list_type": "must be a list",
    "dict_type": "must be a set of key/value pairs",
    "too_short": "needs at least one entry",
    "model_type": "is not valid",
}


def field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "form"


def field_errors(error: ValidationError) -> dict[str, str]:
    """{dotted field name: plain message}, the first problem of each field."""
    out: dict[str, str] = {}
    for item in error.errors():
        name = field_name(item.get("loc", ()))
        if name in out:
            continue
        kind = item.get("type", "")
        if kind in _MESSAGES and not kind.startswith("value_error"):
            message = _MESSAGES[kind]
        else:
            message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
        out[name] = message
    return out


def parse(model: type[BaseModel], data: dict[str, Any] | BaseModel) -> Any:
    """`model` from user input, or InputError naming each bad field."""
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputError(field_errors(error)) from None


def _fail(errors: dict[str, str]) -> ValidationError:
    """A ValidationError placing each message on its own field (for checks across fields)."""
    return ValidationError.from_exception_data("input", [
        InitErrorDetails(type=PydanticCustomError("value_error", message), loc=tuple(field.split(".")), input=None)
        for field, message in errors.items()
    ])


# ----------------------------------------------------------------------------- field rules

def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def check_text(value: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    if len(value) > limit:
        raise ValueError(f"is too long ({len(value):,} characters; at most {limit:,})")
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Co", "Cn") or char in _BIDI_CONTROLS:
            raise ValueError(f"contains an invisible or control character (U+{ord(char):04X}); remove it")
    return value


def _text_rule(limit: int, required: bool = False):
    def rule(value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            if required:
                raise ValueError("is required")
            return None
        return check_text(value, limit)

    return rule


def _text(limit: int):
    return Annotated[str | None, BeforeValidator(_text_rule(limit))]


def _required_text(limit: int):
    return Annotated[str, BeforeValidator(_text_rule(limit, required=True))]


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > EMAIL_MAX:
        raise ValueError(f"is too long ({len(value):,} characters; at most {EMAIL_MAX})")
    match = EMAIL_RE.match(value)
    if not match or len(match.group("local")) > 64:
        raise ValueError("is not a valid email address (like name@example.com)")
    return value


def check_id(kind: str, value: Any) -> str:
    pattern, example, allowed = ID_PATTERNS[kind]
    if not isinstance(value, str):
        raise ValueError(f"must be {example}")
    value = value.strip()
    if not value:
        raise ValueError(f"is required ({example})")
    if not pattern.match(value):
        raise ValueError(f"must be {example} ({allowed}, no spaces or other symbols)")
    return value


def _id(kind: str):
    return Annotated[str, BeforeValidator(lambda v: check_id(kind, v))]


def _optional_id(kind: str):
    return Annotated[str | None, BeforeValidator(lambda v: None if _blank_to_none(v) is None else check_id(kind, v))]


OptionalEmail = Annotated[str | None, BeforeValidator(
    lambda v: None if _blank_to_none(v) is None else check_email(v) if isinstance(v, str) else _not_text())]


def _not_text():
    raise ValueError("must be text")


def check_currency(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required (a three-letter code such as usd)")
    code = value.strip().lower()
    if code not in SUPPORTED_CURRENCIES:
        shown = code if len(code) <= 10 and code.isascii() and code.isalnum() else "this value"
        raise ValueError(f"{shown!s} is not a supported currency; choose one of "
                         f"{', '.join(sorted(SUPPORTED_CURRENCIES))}")
    return code


def parse_major(value: Any) -> Decimal:
    """A major-unit amount as an exact Decimal; refuses NaN, infinities, exponents, bools."""
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number like 19.99")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if text.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
            raise ValueError("must be a finite number")
        if not AMOUNT_RE.match(text):
            raise ValueError("must be a number like 19.99 (digits and one decimal point)")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("must be a number like 19.99") from None
    else:
        raise ValueError("must be a number like 19.99")
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def amount_in_minor(value: Any, currency: str | None) -> int:
    """Exact minor units of a positive major-unit amount, within Stripe's bounds for `currency`."""
    number = parse_major(value)
    if number <= 0:
        raise ValueError("must be more than zero")
    if currency is None:
        raise ValueError("cannot be checked until a supported currency is chosen")
    if number.adjusted() > 20:
        raise ValueError(f"is too large (at most {format_amount(MAXIMUM_AMOUNT, currency)})")
    try:
        minor = to_minor(number, currency)
    except ValueError as error:
        raise ValueError(str(error)) from None
    minimum = MINIMUM_CHARGE.get(currency, 1)
    if minor < minimum:
        raise ValueError(f"is below Stripe's minimum of {format_amount(minimum, currency)} for {currency.upper()}")
    if minor > MAXIMUM_AMOUNT:
        raise ValueError(f"is above Stripe's maximum of {format_amount(MAXIMUM_AMOUNT, currency)}")
    return minor


def _validate_amount(value: Any, info: ValidationInfo) -> Decimal | None:
    """Field rule of an amount that follows its currency field: the full check when the
    currency is valid; only "a positive number" when the currency itself is wrong (its own
    error says so), so each error lands on the field at fault."""
    value = _blank_to_none(value)
    if value is None:
        return None
    number = parse_major(value)
    currency = info.data.get("currency")
    if currency:
        amount_in_minor(number, currency)
    elif number <= 0:
        raise ValueError("must be more than zero")
    return number


def check_metadata(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, (list, tuple)):  # ["k=v", ...] from a command line or a text area
        pairs: dict[str, str] = {}
        for entry in value:
            if not isinstance(entry, str) or "=" not in entry:
                raise ValueError(f"entry {str(entry)[:40]!r} must be written key=value")
            key, _, val = entry.partition("=")
            key = key.strip()
            if key in pairs:
                raise ValueError(f"key {key[:40]!r} is given twice")
            pairs[key] = val.strip()
        value = pairs
    if not isinstance(value, dict):
        raise ValueError("must be a set of key/value pairs")
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"has {len(value)} keys; Stripe allows at most {METADATA_MAX_KEYS}")
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError("has an empty key")
        key = key.strip()
        shown = key[:40] + ("…" if len(key) > 40 else "")
        if len(key) > METADATA_KEY_MAX:
            raise ValueError(f"key {shown!r} is longer than {METADATA_KEY_MAX} characters")
        if "[" in key or "]" in key:
            raise ValueError(f"key {shown!r} contains square brackets, which Stripe does not allow in keys")
        try:
            check_text(key, METADATA_KEY_MAX)
        except ValueError as error:
            raise ValueError(f"key {shown!r} {error}") from None
        if isinstance(val, bool) or not isinstance(val, (str, int, Decimal)):
            raise ValueError(f"value of {shown!r} must be text")
        val = str(val).strip()
        if not val:
            raise ValueError(f"value of {shown!r} is empty; remove the key or give it a value")
        if len(val) > METADATA_VALUE_MAX:
            raise ValueError(f"value of {shown!r} is longer than {METADATA_VALUE_MAX} characters")
        try:
            check_text(val, METADATA_VALUE_MAX)
        except ValueError as error:
            raise ValueError(f"value of {shown!r} {error}") from None
        out[key] = val
    return out


Metadata = Annotated[dict[str, str], BeforeValidator(check_metadata)]


def parse_metadata_text(text: str | None) -> list[str]:
    """The lines of a `key=value` text area (blank lines ignored), for `check_metadata`."""
    return [line for line in (text or "").splitlines() if line.strip()]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


# ----------------------------------------------------------------------------- customers

class AddressInput(_Input):
    line1: _text(ADDRESS_LINE_MAX) = None
    line2: _text(ADDRESS_LINE_MAX) = None
    city: _text(100) = None
    state: _text(100) = None
    postal_code: _text(20) = None
    country: _text(2) = None

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            code = value.strip().upper()
            if not COUNTRY_RE.match(code):
                raise ValueError("must be a two-letter country code such as US or FR")
            return code
        return value

    def to_stripe(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class CustomerInput(_Input):
    email: OptionalEmail = None
    name: _text(NAME_MAX) = None
    phone: _text(PHONE_MAX) = None
    description: _text(DESCRIPTION_MAX) = None
    address: AddressInput | None = None
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not PHONE_RE.match(value):
            raise ValueError("must be a phone number: digits, spaces, + ( ) . - only (at most 20 characters)")
        return value

    @field_validator("address", mode="before")
    @classmethod
    def _empty_address(cls, value: Any) -> Any:
        if isinstance(value, dict) and not any(_blank_to_none(v) for v in value.values()):
            return None
        return value

    @model_validator(mode="after")
    def _identity(self) -> "CustomerInput":
        if not self.email and not self.name:
            raise _fail({"email": "is required (or give a name)"})
        return self


# ----------------------------------------------------------------------------- payments

class PaymentInput(_Input):
    customer: _id("customer")
    currency: Annotated[str, BeforeValidator(check_currency)]
    amount: Decimal = Field(description="major units, e.g. '19.99'")
    description: _text(DESCRIPTION_MAX) = None
    metadata: Metadata = Field(default_factory=dict)
    payment_method: _optional_id("payment_method") = None
    confirm: bool = False
    receipt_email: OptionalEmail = None

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any, info: ValidationInfo) -> Decimal:
        number = _validate_amount(value, info)
        if number is None:
            raise ValueError("is required")
        return number

    @model_validator(mode="after")
    def _rules(self) -> "PaymentInput":
        if self.confirm and not self.payment_method:
            raise _fail({"payment_method": "choose a payment method to confirm the payment now"})
        return self

    @property
    def amount_minor(self) -> int:
        return to_minor(self.amount, self.currency)


# ----------------------------------------------------------------------------- products and prices

Interval = Literal["day", "week", "month", "year"]


def _check_interval_count(count: int, interval: str | None) -> None:
    if count < 1:
        raise ValueError("must be at least 1")
    if interval is not None and count > INTERVAL_LIMITS[interval]:
        limit = INTERVAL_LIMITS[interval]
        raise ValueError(f"makes the billing period longer than one year (at most {limit} "
                         f"{interval}{'s' if limit > 1 else ''})")


class _PriceFields(_Input):
    currency: Annotated[str | None, BeforeValidator(_blank_to_none),
                        BeforeValidator(lambda v: v if v is None else check_currency(v))] = None
    amount: Decimal | None = None
    interval: Interval | None = None
    interval_count: int = 1

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if isinstance(value, str):
            value = value.lower()
            if value in ("one_time", "one-time", "once", "none"):
                return None
            if value not in INTERVAL_LIMITS:
                raise ValueError("must be day, week, month or year (or empty for a one-time price)")
        return value

    @field_validator("interval_count", mode="before")
    @classmethod
    def _count_type(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return 1
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        if isinstance(value, str) and not value.isdigit():
            raise ValueError("must be a whole number")
        return int(value)

    @field_validator("interval_count")
    @classmethod
    def _count(cls, value: int, info: ValidationInfo) -> int:
        _check_interval_count(value, info.data.get("interval"))
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any, info: ValidationInfo) -> Decimal | None:
        return _validate_amount(value, info)

    def _price_rules(self, required: bool) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.amount is not None and self.currency is None:
            errors["currency"] = "is required with an amount"
        if self.amount is None and (required or self.currency is not None or self.interval is not None):
            errors["amount"] = "is required" + ("" if required else " for the product's price")
        if self.interval is None and self.interval_count != 1:
            errors["interval"] = "choose an interval for a recurring price"
        return errors

    @property
    def amount_minor(self) -> int | None:
        if self.amount is None or self.currency is None:
            return None
        return to_minor(self.amount, self.currency)

    @property
    def has_price(self) -> bool:
        return self.amount_minor is not None

    def price_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"currency": self.currency, "unit_amount": self.amount_minor}
        if self.interval:
            params["recurring"] = {"interval": self.interval, "interval_count": self.interval_count}
        return params

    def describe_price(self) -> str:
        if self.amount_minor is None or self.currency is None:
            return ""
        text = format_amount(self.amount_minor, self.currency)
        if self.interval:
            every = self.interval if self.interval_count == 1 else f"{self.interval_count} {self.interval}s"
            text += f" every {every}"
        else:
            text += " one-time"
        return text


class ProductInput(_PriceFields):
    """A product and, when `amount` is given, its default price."""

    name: _required_text(PRODUCT_NAME_MAX)
    description: _text(DESCRIPTION_MAX) = None
    active: bool = True
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules(self) -> "ProductInput":
        errors = self._price_rules(required=False)
        if errors:
            raise _fail(errors)
        return self


class PriceInput(_PriceFields):
    """One more price of an existing product."""

    product: _id("product")
    nickname: _text(NICKNAME_MAX) = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules(self) -> "PriceInput":
        errors = self._price_rules(required=True)
        if errors:
            raise _fail(errors)
        return self


# ----------------------------------------------------------------------------- subscriptions

class SubscriptionItemInput(_Input):
    price: _id("price")
    quantity: int = 1

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity_type(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return 1
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            raise ValueError("must be a whole number")
        return int(value)

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        if value > MAX_QUANTITY:
            raise ValueError(f"must be at most {MAX_QUANTITY:,}")
        return value


class SubscriptionInput(_Input):
    customer: _id("customer")
    items: list[SubscriptionItemInput] = Field(min_length=1)
    trial_days: int | None = None
    coupon: Annotated[str | None, BeforeValidator(_blank_to_none)] = None
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("must have at least one price")
            if len(value) > MAX_ITEMS:
                raise ValueError(f"has {len(value)} prices; a subscription has at most {MAX_ITEMS}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> "SubscriptionInput":
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            if item.price in seen:
                raise _fail({f"items.{i}.price": "is already in this subscription; raise its quantity instead"})
            seen.add(item.price)
        return self

    @field_validator("trial_days", mode="before")
    @classmethod
    def _trial_type(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None or value == 0 or value == "0":
            return None
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number of days")
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            raise ValueError("must be a whole number of days")
        return int(value)

    @field_validator("trial_days")
    @classmethod
    def _trial(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_TRIAL_DAYS:
            raise ValueError(f"must be between 1 and {MAX_TRIAL_DAYS} days (or empty for no trial)")
        return value

    @field_validator("coupon")
    @classmethod
    def _coupon(cls, value: str | None) -> str | None:
        if value is not None and not COUPON_RE.match(value):
            raise ValueError("must be a coupon id (letters, digits, _ and - only)")
        return value


class CancelSubscriptionInput(_Input):
    subscription: _id("subscription")
    when: Literal["immediately", "at_period_end"] = "at_period_end"


class ResumeSubscriptionInput(_Input):
    subscription: _id("subscription")


__all__ = [
    "AddressInput", "CancelSubscriptionInput", "CustomerInput", "InputError", "PaymentInput", "PriceInput",
    "ProductInput", "ResumeSubscriptionInput", "SubscriptionInput", "SubscriptionItemInput", "amount_in_minor",
    "check_metadata", "field_errors", "parse", "parse_metadata_text",
]
