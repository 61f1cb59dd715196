"""The inputs of the write actions (issue 7): a table of bad inputs, each refused with an error
on the right field, by the models and by the service layer, with nothing sent to Stripe; and
the exact conversions of amounts to minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stripe_analytics import actions
from stripe_analytics.actions import models
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from tests.conftest import FAKE_ACCOUNT, FAKE_KEY
from tests.fake_stripe import FakeStripe

CUSTOMER = {"email": "ann@example.com"}
PAYMENT = {"customer": "cus_123", "currency": "usd", "amount": "10"}
PRODUCT = {"name": "Pro"}
PRICE = {"product": "prod_1", "currency": "usd", "amount": "10"}
SUBSCRIPTION = {"customer": "cus_1", "items": [{"price": "price_1", "quantity": 1}]}
CANCEL = {"subscription": "sub_1", "when": "immediately"}
RESUME = {"subscription": "sub_1"}

MODELS = {
    "customer": (models.CustomerInput, CUSTOMER, actions.create_customer),
    "payment": (models.PaymentInput, PAYMENT, actions.create_payment),
    "product": (models.ProductInput, PRODUCT, actions.create_product),
    "price": (models.PriceInput, PRICE, actions.add_price),
    "subscription": (models.SubscriptionInput, SUBSCRIPTION, actions.create_subscription),
    "cancel": (models.CancelSubscriptionInput, CANCEL, actions.cancel_subscription),
    "resume": (models.ResumeSubscriptionInput, RESUME, actions.resume_subscription),
}


def _meta(n: int) -> dict[str, str]:
    return {f"key{i}": "v" for i in range(n)}


# (case id, which input, changes to its valid base (None removes a key), the field in error)
BAD = [
    # emails
    ("email-no-at", "customer", {"email": "not-an-email"}, "email"),
    ("email-double-at", "customer", {"email": "ann@@example.com"}, "email"),
    ("email-no-tld", "customer", {"email": "ann@example"}, "email"),
    ("email-space", "customer", {"email": "ann smith@example.com"}, "email"),
    ("email-underscore-domain", "customer", {"email": "ann@exa_mple.com"}, "email"),
    ("email-local-too-long", "customer", {"email": "a" * 65 + "@example.com"}, "email"),
    ("email-too-long", "customer", {"email": "ann@" + "a" * 600 + ".com"}, "email"),
    ("email-header-injection", "customer", {"email": "ann@example.com\r\nBcc: evil@example.com"}, "email"),
    ("email-unicode-local", "customer", {"email": "änna@example.com"}, "email"),
    ("email-homoglyph-domain", "customer", {"email": "ann@exаmple.com"}, "email"),  # Cyrillic а
    ("email-not-text", "customer", {"email": 12345}, "email"),
    ("email-and-name-missing", "customer", {"email": None}, "email"),
    ("receipt-email", "payment", {"receipt_email": "nope"}, "receipt_email"),
    # text: lengths, control and invisible characters
    ("name-too-long", "customer", {"name": "A" * 257}, "name"),
    ("name-nul-byte", "customer", {"name": "Robert\x00"}, "name"),
    ("name-rtl-override", "customer", {"name": "invoice\u202egpj.exe"}, "name"),
    ("name-escape-sequence", "customer", {"name": "\x1b[31mred"}, "name"),
    ("phone-letters", "customer", {"phone": "call me maybe"}, "phone"),
    ("phone-too-long", "customer", {"phone": "+1" * 20}, "phone"),
    ("description-too-long", "customer", {"description": "x" * 1001}, "description"),
    ("address-country-three-letters", "customer", {"address": {"country": "USA"}}, "address.country"),
    ("address-country-injection", "customer", {"address": {"country": "1'"}}, "address.country"),
    ("address-city-too-long", "customer", {"address": {"city": "c" * 101}}, "address.city"),
    ("unknown-field", "customer", {"emial": "ann@example.com"}, "emial"),
    ("payment-description-too-long", "payment", {"description": "d" * 2000}, "description"),
    ("product-name-empty", "product", {"name": ""}, "name"),
    ("product-name-blank", "product", {"name": "   "}, "name"),
    ("product-name-too-long", "product", {"name": "P" * 251}, "name"),
    ("product-name-bidi-isolate", "product", {"name": "Pro\u2066x"}, "name"),
    ("nickname-too-long", "price", {"nickname": "n" * 300}, "nickname"),
    # metadata
    ("metadata-51-keys", "customer", {"metadata": _meta(51)}, "metadata"),
    ("metadata-key-41-chars", "customer", {"metadata": {"k" * 41: "v"}}, "metadata"),
    ("metadata-value-501-chars", "customer", {"metadata": {"k": "v" * 501}}, "metadata"),
    ("metadata-key-brackets", "customer", {"metadata": {"a[b]": "c"}}, "metadata"),
    ("metadata-key-bracket-injection", "payment", {"metadata": {"x][amount": "1"}}, "metadata"),
    ("metadata-empty-key", "customer", {"metadata": {"": "v"}}, "metadata"),
    ("metadata-empty-value", "product", {"metadata": {"k": ""}}, "metadata"),
    ("metadata-line-without-equals", "customer", {"metadata": ["novalue"]}, "metadata"),
    ("metadata-key-twice", "customer", {"metadata": ["a=1", "a=2"]}, "metadata"),
    ("metadata-control-char", "price", {"metadata": {"k": "line\x07"}}, "metadata"),
    ("metadata-not-pairs", "customer", {"metadata": 5}, "metadata"),
    # amounts
    ("amount-negative", "payment", {"amount": "-5"}, "amount"),
    ("amount-zero-text", "payment", {"amount": "0"}, "amount"),
    ("amount-zero-int", "payment", {"amount": 0}, "amount"),
    ("amount-huge", "payment", {"amount": "1000000"}, "amount"),
    ("amount-astronomic", "payment", {"amount": "9" * 40}, "amount"),
    ("amount-exponent", "payment", {"amount": "1e309"}, "amount"),
    ("amount-nan-text", "payment", {"amount": "NaN"}, "amount"),
    ("amount-nan-float", "payment", {"amount": float("nan")}, "amount"),
    ("amount-infinity-float", "payment", {"amount": float("inf")}, "amount"),
    ("amount-infinity-text", "payment", {"amount": "-Infinity"}, "amount"),
    ("amount-too-many-decimals", "payment", {"amount": "19.999"}, "amount"),
    ("amount-float-artifact", "payment", {"amount": 0.1 + 0.2}, "amount"),
    ("amount-letters", "payment", {"amount": "abc"}, "amount"),
    ("amount-comma", "payment", {"amount": "1,000.00"}, "amount"),
    ("amount-empty", "payment", {"amount": ""}, "amount"),
    ("amount-bool", "payment", {"amount": True}, "amount"),
    ("amount-below-minimum", "payment", {"amount": "0.49"}, "amount"),
    ("amount-injection", "payment", {"amount": "10; DROP TABLE charges"}, "amount"),
    ("zero-decimal-with-decimals", "payment", {"currency": "jpy", "amount": "100.5"}, "amount"),
    ("zero-decimal-below-minimum", "payment", {"currency": "jpy", "amount": "49"}, "amount"),
    ("three-decimal-four-decimals", "payment", {"currency": "kwd", "amount": "1.2345"}, "amount"),
    ("price-negative", "product", {"currency": "usd", "amount": "-1"}, "amount"),
    ("price-zero-decimal-with-decimals", "price", {"currency": "jpy", "amount": "5.5"}, "amount"),
    ("price-amount-missing", "price", {"amount": None}, "amount"),
    ("product-amount-without-currency", "product", {"amount": "10"}, "currency"),
    ("product-currency-without-amount", "product", {"currency": "usd"}, "amount"),
    # currencies
    ("currency-four-letters", "payment", {"currency": "usdd"}, "currency"),
    ("currency-unknown", "payment", {"currency": "xyz"}, "currency"),
    ("currency-sql-injection", "payment", {"currency": "usd'; DROP TABLE charges;--"}, "currency"),
    ("currency-empty", "payment", {"currency": ""}, "currency"),
    ("currency-unicode", "price", {"currency": "€"}, "currency"),
    # recurring intervals
    ("interval-13-months", "product", {"currency": "usd", "amount": "10", "interval": "month", "interval_count": 13},
     "interval_count"),
    ("interval-366-days", "product", {"currency": "usd", "amount": "10", "interval": "day", "interval_count": 366},
     "interval_count"),
    ("interval-53-weeks", "price", {"interval": "week", "interval_count": 53}, "interval_count"),
    ("interval-2-years", "price", {"interval": "year", "interval_count": 2}, "interval_count"),
    ("interval-unknown", "price", {"interval": "fortnight"}, "interval"),
    ("interval-count-zero", "price", {"interval": "month", "interval_count": 0}, "interval_count"),
    ("interval-count-fraction", "price", {"interval": "month", "interval_count": "1.5"}, "interval_count"),
    ("interval-count-without-interval", "price", {"interval_count": 3}, "interval"),
    # ids (also what would be put in a URL path)
    ("customer-id-sql-injection", "payment", {"customer": "cus_1' OR '1'='1"}, "customer"),
    ("customer-id-path-traversal", "payment", {"customer": "../v1/balance"}, "customer"),
    ("customer-id-empty", "payment", {"customer": ""}, "customer"),
    ("customer-id-wrong-kind", "payment", {"customer": "sub_123"}, "customer"),
    ("payment-method-space", "payment", {"payment_method": "pm card"}, "payment_method"),
    ("confirm-without-payment-method", "payment", {"confirm": True}, "payment_method"),
    ("product-id-space", "price", {"product": "prod 1"}, "product"),
    ("product-id-missing", "price", {"product": None}, "product"),
    ("subscription-id-path-traversal", "cancel", {"subscription": "sub_1/../../customers"}, "subscription"),
    ("resume-id-wrong-kind", "resume", {"subscription": "cus_1"}, "subscription"),
    ("cancel-when-unknown", "cancel", {"when": "tomorrow"}, "when"),
    # subscriptions
    ("items-empty", "subscription", {"items": []}, "items"),
    ("items-too-many", "subscription", {"items": [{"price": f"price_{i}"} for i in range(21)]}, "items"),
    ("quantity-zero", "subscription", {"items": [{"price": "price_1", "quantity": 0}]}, "items.0.quantity"),
    ("quantity-negative", "subscription", {"items": [{"price": "price_1", "quantity": -3}]}, "items.0.quantity"),
    ("quantity-words", "subscription", {"items": [{"price": "price_1", "quantity": "two"}]}, "items.0.quantity"),
    ("quantity-fraction", "subscription", {"items": [{"price": "price_1", "quantity": 1.5}]}, "items.0.quantity"),
    ("quantity-huge", "subscription", {"items": [{"price": "price_1", "quantity": 10 ** 7}]}, "items.0.quantity"),
    ("price-twice", "subscription", {"items": [{"price": "price_1"}, {"price": "price_1"}]}, "items.1.price"),
    ("price-id-shell-injection", "subscription", {"items": [{"price": "price_1; rm -rf /"}]}, "items.0.price"),
    ("trial-too-long", "subscription", {"trial_days": 731}, "trial_days"),
    ("trial-negative", "subscription", {"trial_days": -1}, "trial_days"),
    ("trial-words", "subscription", {"trial_days": "abc"}, "trial_days"),
    ("coupon-space", "subscription", {"coupon": "SUMMER 25"}, "coupon"),
    ("coupon-html", "subscription", {"coupon": "<script>alert(1)</script>"}, "coupon"),
]


def _input(kind: str, changes: dict) -> dict:
    data = dict(MODELS[kind][1])
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_the_table_is_large_enough():
    assert len(BAD) >= 50
    assert len({case[0] for case in BAD}) == len(BAD)


@pytest.mark.parametrize("kind, changes, field", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_refused_on_its_field(kind, changes, field):
    model = MODELS[kind][0]
    with pytest.raises(models.InputError) as raised:
        models.parse(model, _input(kind, changes))
    errors = raised.value.errors
    assert set(errors) == {field}, errors
    assert errors[field] and "Value error" not in errors[field]


# What each valid base input parses to: the given fields, typed, and every default a user relies on.
PARSED = {
    "customer": {"email": "ann@example.com", "name": None, "phone": None, "description": None, "address": None,
                 "metadata": {}},
    "payment": {"customer": "cus_123", "currency": "usd", "amount": Decimal("10"), "description": None,
                "metadata": {}, "payment_method": None, "confirm": False, "receipt_email": None},
    "product": {"name": "Pro", "currency": None, "amount": None, "interval": None, "interval_count": 1,
                "description": None, "active": True, "metadata": {}},
    "price": {"product": "prod_1", "currency": "usd", "amount": Decimal("10"), "interval": None, "interval_count": 1,
              "nickname": None, "metadata": {}},
    "subscription": {"customer": "cus_1", "items": [{"price": "price_1", "quantity": 1}], "trial_days": None,
                     "coupon": None, "metadata": {}},
    "cancel": {"subscription": "sub_1", "when": "immediately"},
    "resume": {"subscription": "sub_1"},
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_valid_base_input_parses_to_its_typed_values(kind):
    model, base, _ = MODELS[kind]
    parsed = models.parse(model, base)
    assert isinstance(parsed, model)
    assert parsed.model_dump() == PARSED[kind]


def test_input_is_normalised():
    """Currencies are lower-cased, amounts exact decimals, metadata lines split into pairs."""
    parsed = models.parse(models.PaymentInput, {**PAYMENT, "currency": "USD", "amount": "19.99",
                                                "metadata": ["plan=pro", "seats=3"]})
    assert (parsed.currency, parsed.amount, parsed.metadata) == ("usd", Decimal("19.99"),
                                                                  {"plan": "pro", "seats": "3"})


# ----------------------------------------------------------------------------- the service sends nothing

@pytest.fixture(scope="module")
def fake_ctx(tmp_path_factory):
    with FakeStripe() as fake:
        fake.add_account(FAKE_ACCOUNT, key=FAKE_KEY)
        settings = Settings(stripe_api_key=FAKE_KEY, stripe_api_base=fake.url, stripe_max_network_retries=0)
        cache = Cache.open(tmp_path_factory.mktemp("models") / "cache.duckdb")
        try:
            yield fake, actions.ActionContext.from_settings(settings, cache=cache), cache
        finally:
            cache.close()


@pytest.mark.parametrize("kind, changes, field", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_sends_nothing_through_the_service(fake_ctx, kind, changes, field):
    fake, ctx, cache = fake_ctx
    _, _, action = MODELS[kind]
    with pytest.raises(models.InputError) as raised:
        action(ctx, _input(kind, changes), actions.new_submission_key(), confirm_live=True)
    assert field in raised.value.errors
    assert fake.request_count(method="POST") == 0
    assert fake.request_count() == 0  # not even a read: the input is checked first
    assert cache.con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_a_malformed_idempotency_key_is_refused_before_sending(fake_ctx):
    fake, ctx, _ = fake_ctx
    for key in ("short", "has space in it", "x" * 201, "key\nwith-newline"):
        with pytest.raises(ValueError):
            actions.create_customer(ctx, CUSTOMER, key)
    assert fake.request_count() == 0


# ----------------------------------------------------------------------------- exact conversions

@pytest.mark.parametrize("amount, currency, minor", [
    ("19.99", "usd", 1999), ("5000", "jpy", 5000), ("1.234", "kwd", 1234), ("0.50", "usd", 50), ("0.5", "eur", 50),
    (Decimal("19.99"), "usd", 1999), (19.99, "usd", 1999), (20, "usd", 2000), ("  7.10 ", "gbp", 710),
    ("999999.99", "usd", 99_999_999), ("1.10", "bhd", 1100), (".75", "usd", 75), ("300", "krw", 300),
    ("0.3", "gbp", 30),
])
def test_amounts_convert_exactly(amount, currency, minor):
    payment = models.parse(models.PaymentInput, {**PAYMENT, "amount": amount, "currency": currency})
    assert payment.amount_minor == minor
    price = models.parse(models.PriceInput, {**PRICE, "amount": amount, "currency": currency.upper()})
    assert price.amount_minor == minor and price.currency == currency


def test_limits_are_inclusive():
    """Inputs exactly at each limit are kept whole, as given."""
    metadata = {f"{i:040d}": "v" * 500 for i in range(50)}
    customer = models.parse(models.CustomerInput, {**CUSTOMER, "metadata": metadata})
    assert customer.metadata == metadata
    customer = models.parse(models.CustomerInput, {**CUSTOMER, "name": "A" * 256, "phone": "+1 (555) 010-0000"})
    assert (customer.name, customer.phone) == ("A" * 256, "+1 (555) 010-0000")
    for interval, count in (("day", 365), ("week", 52), ("month", 12), ("year", 1)):
        price = models.parse(models.PriceInput, {**PRICE, "interval": interval, "interval_count": count})
        assert price.price_params()["recurring"] == {"interval": interval, "interval_count": count}
    trial = models.parse(models.SubscriptionInput, {**SUBSCRIPTION, "trial_days": 730})
    assert trial.trial_days == 730
    twenty = [{"price": f"price_{i}"} for i in range(20)]
    items = models.parse(models.SubscriptionInput, {**SUBSCRIPTION, "items": twenty})
    assert items.model_dump()["items"] == [{"price": f"price_{i}", "quantity": 1} for i in range(20)]


def test_unicode_text_is_kept():
    customer = models.parse(models.CustomerInput, {"name": "José Ñúñez 山田 👩‍💻", "description": "Ünïcödé ✓",
                                                   "metadata": {"città": "Zürich"}})
    assert customer.name == "José Ñúñez 山田 👩‍💻"
    assert customer.metadata == {"città": "Zürich"}
    assert customer.email is None


def test_free_text_with_quotes_is_text_not_an_error():
    # Names are sent as form values, never interpolated: quotes are legitimate in them.
    customer = models.parse(models.CustomerInput, {**CUSTOMER, "name": "O'Brien \"Bob\"; DROP TABLE x; --"})
    assert customer.name == "O'Brien \"Bob\"; DROP TABLE x; --"


def test_metadata_text_area_lines():
    lines = models.parse_metadata_text("plan = pro\n\n  team=a=b  \n")
    assert models.check_metadata(lines) == {"plan": "pro", "team": "a=b"}


def test_errors_name_every_bad_field_at_once():
    with pytest.raises(models.InputError) as raised:
        models.parse(models.PaymentInput, {"customer": "nope", "currency": "xyz", "amount": "-1",
                                           "receipt_email": "x", "metadata": {"a[": "b"}})
    assert set(raised.value.errors) == {"customer", "currency", "amount", "receipt_email", "metadata"}
    # with a bad currency, the amount's error is about the amount only
    assert "currency" not in raised.value.errors["amount"]
