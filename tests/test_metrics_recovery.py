"""Failed-payment recovery and involuntary churn (docs/metrics.md "Failed payments and
recovery"): the worked examples of the document, computed by hand, through a real cache."""

from __future__ import annotations

import math
from datetime import date

import pytest

from stripe_analytics.metrics import MetricFilters, MetricsEngine
from tests.stripe_builders import charge, customer, invoice, item, line, make_cache, price, subscription, ts


def _invoice(inv_id, cus, amount, created, status, *, paid_at=None, subscription_id=None, payment_intent=None,
             price_obj="price_x", period_end="2025-06-01"):
    inv = invoice(inv_id, cus, [line("il_" + inv_id, amount, price_obj, created, period_end,
                                     subscription=subscription_id)], created, subscription=subscription_id,
                  status=status)
    inv["status_transitions"]["paid_at"] = ts(paid_at)
    if payment_intent:  # Stripe API 2025-03-31 and later: the invoice lists its payments
        inv["payments"] = {"object": "list", "data": [{"payment": {"type": "payment_intent",
                                                                   "payment_intent": payment_intent}}]}
    return inv


def _attempt(ch_id, cus, amount, created, status, *, payment_intent=None, invoice_id=None):
    ch = charge(ch_id, amount, created, customer=cus, status=status)
    ch["payment_intent"] = payment_intent
    if invoice_id:  # earlier API versions: the charge names its invoice
        ch["invoice"] = invoice_id
    return ch


@pytest.fixture
def cache(tmp_path):
    p40 = price("price_40", 4000)
    p100 = price("price_100", 10000)
    p30 = price("price_30", 3000)
    objs = [customer(c) for c in ("cus_1", "cus_2", "cus_3", "cus_4", "cus_5", "cus_y")]
    objs += [p40, p100, p30]
    # I1 $50: fails on March 3, paid on March 8
    objs += [_invoice("in_1prev", "cus_1", 5000, "2025-02-03", "paid", paid_at="2025-02-03"),  # February's, paid
             _invoice("in_1", "cus_1", 5000, "2025-03-03", "paid", paid_at="2025-03-08T01:00", payment_intent="pi_1"),
             _attempt("ch_1a", "cus_1", 5000, "2025-03-03T01:00", "failed", payment_intent="pi_1"),
             _attempt("ch_1b", "cus_1", 5000, "2025-03-08T01:00", "succeeded", payment_intent="pi_1")]
    # I2 $30: fails on March 10 and 13, paid on March 20 (linked the older way)
    objs += [_invoice("in_2", "cus_2", 3000, "2025-03-10", "paid", paid_at="2025-03-20T01:00"),
             _attempt("ch_2a", "cus_2", 3000, "2025-03-10T01:00", "failed", invoice_id="in_2"),
             _attempt("ch_2b", "cus_2", 3000, "2025-03-13T01:00", "failed", invoice_id="in_2"),
             _attempt("ch_2c", "cus_2", 3000, "2025-03-20T01:00", "succeeded", invoice_id="in_2")]
    # I3 $20: fails on March 25, still open
    objs += [_invoice("in_3", "cus_3", 2000, "2025-03-25", "open", payment_intent="pi_3"),
             _attempt("ch_3a", "cus_3", 2000, "2025-03-25T01:00", "failed", payment_intent="pi_3")]
    # I4 $100 (Z's subscription): fails on March 28, uncollectible; the subscription ends on April 20
    sub_z = subscription("sub_z", "cus_4", [item("si_z", p100)], start="2025-01-28", status="canceled",
                         ended_at="2025-04-20")
    objs += [sub_z, _invoice("in_4", "cus_4", 10000, "2025-03-28", "uncollectible", subscription_id="sub_z",
                             payment_intent="pi_4", price_obj=p100, period_end="2025-04-28"),
             _attempt("ch_4a", "cus_4", 10000, "2025-03-28T01:00", "failed", payment_intent="pi_4")]
    # the first invoice after a trial ($40): fails on March 31, paid on April 2
    sub_t = subscription("sub_t", "cus_5", [item("si_t", p40)], start="2025-03-17", trial_start="2025-03-17",
                         trial_end="2025-03-31")
    objs += [sub_t,
             _invoice("in_0", "cus_5", 0, "2025-03-17", "paid", paid_at="2025-03-17", subscription_id="sub_t",
                      price_obj=p40, period_end="2025-03-31"),
             _invoice("in_5", "cus_5", 4000, "2025-03-31", "paid", paid_at="2025-04-02T01:00",
                      subscription_id="sub_t", payment_intent="pi_5", price_obj=p40, period_end="2025-04-30"),
             _attempt("ch_5a", "cus_5", 4000, "2025-03-31T01:00", "failed", payment_intent="pi_5"),
             _attempt("ch_5b", "cus_5", 4000, "2025-04-02T01:00", "succeeded", payment_intent="pi_5")]
    # Y ($30) cancels on April 10 (voluntary); a failed one-off charge of Y is on no invoice
    sub_y = subscription("sub_y", "cus_y", [item("si_y", p30)], start="2025-01-10", status="canceled",
                         ended_at="2025-04-10")
    sub_y["cancellation_details"] = {"reason": "cancellation_requested"}
    objs += [sub_y, _attempt("ch_y", "cus_y", 3000, "2025-03-12", "failed")]
    cache = make_cache(tmp_path, objs)
    yield cache
    cache.close()


