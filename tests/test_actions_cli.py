"""`stripe-analytics create|cancel|resume` against the fake Stripe server: each command, its
output and exit code, bad input refused before anything is sent, idempotency keys, live mode."""

from __future__ import annotations

import json
import os

import pytest

from stripe_analytics.actions_cli import flag_for
from stripe_analytics.cache import Cache
from stripe_analytics.cli import main
from tests.conftest import FAKE_ACCOUNT, FAKE_KEY
from tests.test_actions import LIVE_KEY


@pytest.fixture
def cli_env(fake_stripe, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "SYNC_", "DATA_DIR"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRIPE_API_KEY", FAKE_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "2")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data" / f"{FAKE_ACCOUNT}.duckdb"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _ids(fake, kind: str) -> list[str]:
    return list(fake.account_store().objects[kind])


def test_create_customer_writes_stripe_and_the_accounts_cache(cli_env, fake_stripe, capsys):
    code, out, err = run(capsys, "create", "customer", "--email", "cli@example.com", "--name", "Cli Ann",
                         "--metadata", "plan=pro", "--metadata", "team=a=b")
    assert code == 0, err
    [customer] = _ids(fake_stripe, "customer")
    assert customer in out and "created" in out
    assert fake_stripe.get("customer", customer)["metadata"] == {"plan": "pro", "team": "a=b"}
    with Cache.open(cli_env, read_only=True) as cache:
        assert cache.account_id == FAKE_ACCOUNT
        assert cache.con.execute("SELECT email, name FROM customers").fetchall() == [("cli@example.com", "Cli Ann")]
        assert cache.con.execute("SELECT action, outcome FROM audit_log").fetchall() == [
            ("create_customer", "succeeded")]


@pytest.mark.parametrize("argv, message", [
    (["create", "customer", "--email", "not-an-email"], "--email is not a valid email address"),
    (["create", "customer", "--name", "Ann", "--metadata", "a[b]=c"], "--metadata key 'a[b]' contains square"),
    (["create", "customer", "--name", "Ann", "--metadata", "novalue"], "--metadata entry 'novalue'"),
    (["create", "customer", "--email", "a@example.com", "--address-country", "USA"], "--address-country must be"),
    (["create", "payment", "--customer", "cus_1", "--amount", "19.999", "--currency", "usd"],
     "--amount USD has at most 2 decimals"),
    (["create", "payment", "--customer", "cus_1", "--amount", "nan", "--currency", "usd"], "--amount must be a finite number"),
    (["create", "payment", "--customer", "cus_1", "--amount", "10", "--currency", "xyz"], "--currency xyz is not"),
    (["create", "payment", "--customer", "cus_1", "--amount", "10.5", "--currency", "jpy"], "--amount JPY has no"),
    (["create", "payment", "--customer", "cus_1'--", "--amount", "10", "--currency", "usd"], "--customer must be"),
    (["create", "payment", "--customer", "cus_1", "--amount", "10", "--currency", "usd", "--confirm"],
     "--payment-method choose a payment method"),
    (["create", "product", "--name", "P", "--amount", "10", "--currency", "usd", "--interval", "month",
      "--interval-count", "13"], "--interval-count makes the billing period longer than one year"),
    (["create", "product", "--name", "P", "--amount", "10"], "--currency is required with an amount"),
    (["create", "price", "--product", "prod 1", "--amount", "10", "--currency", "usd"], "--product must be"),
    (["create", "subscription", "--customer", "cus_1", "--price", "price_1:0"], "--price (item 1) quantity must be"),
    (["create", "subscription", "--customer", "cus_1", "--price", "price_1", "--price", "price_1"],
     "--price (item 2) is already in this subscription"),
    (["create", "subscription", "--customer", "cus_1", "--price", "price_1", "--trial-days", "999"], "--trial-days"),
    (["cancel", "subscription", "sub_1/../x"], "SUBSCRIPTION_ID must be a subscription id"),
    (["resume", "subscription", "cus_1"], "SUBSCRIPTION_ID must be a subscription id"),
    (["create", "customer", "--email", "a@example.com", "--idempotency-key", "bad key"], "--idempotency-key"),
    (["create", "customer", "--email", "a@example.com", "--db", "x.sqlite"], "--db must be a path"),
])
def test_bad_input_exits_2_and_sends_nothing(cli_env, fake_stripe, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err, err
    assert out == ""
    assert fake_stripe.request_count() == 0
    assert not cli_env.exists()


def test_missing_required_option_is_an_argparse_error(cli_env, fake_stripe, capsys):
    code, _, err = run(capsys, "create", "payment", "--customer", "cus_1", "--currency", "usd")
    assert code == 2 and "--amount" in err and fake_stripe.request_count() == 0


def test_payments_exit_codes(cli_env, fake_stripe, capsys):
    assert run(capsys, "create", "customer", "--email", "pay@example.com")[0] == 0
    [customer] = _ids(fake_stripe, "customer")
    code, out, err = run(capsys, "create", "payment", "--customer", customer, "--amount", "19.99", "--currency",
                         "usd", "--payment-method", "pm_card_visa", "--confirm")
    assert code == 0 and "succeeded" in out and "$19.99" in out, err
    code, out, err = run(capsys, "create", "payment", "--customer", customer, "--amount", "10", "--currency",
                         "usd", "--payment-method", "pm_card_chargeDeclined", "--confirm")
    assert code == 1 and "declined" in err and out == ""
    assert "--idempotency-key" in err  # how to retry this same submission
    code, out, err = run(capsys, "create", "payment", "--customer", customer, "--amount", "10", "--currency",
                         "usd", "--payment-method", "pm_card_authenticationRequired", "--confirm")
    assert code == 4 and "authenticate" in out
    code, out, _ = run(capsys, "create", "payment", "--customer", customer, "--amount", "5000", "--currency", "jpy")
    assert code == 0 and "left for later" in out
    with Cache.open(cli_env, read_only=True) as cache:
        rows = cache.con.execute("SELECT amount, currency, status FROM payment_intents ORDER BY created, id").fetchall()
        assert sorted(rows) == sorted([(1999, "usd", "succeeded"), (1000, "usd", "requires_payment_method"),
                                       (1000, "usd", "requires_action"), (5000, "jpy", "requires_payment_method")])


def test_catalog_and_subscription_lifecycle(cli_env, fake_stripe, capsys):
    assert run(capsys, "create", "customer", "--email", "sub@example.com", "--name", "Sub")[0] == 0
    [customer] = _ids(fake_stripe, "customer")
    code, out, err = run(capsys, "create", "product", "--name", "Pro", "--amount", "49", "--currency", "usd",
                         "--interval", "month", "--interval-count", "1")
    assert code == 0 and "Pro" in out, err
    [product] = _ids(fake_stripe, "product")
    code, out, _ = run(capsys, "create", "price", "--product", product, "--amount", "490", "--currency", "usd",
                       "--interval", "year", "--nickname", "Annual", "--json")
    assert code == 0
    price = json.loads(out)
    assert price["outcome"] == "succeeded" and price["object_type"] == "price"
    monthly = fake_stripe.get("product", product)["default_price"]
    code, out, err = run(capsys, "create", "price", "--product", product, "--amount", "5", "--currency", "usd",
                         "--interval", "month")
    assert code == 0
    seats = [p for p in _ids(fake_stripe, "price") if p not in (monthly, price["object_id"])][0]
    code, out, err = run(capsys, "create", "subscription", "--customer", customer, "--price", f"{monthly}:2",
                         "--price", f"{seats}:3", "--trial-days", "7")
    assert code == 0 and "trial" in out, err
    [sub] = _ids(fake_stripe, "subscription")
    assert [i["quantity"] for i in fake_stripe.get("subscription", sub)["items"]["data"]] == [2, 3]
    code, out, _ = run(capsys, "cancel", "subscription", sub, "--at-period-end")
    assert code == 0 and "at the end of its period" in out
    code, out, _ = run(capsys, "resume", "subscription", sub)
    assert code == 0 and "resumed" in out
    code, out, _ = run(capsys, "cancel", "subscription", sub)
    assert code == 0 and "canceled immediately" in out
    assert fake_stripe.get("subscription", sub)["status"] == "canceled"
    code, out, err = run(capsys, "resume", "subscription", sub)
    assert code == 1 and "cannot be resumed" in err
    with Cache.open(cli_env, read_only=True) as cache:
        assert cache.con.execute("SELECT status FROM subscriptions").fetchall() == [("canceled",)]
        assert cache.con.execute("SELECT count(*) FROM subscription_items").fetchone()[0] == 2
        actions = [r[0] for r in cache.con.execute('SELECT action FROM audit_log ORDER BY "at"').fetchall()]
        assert actions == ["create_customer", "create_product", "add_price", "add_price", "create_subscription",
                           "cancel_subscription", "resume_subscription", "cancel_subscription",
                           "resume_subscription"]


def test_the_same_idempotency_key_creates_once(cli_env, fake_stripe, capsys):
    argv = ["create", "customer", "--email", "once@example.com", "--idempotency-key", "sa_cli_key_0001"]
    assert run(capsys, *argv)[0] == 0
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "nothing new was created" in out
    assert len(_ids(fake_stripe, "customer")) == 1
    assert {r.idempotency_key for r in fake_stripe.requests if r.method == "POST"} == {"sa_cli_key_0001"}


def test_stripe_refusals_exit_1_with_the_reason(cli_env, fake_stripe, capsys):
    code, out, err = run(capsys, "create", "payment", "--customer", "cus_missing", "--amount", "10",
                         "--currency", "usd")
    assert code == 1 and "No such customer" in err and out == ""


def test_live_mode_needs_yes(cli_env, fake_stripe, capsys, monkeypatch):
    fake_stripe.add_key(LIVE_KEY, FAKE_ACCOUNT)
    monkeypatch.setenv("STRIPE_API_KEY", LIVE_KEY)
    code, out, err = run(capsys, "create", "customer", "--email", "live@example.com")
    assert code == 2 and "--yes" in err and "Nothing was sent" in err
    assert fake_stripe.request_count(method="POST") == 0
    code, out, err = run(capsys, "create", "customer", "--email", "live@example.com", "--yes")
    assert code == 0 and len(_ids(fake_stripe, "customer")) == 1
    with Cache.open(cli_env, read_only=True) as cache:
        assert cache.con.execute("SELECT mode, outcome FROM audit_log ORDER BY \"at\"").fetchall() == [
            ("live", "refused"), ("live", "succeeded")]


def test_db_option_and_account_mismatch(cli_env, fake_stripe, capsys, tmp_path):
    other = tmp_path / "other.duckdb"
    with Cache.open(other) as cache, cache.transaction():
        cache.set_meta("account_id", "acct_someone_else")
    code, _, err = run(capsys, "create", "customer", "--email", "a@example.com", "--db", str(other))
    assert code == 2 and "acct_someone_else" in err and fake_stripe.request_count(method="POST") == 0
    mine = tmp_path / "mine.duckdb"
    assert run(capsys, "create", "customer", "--email", "a@example.com", "--db", str(mine))[0] == 0
    with Cache.open(mine, read_only=True) as cache:
        assert cache.con.execute("SELECT count(*) FROM customers").fetchone()[0] == 1


def test_no_key_is_a_settings_error(cli_env, fake_stripe, capsys, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY")
    code, _, err = run(capsys, "create", "customer", "--email", "a@example.com")
    assert code == 2 and "STRIPE_API_KEY" in err and fake_stripe.request_count() == 0


def test_revoked_key_exits_3(cli_env, fake_stripe, capsys, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_revoked_key_0000")
    code, _, err = run(capsys, "create", "customer", "--email", "a@example.com")
    assert code == 3 and "sk_test_revoked_key_0000" not in err


def test_flag_names():
    assert flag_for("items.0.price") == "--price (item 1)"
    assert flag_for("items.2.quantity") == "--price (item 3) quantity"
    assert flag_for("address.postal_code") == "--address-postal-code"
    assert flag_for("trial_days") == "--trial-days"
    assert flag_for("subscription") == "SUBSCRIPTION_ID"
