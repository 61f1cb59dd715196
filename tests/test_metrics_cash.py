"""Cash metrics, hand-computed (metrics.md "Cash (payments)"), and the JSON object's shape and units
(metrics.md "`stripe-analytics metrics --json`")."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from stripe_analytics.metrics import JSON_MONTH_KEYS, cash_by_currency, MetricFilters, MetricsEngine, compute_metrics, metrics_json
from stripe_analytics.metrics.cash import CASH_COLUMNS, period_label, period_start, period_starts
from tests.stripe_builders import (balance_transaction, charge, customer, item, make_cache, price, refund,
                                   subscription)


def cash_cache(tmp_path):
    objs = [
        customer("cus_1", metadata={"tier": "gold"}), customer("cus_2"),
        # January: a 100.00 payment (fee 3.20), a failed 50.00 attempt, a 20.00 payment by cus_2 (fee 0.88).
        charge("ch_1", 10000, "2024-01-20", customer="cus_1", balance_transaction="txn_1"),
        balance_transaction("txn_1", "charge", 10000, 320, "2024-01-20", "ch_1"),
        charge("ch_fail", 5000, "2024-01-21", customer="cus_1", status="failed"),
        charge("ch_2", 2000, "2024-01-25", customer="cus_2", balance_transaction="txn_2"),
        balance_transaction("txn_2", "charge", 2000, 88, "2024-01-25", "ch_2"),
        # February: a 30.00 refund of January's charge; a payout (not volume); Stripe's own fee of 2.00.
        refund("re_1", "ch_1", 3000, "2024-02-05", balance_transaction="txn_3"),
        balance_transaction("txn_3", "refund", -3000, 0, "2024-02-05", "re_1"),
        balance_transaction("txn_po", "payout", -8000, 0, "2024-02-10", "po_1"),
        balance_transaction("txn_fee", "stripe_fee", -200, 0, "2024-02-11", None),
        # A pending refund does not count; a partially captured charge counts what was captured.
        refund("re_pending", "ch_2", 500, "2024-02-12", status="pending"),
        charge("ch_3", 4000, "2024-02-15", customer="cus_2", amount_captured=2500),
        # A JPY payment settled in JPY: 5,000 yen with a 180 yen fee.
        charge("ch_jpy", 5000, "2024-02-20", customer="cus_2", currency="jpy", balance_transaction="txn_jpy"),
        balance_transaction("txn_jpy", "charge", 5000, 180, "2024-02-20", "ch_jpy", currency="jpy"),
        # After the as-of date: not counted.
        charge("ch_late", 9900, "2024-03-05", customer="cus_1"),
    ]
    gone = charge("ch_deleted", 7000, "2024-01-10", customer="cus_1")
    gone["deleted"] = True
    return make_cache(tmp_path, objs + [gone])


def test_cash_metrics_per_month_and_currency(tmp_path):
    result = compute_metrics(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    m = result.monthly.set_index(["currency", "month"])
    jan, feb = m.loc[("usd", "2024-01")], m.loc[("usd", "2024-02")]
    assert (jan.gross_volume, jan.successful_payments, jan.failed_payments) == (12000, 2, 1)  # 10000 + 2000
    assert (jan.fees, jan.net_volume, jan.refunds) == (408, 11592, 0)    # 320 + 88; 9680 + 1912
    assert jan.payment_success_rate == 2 / 3
    assert jan.average_order_value == 6000                                # 12000 / 2
    # February: the refund lands in February (its own created month), not in January.
    assert (feb.gross_volume, feb.refunds, feb.successful_payments) == (2500, 3000, 1)
    # fees: 0 + 0 + 0 (the stripe_fee's `fee` field is 0); net volume: the refund (-3000) only --
    # payouts and Stripe fees are not volume types.
    assert (feb.fees, feb.net_volume) == (0, -3000)
    jpy = m.loc[("jpy", "2024-02")]
    assert (jpy.gross_volume, jpy.fees, jpy.net_volume) == (5000, 180, 4820)
    assert list(result.currencies) == ["jpy", "usd"]


def test_cash_metrics_follow_the_customer_segment(tmp_path):
    result = compute_metrics(cash_cache(tmp_path), MetricFilters(segment_key="tier", segment_value="gold"),
                             as_of=date(2024, 2, 29))
    m = result.monthly.set_index(["currency", "month"])
    jan, feb = m.loc[("usd", "2024-01")], m.loc[("usd", "2024-02")]
    # Only cus_1: ch_1 and ch_fail in January; its refund (via the charge) in February.
    assert (jan.gross_volume, jan.fees, jan.net_volume, jan.failed_payments) == (10000, 320, 9680, 1)
    assert (feb.gross_volume, feb.refunds, feb.net_volume) == (0, 3000, -3000)


# ----------------------------------------------------------------------------- days and weeks

def _rows(frame, currency="usd"):
    """{period label: (gross, refunds, fees, net, successful, failed)} of the non-zero periods."""
    out = {}
    for r in frame[frame["currency"] == currency].itertuples():
        values = tuple(int(getattr(r, c)) for c in CASH_COLUMNS)
        if any(values):
            out[r.period] = values
    return out


def test_cash_by_day_hand_computed(tmp_path):
    engine = MetricsEngine(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    days = engine.cash(period="day")
    usd = days[days["currency"] == "usd"]
    # every day from the first reported month's first day to the as-of day, zeros included
    assert list(usd["period"])[:2] == ["2024-01-01", "2024-01-02"] and usd["period"].iloc[-1] == "2024-02-29"
    assert len(usd) == 31 + 29 and set(days["currency"]) == {"jpy", "usd"}
    #            (gross, refunds, fees, net,   ok, failed)
    assert _rows(days) == {
        "2024-01-20": (10000, 0, 320, 9680, 1, 0),    # ch_1 and its balance transaction
        "2024-01-21": (0, 0, 0, 0, 0, 1),             # the failed attempt
        "2024-01-25": (2000, 0, 88, 1912, 1, 0),      # ch_2
        "2024-02-05": (0, 3000, 0, -3000, 0, 0),      # the refund, on its own day
        # Feb 10 payout, Feb 11 Stripe fee, Feb 12 pending refund: nothing
        "2024-02-15": (2500, 0, 0, 0, 1, 0),          # partially captured ch_3 (no balance transaction)
    }
    assert _rows(days, "jpy") == {"2024-02-20": (5000, 0, 180, 4820, 1, 0)}
    jan20 = usd.set_index("period").loc["2024-01-20"]
    assert (jan20.payment_success_rate, jan20.average_order_value) == (1.0, 10000)
    jan21 = usd.set_index("period").loc["2024-01-21"]
    assert jan21.payment_success_rate == 0.0 and math.isnan(jan21.average_order_value)
    assert math.isnan(usd.set_index("period").loc["2024-01-22"].payment_success_rate)   # no attempt: null


def test_cash_by_iso_week_hand_computed(tmp_path):
    engine = MetricsEngine(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    weeks = engine.cash(MetricFilters(currencies=["usd"]), period="week")
    # ISO weeks start on Monday: 2024-01-01 is a Monday; the as-of day (Thu Feb 29) is in the week of Feb 26
    assert list(weeks["period"]) == ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29",
                                     "2024-02-05", "2024-02-12", "2024-02-19", "2024-02-26"]
    assert list(weeks["currency"].unique()) == ["usd"]
    assert _rows(weeks) == {
        "2024-01-15": (10000, 0, 320, 9680, 1, 1),    # Sat 20 and Sun 21: the same week
        "2024-01-22": (2000, 0, 88, 1912, 1, 0),
        "2024-02-05": (0, 3000, 0, -3000, 0, 0),
        "2024-02-12": (2500, 0, 0, 0, 1, 0),
    }
    week = weeks.set_index("period").loc["2024-01-15"]
    assert week.payment_success_rate == 0.5 and week.average_order_value == 10000


def test_periods_follow_the_segment_and_the_date_range(tmp_path):
    engine = MetricsEngine(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    gold = MetricFilters(currencies=["usd"], segment_key="tier", segment_value="gold",
                         date_from=date(2024, 1, 17), date_to=date(2024, 2, 6))
    weeks = engine.cash(gold, period="week")
    # the weeks containing Jan 17 (from Mon Jan 15) to Feb 6 (the week of Feb 5)
    assert list(weeks["period"]) == ["2024-01-15", "2024-01-22", "2024-01-29", "2024-02-05"]
    assert _rows(weeks) == {"2024-01-15": (10000, 0, 320, 9680, 1, 1),     # cus_1 only: not ch_2
                            "2024-02-05": (0, 3000, 0, -3000, 0, 0)}
    days = engine.cash(gold, period="day")
    assert (days["period"].iloc[0], days["period"].iloc[-1]) == ("2024-01-17", "2024-02-06")


def test_days_weeks_and_months_add_up_to_the_monthly_table(tmp_path):
    engine = MetricsEngine(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    monthly = engine.compute().monthly.set_index(["currency", "month"])
    months = engine.cash(period="month")
    days = engine.cash(period="day")
    assert list(months["period"]) == ["2024-01", "2024-02"] * 2
    for row in months.itertuples():
        expected = monthly.loc[(row.currency, row.period)]
        for column in CASH_COLUMNS + ("payment_success_rate", "average_order_value"):
            a, b = getattr(row, column), expected[column]
            assert (a == b) or (math.isnan(a) and math.isnan(b)), (row.period, column)
        in_month = days[(days["currency"] == row.currency) & days["period"].str.startswith(row.period)]
        for column in CASH_COLUMNS:
            assert int(in_month[column].sum()) == int(getattr(row, column)), (row.period, column)


def test_totals_per_currency_are_summed_in_each_currency_busiest_first(tmp_path):
    engine = MetricsEngine(cash_cache(tmp_path), as_of=date(2024, 2, 29))
    months = engine.cash(period="month")  # every month of both currencies, zeros included
    totals = cash_by_currency(months)
    assert list(totals.columns) == ["currency", "gross_volume", "net_volume", "refunds", "fees",
                                    "successful_payments", "failed_payments"]
    # usd: 12000 + 2500 gross; 11592 - 3000 net; the 3000 refund; 408 fees; 3 paid, 1 failed
    # jpy: one 5,000 yen payment, never added to the dollars
    assert totals.to_dict("records") == [
        {"currency": "usd", "gross_volume": 14500, "net_volume": 8592, "refunds": 3000, "fees": 408,
         "successful_payments": 3, "failed_payments": 1},
        {"currency": "jpy", "gross_volume": 5000, "net_volume": 4820, "refunds": 0, "fees": 180,
         "successful_payments": 1, "failed_payments": 0}]
    # a range with no payments in a currency leaves that currency out; with none at all, nothing
    january = engine.cash(MetricFilters(date_from=date(2024, 1, 1), date_to=date(2024, 1, 31)), period="month")
    assert list(cash_by_currency(january)["currency"]) == ["usd"]
    assert cash_by_currency(january[january["currency"] == "jpy"]).empty


def test_periods_are_in_the_engine_time_zone(tmp_path):
    objs = [customer("cus_1"),
            # Sunday 23:30 UTC is already Monday in Tokyo (UTC+9)
            charge("ch_1", 1000, "2024-01-07T23:30", balance_transaction="txn_1"),
            balance_transaction("txn_1", "charge", 1000, 59, "2024-01-07T23:30", "ch_1")]
    cache = make_cache(tmp_path, objs)
    utc = MetricsEngine(cache, as_of=date(2024, 1, 31)).cash(period="week")
    tokyo = MetricsEngine(cache, as_of=date(2024, 1, 31), timezone="Asia/Tokyo").cash(
        MetricFilters(timezone="Asia/Tokyo"), period="week")
    assert _rows(utc) == {"2024-01-01": (1000, 0, 59, 941, 1, 0)}
    assert _rows(tokyo) == {"2024-01-08": (1000, 0, 59, 941, 1, 0)}


def test_period_helpers():
    assert period_start(date(2024, 2, 29), "week") == date(2024, 2, 26)
    assert period_start(date(2024, 2, 29), "month") == date(2024, 2, 1)
    assert period_starts(date(2023, 12, 31), date(2024, 1, 2), "day") == [date(2023, 12, 31), date(2024, 1, 1),
                                                                         date(2024, 1, 2)]
    assert period_starts(date(2023, 11, 15), date(2024, 1, 1), "month") == [date(2023, 11, 1), date(2023, 12, 1),
                                                                           date(2024, 1, 1)]
    assert (period_label(date(2024, 3, 1), "month"), period_label(date(2024, 3, 4), "week")) == ("2024-03",
                                                                                                 "2024-03-04")
    with pytest.raises(ValueError):
        period_start(date(2024, 1, 1), "quarter")
    with pytest.raises(ValueError):
        period_label(date(2024, 1, 1), "year")


def test_json_object_shape_and_units(tmp_path):
    usd, jpy, kwd = price("p_usd", 1999), price("p_jpy", 5000, currency="jpy"), price("p_kwd", 10500, currency="kwd")
    objs = [usd, jpy, kwd, customer("cus_1"), customer("cus_2"),
            subscription("sub_u", "cus_1", [item("si_u", usd)], start="2024-01-01"),
            subscription("sub_j", "cus_1", [item("si_j", jpy)], start="2024-01-01"),
            subscription("sub_k", "cus_2", [item("si_k", kwd)], start="2024-02-01")]
    cache = make_cache(tmp_path, objs, account_id="acct_123")
    doc = metrics_json(compute_metrics(cache, as_of=date(2024, 2, 29)))
    assert set(doc) == {"account", "as_of", "currencies"}
    assert (doc["account"], doc["as_of"]) == ("acct_123", "2024-02-29")
    assert list(doc["currencies"]) == ["jpy", "kwd", "usd"]
    for currency in doc["currencies"].values():
        assert [m["month"] for m in currency["months"]] == ["2024-01", "2024-02"]   # the whole range
        for month in currency["months"]:
            assert tuple(month) == JSON_MONTH_KEYS
    usd_feb = doc["currencies"]["usd"]["months"][1]
    assert (usd_feb["mrr"], usd_feb["arr"], usd_feb["arpa"]) == (19.99, 239.88, 19.99)
    assert doc["currencies"]["jpy"]["months"][0]["mrr"] == 5000             # zero-decimal: not 50.00
    kwd_months = doc["currencies"]["kwd"]["months"]
    assert (kwd_months[0]["mrr"], kwd_months[1]["mrr"], kwd_months[1]["new_mrr"]) == (0, 10.5, 10.5)
    assert kwd_months[0]["arpa"] is None and kwd_months[0]["customer_churn_rate"] is None
    assert usd_feb["customer_churn_rate"] == 0.0 and usd_feb["quick_ratio"] is None
    json.dumps(doc, allow_nan=False)   # strictly valid JSON: no NaN anywhere


def test_empty_account_gives_no_currencies(tmp_path):
    cache = make_cache(tmp_path, [customer("cus_1")])
    result = compute_metrics(cache, as_of=date(2024, 2, 29))
    assert metrics_json(result) == {"account": "acct_test", "as_of": "2024-02-29", "currencies": {}}
    assert result.monthly.empty


def test_arpa_rounds_to_the_minor_unit(tmp_path):
    p = price("p", 1000)
    objs = [p] + [customer(f"cus_{n}") for n in range(3)]
    objs += [subscription(f"sub_{n}", f"cus_{n}", [item(f"si_{n}", p, quantity=n + 1)], start="2024-01-01")
             for n in range(3)]
    objs.append(subscription("sub_x", "cus_0", [item("si_x", price("p2", 1))], start="2024-01-01"))
    cache = make_cache(tmp_path, objs)
    result = compute_metrics(cache, as_of=date(2024, 1, 31))
    # (1001 + 2000 + 3000) / 3 = 2000.33 minor units -> 20.00 in JSON
    assert math.isclose(result.monthly["arpa"][0], 6001 / 3)
    assert metrics_json(result)["currencies"]["usd"]["months"][0]["arpa"] == 20.0


def test_disputes_are_shown_on_every_period_of_the_cash_view_with_none_at_zero():
    import pandas as pd

    from stripe_analytics.metrics.cash import disputes_on_periods

    read = pd.DataFrame({"period": ["2026-02", "2026-04"], "disputes": [2, 1], "disputed_amount": [5000, 1200],
                         "lost": [1, 0]})
    shown = disputes_on_periods(read, pd.Series(["2026-01", "2026-02", "2026-03", "2026-04"]), "eur")
    assert shown["period"].tolist() == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert shown["disputed_amount"].tolist() == [0, 5000, 0, 1200]
    assert shown["disputes"].tolist() == [0, 2, 0, 1] and shown["lost"].tolist() == [0, 1, 0, 0]
    assert set(shown["currency"]) == {"eur"}
    # a period of the disputes outside the view (a filter's edge) is not drawn
    outside = disputes_on_periods(read, ["2026-02"], "eur")
    assert outside["period"].tolist() == ["2026-02"] and outside["disputed_amount"].tolist() == [5000]
