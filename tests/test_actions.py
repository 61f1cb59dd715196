"""The write actions (issue 7) end to end: against localstripe (customers, payments succeeded
and declined, products) and against the project's fake Stripe server (prices, subscriptions
with several items and trials, cancel and resume, idempotency, faults, audit log, live-mode
refusal, errors in plain words, and a sync afterwards that duplicates nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stripe

from stripe_analytics import actions
from stripe_analytics.actions import ActionContext
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from stripe_analytics.sync import sync_account
from tests.conftest import FAKE_ACCOUNT, FAKE_KEY

LIVE_KEY = "sk_live_fake_key_0001"
RESTRICTED_KEY = "rk_test_restricted_secret_9876"


# ----------------------------------------------------------------------------- helpers

def _count(cache: Cache, table: str, where: str = "true") -> int:
    return cache.con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]


def _row(cache: Cache, sql: str, params: list | None = None):
    return cache.con.execute(sql, params or []).fetchone()


def _audit(cache: Cache) -> list[dict]:
    cur = cache.con.execute('SELECT * FROM audit_log ORDER BY "at"')
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _objects(fake, kind: str) -> dict:
    return fake.account_store().objects[kind]


def _settings(base: str, key: str = FAKE_KEY, tmp_path: Path | None = None, **extra) -> Settings:
    return Settings(stripe_api_key=key, stripe_api_base=base, data_dir=tmp_path or Path("."), **extra)


@pytest.fixture
def fake_ctx(fake_stripe, tmp_path):
    cache = Cache.open(tmp_path / f"{FAKE_ACCOUNT}.duckdb")
    with cache.transaction():
        cache.set_meta("account_id", FAKE_ACCOUNT)
    ctx = ActionContext.from_settings(_settings(fake_stripe.url, tmp_path=tmp_path, stripe_max_network_retries=3),
                                      cache=cache)
    try:
        yield ctx
    finally:
        cache.close()


def _customer(ctx, email="ann@example.com", name="Ann Smith") -> str:
    result = actions.create_customer(ctx, {"email": email, "name": name})
    assert result.ok, result.message
    return result.object_id


def _recurring_prices(ctx) -> tuple[str, str, str]:
    pro = actions.create_product(ctx, {"name": "Pro", "amount": "49", "currency": "usd", "interval": "month"})
    seats = actions.create_product(ctx, {"name": "Seats", "amount": "5", "currency": "usd", "interval": "month"})
    assert pro.ok and seats.ok
    price = lambda r: next(o["id"] for o in r.objects if o["object"] == "price")  # noqa: E731
    return price(pro), price(seats), pro.object_id


# ----------------------------------------------------------------------------- localstripe

@pytest.fixture
def local_ctx(localstripe, tmp_path):
    cache = Cache.open(tmp_path / "local.duckdb")
    ctx = ActionContext.from_settings(_settings(localstripe, "sk_test_localstripe_actions", tmp_path), cache=cache)
    try:
        yield ctx
    finally:
        cache.close()


def _local_card(ctx: ActionContext, customer: str, number: str, attach: bool = True) -> str:
    card = ctx.client.v1.payment_methods.create({"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    if attach:
        ctx.client.v1.payment_methods.attach(card.id, {"customer": customer})
    return card.id


def test_a_customers_saved_cards_are_listed_for_the_payment_form(local_ctx):
    from stripe_analytics.actions.payments import saved_cards

    ctx = local_ctx
    customer = ctx.client.v1.customers.create({"email": "cards@example.com"}).id
    visa = _local_card(ctx, customer, "4242424242424242")
    _local_card(ctx, ctx.client.v1.customers.create({"email": "other@example.com"}).id, "5555555555554444")
    assert saved_cards(ctx, customer) == {visa: "Saved Visa •••• 4242 (expires 12/2030)"}  # not the other's


def test_localstripe_customer_is_in_stripe_and_in_the_cache(local_ctx):
    ctx = local_ctx
    result = actions.create_customer(ctx, {
        "email": "local@example.com", "name": "Local Ann", "phone": "+33 1 23 45 67 89",
        "description": "from the form", "metadata": {"plan": "pro", "città": "Zürich"},
        "address": {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "fr"},
    }, actions.new_submission_key())
    assert result.ok and result.outcome == "succeeded" and result.cached
    remote = ctx.client.v1.customers.retrieve(result.object_id)
    assert remote.email == "local@example.com" and remote.name == "Local Ann"
    assert remote.address["country"] == "FR" and remote.metadata.to_dict() == {"plan": "pro", "città": "Zürich"}
    row = _row(ctx.cache, "SELECT email, name, phone, country, metadata FROM customers WHERE id = ?",
               [result.object_id])
    assert row[:4] == ("local@example.com", "Local Ann", "+33 1 23 45 67 89", "FR")
    assert json.loads(row[4]) == {"plan": "pro", "città": "Zürich"}


def test_localstripe_payment_succeeds_and_lands_with_its_charge(local_ctx):
    ctx = local_ctx
    customer = _customer(ctx, "payer@example.com", "Payer")
    card = _local_card(ctx, customer, "4242424242424242")
    result = actions.create_payment(ctx, {"customer": customer, "amount": "19.99", "currency": "usd",
                                          "payment_method": card, "confirm": True, "metadata": {"order": "42"}})
    assert result.ok and result.outcome == "succeeded", result.message
    assert "succeeded" in result.message and "$19.99" in result.message and "Payer" in result.message
    remote = ctx.client.v1.payment_intents.retrieve(result.object_id)
    assert remote.status == "succeeded" and remote.amount == 1999
    charge_id = remote.latest_charge if isinstance(remote.latest_charge, str) else remote.latest_charge.id
    assert _row(ctx.cache, "SELECT amount, status, latest_charge FROM payment_intents WHERE id = ?",
                [result.object_id]) == (1999, "succeeded", charge_id)
    assert _row(ctx.cache, "SELECT amount, status, paid, payment_intent, customer FROM charges WHERE id = ?",
                [charge_id]) == (1999, "succeeded", True, result.object_id, customer)
    assert _count(ctx.cache, "balance_transactions") == 1


def test_localstripe_declined_payment_is_explained_and_cached(local_ctx):
    ctx = local_ctx
    customer = _customer(ctx, "declined@example.com", "Declined")
    # localstripe refuses to attach 4000000000000002; 4000000000000341 attaches, then its charges fail.
    with pytest.raises(stripe.CardError):
        _local_card(ctx, customer, "4000000000000002")
    card = _local_card(ctx, customer, "4000000000000341")
    result = actions.create_payment(ctx, {"customer": customer, "amount": "25", "currency": "eur",
                                          "payment_method": card, "confirm": True})
    assert not result.ok and result.outcome == "declined"
    assert result.error_code == "card_declined" and result.field == "payment_method"
    assert "declined" in result.message and "another payment method" in result.message
    assert result.object_id and result.object_id.startswith("pi_")
    remote = ctx.client.v1.payment_intents.retrieve(result.object_id)
    assert remote.status == "requires_payment_method"
    assert _row(ctx.cache, "SELECT status FROM payment_intents WHERE id = ?", [result.object_id]) == (
        "requires_payment_method",)
    assert _row(ctx.cache, "SELECT status, failure_code FROM charges WHERE payment_intent = ?",
                [result.object_id]) == ("failed", "card_declined")
    audit = _audit(ctx.cache)[-1]
    assert (audit["action"], audit["outcome"], audit["error_code"]) == ("create_payment", "declined", "card_declined")


def test_localstripe_payment_requiring_authentication(local_ctx):
    ctx = local_ctx
    customer = _customer(ctx, "3ds@example.com", "Three D")
    card = _local_card(ctx, customer, "4000002760003184")
    result = actions.create_payment(ctx, {"customer": customer, "amount": "30", "currency": "usd",
                                          "payment_method": card, "confirm": True})
    assert result.outcome == "requires_action" and "authenticate" in result.message
    assert ctx.client.v1.payment_intents.retrieve(result.object_id).status == "requires_action"
    assert _row(ctx.cache, "SELECT status FROM payment_intents WHERE id = ?", [result.object_id]) == (
        "requires_action",)


def test_localstripe_product_and_refund_of_a_created_payment(local_ctx):
    ctx = local_ctx
    result = actions.create_product(ctx, {"name": "Local product", "description": "no price here",
                                          "metadata": {"tier": "gold"}})
    assert result.ok and result.outcome == "succeeded"
    remote = ctx.client.v1.products.retrieve(result.object_id)
    assert remote.name == "Local product" and remote.description == "no price here"
    assert _row(ctx.cache, "SELECT name, active, metadata FROM products WHERE id = ?", [result.object_id]) == (
        "Local product", True, '{"tier":"gold"}')
    # A payment created by the action can be refunded in Stripe; the charge row is an upsert target.
    customer = _customer(ctx, "refund@example.com", "Refund")
    card = _local_card(ctx, customer, "4242424242424242")
    paid = actions.create_payment(ctx, {"customer": customer, "amount": "10", "currency": "usd",
                                        "payment_method": card, "confirm": True})
    refund = ctx.client.v1.refunds.create({"payment_intent": paid.object_id})
    assert refund.status == "succeeded" and refund.amount == 1000


def test_localstripe_same_key_twice_is_one_customer(local_ctx):
    # localstripe ignores Idempotency-Key (so this documents the request the SDK sends, not the
    # replay, which the fake server's tests check).
    ctx = local_ctx
    result = actions.create_customer(ctx, {"email": "keyed@example.com"}, "sa_local_key_0001")
    assert result.idempotency_key == "sa_local_key_0001"
    assert _audit(ctx.cache)[-1]["idempotency_key"] == "sa_local_key_0001"


# ----------------------------------------------------------------------------- fake server: prices, products

def test_product_with_default_price_and_more_prices(fake_ctx, fake_stripe):
    ctx = fake_ctx
    result = actions.create_product(ctx, {"name": "Team", "description": "for teams", "amount": "1.234",
                                          "currency": "kwd", "interval": "month", "interval_count": 3,
                                          "metadata": {"line": "b2b"}}, "sa_product_key_1")
    assert result.ok and not result.warnings, result
    price_id = next(o["id"] for o in result.objects if o["object"] == "price")
    assert fake_stripe.get("product", result.object_id)["default_price"] == price_id
    remote_price = fake_stripe.get("price", price_id)
    assert remote_price["unit_amount"] == 1234 and remote_price["recurring"]["interval_count"] == 3
    assert _row(ctx.cache, "SELECT name, default_price FROM products WHERE id = ?", [result.object_id]) == (
        "Team", price_id)
    assert _row(ctx.cache, "SELECT unit_amount, currency, type, interval, interval_count FROM prices WHERE id = ?",
                [price_id]) == (1234, "kwd", "recurring", "month", 3)
    keys = [r.idempotency_key for r in fake_stripe.requests if r.method == "POST"]
    assert keys == ["sa_product_key_1:product", "sa_product_key_1:price", "sa_product_key_1:default_price"]

    added = actions.add_price(ctx, {"product": result.object_id, "amount": "12", "currency": "kwd",
                                    "interval": "year", "nickname": "Annual"})
    assert added.ok and added.object_type == "price"
    assert fake_stripe.get("price", added.object_id)["unit_amount"] == 12000
    assert _row(ctx.cache, "SELECT product, unit_amount, interval, nickname FROM prices WHERE id = ?",
                [added.object_id]) == (result.object_id, 12000, "year", "Annual")
    one_time = actions.add_price(ctx, {"product": result.object_id, "amount": "5000", "currency": "jpy"})
    assert _row(ctx.cache, "SELECT unit_amount, type FROM prices WHERE id = ?", [one_time.object_id]) == (
        5000, "one_time")


def test_product_whose_default_price_cannot_be_set_says_so(fake_ctx, fake_stripe):
    # The product update that makes the price the default keeps failing: the price exists, not as default.
    fake_stripe.inject("server_error", times=None, path="^/v1/products/prod_", method="POST")
    result = actions.create_product(fake_ctx, {"name": "Solo", "amount": "9", "currency": "usd"})
    assert result.ok and result.warnings and "default price" in result.warnings[0]
    assert _count(fake_ctx.cache, "prices") == 1


def test_product_retry_after_a_failed_price_creates_the_product_once(fake_ctx, fake_stripe):
    fake_stripe.inject("server_error", times=None, path="^/v1/prices$", method="POST")
    first = actions.create_product(fake_ctx, {"name": "Half", "amount": "9", "currency": "usd"}, "sa_half_key_01")
    assert not first.ok and "was created" in first.message and "Submitting again adds only the price" in first.message
    assert _count(fake_ctx.cache, "products") == 1
    fake_stripe.clear_faults()
    second = actions.create_product(fake_ctx, {"name": "Half", "amount": "9", "currency": "usd"}, "sa_half_key_01")
    assert second.ok and second.object_id == first.object_id
    assert len(_objects(fake_stripe, "product")) == 1 and len(_objects(fake_stripe, "price")) == 1


# ----------------------------------------------------------------------------- fake server: payments

def test_payment_outcomes_in_plain_words(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = _customer(ctx)
    ok = actions.create_payment(ctx, {"customer": customer, "amount": "19.99", "currency": "usd",
                                      "payment_method": "pm_card_visa", "confirm": True, "description": "Order 7",
                                      "receipt_email": "ann@example.com"})
    assert ok.outcome == "succeeded" and ok.message.startswith("Payment of $19.99 from Ann Smith <ann@example.com>")
    assert _row(ctx.cache, "SELECT status, amount, description, receipt_email FROM payment_intents WHERE id = ?",
                [ok.object_id]) == ("succeeded", 1999, "Order 7", "ann@example.com")
    assert _count(ctx.cache, "charges", f"payment_intent = '{ok.object_id}' AND status = 'succeeded'") == 1
    assert _count(ctx.cache, "balance_transactions") == 1

    declined = actions.create_payment(ctx, {"customer": customer, "amount": "19.99", "currency": "usd",
                                            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                                            "confirm": True})
    assert declined.outcome == "declined" and not declined.ok
    assert declined.error_code == "insufficient_funds" and "insufficient funds" in declined.message
    assert _count(ctx.cache, "charges", f"payment_intent = '{declined.object_id}' AND status = 'failed'") == 1

    generic = actions.create_payment(ctx, {"customer": customer, "amount": "5", "currency": "usd",
                                           "payment_method": "pm_card_chargeDeclined", "confirm": True})
    assert generic.outcome == "declined" and "declined" in generic.message

    action = actions.create_payment(ctx, {"customer": customer, "amount": "7", "currency": "usd",
                                          "payment_method": "pm_card_authenticationRequired", "confirm": True})
    assert action.outcome == "requires_action" and action.ok and "3-D Secure" in action.message

    later = actions.create_payment(ctx, {"customer": customer, "amount": "5000", "currency": "jpy"})
    assert later.outcome == "pending" and "left for later" in later.message
    assert fake_stripe.get("payment_intent", later.object_id)["amount"] == 5000
    statuses = dict(ctx.cache.con.execute("SELECT id, status FROM payment_intents").fetchall())
    assert statuses[action.object_id] == "requires_action"
    assert statuses[later.object_id] == "requires_payment_method"


# ----------------------------------------------------------------------------- fake server: subscriptions

def test_subscription_with_several_items_coupon_and_first_invoice(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = _customer(ctx)
    pro, seats, _ = _recurring_prices(ctx)
    fake_stripe.create({"id": "SAVE10", "object": "coupon", "percent_off": 10.0, "duration": "forever",
                        "amount_off": None, "currency": None, "duration_in_months": None, "valid": True,
                        "metadata": {}, "name": "10% off", "max_redemptions": None, "redeem_by": None,
                        "times_redeemed": 0})
    result = actions.create_subscription(ctx, {"customer": customer, "items": [
        {"price": pro, "quantity": 2}, {"price": seats, "quantity": 3}], "coupon": "SAVE10",
        "metadata": {"source": "app"}})
    assert result.ok and result.outcome == "succeeded", result.message
    assert "$113.00" in result.message  # 2 × 49 + 3 × 5, list price
    remote = fake_stripe.get("subscription", result.object_id)
    assert [(i["price"]["id"], i["quantity"]) for i in remote["items"]["data"]] == [(pro, 2), (seats, 3)]
    assert _row(ctx.cache, "SELECT status, customer, latest_invoice FROM subscriptions WHERE id = ?",
                [result.object_id]) == ("active", customer, remote["latest_invoice"])
    assert ctx.cache.con.execute("SELECT price, quantity FROM subscription_items WHERE subscription = ? ORDER BY "
                                 "price", [result.object_id]).fetchall() == sorted([(pro, 2), (seats, 3)])
    assert _row(ctx.cache, "SELECT coupon FROM discounts WHERE subscription = ?", [result.object_id]) == ("SAVE10",)
    assert _row(ctx.cache, "SELECT subtotal, total, billing_reason FROM invoices WHERE id = ?",
                [remote["latest_invoice"]]) == (11300, 10170, "subscription_create")
    assert _count(ctx.cache, "invoice_line_items", f"invoice = '{remote['latest_invoice']}'") == 2
    assert _count(ctx.cache, "subscription_history", f"subscription = '{result.object_id}'") == 1


def test_subscription_with_a_trial(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = _customer(ctx)
    pro, seats, _ = _recurring_prices(ctx)
    result = actions.create_subscription(ctx, {"customer": customer, "trial_days": 14,
                                               "items": [{"price": pro}, {"price": seats, "quantity": 10}]})
    assert result.ok and "trial until" in result.message and "once the trial ends" in result.message
    remote = fake_stripe.get("subscription", result.object_id)
    assert remote["status"] == "trialing" and remote["trial_end"] - remote["trial_start"] == 14 * 86400
    status, trial_end = _row(ctx.cache, "SELECT status, epoch(trial_end)::BIGINT FROM subscriptions WHERE id = ?",
                             [result.object_id])
    assert (status, trial_end) == ("trialing", remote["trial_end"])
    assert _count(ctx.cache, "subscription_items", f"subscription = '{result.object_id}'") == 2
    assert _count(ctx.cache, "invoices") == 0  # no first invoice during a trial


def test_cancel_at_period_end_resume_and_cancel_immediately(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = _customer(ctx)
    pro, _, _ = _recurring_prices(ctx)
    sub = actions.create_subscription(ctx, {"customer": customer, "items": [{"price": pro, "quantity": 2}]}).object_id

    at_end = actions.cancel_subscription(ctx, {"subscription": sub, "when": "at_period_end"})
    assert at_end.ok and "at the end of its period" in at_end.message and "MRR lost: $98.00" in at_end.message
    assert "Ann Smith" in at_end.message
    assert fake_stripe.get("subscription", sub)["cancel_at_period_end"] is True
    assert _row(ctx.cache, "SELECT status, cancel_at_period_end, cancel_at IS NOT NULL FROM subscriptions "
                           "WHERE id = ?", [sub]) == ("active", True, True)
    again = actions.cancel_subscription(ctx, {"subscription": sub, "when": "at_period_end"})
    assert again.outcome == "unchanged"

    resumed = actions.resume_subscription(ctx, {"subscription": sub})
    assert resumed.ok and resumed.outcome == "succeeded" and "resumed" in resumed.message
    assert fake_stripe.get("subscription", sub)["cancel_at_period_end"] is False
    assert _row(ctx.cache, "SELECT cancel_at_period_end FROM subscriptions WHERE id = ?", [sub]) == (False,)
    nothing = actions.resume_subscription(ctx, {"subscription": sub})
    assert nothing.outcome == "unchanged" and "nothing to resume" in nothing.message

    now = actions.cancel_subscription(ctx, {"subscription": sub, "when": "immediately"})
    assert now.ok and "canceled immediately" in now.message
    assert fake_stripe.get("subscription", sub)["status"] == "canceled"
    assert _row(ctx.cache, "SELECT status, ended_at IS NOT NULL FROM subscriptions WHERE id = ?", [sub]) == (
        "canceled", True)
    writes = fake_stripe.request_count(method="POST") + fake_stripe.request_count(method="DELETE")
    already = actions.cancel_subscription(ctx, {"subscription": sub, "when": "immediately"})
    assert already.outcome == "unchanged" and "already canceled" in already.message
    assert fake_stripe.request_count(method="POST") + fake_stripe.request_count(method="DELETE") == writes
    cannot = actions.resume_subscription(ctx, {"subscription": sub})
    assert not cannot.ok and "cannot be resumed" in cannot.message
    statuses = [r[0] for r in ctx.cache.con.execute(
        "SELECT status FROM subscription_history WHERE subscription = ? ORDER BY seen_at", [sub]).fetchall()]
    assert statuses[0] == "active" and statuses[-1] == "canceled"


# ----------------------------------------------------------------------------- idempotency and faults

def test_the_same_key_twice_creates_one_object(fake_ctx, fake_stripe):
    ctx = fake_ctx
    first = actions.create_customer(ctx, {"email": "twice@example.com"}, "sa_twice_key_1")
    second = actions.create_customer(ctx, {"email": "twice@example.com"}, "sa_twice_key_1")
    assert first.object_id == second.object_id and second.replayed and not first.replayed
    assert "nothing new was created" in second.message
    assert len(_objects(fake_stripe, "customer")) == 1

    pay = {"customer": first.object_id, "amount": "10", "currency": "usd", "payment_method": "pm_card_visa",
           "confirm": True}
    p1 = actions.create_payment(ctx, pay, "sa_twice_pay_1")
    p2 = actions.create_payment(ctx, pay, "sa_twice_pay_1")
    assert p1.object_id == p2.object_id and p2.replayed
    assert len(_objects(fake_stripe, "payment_intent")) == 1 and len(_objects(fake_stripe, "charge")) == 1

    pro, _, _ = _recurring_prices(ctx)
    sub = {"customer": first.object_id, "items": [{"price": pro}]}
    s1 = actions.create_subscription(ctx, sub, "sa_twice_sub_1")
    s2 = actions.create_subscription(ctx, sub, "sa_twice_sub_1")
    assert s1.object_id == s2.object_id and len(_objects(fake_stripe, "subscription")) == 1
    assert _count(ctx.cache, "customers") == 1 and _count(ctx.cache, "payment_intents") == 1
    assert _count(ctx.cache, "subscriptions") == 1

    # the same key with other values: Stripe refuses, the message says what to do
    other = actions.create_customer(ctx, {"email": "other@example.com"}, "sa_twice_key_1")
    assert not other.ok and other.error_code == "idempotency" and "new key" in other.message


@pytest.mark.parametrize("fault", ["server_error", "drop_after_processing"])
def test_faults_then_the_sdk_retry_create_exactly_one(fake_ctx, fake_stripe, fault):
    ctx = fake_ctx
    customer_fault = fake_stripe.inject(fault, times=1, path="^/v1/customers$", method="POST")
    customer = actions.create_customer(ctx, {"email": "fault@example.com"}, "sa_fault_customer")
    assert customer.ok and customer_fault.fired == 1
    assert len(_objects(fake_stripe, "customer")) == 1

    fake_stripe.inject(fault, times=1, path="^/v1/payment_intents$", method="POST")
    payment = actions.create_payment(ctx, {"customer": customer.object_id, "amount": "12.34", "currency": "usd",
                                           "payment_method": "pm_card_visa", "confirm": True}, "sa_fault_payment")
    assert payment.outcome == "succeeded", payment.message
    assert len(_objects(fake_stripe, "payment_intent")) == 1 and len(_objects(fake_stripe, "charge")) == 1

    pro, seats, _ = _recurring_prices(ctx)
    fake_stripe.inject(fault, times=1, path="^/v1/subscriptions$", method="POST")
    sub = actions.create_subscription(ctx, {"customer": customer.object_id,
                                            "items": [{"price": pro}, {"price": seats, "quantity": 2}]},
                                      "sa_fault_subscription")
    assert sub.ok and len(_objects(fake_stripe, "subscription")) == 1
    assert len(_objects(fake_stripe, "invoice")) == 1

    fake_stripe.inject(fault, times=1, path="^/v1/subscriptions/sub_", method="DELETE")
    canceled = actions.cancel_subscription(ctx, {"subscription": sub.object_id, "when": "immediately"},
                                           "sa_fault_cancel")
    assert canceled.ok and fake_stripe.get("subscription", sub.object_id)["status"] == "canceled"

    for path, key in (("/v1/customers", "sa_fault_customer"), ("/v1/payment_intents", "sa_fault_payment"),
                      ("/v1/subscriptions", "sa_fault_subscription")):
        sent = [r for r in fake_stripe.requests if r.method == "POST" and r.path == path]
        assert len(sent) == 2 and {r.idempotency_key for r in sent} == {key}
    assert _count(ctx.cache, "customers") == 1 and _count(ctx.cache, "payment_intents") == 1
    assert _count(ctx.cache, "subscriptions", "status = 'canceled'") == 1


def test_a_retry_by_the_user_after_a_lost_reply_creates_one(fake_stripe, tmp_path):
    # No SDK retries: the first attempt fails as a network error, the user submits again.
    with Cache.open(tmp_path / "c.duckdb") as cache:
        ctx = ActionContext.from_settings(_settings(fake_stripe.url, tmp_path=tmp_path, stripe_max_network_retries=0),
                                          cache=cache)
        fake_stripe.inject("drop_after_processing", times=1, path="^/v1/customers$", method="POST")
        first = actions.create_customer(ctx, {"email": "lost@example.com"}, "sa_lost_reply_1")
        assert not first.ok and first.error_code == "connection" and "safe" in first.message
        assert len(_objects(fake_stripe, "customer")) == 1  # created, but the reply was lost
        second = actions.create_customer(ctx, {"email": "lost@example.com"}, "sa_lost_reply_1")
        assert second.ok and second.replayed
        assert len(_objects(fake_stripe, "customer")) == 1
        assert _count(cache, "customers") == 1
        assert [r["outcome"] for r in _audit(cache)] == ["failed", "succeeded"]


# ----------------------------------------------------------------------------- errors in plain words

def test_stripe_errors_in_plain_words_with_their_field(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = _customer(ctx)
    one_time = actions.create_product(ctx, {"name": "Once", "amount": "10", "currency": "usd"})
    price = next(o["id"] for o in one_time.objects if o["object"] == "price")
    result = actions.create_subscription(ctx, {"customer": customer, "items": [{"price": price}]})
    assert not result.ok and result.field == "items.0.price" and "one_time" in result.message
    assert result.errors == {"items.0.price": result.message}

    missing = actions.create_subscription(ctx, {"customer": customer, "items": [{"price": "price_nope"}]})
    assert missing.field == "items.0.price" and missing.error_code == "resource_missing"
    assert "No such price" in missing.message and "Check the id" in missing.message
    pro, _, _ = _recurring_prices(ctx)
    coupon = actions.create_subscription(ctx, {"customer": customer, "items": [{"price": pro}], "coupon": "NOPE"})
    assert coupon.field == "coupon"
    nobody = actions.create_payment(ctx, {"customer": "cus_nobody", "amount": "10", "currency": "usd"})
    assert nobody.field == "customer" and "cus_nobody" in nobody.message


def test_permission_missing_for_a_restricted_key(fake_stripe, tmp_path):
    fake_stripe.add_key(RESTRICTED_KEY, FAKE_ACCOUNT, denied={"customers:write"})
    with Cache.open(tmp_path / "c.duckdb") as cache:
        ctx = ActionContext.from_settings(_settings(fake_stripe.url, RESTRICTED_KEY, tmp_path), cache=cache)
        result = actions.create_customer(ctx, {"email": "nope@example.com"})
        assert not result.ok and result.error_code == "permission"
        assert "Write access to Customers" in result.message
        dump = json.dumps([{k: str(v) for k, v in row.items()} for row in _audit(cache)])
        assert RESTRICTED_KEY not in dump and "restricted_secret" not in dump


def test_rate_limited_after_retries(fake_stripe, tmp_path):
    with Cache.open(tmp_path / "c.duckdb") as cache:
        ctx = ActionContext.from_settings(_settings(fake_stripe.url, tmp_path=tmp_path, stripe_max_network_retries=1),
                                          cache=cache)
        fake_stripe.inject("rate_limit_no_retry_after", times=None, path="^/v1/customers$")
        result = actions.create_customer(ctx, {"email": "busy@example.com"})
        assert not result.ok and result.error_code == "rate_limit" and "Wait a minute" in result.message
        assert len(_objects(fake_stripe, "customer")) == 0


def test_authentication_failure(fake_stripe, tmp_path):
    with Cache.open(tmp_path / "c.duckdb") as cache:
        ctx = ActionContext.from_settings(_settings(fake_stripe.url, "sk_test_revoked_key_0000", tmp_path),
                                          cache=cache)
        result = actions.create_customer(ctx, {"email": "a@example.com"})
        assert result.error_code == "authentication" and "STRIPE_API_KEY" in result.message
        assert "sk_test_revoked_key_0000" not in json.dumps([str(r) for r in _audit(cache)])


# ----------------------------------------------------------------------------- audit and live mode

def test_audit_log_records_every_attempt_without_secrets(fake_ctx, fake_stripe):
    ctx = fake_ctx
    customer = actions.create_customer(ctx, {"email": "audit@example.com"}, "sa_audit_key_01")
    actions.create_payment(ctx, {"customer": customer.object_id, "amount": "10", "currency": "usd",
                                 "payment_method": "pm_card_chargeDeclined", "confirm": True}, "sa_audit_key_02")
    actions.create_payment(ctx, {"customer": customer.object_id, "amount": "10", "currency": "usd",
                                 "payment_method": "pm_card_visa", "confirm": True}, "sa_audit_key_03")
    rows = _audit(ctx.cache)
    assert [(r["action"], r["outcome"], r["error_code"], r["idempotency_key"], r["mode"], r["object_type"])
            for r in rows] == [
        ("create_customer", "succeeded", None, "sa_audit_key_01", "test", "customer"),
        ("create_payment", "declined", "generic_decline", "sa_audit_key_02", "test", "payment_intent"),
        ("create_payment", "succeeded", None, "sa_audit_key_03", "test", "payment_intent"),
    ]
    assert rows[0]["object_id"] == customer.object_id and all(r["object_id"] for r in rows)
    assert all(r["at"] is not None and r["id"].startswith("aud_") for r in rows)
    dump = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    assert FAKE_KEY not in dump and "_secret_" not in dump and "sk_test" not in dump


def test_live_mode_writes_need_a_confirmation(fake_stripe, tmp_path):
    fake_stripe.add_key(LIVE_KEY, FAKE_ACCOUNT)
    with Cache.open(tmp_path / "c.duckdb") as cache:
        ctx = ActionContext.from_settings(_settings(fake_stripe.url, LIVE_KEY, tmp_path), cache=cache)
        assert ctx.mode == "live"
        refused = actions.create_customer(ctx, {"email": "live@example.com"})
        assert refused.outcome == "refused" and not refused.ok and "Nothing was sent" in refused.message
        assert fake_stripe.request_count(method="POST") == 0
        refused_payment = actions.create_payment(ctx, {"customer": "cus_1", "amount": "1", "currency": "usd"})
        assert refused_payment.outcome == "refused" and fake_stripe.request_count() == 0
        done = actions.create_customer(ctx, {"email": "live@example.com"}, confirm_live=True)
        assert done.ok and fake_stripe.request_count(method="POST") == 1
        rows = _audit(cache)
        assert [(r["mode"], r["outcome"], r["error_code"]) for r in rows] == [
            ("live", "refused", "live_not_confirmed"), ("live", "refused", "live_not_confirmed"),
            ("live", "succeeded", None)]
        assert LIVE_KEY not in json.dumps([str(r) for r in rows])


# ----------------------------------------------------------------------------- the cache: path-only and sync

def test_path_only_context_opens_the_cache_just_for_the_write(fake_stripe, tmp_path):
    path = tmp_path / "app.duckdb"
    Cache.open(path).close()
    ctx = ActionContext.from_settings(_settings(fake_stripe.url, tmp_path=tmp_path), cache_path=path)
    result = actions.create_customer(ctx, {"email": "app@example.com", "name": "App"})
    assert result.ok and result.cached
    with Cache.open(path, read_only=True) as cache:  # nothing kept open by the action
        assert _count(cache, "customers") == 1 and len(_audit(cache)) == 1


def test_an_unwritable_cache_keeps_the_audit_row_for_later(fake_stripe, tmp_path, monkeypatch):
    from stripe_analytics.actions import audit
    from stripe_analytics.cache import CacheError

    path = tmp_path / "busy.duckdb"
    Cache.open(path).close()
    ctx = ActionContext.from_settings(_settings(fake_stripe.url, tmp_path=tmp_path), cache_path=path)
    real_open = Cache.open

    def busy(*args, **kwargs):
        if not kwargs.get("read_only"):
            raise CacheError("The cache busy.duckdb is in use by another process (a sync or another app).")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Cache, "open", staticmethod(busy))
    monkeypatch.setattr(ActionContext, "open_timeout", 0.1)
    result = actions.create_customer(ctx, {"email": "later@example.com"})
    assert result.ok and not result.cached and "next sync" in result.warnings[0]
    assert Path(str(path) + audit.PENDING_SUFFIX).exists()
    monkeypatch.setattr(Cache, "open", real_open)
    actions.create_customer(ctx, {"email": "now@example.com"})
    with Cache.open(path, read_only=True) as cache:
        assert [r["outcome"] for r in _audit(cache)] == ["succeeded", "succeeded"]
        assert _count(cache, "customers") == 1  # the first one arrives with the next sync
    assert not Path(str(path) + audit.PENDING_SUFFIX).exists()


def test_a_sync_after_the_actions_duplicates_nothing(fake_stripe, tmp_path):
    settings = _settings(fake_stripe.url, tmp_path=tmp_path, stripe_max_network_retries=2)
    path = tmp_path / f"{FAKE_ACCOUNT}.duckdb"
    sync_account(settings, db_path=path, slices=1)  # the account's first sync: empty
    with Cache.open(path) as cache:
        ctx = ActionContext.from_settings(settings, cache=cache)
        customer = _customer(ctx)
        pay = actions.create_payment(ctx, {"customer": customer, "amount": "19.99", "currency": "usd",
                                           "payment_method": "pm_card_visa", "confirm": True})
        pro, seats, _ = _recurring_prices(ctx)
        sub = actions.create_subscription(ctx, {"customer": customer, "trial_days": 7,
                                                "items": [{"price": pro}, {"price": seats, "quantity": 4}]})
        paid = actions.create_subscription(ctx, {"customer": customer, "items": [{"price": pro}]})
        actions.cancel_subscription(ctx, {"subscription": sub.object_id, "when": "at_period_end"})
        before = cache.row_counts()
        raw_before = dict(cache.con.execute("SELECT id, raw FROM payment_intents").fetchall())
    assert before["customers"] == 1 and before["subscriptions"] == 2 and before["subscription_items"] == 3

    report = sync_account(settings, db_path=path, slices=1)
    assert report.kind == "incremental" and report.events_applied > 0
    with Cache.open(path, read_only=True) as cache:
        after = cache.row_counts()
        for table in ("customers", "products", "prices", "subscriptions", "subscription_items", "payment_intents",
                      "invoices", "invoice_line_items"):
            assert after[table] == before[table], (table, before[table], after[table])
        assert after["charges"] == len(_objects(fake_stripe, "charge"))  # + the first invoice's charge
        assert after["customers"] == len(_objects(fake_stripe, "customer"))
        assert after["subscriptions"] == len(_objects(fake_stripe, "subscription"))
        assert after["payment_intents"] == len(_objects(fake_stripe, "payment_intent"))
        assert _row(cache, "SELECT cancel_at_period_end, status FROM subscriptions WHERE id = ?",
                    [sub.object_id]) == (True, "trialing")
        assert _row(cache, "SELECT status FROM subscriptions WHERE id = ?", [paid.object_id]) == ("active",)
        assert _row(cache, "SELECT status FROM payment_intents WHERE id = ?", [pay.object_id]) == ("succeeded",)
        raw_after = dict(cache.con.execute("SELECT id, raw FROM payment_intents").fetchall())
        assert json.loads(raw_after[pay.object_id])["latest_charge"] == json.loads(
            raw_before[pay.object_id])["latest_charge"]