def _months(cache, as_of="2025-04-30", reporting=None, **filters):
    engine = MetricsEngine(cache, as_of=date.fromisoformat(as_of))
    frame = engine.depth(MetricFilters(**filters), reporting_currency=reporting)
    return {r["month"]: r for r in frame.to_dict("records")}


def test_the_worked_example(cache):
    mar = _months(cache)["2025-03"]
    assert (mar["failed_invoice_payments"], mar["failed_invoice_amount"]) == (4, 20000)
    assert (mar["recovered_invoice_payments"], mar["recovered_invoice_amount"]) == (2, 8000)
    assert mar["recovery_rate"] == pytest.approx(0.4)
    assert mar["outstanding_invoice_amount"] == 2000          # I4 is written off
    assert mar["median_days_to_recover"] == pytest.approx(7.5)  # 5 and 10 days
    assert (mar["after_trial_failed_payments"], mar["after_trial_failed_amount"],
            mar["after_trial_recovered_payments"], mar["after_trial_recovered_amount"]) == (1, 4000, 1, 4000)


def test_a_recovery_after_the_as_of_date_is_still_outstanding(cache):
    mar = _months(cache, as_of="2025-03-19")["2025-03"]
    # as of March 19: I1 recovered; I2 not yet; I3 and I4 not failed yet
    assert (mar["failed_invoice_payments"], mar["recovered_invoice_payments"]) == (2, 1)
    assert mar["outstanding_invoice_amount"] == 3000
    assert mar["median_days_to_recover"] == pytest.approx(5.0)


def test_months_without_failures_have_no_rate(cache):
    apr = _months(cache)["2025-04"]
    assert (apr["failed_invoice_payments"], apr["failed_invoice_amount"]) == (0, 0)
    assert math.isnan(apr["recovery_rate"]) and math.isnan(apr["median_days_to_recover"])


def test_recovery_days(cache):
    engine = MetricsEngine(cache, as_of=date(2025, 4, 30))
    days = engine.recovery_days(MetricFilters())
    assert days[["days", "recovered_invoice_payments", "recovered_invoice_amount"]].values.tolist() == [
        ["0–3 days", 0, 0], ["4–7 days", 1, 5000], ["8–14 days", 1, 3000], ["15–30 days", 0, 0],
        ["over 30 days", 0, 0]]


def test_involuntary_churn_share(cache):
    apr = _months(cache)["2025-04"]
    # Y ($30) cancelled; Z ($100) ended with its failed March invoice unpaid
    assert apr["involuntary_churned_mrr"] == 10000
    assert apr["involuntary_churn_share"] == pytest.approx(10000 / 13000)
    assert math.isnan(_months(cache)["2025-03"]["involuntary_churn_share"])  # nothing churned in March


