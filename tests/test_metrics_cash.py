"""Cash metrics, hand-computed (metrics.md "Cash (payments)"), and the JSON object's shape and units
(metrics.md "`stripe-analytics metrics --json`")."""

from __future__ import annotations

import json
import math
from datetime import date

from stripe_analytics.metrics import JSON_MONTH_KEYS, MetricFilters, compute_metrics, metrics_json
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
