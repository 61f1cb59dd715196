"""Trial conversion (docs/metrics.md "Trials and trial conversion"): the worked example of the
document, computed by hand, through a real cache and `MetricsEngine.depth`."""

from __future__ import annotations

import math
from datetime import date

import pytest

from stripe_analytics.metrics import MetricFilters, MetricsEngine
from tests.stripe_builders import customer, invoice, item, line, make_cache, price, product, subscription, ts


def _trial(sub_id, cus, p, start, end, *, ended_at=None, paid_at=None, status="active"):
    sub = subscription(sub_id, cus, [item("si_" + sub_id, p, created=start)], start=start, trial_start=start,
                       trial_end=end, ended_at=ended_at, status=status)
    objs = [customer(cus), sub]
    if paid_at is not None:
        inv = invoice("in_" + sub_id, cus, [line("il_" + sub_id, 2000, p, end, "2025-06-01", subscription=sub_id,
                                                 subscription_item="si_" + sub_id)], end, subscription=sub_id)
        inv["status_transitions"]["paid_at"] = ts(paid_at)
        # the $0 invoice Stripe creates when the trial starts is not a conversion
        zero = invoice("in0_" + sub_id, cus, [line("il0_" + sub_id, 0, p, start, end, subscription=sub_id,
                                                   subscription_item="si_" + sub_id)], start, subscription=sub_id)
        objs += [inv, zero]
    return objs


@pytest.fixture
def cache(tmp_path):
    basic, pro = product("prod_basic", "Basic"), product("prod_pro", "Pro")
    pb = dict(price("price_basic", 2000), product="prod_basic")
    pp = dict(price("price_pro", 5000), product="prod_pro")
    objs = [basic, pro, pb, pp]
    objs += _trial("sub_b", "cus_b", pb, "2025-02-20", "2025-03-06", paid_at="2025-03-09")
    objs += _trial("sub_a", "cus_a", pb, "2025-03-01", "2025-03-15", paid_at="2025-03-15")
    objs += _trial("sub_c", "cus_c", pb, "2025-03-10", "2025-03-24", ended_at="2025-03-24", status="canceled")
    objs += _trial("sub_d", "cus_d", pp, "2025-03-12", "2025-03-26", ended_at="2025-03-20", status="canceled")
    objs += _trial("sub_e", "cus_e", pp, "2025-03-17", "2025-03-31", paid_at="2025-04-02")
    objs += _trial("sub_f", "cus_f", pp, "2025-03-25", "2025-04-08", status="past_due")
    cache = make_cache(tmp_path, objs)
    yield cache
    cache.close()


def _months(cache, as_of, **filters):
    frame = MetricsEngine(cache, as_of=date.fromisoformat(as_of)).depth(MetricFilters(**filters))
    return {r["month"]: r for r in frame.to_dict("records")}


def test_the_worked_example_as_of_april_30(cache):
    months = _months(cache, "2025-04-30")
    feb, mar, apr = months["2025-02"], months["2025-03"], months["2025-04"]
    assert (feb["trials_started"], feb["trials_ended"], feb["active_trials"]) == (1, 0, 1)
    assert math.isnan(feb["trial_conversion_rate"]) and math.isnan(feb["median_days_to_convert"])
    assert (mar["trials_started"], mar["trials_ended"], mar["trials_converted"]) == (5, 5, 3)
    assert mar["trial_conversion_rate"] == pytest.approx(0.6)
    assert mar["median_days_to_convert"] == pytest.approx(16.0)   # 17 (B), 14 (A), 16 (E)
    assert mar["active_trials"] == 1                               # F; E's trial ended on March 31 00:00
    assert (apr["trials_started"], apr["trials_ended"], apr["trials_converted"], apr["active_trials"]) == (0, 1, 0, 0)
    assert apr["trial_conversion_rate"] == 0.0


