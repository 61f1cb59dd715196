"""Customer movements, counts, rates, cohorts and filters, hand-computed (metrics.md "Customer MRR
and movements", "Customer counts and rates", "Cohorts")."""

from __future__ import annotations

import gc
import math
import weakref
from datetime import date

import pytest

from stripe_analytics.metrics import MetricFilters, MetricsEngine, UnknownCurrencyError, compute_metrics
from tests.stripe_builders import add_interval, customer, invoice, item, line, make_cache, price, subscription, ts

MONTHLY = price("p_unit", 100)   # 1.00 a month per unit: a line of N.00 is N00 minor units


def billed(sub_id: str, cust: str, amounts: list[int], first: str = "2024-01-01", ended_at: str | None = None,
           product: str = "prod_1", interval: str = "month", unit: dict | None = None) -> list[dict]:
    """A subscription from `first` with one invoice per period billing `amounts[i]` (minor units)."""
    p = unit or (MONTHLY if product == "prod_1" and interval == "month" else
                 price(f"p_{product}_{interval}", 100, product=product, interval=interval))
    start = ts(first)
    invs, period = [], start
    for n, amount in enumerate(amounts):
        end = add_interval(period, interval)
        invs.append(invoice(f"in_{sub_id}_{n}", cust, [line(f"il_{sub_id}_{n}", amount, p, period, end, sub_id,
                                                            f"si_{sub_id}", quantity=amount // 100)],
                            period, subscription=sub_id))
        period = end
    status = "canceled" if ended_at else "active"
    sub = subscription(sub_id, cust, [item(f"si_{sub_id}", p, quantity=amounts[-1] // 100)], start=first,
                       status=status, ended_at=ended_at, canceled_at=ended_at)
    return [p, sub, *invs]


@pytest.fixture
def rates_cache(tmp_path):
    """Jan: A 1000, B 2000, C 3000, D 4000 (all new). Feb: A churns, B expands to 3000, C contracts to
    2000, D stays, E joins at 1500. Mar-May: nothing changes."""
    objs = [customer(c, name=f"Customer {c[-1].upper()}") for c in ("cus_a", "cus_b", "cus_c", "cus_d", "cus_e")]
    objs += billed("sub_a", "cus_a", [1000], ended_at="2024-02-01")
    objs += billed("sub_b", "cus_b", [2000, 3000, 3000, 3000, 3000])
    objs += billed("sub_c", "cus_c", [3000, 2000, 2000, 2000, 2000])
    objs += billed("sub_d", "cus_d", [4000] * 5)
    objs += billed("sub_e", "cus_e", [1500] * 4, first="2024-02-01")
    return make_cache(tmp_path, objs)


def test_movements_counts_and_rates(rates_cache):
    result = compute_metrics(rates_cache, as_of=date(2024, 5, 31))
    m = result.monthly.set_index("month")
    assert list(m["mrr"]) == [10000, 10500, 10500, 10500, 10500]
    assert list(m["arr"]) == [120000, 126000, 126000, 126000, 126000]
    jan, feb, mar = m.loc["2024-01"], m.loc["2024-02"], m.loc["2024-03"]
    # January: everyone is new; P = 0 so every rate with MRR(P) or customers(P) below is null.
    assert (jan.new_mrr, jan.new_customers, jan.active_customers, jan.net_new_mrr) == (10000, 4, 4, 10000)
    for key in ("customer_churn_rate", "revenue_churn_rate", "grr", "nrr", "quick_ratio", "mrr_growth_rate", "ltv"):
        assert math.isnan(jan[key]), key
    assert jan.arpa == 2500            # 10000 / 4
    # February: new 1500 (E), expansion 1000 (B), contraction 1000 (C), churn 1000 (A).
    assert (feb.new_mrr, feb.expansion_mrr, feb.contraction_mrr, feb.churned_mrr, feb.reactivation_mrr) == (
        1500, 1000, 1000, 1000, 0)
    assert feb.net_new_mrr == 500 == 10500 - 10000            # 1500 + 1000 - 1000 - 1000
    assert (feb.active_customers, feb.new_customers, feb.churned_customers) == (4, 1, 1)
    assert feb.customer_churn_rate == 0.25                     # 1 churned / 4 active in January
    assert feb.revenue_churn_rate == pytest.approx(0.2)        # (1000 + 1000) / 10000
    assert feb.grr == pytest.approx(0.8)                       # (10000 - 1000 - 1000) / 10000
    assert feb.nrr == pytest.approx(0.9)                       # (10000 - 2000 + 1000) / 10000
    assert feb.arpa == 2625                                    # 10500 / 4
    assert feb.quick_ratio == pytest.approx(1.25)              # (1500 + 0 + 1000) / (1000 + 1000)
    assert feb.mrr_growth_rate == pytest.approx(0.05)          # 10500 / 10000 - 1
    assert feb.ltv == pytest.approx(10500)                     # 2625 / mean(0.25)
    # March: no movement; churn rate 0, quick ratio null (nothing lost), GRR = NRR = 1.
    assert (mar.customer_churn_rate, mar.grr, mar.nrr, mar.mrr_growth_rate) == (0, 1, 1, 0)
    assert math.isnan(mar.quick_ratio)
    assert mar.ltv == pytest.approx(21000)                     # 2625 / mean(0.25, 0)
    assert m.loc["2024-04"].ltv == pytest.approx(31500)        # 2625 / mean(0.25, 0, 0)
    assert math.isnan(m.loc["2024-05"].ltv)                    # mean(0, 0, 0) = 0 -> null


def test_customers_behind_a_movement(rates_cache):
    result = compute_metrics(rates_cache, as_of=date(2024, 5, 31))
    who = result.customers_for("usd", "2024-02", "churn")
    assert who[["customer", "name", "previous_mrr", "mrr", "amount"]].values.tolist() == [
        ["cus_a", "Customer A", 1000, 0, 1000]]
    assert result.customers_for("usd", "2024-02", "expansion")["customer"].tolist() == ["cus_b"]
    assert result.customers_for("usd", "2024-01", "new")["customer"].tolist() == ["cus_d", "cus_c", "cus_b", "cus_a"]


def test_a_result_does_not_keep_its_engine(rates_cache):
    # An engine holds its MRR components and kept snapshots (hundreds of MB on a large account);
    # a result kept by a page must not hold them too, yet still names the customers behind a bar.
    engine = MetricsEngine(rates_cache, as_of=date(2024, 5, 31))
    result = engine.compute()
    gone = weakref.ref(engine)
    del engine
    gc.collect()
    assert gone() is None
    who = result.customers_for("usd", "2024-02", "churn")
    assert who[["customer", "name", "amount"]].values.tolist() == [["cus_a", "Customer A", 1000]]


def test_reactivation_after_churn(tmp_path):
    objs = [customer("cus_1")]
    objs += billed("sub_1", "cus_1", [1000, 1000], ended_at="2024-03-01")
    objs += billed("sub_2", "cus_1", [2000, 2000], first="2024-04-10")
    cache = make_cache(tmp_path, objs)
    m = compute_metrics(cache, as_of=date(2024, 5, 31)).monthly
    assert list(m["mrr"]) == [1000, 1000, 0, 2000, 2000]
    assert list(m["churned_mrr"]) == [0, 0, 1000, 0, 0]
    assert list(m["reactivation_mrr"]) == [0, 0, 0, 2000, 0]       # back in April: reactivation, not new
    assert list(m["new_customers"]) == [1, 0, 0, 0, 0]
    assert list(m["reactivated_customers"]) == [0, 0, 0, 1, 0]
    assert m["customer_churn_rate"].tolist()[2] == 1.0              # 1 of 1 customer churned in March
    assert list(m["net_new_mrr"]) == [1000, 0, -1000, 2000, 0]


def test_second_subscription_is_expansion_not_new(tmp_path):
    objs = [customer("cus_1")]
    objs += billed("sub_1", "cus_1", [1000, 1000, 1000])
    objs += billed("sub_2", "cus_1", [500, 500], first="2024-02-10")
    cache = make_cache(tmp_path, objs)
    m = compute_metrics(cache, as_of=date(2024, 3, 31)).monthly
    assert list(m["mrr"]) == [1000, 1500, 1500]
    assert list(m["expansion_mrr"]) == [0, 500, 0]
    assert list(m["new_mrr"]) == [1000, 0, 0]
    assert list(m["new_customers"]) == [1, 0, 0]


def test_months_without_anything_are_rows(tmp_path):
    objs = [customer("cus_1")]
    objs += billed("sub_1", "cus_1", [1000], ended_at="2024-02-01")
    objs += billed("sub_2", "cus_1", [1000], first="2024-05-01")
    cache = make_cache(tmp_path, objs)
    m = compute_metrics(cache, as_of=date(2024, 5, 31)).monthly
    assert list(m["month"]) == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    assert list(m["mrr"]) == [1000, 0, 0, 0, 1000]
    assert math.isnan(m["customer_churn_rate"][2])     # no customers in February: null


def test_date_range_shows_months_but_keeps_true_previous_month(rates_cache):
    result = compute_metrics(rates_cache, MetricFilters(date_from=date(2024, 2, 1), date_to=date(2024, 3, 15)),
                             as_of=date(2024, 5, 31))
    m = result.monthly
    assert list(m["month"]) == ["2024-02", "2024-03"]
    assert list(m["new_mrr"]) == [1500, 0]            # not 10500: January is still the previous month
    assert m["customer_churn_rate"].tolist() == [0.25, 0.0]


def test_cohorts_logo_and_revenue_retention(rates_cache):
    cohorts = compute_metrics(rates_cache, as_of=date(2024, 5, 31)).cohorts
    jan = cohorts[cohorts["cohort"] == "2024-01"].set_index("month")
    # January cohort: A, B, C, D with 10000. February: B, C, D remain (3 of 4) with 3000 + 2000 + 4000.
    assert (jan.loc["2024-01"].cohort_customers, jan.loc["2024-01"].logo_retention) == (4, 1.0)
    assert jan.loc["2024-02"].retained_customers == 3 and jan.loc["2024-02"].logo_retention == 0.75
    assert jan.loc["2024-02"].mrr == 9000 and jan.loc["2024-02"].revenue_retention == pytest.approx(0.9)
    feb = cohorts[cohorts["cohort"] == "2024-02"]
    assert feb["retained_customers"].tolist() == [1, 1, 1, 1] and feb["age"].tolist() == [0, 1, 2, 3]


def test_filters_product_interval_segment_currency(tmp_path):
    pa_ = price("p_a", 1000, product="prod_a")
    pb = price("p_b", 500, product="prod_b")
    py = price("p_y", 24000, product="prod_a", interval="year")
    eur = price("p_eur", 700, currency="eur", product="prod_a")
    objs = [pa_, pb, py, eur,
            customer("cus_1", metadata={"plan": "enterprise"}), customer("cus_2", metadata={"plan": "smb"}),
            customer("cus_3"),
            subscription("sub_1", "cus_1", [item("si_1", pa_), item("si_2", pb)], start="2024-01-01"),
            subscription("sub_2", "cus_2", [item("si_3", py)], start="2024-01-01"),
            subscription("sub_3", "cus_3", [item("si_4", eur)], start="2024-01-01")]
    cache = make_cache(tmp_path, objs)
    engine = MetricsEngine(cache, as_of=date(2024, 1, 31))

    def mrr(**kw) -> dict:
        result = engine.compute(MetricFilters(**kw))
        return dict(zip(result.monthly["currency"], result.monthly["mrr"]))

    assert mrr() == {"eur": 700, "usd": 3500}                    # 1000 + 500 + 24000 / 12
    assert mrr(products=["prod_a"]) == {"eur": 700, "usd": 3000}  # 1000 + 2000
    assert mrr(intervals=["year"]) == {"eur": 0, "usd": 2000}
    assert mrr(segment_key="plan", segment_value="enterprise") == {"eur": 0, "usd": 1500}
    assert mrr(currencies=["EUR"]) == {"eur": 700}
    with pytest.raises(UnknownCurrencyError):
        engine.compute(MetricFilters(currencies=["gbp"]))


def test_filter_model_validation():
    with pytest.raises(ValueError):
        MetricFilters(currencies=["dollars"])
    with pytest.raises(ValueError):
        MetricFilters(date_from=date(2024, 3, 1), date_to=date(2024, 1, 1))
    with pytest.raises(ValueError):
        MetricFilters(segment_key="plan")
    with pytest.raises(ValueError):
        MetricFilters(intervals=["fortnight"])
    with pytest.raises(ValueError):
        MetricFilters(timezone="Mars/Olympus")
    assert MetricFilters(currencies="USD, eur").currencies == ("usd", "eur")


def test_time_zone_moves_month_boundaries(tmp_path):
    # Starts Jan 31 20:00 UTC = Feb 1 05:00 in Tokyo; the Tokyo January snapshot (Feb 1 00:00 JST =
    # Jan 31 15:00 UTC) is before the start.
    objs = [customer("cus_1"), MONTHLY,
            subscription("sub_1", "cus_1", [item("si_1", MONTHLY, quantity=10)], start="2024-01-31T20:00")]
    cache = make_cache(tmp_path, objs)
    utc = compute_metrics(cache, as_of=date(2024, 2, 29))
    tokyo = compute_metrics(cache, MetricFilters(timezone="Asia/Tokyo"), as_of=date(2024, 2, 29))
    assert dict(zip(utc.monthly["month"], utc.monthly["mrr"])) == {"2024-01": 1000, "2024-02": 1000}
    assert dict(zip(tokyo.monthly["month"], tokyo.monthly["mrr"])) == {"2024-02": 1000}


def test_mrr_by_product_matches_one_product_filter_at_a_time(tmp_path):
    pa_, pb = price("p_a", 1000, product="prod_a"), price("p_b", 500, product="prod_b")
    objs = [pa_, pb, customer("cus_1"), customer("cus_2"),
            subscription("sub_1", "cus_1", [item("si_1", pa_), item("si_2", pb)], start="2024-01-01"),
            subscription("sub_2", "cus_2", [item("si_3", pb, quantity=3)], start="2024-02-01")]
    engine = MetricsEngine(make_cache(tmp_path, objs), as_of=date(2024, 2, 29))
    frame = engine.mrr_by_product()
    got = {(r.product, r.month): (r.mrr, r.active_customers) for r in frame.itertuples()}
    # prod_a: cus_1 1000 both months; prod_b: cus_1 500, plus cus_2 1500 from February
    assert got == {("prod_a", "2024-01"): (1000, 1), ("prod_a", "2024-02"): (1000, 1),
                   ("prod_b", "2024-01"): (500, 1), ("prod_b", "2024-02"): (2000, 2)}
    for product in ("prod_a", "prod_b"):
        one = engine.compute(MetricFilters(products=[product])).monthly
        assert list(one["mrr"]) == [got[(product, m)][0] for m in ("2024-01", "2024-02")]


def test_engine_reads_through_a_fresh_connection_per_computation(tmp_path):
    import duckdb

    from stripe_analytics.cache import Cache

    pa_ = price("p_a", 1000, product="prod_a")
    objs = [pa_, customer("cus_1"), customer("cus_2"),
            subscription("sub_1", "cus_1", [item("si_1", pa_)], start="2024-01-01"),
            subscription("sub_2", "cus_2", [item("si_2", pa_, quantity=2)], start="2024-02-01")]
    cache = make_cache(tmp_path, objs)
    path = cache.path
    engine = MetricsEngine(cache, as_of=date(2024, 2, 29))
    expected = engine.compute().monthly
    engine.close()
    cache.close()
    closed = engine.src
    with pytest.raises(duckdb.Error):  # no connection is held between computations
        closed.con.execute("SELECT 1")
    for _ in range(2):  # a new short-lived read-only connection each time; the base stays computed
        with Cache.open(path, read_only=True) as fresh, engine.using(fresh) as same:
            assert same is engine and engine.src is not closed
            monthly = engine.compute(MetricFilters(products=["prod_a"])).monthly
            by_product = engine.mrr_by_product()
        assert engine.src is closed  # back to the previous source afterwards
        assert list(monthly["mrr"]) == list(expected["mrr"]) == [1000, 3000]
        assert list(by_product["mrr"]) == [1000, 3000]
