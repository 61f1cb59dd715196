"""`stripe-analytics metrics`: the contract's JSON on stdout, a readable table, exit code 2 for
bad input."""

from __future__ import annotations

import json

import pytest

from stripe_analytics import cli
from stripe_analytics.metrics import (DEPTH_MONTH_KEYS, JSON_MONTH_KEYS, REPORTING_MONTH_KEYS, import_rates,
                                      parse_rates_csv)
from tests.stripe_builders import balance_transaction, charge, customer, item, make_cache, price, subscription


@pytest.fixture
def db(tmp_path):
    p, j = price("p", 2500), price("p_jpy", 3000, currency="jpy")
    cache = make_cache(tmp_path, [
        p, j, customer("cus_1"), customer("cus_2"),
        subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-10"),
        subscription("sub_2", "cus_2", [item("si_2", j)], start="2024-02-10"),
        charge("ch_1", 2500, "2024-01-10", customer="cus_1"),
    ], name="acct.duckdb", account_id="acct_cli")
    cache.close()
    return str(tmp_path / "acct.duckdb")


def test_json_output(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["account"] == "acct_cli" and doc["as_of"] == "2024-02-29"
    assert list(doc["currencies"]) == ["jpy", "usd"]
    usd = doc["currencies"]["usd"]["months"]
    assert [tuple(m) for m in usd] == [JSON_MONTH_KEYS + DEPTH_MONTH_KEYS] * 2  # the contract's keys first, unchanged
    assert [(m["month"], m["mrr"], m["gross_volume"]) for m in usd] == [("2024-01", 25.0, 25.0), ("2024-02", 25.0, 0)]
    assert doc["currencies"]["jpy"]["months"][1]["mrr"] == 3000


def test_currency_option_and_discount_policy(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29", "--json", "--currency", "USD",
                     "--discount-policy", "forever_only"]) == 0
    assert list(json.loads(capsys.readouterr().out)["currencies"]) == ["usd"]


