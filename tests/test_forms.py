"""The write forms (issue 7) through Streamlit's AppTest, against the fake Stripe server and a
temporary cache: a valid submit of each form, each kind of invalid field shown under its
field with nothing sent and what was typed kept, and a double submit that creates once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stripe_analytics import actions
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from tests.conftest import FAKE_ACCOUNT, FAKE_KEY
from tests.test_actions import LIVE_KEY

TIMEOUT = 60


def _script(url, key, path, form, preset):
    from stripe_analytics.actions import ActionContext
    from stripe_analytics.config import Settings
    from stripe_analytics.ui import forms

    settings = Settings(stripe_api_key=key, stripe_api_base=url, stripe_max_network_retries=1)
    ctx = ActionContext.from_settings(settings, cache_path=path, account_id="acct_test_fake")
    getattr(forms, form)(ctx, **preset)


@dataclass
class Env:
    fake: object
    path: Path
    ctx: actions.ActionContext  # for seeding, through the same service

    def app(self, form: str, key: str = FAKE_KEY, **preset) -> AppTest:
        at = AppTest.from_function(_script, args=(self.fake.url, key, str(self.path), form, preset),
                                   default_timeout=TIMEOUT)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    def posts(self) -> int:
        return self.fake.request_count(method="POST") + self.fake.request_count(method="DELETE")

    def count(self, kind: str) -> int:
        return len(self.fake.account_store().objects[kind])

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with Cache.open(self.path, read_only=True) as cache:
            return cache.con.execute(sql, params or []).fetchall()


@pytest.fixture
def env(fake_stripe, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "SYNC_", "DATA_DIR"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{FAKE_ACCOUNT}.duckdb"
    with Cache.open(path) as cache, cache.transaction():
        cache.set_meta("account_id", FAKE_ACCOUNT)
    settings = Settings(stripe_api_key=FAKE_KEY, stripe_api_base=fake_stripe.url, stripe_max_network_retries=1)
    return Env(fake_stripe, path, actions.ActionContext.from_settings(settings, cache_path=path))


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def _seed_customer(env: Env, email: str = "ann@example.com", name: str = "Ann Smith") -> str:
    return actions.create_customer(env.ctx, {"email": email, "name": name}).object_id


def _seed_prices(env: Env) -> tuple[str, str]:
    out = []
    for name, amount in (("Pro", "49"), ("Seats", "5")):
        product = actions.create_product(env.ctx, {"name": name})
        price = actions.add_price(env.ctx, {"product": product.object_id, "amount": amount, "currency": "usd",
                                            "interval": "month"})
        out.append(price.object_id)
    return out[0], out[1]


# ----------------------------------------------------------------------------- customer

def test_customer_form_valid_submit(env):
    at = env.app("customer_form")
    at.text_input(key="customer.email").input("form@example.com")
    at.text_input(key="customer.name").input("Form Ann")
    at.text_input(key="customer.phone").input("+1 555 0100")
    at.text_area(key="customer.metadata").input("plan=pro\nsource=form")
    submit(at, "Create customer")
    assert not errors(at)
    assert any("Customer Form Ann created" in s for s in successes(at)), successes(at)
    [customer] = env.fake.account_store().objects["customer"].values()
    assert customer["email"] == "form@example.com" and customer["metadata"] == {"plan": "pro", "source": "form"}
    assert env.rows("SELECT email, name, phone FROM customers") == [("form@example.com", "Form Ann", "+1 555 0100")]
    assert env.rows("SELECT action, outcome FROM audit_log") == [("create_customer", "succeeded")]


CUSTOMER_BAD = [
    ("email", "customer.email", "not-an-email", "Email is not a valid email address"),
    ("too-long", "customer.name", "N" * 300, "Name is too long"),
    ("control-char", "customer.name", "Bob\u202eevil", "Name contains an invisible or control character"),
    ("phone", "customer.phone", "call me", "Phone must be a phone number"),
    ("metadata-brackets", "customer.metadata", "a[b]=c", "Metadata key 'a[b]' contains square brackets"),
    ("metadata-too-many", "customer.metadata", "\n".join(f"k{i}=v" for i in range(51)), "Metadata has 51 keys"),
    ("metadata-no-equals", "customer.metadata", "just text", "Metadata entry 'just text'"),
    ("country", "customer.country", "1'", "Country must be a two-letter country code"),
]


@pytest.mark.parametrize("key, value, message", [c[1:] for c in CUSTOMER_BAD], ids=[c[0] for c in CUSTOMER_BAD])
def test_customer_form_invalid_field(env, key, value, message):
    at = env.app("customer_form")
    if key != "customer.email":
        at.text_input(key="customer.email").input("ok@example.com")
    widget = at.text_area(key=key) if key.endswith("metadata") else at.text_input(key=key)
    widget.input(value)
    submit(at, "Create customer")
    assert any(message in e for e in errors(at)), errors(at)
    assert env.posts() == 0 and not successes(at)
    kept = at.text_area(key=key) if key.endswith("metadata") else at.text_input(key=key)
    assert kept.value == value  # what was typed stays
    assert env.rows("SELECT count(*) FROM audit_log") == [(0,)]


def test_customer_form_shows_a_stripe_refusal_with_its_field(env):
    # The fake server does not take addresses: Stripe's "unknown parameter" names the field.
    at = env.app("customer_form")
    at.text_input(key="customer.email").input("addr@example.com")
    at.text_input(key="customer.city").input("Paris")
    submit(at, "Create customer")
    found = errors(at)
    assert len(found) == 1 and "Stripe refused this request (field: address)" in found[0], found
    assert at.text_input(key="customer.city").value == "Paris" and env.count("customer") == 0
    at.run()  # still shown on the next rerun
    assert errors(at) == found


def test_customer_form_needs_an_email_or_a_name(env):
    at = submit(env.app("customer_form"), "Create customer")
    assert any("Email is required (or give a name)" in e for e in errors(at))
    assert env.posts() == 0


def test_customer_form_double_submit_creates_once_then_create_another(env):
    at = env.app("customer_form")
    at.text_input(key="customer.email").input("twice@example.com")
    submit(at, "Create customer")
    submit(at, "Create customer")
    assert env.count("customer") == 1
    assert any("nothing new was created" in s for s in successes(at))
    keys = {r.idempotency_key for r in env.fake.requests if r.method == "POST"}
    assert len(keys) == 1
    # an explicit new submission creates a new customer with a new key
    submit(at, "Create another")
    submit(at, "Create customer")
    assert env.count("customer") == 2
    assert len({r.idempotency_key for r in env.fake.requests if r.method == "POST"}) == 2


def test_customer_form_error_then_fix_sends_once(env):
    at = env.app("customer_form")
    at.text_input(key="customer.email").input("bad")
    submit(at, "Create customer")
    assert env.posts() == 0
    at.text_input(key="customer.email").input("fixed@example.com")
    submit(at, "Create customer")
    assert not errors(at) and env.count("customer") == 1


def test_customer_form_live_mode_needs_the_confirmation(env):
    env.fake.add_key(LIVE_KEY, FAKE_ACCOUNT)
    at = env.app("customer_form", key=LIVE_KEY)
    at.text_input(key="customer.email").input("live@example.com")
    submit(at, "Create customer")
    assert any("live-mode confirmation" in e for e in errors(at)) and env.posts() == 0
    at.checkbox(key="customer.confirm_live").check()
    submit(at, "Create customer")
    assert env.count("customer") == 1 and any("created" in s for s in successes(at))
    assert env.rows("SELECT mode, outcome FROM audit_log") == [("live", "succeeded")]
    at.run()  # each live write needs its own confirmation: it is unticked after a success
    assert at.checkbox(key="customer.confirm_live").value is False
    submit(at, "Create customer")
    assert any("live-mode confirmation" in e for e in errors(at)) and env.count("customer") == 1


# ----------------------------------------------------------------------------- payment

def _payment_app(env: Env) -> tuple[AppTest, str]:
    customer = _seed_customer(env)
    at = env.app("payment_form", customer=customer)
    assert at.selectbox(key="payment.customer").value == customer
    return at, customer


def test_payment_form_succeeds(env):
    at, customer = _payment_app(env)
    at.text_input(key="payment.amount").input("19.99")
    at.selectbox(key="payment.payment_method").set_value("pm_card_visa")
    at.text_input(key="payment.description").input("Order 12")
    submit(at, "Create payment")
    assert any("Payment of $19.99 from Ann Smith <ann@example.com> succeeded" in s for s in successes(at)), \
        (successes(at), errors(at))
    [pi] = env.fake.account_store().objects["payment_intent"].values()
    assert pi["amount"] == 1999 and pi["customer"] == customer
    assert env.rows("SELECT amount, status FROM payment_intents") == [(1999, "succeeded")]
    assert env.rows("SELECT count(*) FROM charges WHERE status = 'succeeded'") == [(1,)]


def test_payment_form_says_why_saved_cards_cannot_be_listed(env):
    customer = _seed_customer(env)
    at = env.app("payment_form", key="sk_test_revoked_0123456789abcdef", customer=customer)
    warnings = [w.value for w in at.warning]
    assert any("saved cards could not be listed" in w and "refused the API key" in w for w in warnings), warnings
    assert "sk_test_revoked_0123456789abcdef" not in " ".join(warnings)
    # The test payment methods are still offered.
    assert "Test card: Visa, succeeds" in at.selectbox(key="payment.payment_method").options


def test_payment_form_declined_and_requires_action_in_plain_words(env):
    at, _ = _payment_app(env)
    at.text_input(key="payment.amount").input("10")
    at.selectbox(key="payment.payment_method").set_value("pm_card_chargeDeclinedInsufficientFunds")
    submit(at, "Create payment")
    assert any("declined: insufficient funds" in e for e in errors(at)), errors(at)
    assert at.text_input(key="payment.amount").value == "10"
    at.selectbox(key="payment.payment_method").set_value("pm_card_authenticationRequired")
    submit(at, "Create payment")
    assert any("requires action" in w.value and "3-D Secure" in w.value for w in at.warning)
    assert env.count("payment_intent") == 2


PAYMENT_BAD = [
    ("zero", "0", "usd", "Amount must be more than zero"),
    ("negative", "-3", "usd", "Amount must be more than zero"),
    ("too-many-decimals", "19.999", "usd", "Amount USD has at most 2 decimals"),
    ("letters", "abc", "usd", "Amount must be a number like 19.99"),
    ("nan", "NaN", "usd", "Amount must be a finite number"),
    ("below-minimum", "0.10", "usd", "Amount is below Stripe's minimum of $0.50"),
    ("huge", "100000000", "usd", "Amount is above Stripe's maximum"),
    ("zero-decimal", "10.5", "jpy", "Amount JPY has no decimals"),
    ("three-decimal", "1.2345", "kwd", "Amount KWD has at most 3 decimals"),
]


@pytest.mark.parametrize("amount, currency, message", [c[1:] for c in PAYMENT_BAD], ids=[c[0] for c in PAYMENT_BAD])
def test_payment_form_invalid_amount(env, amount, currency, message):
    at, _ = _payment_app(env)
    at.text_input(key="payment.amount").input(amount)
    at.selectbox(key="payment.currency").set_value(currency)
    at.selectbox(key="payment.payment_method").set_value("pm_card_visa")
    submit(at, "Create payment")
    assert any(message in e for e in errors(at)), errors(at)
    assert env.posts() == 1  # only the seeded customer
    assert at.text_input(key="payment.amount").value == amount


def test_payment_form_other_invalid_fields(env):
    at, _ = _payment_app(env)
    at.text_input(key="payment.amount").input("10")
    at.text_input(key="payment.receipt_email").input("nope")
    submit(at, "Create payment")  # "Confirm now" is ticked but no payment method is chosen
    found = errors(at)
    assert any("Choose a payment method to confirm the payment now" in e for e in found), found
    assert any("Receipt email is not a valid email address" in e for e in found), found
    assert env.posts() == 1


def test_payment_form_double_submit_creates_once(env):
    at, _ = _payment_app(env)
    at.text_input(key="payment.amount").input("12.50")
    at.selectbox(key="payment.payment_method").set_value("pm_card_visa")
    submit(at, "Create payment")
    submit(at, "Create payment")
    assert env.count("payment_intent") == 1 and env.count("charge") == 1
    assert env.rows("SELECT count(*) FROM payment_intents") == [(1,)]


def test_payment_form_left_for_later(env):
    at, _ = _payment_app(env)
    at.text_input(key="payment.amount").input("5000")
    at.selectbox(key="payment.currency").set_value("jpy")
    at.checkbox(key="payment.confirm").uncheck()
    submit(at, "Create payment")
    assert any("left for later" in w.value for w in at.warning)
    assert env.rows("SELECT amount, currency, status FROM payment_intents") == [(5000, "jpy",
                                                                                 "requires_payment_method")]


# ----------------------------------------------------------------------------- product and price

def test_product_form_with_its_default_price(env):
    at = env.app("product_form")
    at.text_input(key="product.name").input("Team plan")
    at.text_input(key="product.amount").input("1.234")
    at.selectbox(key="product.currency").set_value("kwd")
    at.selectbox(key="product.interval").set_value("month")
    at.number_input(key="product.interval_count").set_value(3)
    submit(at, "Create product")
    assert any("Product Team plan created" in s and "every 3 months" in s for s in successes(at)), \
        (successes(at), errors(at))
    [product] = env.fake.account_store().objects["product"].values()
    assert product["default_price"]
    assert env.rows("SELECT unit_amount, currency, interval, interval_count FROM prices") == [(1234, "kwd", "month",
                                                                                                3)]
    submit(at, "Create product")
    assert env.count("product") == 1 and env.count("price") == 1  # double submit


PRODUCT_BAD = [
    ("name-missing", {}, "Name is required"),
    ("interval-over-a-year", {"product.amount": "10", "product.interval_count": 13},
     "Every makes the billing period longer than one year"),
    ("weekly-over-a-year", {"product.amount": "10", "product.interval": "week", "product.interval_count": 53},
     "Every makes the billing period longer than one year"),
    ("amount-letters", {"product.amount": "ten"}, "Amount must be a number"),
    ("amount-zero-decimal", {"product.amount": "9.99", "product.currency": "jpy"}, "Amount JPY has no decimals"),
    ("metadata-long-key", {"product.metadata": "k" * 41 + "=v"}, "is longer than 40 characters"),
]


@pytest.mark.parametrize("values, message", [c[1:] for c in PRODUCT_BAD], ids=[c[0] for c in PRODUCT_BAD])
def test_product_form_invalid_field(env, values, message):
    at = env.app("product_form")
    if values:
        at.text_input(key="product.name").input("Named")
    for key, value in values.items():
        if key.endswith(("currency", "interval")):
            at.selectbox(key=key).set_value(value)
        elif key.endswith("interval_count"):
            at.number_input(key=key).set_value(value)
        elif key.endswith("metadata"):
            at.text_area(key=key).input(value)
        else:
            at.text_input(key=key).input(value)
    submit(at, "Create product")
    assert any(message in e for e in errors(at)), errors(at)
    assert env.posts() == 0


def test_price_form_adds_a_price(env):
    product = actions.create_product(env.ctx, {"name": "Base"}).object_id
    at = env.app("price_form", product=product)
    at.text_input(key="price.amount").input("5000")
    at.selectbox(key="price.currency").set_value("jpy")
    at.selectbox(key="price.interval").set_value("one_time")
    at.text_input(key="price.nickname").input("Once")
    submit(at, "Add price")
    assert any("added to" in s for s in successes(at)), (successes(at), errors(at))
    assert env.rows("SELECT product, unit_amount, type, nickname FROM prices") == [(product, 5000, "one_time",
                                                                                    "Once")]
    at.text_input(key="price.amount").input("10.5")
    submit(at, "Add price")
    assert any("Amount JPY has no decimals" in e for e in errors(at))
    assert env.count("price") == 1


# ----------------------------------------------------------------------------- subscriptions

def _subscription_app(env: Env) -> tuple[AppTest, str, str, str]:
    customer = _seed_customer(env)
    pro, seats = _seed_prices(env)
    at = env.app("subscription_form", customer=customer)
    return at, customer, pro, seats


def test_subscription_form_several_items_and_trial(env):
    at, customer, pro, seats = _subscription_app(env)
    at.selectbox(key="subscription.price0").set_value(pro)
    at.number_input(key="subscription.quantity0").set_value(2)
    at.selectbox(key="subscription.price1").set_value(seats)
    at.number_input(key="subscription.quantity1").set_value(5)
    at.number_input(key="subscription.trial_days").set_value(14)
    submit(at, "Start subscription")
    assert any("started with a trial" in s for s in successes(at)), (successes(at), errors(at))
    [sub] = env.fake.account_store().objects["subscription"].values()
    assert sub["customer"] == customer and [i["quantity"] for i in sub["items"]["data"]] == [2, 5]
    assert env.rows("SELECT status FROM subscriptions") == [("trialing",)]
    assert env.rows("SELECT count(*) FROM subscription_items") == [(2,)]
    submit(at, "Start subscription")
    assert env.count("subscription") == 1


SUBSCRIPTION_BAD = [
    ("no-price", {}, "Prices must have at least one price"),
    ("same-price-twice", {"price0": "pro", "price1": "pro"}, "Price 2 is already in this subscription"),
    ("trial-too-long", {"price0": "pro", "trial_days": 731}, "Trial days must be between 1 and 730"),
    ("coupon-id", {"price0": "pro", "coupon": "bad coupon!"}, "Coupon must be a coupon id"),
    ("metadata", {"price0": "pro", "metadata": "x=" + "v" * 501}, "is longer than 500 characters"),
]


@pytest.mark.parametrize("values, message", [c[1:] for c in SUBSCRIPTION_BAD], ids=[c[0] for c in SUBSCRIPTION_BAD])
def test_subscription_form_invalid_field(env, values, message):
    at, _, pro, _ = _subscription_app(env)
    before = env.posts()
    for name, value in values.items():
        key = f"subscription.{name}"
        if name.startswith("price"):
            at.selectbox(key=key).set_value(pro)
        elif name == "trial_days":
            at.number_input(key=key).set_value(value)
        elif name == "metadata":
            at.text_area(key=key).input(value)
        else:
            at.text_input(key=key).input(value)
    submit(at, "Start subscription")
    assert any(message in e for e in errors(at)), errors(at)
    assert env.posts() == before


def test_cancel_form_names_the_customer_and_the_mrr_then_resume(env):
    customer = _seed_customer(env)
    pro, _ = _seed_prices(env)
    sub = actions.create_subscription(env.ctx, {"customer": customer, "items": [{"price": pro, "quantity": 2}]})
    at = env.app("cancel_subscription_form", subscription=sub.object_id)
    info = " ".join(i.value for i in at.info)
    assert "Ann Smith <ann@example.com>" in info and "$98.00" in info
    before = env.posts()
    submit(at, "Cancel subscription")  # the confirmation is not ticked
    assert any("Tick the confirmation" in e for e in errors(at)) and env.posts() == before
    at.checkbox(key="cancel_subscription.confirm").check()
    submit(at, "Cancel subscription")
    assert any("will cancel at the end of its period" in s for s in successes(at)), (successes(at), errors(at))
    assert env.fake.get("subscription", sub.object_id)["cancel_at_period_end"] is True
    assert env.rows("SELECT cancel_at_period_end FROM subscriptions") == [(True,)]

    resume = env.app("resume_subscription_form", subscription=sub.object_id)
    submit(resume, "Resume subscription")
    assert any("resumed" in s for s in successes(resume)), (successes(resume), errors(resume))
    assert env.rows("SELECT cancel_at_period_end FROM subscriptions") == [(False,)]

    now = env.app("cancel_subscription_form", subscription=sub.object_id)
    now.radio(key="cancel_subscription.when").set_value("immediately")
    now.checkbox(key="cancel_subscription.confirm").check()
    submit(now, "Cancel subscription")
    submit(now, "Cancel subscription")  # double submit
    assert env.fake.get("subscription", sub.object_id)["status"] == "canceled"
    assert env.rows("SELECT status FROM subscriptions") == [("canceled",)]
    assert env.fake.request_count(method="DELETE") == 1


# ----------------------------------------------------------------------------- page buttons

def _page_script(url, key, path, demo):
    import streamlit as st

    from stripe_analytics.config import Settings
    from stripe_analytics.ui import forms
    from stripe_analytics.ui.context import Account, AppContext

    settings = Settings(stripe_api_key=key, stripe_api_base=url, stripe_max_network_retries=1)
    account = Account("demo", "Demo account", None, demo=True) if demo else \
        Account("acct_test_fake", "acct_test_fake", __import__("pathlib").Path(path))
    for kind in ("customer", "payment", "product", "subscription"):
        forms.page_actions(st.container(), AppContext(settings=settings, account=account), kind)


@pytest.mark.parametrize("demo", [False, True], ids=["account", "demo"])
def test_page_buttons(env, demo):
    at = AppTest.from_function(_page_script, args=(env.fake.url, FAKE_KEY, str(env.path), demo),
                               default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {b.label: b.disabled for b in at.button}
    assert set(labels) == {"New customer", "New payment", "New product", "Add a price", "New subscription",
                           "Cancel…", "Resume…"}
    assert all(disabled == demo for disabled in labels.values())
    assert env.posts() == 0
    if demo:
        assert all("demo account" in (b.help or "") for b in at.button)
        return
    # a button opens its form in a dialog that stays open across reruns until closed
    submit(at, "New customer")
    at.text_input(key="customer.email").input("dialog@example.com")
    submit(at, "Create customer")
    assert any("created" in s for s in successes(at)) and env.count("customer") == 1
    submit(at, "Close")
    assert not [t for t in at.text_input if t.key == "customer.email"]


def test_page_buttons_refuse_a_key_of_another_account(env):
    env.fake.add_account("acct_other_one", key="sk_test_other_account_key")
    at = AppTest.from_function(_page_script, args=(env.fake.url, "sk_test_other_account_key", str(env.path), False),
                               default_timeout=TIMEOUT).run()
    assert all(b.disabled and "acct_other_one" in (b.help or "") for b in at.button)


def _shared_page_script(url, key, path, allow):
    import streamlit as st

    from stripe_analytics.config import Settings
    from stripe_analytics.ui import forms
    from stripe_analytics.ui.context import Account, AppContext

    settings = Settings(stripe_api_key=key, stripe_api_base=url, stripe_max_network_retries=1,
                        allow_anonymous_writes=allow)
    account = Account("acct_test_fake", "acct_test_fake", __import__("pathlib").Path(path))
    forms.page_actions(st.container(), AppContext(settings=settings, account=account), "customer")


@pytest.mark.parametrize("allow", [False, True], ids=["refused", "opted-in"])
def test_page_buttons_on_a_shared_address_without_sign_in(env, allow):
    """Listening on every interface with no sign-in: the configured key writes nothing from the
    forms unless ALLOW_ANONYMOUS_WRITES is set, and the reason says how to change that."""
    from streamlit import config

    config.set_option("server.address", "0.0.0.0")
    try:
        before = env.fake.request_count()
        at = AppTest.from_function(_shared_page_script, args=(env.fake.url, FAKE_KEY, str(env.path), allow),
                                   default_timeout=TIMEOUT).run()
    finally:
        config.set_option("server.address", "127.0.0.1")
    assert not at.exception
    button = next(b for b in at.button if b.label == "New customer")
    assert button.disabled is not allow
    if not allow:
        assert "ALLOW_ANONYMOUS_WRITES=true" in button.help and "sign-in" in button.help
        assert env.fake.request_count() == before  # refused before anything reached Stripe
