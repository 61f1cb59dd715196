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


def test_json_reporting_with_the_ecb_rates_shipped_offline_rounds_half_even(tmp_path, capsys):
    """No user rates: the ECB's, as shipped. Hand-computed (ECB per EUR: January 30 2024 USD 1.0846,
    JPY 159.97; February 28 USD 1.0808, JPY 162.87, GBP 0.85548; February 14 USD 1.0713, GBP 0.85258).
    January: EUR 100.00 -> 108.46, JPY 5000 -> 33.900106...; MRR 142.360106... = 142.36.
    February: EUR 100.00 -> 108.08 (no movement); the JPY customer churns at February's rate,
    5000 x 1.0808 / 162.87 = 33.179837 (not at January's 33.90); GBP 30.00 new at 1.0808 / 0.85548
    = 37.901529; MRR 145.981529 = 145.98. FX: restated base 141.259837 - 142.360106 = -1.100270.
    Net new 37.901529 - 33.179837 = 4.721692; 4.72 - 1.10 = 145.98 - 142.36. The GBP charge of
    February 15 uses February 14's rate: 10.00 x 1.0713 / 0.85258 = 12.565390 (fee 0.50 -> 0.628269).
    AED (no ECB rate, two decimals) is listed in major units."""
    eur, jpy = price("p_eur", 10000, currency="eur"), price("p_jpy", 5000, currency="jpy")
    gbp, aed = price("p_gbp", 3000, currency="gbp"), price("p_aed", 9999, currency="aed")
    cache = make_cache(tmp_path, [
        eur, jpy, gbp, aed, customer("cus_e"), customer("cus_j"), customer("cus_g"), customer("cus_a"),
        subscription("sub_e", "cus_e", [item("si_e", eur)], start="2024-01-01"),
        subscription("sub_j", "cus_j", [item("si_j", jpy)], start="2024-01-01", status="canceled",
                     ended_at="2024-02-01"),
        subscription("sub_g", "cus_g", [item("si_g", gbp)], start="2024-02-01"),
        subscription("sub_a", "cus_a", [item("si_a", aed)], start="2024-02-01"),
        charge("ch_g", 1000, "2024-02-15T10:00:00", customer="cus_g", currency="gbp", balance_transaction="txn_g"),
        balance_transaction("txn_g", "charge", 1000, 50, "2024-02-15T10:00:00", "ch_g", currency="gbp"),
    ], name="ecb.duckdb", account_id="acct_ecb")
    cache.close()
    db = str(tmp_path / "ecb.duckdb")
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29", "--json", "--reporting-currency", "usd"]) == 0
    reporting = json.loads(capsys.readouterr().out)["reporting"]
    assert reporting["rates"] == {"source": "ECB reference rates", "last_rate_date": "2024-02-28"}
    assert reporting["unconverted"] == [{"month": "2024-02", "currency": "aed", "mrr": 99.99}]
    jan, feb = ({key: month[key] for key in REPORTING_MONTH_KEYS} for month in reporting["months"])
    assert jan == {"month": "2024-01", "mrr": 142.36, "arr": 1708.32, "new_mrr": 142.36, "expansion_mrr": 0.0,
                   "contraction_mrr": 0.0, "churned_mrr": 0.0, "reactivation_mrr": 0.0, "net_new_mrr": 142.36,
                   "fx_mrr": 0.0, "active_customers": 2, "new_customers": 2, "churned_customers": 0,
                   "reactivated_customers": 0, "customer_churn_rate": None, "revenue_churn_rate": None,
                   "grr": None, "nrr": None, "arpa": 71.18, "quick_ratio": None, "gross_volume": 0.0,
                   "refunds": 0.0, "fees": 0.0, "net_volume": 0.0, "successful_payments": 0, "failed_payments": 0}
    assert feb == {"month": "2024-02", "mrr": 145.98, "arr": 1751.78, "new_mrr": 37.9, "expansion_mrr": 0.0,
                   "contraction_mrr": 0.0, "churned_mrr": 33.18, "reactivation_mrr": 0.0, "net_new_mrr": 4.72,
                   "fx_mrr": -1.1, "active_customers": 2, "new_customers": 1, "churned_customers": 1,
                   "reactivated_customers": 0, "customer_churn_rate": 0.5,
                   "revenue_churn_rate": pytest.approx(0.2348851411659698, abs=1e-15),
                   "grr": pytest.approx(0.7651148588340302, abs=1e-15),
                   "nrr": pytest.approx(0.7651148588340302, abs=1e-15), "arpa": 72.99,
                   "quick_ratio": pytest.approx(1.1423060737831393, abs=1e-15), "gross_volume": 12.57,
                   "refunds": 0.0, "fees": 0.63, "net_volume": 11.94, "successful_payments": 1,
                   "failed_payments": 0}
