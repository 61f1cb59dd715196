"""The reporting currency, hand-computed (docs/specs/fx.md): constant-currency movements, the FX
impact, cash at each object's day, what has no rate, the rate-day rule and exact rounding.

Rates are imported as the user's on every day a figure below reads (they win over the ECB's for
the same date), so each can be checked by hand: USD 1.25 per EUR (2.0 on January 31 only, 1.50
from February 28), GBP 0.8, JPY 100."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from stripe_analytics.metrics import (MetricFilters, MetricsEngine, RateSet, UnknownReportingCurrencyError,
                                      import_rates, metrics_json, parse_rates_csv)
from stripe_analytics.metrics.rates import ECB_SOURCE, USER_SOURCE, ecb_currencies, ecb_rates
from tests.stripe_builders import balance_transaction, charge, customer, item, make_cache, price, subscription

RATES = """date,currency,per_eur
2024-01-30,usd,1.25
2024-01-30,jpy,100
2024-01-30,gbp,0.8
2024-01-31,usd,2.0
2024-02-01,usd,1.25
2024-02-14,usd,1.25
2024-02-14,gbp,0.8
2024-02-28,usd,1.5
2024-02-28,jpy,100
2024-02-28,gbp,0.8
"""
AS_OF = date(2024, 2, 29)


def engine_for(tmp_path, objects, rates: str = RATES) -> MetricsEngine:
    cache = make_cache(tmp_path, objects)
    import_rates(cache, parse_rates_csv(rates))
    return MetricsEngine(cache, as_of=AS_OF)


def months(result) -> dict:
    return {r["month"]: r for r in result.monthly.to_dict("records")}


def eur_plan(amount: int = 10000) -> dict:
    return price(f"p_eur_{amount}", amount, currency="eur")


def test_switching_currency_at_equal_value_is_no_movement(tmp_path):
    # cus_1 pays EUR 100.00 a month in January, then USD 125.00 from February 1, with USD at
    # 1.25 per EUR in both months: the same value, so no movement (per currency: a EUR churn and
    # a USD new customer).
    eur, usd = eur_plan(), price("p_usd", 12500)
    engine = engine_for(tmp_path, [
        eur, usd, customer("cus_1"),
        subscription("sub_eur", "cus_1", [item("si_eur", eur)], start="2024-01-01", status="canceled",
                     ended_at="2024-02-01"),
        subscription("sub_usd", "cus_1", [item("si_usd", usd)], start="2024-02-01"),
    ], rates=RATES.replace("2024-02-28,usd,1.5", "2024-02-28,usd,1.25"))
    per_currency = engine.compute()
    m = {(r["currency"], r["month"]): r for r in per_currency.monthly.to_dict("records")}
    assert m[("eur", "2024-02")]["churned_mrr"] == 10000 and m[("usd", "2024-02")]["new_mrr"] == 12500

    converted = engine.compute(reporting_currency="usd")
    jan, feb = months(converted)["2024-01"], months(converted)["2024-02"]
    assert (jan["mrr"], jan["new_mrr"], jan["new_customers"], jan["active_customers"]) == (12500, 12500, 1, 1)
    assert feb["mrr"] == 12500                                     # USD 125.00
    for key in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "net_new_mrr",
                "fx_mrr", "new_customers", "churned_customers", "reactivated_customers"):
        assert feb[key] == 0, key
    assert (feb["active_customers"], feb["nrr"], feb["grr"], feb["customer_churn_rate"]) == (1, 1.0, 1.0, 0.0)


def test_a_month_where_only_rates_move_has_only_fx_impact(tmp_path):
    eur = eur_plan()
    engine = engine_for(tmp_path, [eur, customer("cus_1"),
                                   subscription("sub_1", "cus_1", [item("si_1", eur)], start="2024-01-01")])
    converted = engine.compute(reporting_currency="usd")
    jan, feb = months(converted)["2024-01"], months(converted)["2024-02"]
    assert jan["mrr"] == 12500 and jan["fx_mrr"] == 0                # EUR 100 x 1.25; first month: no FX
    assert feb["mrr"] == 15000                                       # EUR 100 x 1.50
    assert feb["fx_mrr"] == 2500 and feb["net_new_mrr"] == 0
    for key in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"):
        assert feb[key] == 0, key
    # The constant-currency base is February's MRR restated: EUR 100 x 1.50 = USD 150.
    assert (feb["grr"], feb["nrr"], feb["revenue_churn_rate"]) == (1.0, 1.0, 0.0)
    assert math.isnan(feb["quick_ratio"])
    assert feb["arpa"] == 15000 and feb["mrr_growth_rate"] == pytest.approx(0.2)


def test_contraction_is_measured_at_this_months_rates_and_fx_takes_the_rest(tmp_path):
    # EUR 100 in January (USD 125 at 1.25), EUR 80 in February (USD 120 at 1.50): restated at
    # February's rate the customer went from USD 150 to USD 120, a contraction of 30; the rate
    # alone added 150 - 125 = 25. MRR moved 120 - 125 = -5 = -30 + 25.
    p100, p80 = eur_plan(10000), eur_plan(8000)
    engine = engine_for(tmp_path, [
        p100, p80, customer("cus_1"),
        subscription("sub_1", "cus_1", [item("si_1", p100)], start="2024-01-01", status="canceled",
                     ended_at="2024-02-01"),
        subscription("sub_2", "cus_1", [item("si_2", p80)], start="2024-02-01"),
    ])
    feb = months(engine.compute(reporting_currency="usd"))["2024-02"]
    assert (feb["mrr"], feb["contraction_mrr"], feb["fx_mrr"], feb["net_new_mrr"]) == (12000, 3000, 2500, -3000)
    assert feb["mrr"] - 12500 == feb["net_new_mrr"] + feb["fx_mrr"]
    assert (feb["grr"], feb["nrr"], feb["revenue_churn_rate"]) == (pytest.approx(0.8), pytest.approx(0.8),
                                                                   pytest.approx(0.2))   # 120/150, 30/150
    assert feb["active_customers"] == 1 and feb["customer_churn_rate"] == 0
    who = engine.compute(reporting_currency="usd").customers_for("usd", "2024-02", "contraction")
    assert who[["customer", "previous_mrr", "mrr", "amount"]].to_dict("records") == [
        {"customer": "cus_1", "previous_mrr": 15000, "mrr": 12000, "amount": 3000}]


def test_a_customer_in_two_currencies_counts_once(tmp_path):
    eur, usd = eur_plan(), price("p_usd", 5000)
    engine = engine_for(tmp_path, [
        eur, usd, customer("cus_1"),
        subscription("sub_eur", "cus_1", [item("si_eur", eur)], start="2024-01-01"),
        subscription("sub_usd", "cus_1", [item("si_usd", usd)], start="2024-02-01"),
    ])
    jan, feb = months(engine.compute(reporting_currency="usd"))["2024-01"], \
        months(engine.compute(reporting_currency="usd"))["2024-02"]
    assert (jan["active_customers"], feb["active_customers"]) == (1, 1)
    # February: EUR 100 x 1.50 + USD 50 = 200; restated previous 150: expansion 50 (the USD plan), FX 25.
    assert (feb["mrr"], feb["expansion_mrr"], feb["new_mrr"], feb["fx_mrr"], feb["new_customers"]) == (
        20000, 5000, 0, 2500, 0)
    assert feb["arpa"] == 20000


def test_a_currency_without_a_rate_is_listed_never_converted_at_zero(tmp_path):
    xof = price("p_xof", 120000, currency="xof")                     # CFA franc: no ECB rate
    eur = eur_plan()
    engine = engine_for(tmp_path, [
        xof, eur, customer("cus_x"), customer("cus_e"),
        subscription("sub_x", "cus_x", [item("si_x", xof)], start="2024-01-01"),
        subscription("sub_e", "cus_e", [item("si_e", eur)], start="2024-01-01"),
        charge("ch_x", 120000, "2024-02-10", customer="cus_x", currency="xof"),
    ])
    converted = engine.compute(reporting_currency="usd")
    feb = months(converted)["2024-02"]
    assert feb["mrr"] == 15000 and feb["active_customers"] == 1     # only the EUR customer
    assert feb["gross_volume"] == 0 and feb["successful_payments"] == 1
    assert converted.reporting.unconverted[["month", "currency", "mrr"]].to_dict("records") == [
        {"month": "2024-01", "currency": "xof", "mrr": 120000}, {"month": "2024-02", "currency": "xof", "mrr": 120000}]
    cash = converted.reporting.unconverted_cash
    assert cash[["period", "currency", "gross_volume"]].to_dict("records") == [
        {"period": "2024-02", "currency": "xof", "gross_volume": 120000}]
    doc = metrics_json(engine.compute(), converted)["reporting"]
    assert doc["unconverted"] == [{"month": "2024-01", "currency": "xof", "mrr": 120000},
                                  {"month": "2024-02", "currency": "xof", "mrr": 120000}]


def test_cash_uses_the_rate_of_each_objects_day_and_rounds_half_even_at_the_end(tmp_path):
    engine = engine_for(tmp_path, [
        customer("cus_1"),
        # January 31 uses the rate of January 30 (1.25), never its own day's (2.0).
        charge("ch_1", 1000, "2024-01-31T10:00:00", currency="eur"),
        # February 1 uses January 31's rate (2.0): EUR 10.00 -> USD 20.00.
        charge("ch_2", 1000, "2024-02-01T10:00:00", currency="eur"),
        # Two charges of 1 euro cent on February 29 (rate 1.5): 1.5 + 1.5 = 3 cents, exact until
        # shown; rounding each first would give 2 + 2 = 4.
        charge("ch_3", 1, "2024-02-29T08:00:00", currency="eur"),
        charge("ch_4", 1, "2024-02-29T09:00:00", currency="eur"),
        # 2 yen on February 29 at 1.5 / 100 = 0.015 USD per yen: 3 cents exactly.
        charge("ch_5", 2, "2024-02-29T09:00:00", currency="jpy"),
        # Settled in GBP: 8.00 GBP net at 1.5 / 0.8 -> USD 15.00.
        balance_transaction("txn_1", "charge", 900, 100, "2024-02-15", "ch_2", currency="gbp"),
    ])
    converted = engine.compute(reporting_currency="usd")
    jan, feb = months(converted)["2024-01"], months(converted)["2024-02"]
    assert jan["gross_volume"] == 1250
    # 2000 (Feb 1) + 3 (two euro cents) + 3 (2 yen) = 2006 cents
    assert feb["gross_volume"] == 2006 and feb["successful_payments"] == 4
    # GBP on Feb 15 uses Feb 1's USD rate (1.25) and Jan 30's GBP rate (0.8): 1.5625 USD per GBP.
    assert (feb["net_volume"], feb["fees"]) == (1250, 156)          # 800 x 1.5625; 100 x 1.5625 = 156.25
    days, info = engine.converted_cash(MetricFilters(date_from=date(2024, 2, 29)), "day", "usd")
    assert info.label() == "Converted to USD at user rates as of 2024-02-28"
    assert days.set_index("period").loc["2024-02-29", "gross_volume"] == 6


def test_half_even_rounding_of_a_converted_total(tmp_path):
    # January 31: 1 yen = 1.25 / 100 USD = 1.25 cents, 2 yen -> 2.5 cents -> 2 (half to even);
    # February 29: 1 yen = 1.5 cents, 5 yen -> 7.5 cents -> 8.
    engine = engine_for(tmp_path, [customer("cus_1"),
                                   charge("ch_1", 2, "2024-01-31", currency="jpy"),
                                   charge("ch_2", 5, "2024-02-29", currency="jpy")])
    converted = engine.compute(reporting_currency="usd")
    assert [months(converted)[m]["gross_volume"] for m in ("2024-01", "2024-02")] == [2, 8]


def test_the_reporting_view_is_labelled_with_the_rates_it_used(tmp_path):
    eur = eur_plan()
    engine = engine_for(tmp_path, [eur, customer("cus_1"),
                                   subscription("sub_1", "cus_1", [item("si_1", eur)], start="2024-01-01")])
    info = engine.compute(reporting_currency="usd").reporting
    assert (info.currency, info.source, info.last_rate_date, info.stale) == ("usd", USER_SOURCE,
                                                                            date(2024, 2, 28), False)
    assert info.label() == "Converted to USD at user rates as of 2024-02-28"
    # Reporting in EUR: EUR 100 needs no rate at all.
    eur_view = engine.compute(reporting_currency="eur")
    assert months(eur_view)["2024-02"]["mrr"] == 10000 and eur_view.reporting.last_rate_date is None
    with pytest.raises(UnknownReportingCurrencyError):
        engine.compute(reporting_currency="xof")


def test_ecb_rates_ship_offline_and_a_day_after_the_table_uses_its_last_rate():
    rates = RateSet.build()
    first = rates.lookup([("usd", date(1999, 1, 5))])[("usd", date(1999, 1, 5))]
    assert (first.per_eur, first.day, first.source) == (Decimal("1.1789"), date(1999, 1, 4), ECB_SOURCE)
    last_day = rates.last_date()
    later = date(last_day.year + 1, 1, 15)
    after = rates.lookup([("usd", later)])[("usd", later)]
    assert after.day == last_day                                       # "rates as of <that date>"
    assert rates.lookup([("usd", date(1999, 1, 4))]) == {}             # nothing strictly before the first


def test_the_currencies_the_ecb_covers_are_those_of_its_table():
    listed = ecb_currencies()
    assert list(listed) == sorted(set(ecb_rates().column("currency").to_pylist()))
    assert {"usd", "gbp", "jpy"} <= set(listed) and "eur" not in listed  # rates are per EUR


def test_user_rates_win_over_the_ecbs_for_the_same_date(tmp_path):
    cache = make_cache(tmp_path, [])
    import_rates(cache, parse_rates_csv("date,currency,per_eur\n1999-01-04,usd,2\n"))
    rates = RateSet.from_cache_connection(cache.con)
    found = rates.lookup([("usd", date(1999, 1, 5)), ("gbp", date(1999, 1, 5))])
    assert (found[("usd", date(1999, 1, 5))].per_eur, found[("usd", date(1999, 1, 5))].source) == (2, USER_SOURCE)
    assert found[("gbp", date(1999, 1, 5))].source == ECB_SOURCE


def test_filters_apply_to_the_converted_view(tmp_path):
    eur, usd = eur_plan(), price("p_usd", 5000)
    engine = engine_for(tmp_path, [
        eur, usd, customer("cus_1", metadata={"tier": "gold"}), customer("cus_2"),
        subscription("sub_1", "cus_1", [item("si_1", eur)], start="2024-01-01"),
        subscription("sub_2", "cus_2", [item("si_2", usd)], start="2024-01-01"),
    ])
    gold = engine.compute(MetricFilters(segment_key="tier", segment_value="gold"), reporting_currency="usd")
    assert months(gold)["2024-02"]["mrr"] == 15000
    only_usd = engine.compute(MetricFilters(currencies=["usd"]), reporting_currency="usd")
    assert months(only_usd)["2024-02"]["mrr"] == 5000
    feb_only = engine.compute(MetricFilters(date_from=date(2024, 2, 1)), reporting_currency="usd")
    assert list(feb_only.monthly["month"]) == ["2024-02"] and feb_only.monthly["fx_mrr"].iloc[0] == 2500
    # Converted snapshots feed cohorts in R.
    cohorts = engine.compute(reporting_currency="usd").cohorts
    assert set(cohorts["currency"]) == {"usd"}


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("day,cur,rate\n", "header"),
    ("date,currency,per_eur\n", "no rates"),
    ("date,currency,per_eur\n2024-13-01,usd,1.1\n", "line 2"),
    ("date,currency,per_eur\n2024-01-01,dollars,1.1\n", "three-letter"),
    ("date,currency,per_eur\n2024-01-01,usd,0\n", "positive"),
    ("date,currency,per_eur\n2024-01-01,usd,abc\n", "number"),
    ("date,currency,per_eur\n2024-01-01,eur,1\n", "EUR"),
    ("date,currency,per_eur\n2024-01-01,usd,1.1\n2024-01-01,USD,1.2\n", "already on line 2"),
    ("date,currency,per_eur\n2024-01-01,usd\n", "3 fields"),
])
def test_bad_rate_files_are_refused_with_the_line(text, message):
    from stripe_analytics.metrics import RatesFileError

    with pytest.raises(RatesFileError, match=message):
        parse_rates_csv(text)


def test_the_worked_example_of_docs_metrics(tmp_path):
    """docs/metrics.md "Constant-currency movements": A €100 -> €80, B new at $50; USD 1.25 then
    1.50 per EUR."""
    p100, p80, usd = eur_plan(10000), eur_plan(8000), price("p_usd", 5000)
    engine = engine_for(tmp_path, [
        p100, p80, usd, customer("cus_a"), customer("cus_b"),
        subscription("sub_a1", "cus_a", [item("si_a1", p100)], start="2024-01-01", status="canceled",
                     ended_at="2024-02-01"),
        subscription("sub_a2", "cus_a", [item("si_a2", p80)], start="2024-02-01"),
        subscription("sub_b", "cus_b", [item("si_b", usd)], start="2024-02-01"),
    ])
    jan, feb = (months(engine.compute(reporting_currency="usd"))[m] for m in ("2024-01", "2024-02"))
    assert (jan["mrr"], jan["new_mrr"]) == (12500, 12500)
    assert (feb["mrr"], feb["contraction_mrr"], feb["new_mrr"], feb["fx_mrr"], feb["net_new_mrr"]) == (
        17000, 3000, 5000, 2500, 2000)
    assert feb["mrr"] - jan["mrr"] == feb["net_new_mrr"] + feb["fx_mrr"]
    assert (feb["grr"], feb["nrr"], feb["revenue_churn_rate"]) == (pytest.approx(0.8), pytest.approx(0.8),
                                                                   pytest.approx(0.2))
    per_currency = {(r["currency"], r["month"]): r for r in engine.compute().monthly.to_dict("records")}
    assert per_currency[("eur", "2024-02")]["contraction_mrr"] == 2000
    assert per_currency[("usd", "2024-02")]["new_mrr"] == 5000


def test_mrr_by_product_converted_at_each_months_rate(tmp_path):
    eur, usd = eur_plan(), price("p_usd", 5000)
    engine = engine_for(tmp_path, [
        eur, usd, customer("cus_1"), customer("cus_2"),
        subscription("sub_1", "cus_1", [item("si_1", eur)], start="2024-01-01"),
        subscription("sub_2", "cus_2", [item("si_2", usd)], start="2024-01-01"),
    ])
    frame = engine.converted_mrr_by_product(MetricFilters(), "usd")
    assert frame[["product", "month", "mrr"]].to_dict("records") == [
        {"product": "prod_1", "month": "2024-01", "mrr": 17500},      # 100 x 1.25 + 50
        {"product": "prod_1", "month": "2024-02", "mrr": 20000}]      # 100 x 1.50 + 50


def test_the_default_reporting_currency_is_the_accounts_else_usd():
    from stripe_analytics.metrics import default_reporting_currency

    covered = RateSet.build().currencies()
    assert default_reporting_currency("CHF", covered) == "chf"
    assert default_reporting_currency("eur", covered) == "eur"
    assert default_reporting_currency(None, covered) == "usd"
    assert default_reporting_currency("xof", covered) == "usd"      # no rate for it: USD