def test_a_later_payment_is_not_known_before_it_happens(cache):
    mar = _months(cache, "2025-03-31")["2025-03"]
    assert (mar["trials_ended"], mar["trials_converted"]) == (5, 2)
    assert mar["trial_conversion_rate"] == pytest.approx(0.4)
    assert mar["median_days_to_convert"] == pytest.approx(15.5)
    # F is running at the as-of instant (the end of March 31)
    assert mar["active_trials"] == 1


def test_per_plan_and_the_product_filter(cache):
    engine = MetricsEngine(cache, as_of=date(2025, 4, 30))
    plans = engine.trials_by_plan(MetricFilters(date_from="2025-03-01", date_to="2025-03-31"))
    rows = {r["product"]: r for r in plans.to_dict("records")}
    # Basic: A, C started in March; B, A, C ended (B and A paid); Pro: D, E, F started; D, E ended (E paid)
    assert (rows["prod_basic"]["trials_started"], rows["prod_basic"]["trials_ended"],
            rows["prod_basic"]["trials_converted"]) == (2, 3, 2)
    assert rows["prod_basic"]["median_days_to_convert"] == pytest.approx(15.5)
    assert (rows["prod_pro"]["trials_started"], rows["prod_pro"]["trials_ended"],
            rows["prod_pro"]["trials_converted"]) == (3, 2, 1)
    assert rows["prod_pro"]["trial_conversion_rate"] == pytest.approx(0.5)
    assert rows["prod_pro"]["active_trials"] == 0   # as of April 30 F's trial is over
    only_pro = _months(cache, "2025-04-30", products=["prod_pro"])["2025-03"]
    assert (only_pro["trials_started"], only_pro["trials_ended"], only_pro["trials_converted"]) == (3, 2, 1)


def test_all_currencies_add_the_counts(tmp_path):
    pe = price("price_eur", 2000, currency="eur")
    pu = price("price_usd", 2000)
    objs = _trial("sub_1", "cus_1", pe, "2025-03-01", "2025-03-15", paid_at="2025-03-15") \
        + _trial("sub_2", "cus_2", pu, "2025-03-02", "2025-03-16", ended_at="2025-03-16", status="canceled")
    cache = make_cache(tmp_path, objs)
    try:
        engine = MetricsEngine(cache, as_of=date(2025, 3, 31))
        each = engine.depth()
        assert each.set_index("currency")["trials_ended"].to_dict() == {"eur": 1, "usd": 1}
        both = engine.depth(reporting_currency="usd").iloc[0]
        assert (both["currency"], both["trials_ended"], both["trials_converted"]) == ("usd", 2, 1)
        assert both["trial_conversion_rate"] == pytest.approx(0.5)
    finally:
        cache.close()


def test_a_trial_with_an_add_on_counts_for_each_product(tmp_path):
    base, addon = dict(price("price_base", 2000), product="prod_base"), dict(price("price_addon", 9000),
                                                                           product="prod_addon")
    sub = subscription("sub_1", "cus_1", [item("si_1", base, created="2025-03-01"),
                                          item("si_2", addon, created="2025-03-01")],
                       start="2025-03-01", trial_start="2025-03-01", trial_end="2025-03-15",
                       ended_at="2025-03-15", status="canceled")
    cache = make_cache(tmp_path, [customer("cus_1"), base, addon, sub])
    try:
        engine = MetricsEngine(cache, as_of=date(2025, 3, 31))
        plans = engine.trials_by_plan(MetricFilters())
        assert sorted(plans["product"]) == ["prod_addon", "prod_base"]
        assert plans["trials_ended"].tolist() == [1, 1] and plans["trials_converted"].tolist() == [0, 0]
        assert engine.depth(MetricFilters(products=["prod_addon"])).iloc[0]["trials_ended"] == 1
        assert engine.depth(MetricFilters(products=["prod_other"])).iloc[0]["trials_ended"] == 0
    finally:
        cache.close()