def test_table_output(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29"]) == 0
    out = capsys.readouterr().out
    assert "USD" in out and "JPY" in out and "$25.00" in out and "¥3,000" in out
    assert "2024-02" in out


@pytest.mark.parametrize("args, words", [
    (["--as-of", "2024-02-30"], "--as-of"),
    (["--as-of", "yesterday"], "--as-of"),
    (["--currency", "gbp"], "--currency"),
    (["--currency", "dollars"], "--currency"),
    (["--discount-policy", "some"], "--discount-policy"),
    (["--reporting-currency", "xof"], "--reporting-currency"),
    (["--reporting-currency", "us"], "--reporting-currency"),
])
def test_bad_input_is_one_line_and_exit_code_2(db, capsys, args, words):
    assert cli.main(["metrics", "--db", db, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(words)


@pytest.fixture
def fx_db(tmp_path):
    """EUR 100.00 a month from January (cus_1); USD 50.00 from February (cus_2); a EUR 10.00 charge
    settled in USD; a XOF customer (no rate). Rates (the user's, winning over the ECB's): USD 1.25
    per EUR on January 30, 1.50 on February 28."""
    eur, usd, xof = price("p_eur", 10000, currency="eur"), price("p_usd", 5000), price("p_xof", 120000, currency="xof")
    cache = make_cache(tmp_path, [
        eur, usd, xof, customer("cus_1"), customer("cus_2"), customer("cus_3"),
        subscription("sub_1", "cus_1", [item("si_1", eur)], start="2024-01-01"),
        subscription("sub_2", "cus_2", [item("si_2", usd)], start="2024-02-01"),
        subscription("sub_3", "cus_3", [item("si_3", xof)], start="2024-02-01"),
        charge("ch_1", 1000, "2024-02-29T10:00:00", customer="cus_1", currency="eur", balance_transaction="txn_1"),
        balance_transaction("txn_1", "charge", 1500, 75, "2024-02-29T10:00:00", "ch_1"),
    ], name="fx.duckdb", account_id="acct_fx")
    import_rates(cache, parse_rates_csv("date,currency,per_eur\n2024-01-30,usd,1.25\n2024-02-28,usd,1.5\n"))
    cache.close()
    return str(tmp_path / "fx.duckdb")


def test_json_reporting_object_matches_the_contract(fx_db, capsys):
    assert cli.main(["metrics", "--db", fx_db, "--as-of", "2024-02-29", "--json", "--reporting-currency", "USD"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["account", "as_of", "currencies", "reporting"]
    reporting = doc["reporting"]
    assert list(reporting) == ["currency", "rates", "unconverted", "months"]
    assert reporting["currency"] == "usd"
    assert reporting["rates"] == {"source": "user rates", "last_rate_date": "2024-02-28"}
    assert reporting["unconverted"] == [{"month": "2024-02", "currency": "xof", "mrr": 120000}]
    assert [tuple(m) for m in reporting["months"]] == [REPORTING_MONTH_KEYS + DEPTH_MONTH_KEYS] * 2
    jan, feb = ({key: month[key] for key in REPORTING_MONTH_KEYS} for month in reporting["months"])
    # A whole February (as of its last day) is compared with the whole of January.
    assert {k: reporting["months"][1][k] for k in ("period_days", "previous_start", "previous_end",
                                                   "previous_gross_volume", "last_year_start")} == {
        "period_days": 29, "previous_start": "2024-01-01", "previous_end": "2024-01-31",
        "previous_gross_volume": 0.0, "last_year_start": None}
    assert jan == {"month": "2024-01", "mrr": 125.0, "arr": 1500.0, "new_mrr": 125.0, "expansion_mrr": 0.0,
                   "contraction_mrr": 0.0, "churned_mrr": 0.0, "reactivation_mrr": 0.0, "net_new_mrr": 125.0,
                   "fx_mrr": 0.0, "active_customers": 1, "new_customers": 1, "churned_customers": 0,
                   "reactivated_customers": 0, "customer_churn_rate": None, "revenue_churn_rate": None,
                   "grr": None, "nrr": None, "arpa": 125.0, "quick_ratio": None, "gross_volume": 0.0,
                   "refunds": 0.0, "fees": 0.0, "net_volume": 0.0, "successful_payments": 0, "failed_payments": 0}
    # February: EUR 100 at 1.50 = 150 plus USD 50 new; FX impact 150 - 125 = 25; the EUR charge at
    # 1.50 is 15.00 of gross volume, the USD settlement 15.00 - 0.75.
    assert feb == {"month": "2024-02", "mrr": 200.0, "arr": 2400.0, "new_mrr": 50.0, "expansion_mrr": 0.0,
                   "contraction_mrr": 0.0, "churned_mrr": 0.0, "reactivation_mrr": 0.0, "net_new_mrr": 50.0,
                   "fx_mrr": 25.0, "active_customers": 2, "new_customers": 1, "churned_customers": 0,
                   "reactivated_customers": 0, "customer_churn_rate": 0.0, "revenue_churn_rate": 0.0,
                   "grr": 1.0, "nrr": 1.0, "arpa": 100.0, "quick_ratio": None, "gross_volume": 15.0,
                   "refunds": 0.0, "fees": 0.75, "net_volume": 14.25, "successful_payments": 1,
                   "failed_payments": 0}
    # The per-currency months are unchanged by the conversion.
    assert doc["currencies"]["eur"]["months"][1]["mrr"] == 100.0
    assert [tuple(m) for m in doc["currencies"]["usd"]["months"]] == [JSON_MONTH_KEYS + DEPTH_MONTH_KEYS] * 2


def test_reporting_currency_defaults_to_the_accounts(fx_db, capsys):
    from stripe_analytics.cache import Cache

    with Cache.open(fx_db) as cache:
        cache.set_meta("account", json.dumps({"id": "acct_fx", "default_currency": "eur"}))
    assert cli.main(["metrics", "--db", fx_db, "--as-of", "2024-02-29", "--json"]) == 0
    reporting = json.loads(capsys.readouterr().out)["reporting"]
    assert reporting["currency"] == "eur"
    assert [m["mrr"] for m in reporting["months"]] == [100.0, pytest.approx(133.33)]   # 100 + 50 / 1.5


def test_table_output_has_the_converted_table(fx_db, capsys):
    assert cli.main(["metrics", "--db", fx_db, "--as-of", "2024-02-29", "--reporting-currency", "usd"]) == 0
    out = capsys.readouterr().out
    assert "ALL CURRENCIES IN USD (Converted to USD at user rates as of 2024-02-28)" in out
    assert "FX impact" in out and "$25.00" in out and "$200.00" in out
    assert "not converted (no rate): 2024-02" in out