def test_a_payment_failed_cancellation_and_an_unpaid_subscription_are_involuntary(tmp_path):
    p = price("price_10", 1000)
    gone = subscription("sub_1", "cus_1", [item("si_1", p)], start="2025-01-05", status="canceled",
                        ended_at="2025-03-05")
    gone["cancellation_details"] = {"reason": "payment_failed"}
    unpaid = subscription("sub_2", "cus_2", [item("si_2", p, period_start="2025-03-10", period_end="2025-04-10")],
                          start="2025-01-10", status="unpaid")
    kept = subscription("sub_3", "cus_3", [item("si_3", p)], start="2025-01-01", status="canceled",
                        ended_at="2025-03-20")
    cache = make_cache(tmp_path, [p, customer("cus_1"), customer("cus_2"), customer("cus_3"), gone, unpaid, kept])
    try:
        mar = _months(cache, as_of="2025-03-31")["2025-03"]
        assert mar["involuntary_churned_mrr"] == 2000
        assert mar["involuntary_churn_share"] == pytest.approx(2 / 3)
    finally:
        cache.close()


def test_all_currencies_convert_each_invoice_at_its_first_failure(tmp_path):
    from stripe_analytics.metrics import import_rates, parse_rates_csv

    cache = make_cache(tmp_path, [
        customer("cus_1"), customer("cus_2"),
        _invoice("in_e", "cus_1", 10000, "2024-01-10", "paid", paid_at="2024-01-25", payment_intent="pi_e",
                 period_end="2024-02-10"),
        _attempt("ch_e1", "cus_1", 10000, "2024-01-10T01:00", "failed", payment_intent="pi_e"),
        _invoice("in_u", "cus_2", 3000, "2024-01-12", "open", payment_intent="pi_u", period_end="2024-02-12"),
        _attempt("ch_u1", "cus_2", 3000, "2024-01-12T01:00", "failed", payment_intent="pi_u")])
    cache.con.execute("UPDATE invoices SET currency = 'eur' WHERE id = 'in_e'")
    cache.con.execute("UPDATE charges SET currency = 'eur' WHERE id = 'ch_e1'")
    import_rates(cache, parse_rates_csv("date,currency,per_eur\n2024-01-09,usd,1.25\n2024-01-24,usd,1.5\n"))
    try:
        jan = _months(cache, as_of="2024-01-31", reporting="usd")["2024-01"]
        # EUR 100.00 at the rate of January 9 (the day before its failure): $125, failed and recovered alike
        assert (jan["failed_invoice_payments"], jan["failed_invoice_amount"]) == (2, 12500 + 3000)
        assert jan["recovered_invoice_amount"] == 12500
        assert jan["outstanding_invoice_amount"] == 3000
        assert jan["recovery_rate"] == pytest.approx(12500 / 15500)
        engine = MetricsEngine(cache, as_of=date(2024, 1, 31))
        assert engine.unconverted_failed_invoices(MetricFilters(), "usd").empty
        # a currency the rates do not cover is listed, never converted at 0
        cache.con.execute("UPDATE invoices SET currency = 'xof' WHERE id = 'in_u'")
        cache.con.execute("UPDATE charges SET currency = 'xof' WHERE id = 'ch_u1'")
        engine = MetricsEngine(cache, as_of=date(2024, 1, 31))
        jan = engine.depth(reporting_currency="usd").iloc[0]
        assert (jan["failed_invoice_payments"], jan["failed_invoice_amount"]) == (1, 12500)
        left = engine.unconverted_failed_invoices(MetricFilters(), "usd")
        assert left.values.tolist() == [["xof", 1, 3000]]
    finally:
        cache.close()


def test_the_segment_filter_follows_the_invoices_customer(tmp_path):
    cache = make_cache(tmp_path, [
        customer("cus_1", metadata={"tier": "gold"}), customer("cus_2", metadata={"tier": "basic"}),
        _invoice("in_1", "cus_1", 5000, "2025-03-03", "open", payment_intent="pi_1"),
        _attempt("ch_1", "cus_1", 5000, "2025-03-03T01:00", "failed", payment_intent="pi_1"),
        _invoice("in_2", "cus_2", 7000, "2025-03-04", "open", payment_intent="pi_2"),
        _attempt("ch_2", "cus_2", 7000, "2025-03-04T01:00", "failed", payment_intent="pi_2")])
    try:
        gold = _months(cache, as_of="2025-03-31", segment_key="tier", segment_value="gold")["2025-03"]
        assert (gold["failed_invoice_payments"], gold["failed_invoice_amount"]) == (1, 5000)
        everyone = _months(cache, as_of="2025-03-31")["2025-03"]
        assert (everyone["failed_invoice_payments"], everyone["outstanding_invoice_amount"]) == (2, 12000)
    finally:
        cache.close()
