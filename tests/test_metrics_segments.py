"""Segments, hand-computed (metrics.md "Segments"): each customer's plan / price / billing interval
month by month, country and metadata; gains to the segment after a movement, losses to the one
before, plan switches as moved in / out; filters equal to their breakdown row."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from stripe_analytics.metrics import (MetricFilters, MetricsEngine, SegmentNeedsCurrencyError, compute_metrics,
                                      parse_dimension)
from stripe_analytics.metrics.engine import SEGMENT_MONTH_KEYS
from stripe_analytics.queries import Scope, customers, filter_options
from tests.stripe_builders import (add_interval, charge, customer, invoice, item, line, make_cache, price, product,
                                   subscription, ts)

BASIC = price("price_basic", 1000, product="prod_basic")
PRO = price("price_pro", 3000, product="prod_pro")
AS_OF = date(2024, 3, 31)


def months_billed(sub_id: str, cust: str, plan: list[tuple[dict, int]], first: str = "2024-01-01",
                  ended_at: str | None = None) -> list[dict]:
    """A monthly subscription from `first`, one invoice per month billing plan[i] = (price, quantity)."""
    period, invs = ts(first), []
    for n, (p, qty) in enumerate(plan):
        end = add_interval(period, "month")
        invs.append(invoice(f"in_{sub_id}_{n}", cust, [line(f"il_{sub_id}_{n}", p["unit_amount"] * qty, p, period, end,
                                                            sub_id, f"si_{sub_id}", quantity=qty)],
                            period, subscription=sub_id))
        period = end
    last_price, last_qty = plan[-1]
    sub = subscription(sub_id, cust, [item(f"si_{sub_id}", last_price, quantity=last_qty)], start=first,
                       status="canceled" if ended_at else "active", ended_at=ended_at, canceled_at=ended_at)
    return [sub, *invs]


def with_country(obj: dict, country: str | None) -> dict:
    return dict(obj, address={"country": country, "city": None, "line1": None, "line2": None,
                              "postal_code": None, "state": None} if country else None)


def card_charge(id: str, cust: str, country: str, created: str) -> dict:
    c = charge(id, 3000, created, customer=cust)
    c["payment_method_details"] = {"type": "card", "card": {"country": country, "brand": "visa", "last4": "4242"}}
    return c


@pytest.fixture
def example(tmp_path):
    """docs/metrics.md "Segments", worked example. Jan: A Basic 1000, B Pro 3000, D Pro 3000.
    Feb: A upgrades to Pro 3000, B churns, C starts on Basic 1000, D downgrades to Basic x2 = 2000.
    Mar: nothing changes. A and D in France, B has no address and a German card, C in the US."""
    objs = [product("prod_basic", "Basic"), product("prod_pro", "Pro"), BASIC, PRO,
            with_country(customer("cus_a", metadata={"tier": "gold"}), "FR"),
            customer("cus_b", metadata={"tier": "gold"}),
            with_country(customer("cus_c"), "US"), with_country(customer("cus_d", metadata={"tier": "silver"}), "fr")]
    objs += months_billed("sub_a", "cus_a", [(BASIC, 1), (PRO, 1), (PRO, 1)])
    objs += months_billed("sub_b", "cus_b", [(PRO, 1)], ended_at="2024-02-01")
    objs += months_billed("sub_c", "cus_c", [(BASIC, 1), (BASIC, 1)], first="2024-02-01")
    objs += months_billed("sub_d", "cus_d", [(PRO, 1), (BASIC, 2), (BASIC, 2)])
    objs += [card_charge("ch_b0", "cus_b", "US", "2024-01-01"), card_charge("ch_b1", "cus_b", "DE", "2024-01-02"),
             card_charge("ch_a1", "cus_a", "US", "2024-01-01")]
    return make_cache(tmp_path, objs)


def rows(frame, month: str) -> dict:
    return {r["segment"]: r for r in frame[frame["month"] == month].to_dict("records")}


def test_movements_by_plan_follow_the_rule_and_add_up(example):
    engine = MetricsEngine(example, as_of=AS_OF)
    by_plan = engine.segment_breakdown(MetricFilters(currencies=["usd"]), "plan")
    assert sorted(set(by_plan["segment"])) == ["prod_basic", "prod_pro"]
    jan, feb, mar = rows(by_plan, "2024-01"), rows(by_plan, "2024-02"), rows(by_plan, "2024-03")
    assert (jan["prod_basic"]["mrr"], jan["prod_basic"]["new_mrr"], jan["prod_basic"]["active_customers"]) == (1000, 1000, 1)
    assert (jan["prod_pro"]["mrr"], jan["prod_pro"]["new_mrr"], jan["prod_pro"]["new_customers"]) == (6000, 6000, 2)
    basic, pro = feb["prod_basic"], feb["prod_pro"]
    # Basic: C is new (1000, a gain: segment after); D moves in with min(3000, 2000) = 2000, A moves out
    # with min(1000, 3000) = 1000; A's upgrade and D's downgrade are not Basic's.
    assert (basic["mrr"], basic["active_customers"], basic["new_mrr"], basic["expansion_mrr"],
            basic["contraction_mrr"], basic["churned_mrr"], basic["moved_in_mrr"], basic["moved_out_mrr"]) == (
        3000, 2, 1000, 0, 0, 0, 2000, 1000)
    # Pro: A's upgrade +2000 (gain, segment after), D's downgrade -1000 and B's churn -3000 (losses,
    # segment before: both were Pro in January); A moves in 1000, D moves out 2000.
    assert (pro["mrr"], pro["active_customers"], pro["new_mrr"], pro["expansion_mrr"], pro["contraction_mrr"],
            pro["churned_mrr"], pro["churned_customers"], pro["moved_in_mrr"], pro["moved_out_mrr"]) == (
        3000, 1, 0, 2000, 1000, 3000, 1, 1000, 2000)
    for seg, before in (("prod_basic", 1000), ("prod_pro", 6000)):   # MRR(M) = MRR(P) + net new + in - out
        r = feb[seg]
        assert r["mrr"] == before + r["net_new_mrr"] + r["moved_in_mrr"] - r["moved_out_mrr"]
    assert pro["net_new_mrr"] == -2000                               # 2000 - 1000 - 3000
    assert pro["customer_churn_rate"] == 0.5                         # 1 churned / 2 Pro customers in January
    assert pro["revenue_churn_rate"] == pytest.approx(4000 / 6000)   # (3000 + 1000) / 6000
    assert pro["grr"] == pytest.approx(2000 / 6000)                  # (6000 - 4000) / 6000
    assert pro["nrr"] == pytest.approx(4000 / 6000)                  # (6000 - 4000 + 2000) / 6000
    assert (basic["customer_churn_rate"], basic["revenue_churn_rate"], basic["grr"]) == (0, 0, 1)
    assert math.isnan(jan["prod_pro"]["customer_churn_rate"])        # no customer before January
    assert (mar["prod_basic"]["mrr"], mar["prod_pro"]["mrr"], mar["prod_pro"]["moved_in_mrr"]) == (3000, 3000, 0)
    # Over the segments the five movements are the account's.
    total = compute_metrics(example, MetricFilters(currencies=["usd"]), as_of=AS_OF).monthly.set_index("month")
    for column in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "mrr",
                   "active_customers", "churned_customers", "new_customers"):
        assert by_plan.groupby("month")[column].sum().to_dict() == total[column].to_dict(), column
    assert by_plan.groupby("month")["moved_in_mrr"].sum().to_dict() == \
        by_plan.groupby("month")["moved_out_mrr"].sum().to_dict()


def test_a_plan_filter_is_its_breakdown_row(example):
    engine = MetricsEngine(example, as_of=AS_OF)
    by_plan = engine.segment_breakdown(MetricFilters(currencies=["usd"]), "plan")
    pro = engine.compute(MetricFilters(currencies=["usd"], plan="prod_pro")).monthly.set_index("month")
    assert list(pro["mrr"]) == [6000, 3000, 3000]
    assert (pro.loc["2024-02", "expansion_mrr"], pro.loc["2024-02", "contraction_mrr"],
            pro.loc["2024-02", "churned_mrr"], pro.loc["2024-02", "customer_churn_rate"]) == (2000, 1000, 3000, 0.5)
    row = by_plan[by_plan["segment"] == "prod_pro"].set_index("month")
    for column in ("mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "active_customers",
                   "customer_churn_rate", "revenue_churn_rate", "nrr"):
        assert list(pro[column].fillna(-1)) == list(row[column].fillna(-1)), column
    # The price dimension: one price per plan here, so the same figures under the price's id.
    by_price = engine.segment_breakdown(MetricFilters(currencies=["usd"]), "price")
    assert rows(by_price, "2024-02")["price_pro"]["churned_mrr"] == 3000
    assert engine.compute(MetricFilters(price="price_basic")).monthly["mrr"].tolist() == [1000, 3000, 3000]
    # Every price is monthly: one interval segment holding the account.
    by_interval = engine.segment_breakdown(MetricFilters(), "interval")
    assert set(by_interval["segment"]) == {"month"} and by_interval["mrr"].tolist() == [7000, 6000, 6000]
    assert engine.compute(MetricFilters(billing_interval="year")).monthly["mrr"].tolist() == [0, 0, 0]
    # Plans are per currency: the converted view says so instead of ignoring the filter.
    with pytest.raises(SegmentNeedsCurrencyError):
        engine.compute(MetricFilters(plan="prod_pro"), reporting_currency="usd")


def test_country_is_the_address_else_the_latest_card(example):
    engine = MetricsEngine(example, as_of=AS_OF)
    by_country = engine.segment_breakdown(MetricFilters(), "country")
    feb = rows(by_country, "2024-02")
    assert sorted(feb) == ["DE", "FR", "US"]
    # B has no address: its latest card (Jan 2) is German, not the Jan 1 US one.
    assert (feb["DE"]["churned_mrr"], feb["DE"]["customer_churn_rate"], feb["DE"]["mrr"]) == (3000, 1.0, 0)
    # A and D (address "fr", upper-cased) stay French: no move, A's +2000 and D's -1000 are France's.
    assert (feb["FR"]["mrr"], feb["FR"]["expansion_mrr"], feb["FR"]["contraction_mrr"], feb["FR"]["moved_in_mrr"]) == (
        5000, 2000, 1000, 0)
    assert (feb["US"]["new_mrr"], feb["US"]["new_customers"]) == (1000, 1)
    # The country filter is a customer filter: MRR and cash (B's charges are its own).
    de = engine.compute(MetricFilters(country="de")).monthly.set_index("month")
    assert list(de["mrr"]) == [3000, 0, 0] and de.loc["2024-01", "gross_volume"] == 6000
    # A country is a set of customers: the all-currencies view takes it too.
    assert engine.compute(MetricFilters(country="FR"), reporting_currency="usd").monthly["mrr"].tolist() == [
        4000, 5000, 5000]
    # The browse tables take the same rule.
    con = example.con
    assert sorted(customers(con, Scope(country="FR"))["id"]) == ["cus_a", "cus_d"]
    assert "DE" in filter_options(con).countries


def test_metadata_dimension_and_tie_rule(tmp_path, example):
    engine = MetricsEngine(example, as_of=AS_OF)
    by_tier = engine.segment_breakdown(MetricFilters(), "metadata:tier")
    feb = rows(by_tier, "2024-02")
    assert (feb["gold"]["mrr"], feb["gold"]["churned_mrr"], feb["silver"]["mrr"], feb["(none)"]["mrr"]) == (
        3000, 3000, 2000, 1000)
    # Two subscriptions of one customer: the plan bringing most of the MRR holds all of it; a tie
    # goes to the smallest product id.
    addon = price("price_addon", 1000, product="prod_addon")
    objs = [customer("cus_e"), customer("cus_f"), BASIC, PRO, addon]
    objs += months_billed("sub_e1", "cus_e", [(BASIC, 1)]) + months_billed("sub_e2", "cus_e", [(PRO, 1)])
    objs += months_billed("sub_f1", "cus_f", [(BASIC, 1)]) + months_billed("sub_f2", "cus_f", [(addon, 1)])
    other = MetricsEngine(make_cache(tmp_path, objs, name="tie.duckdb"), as_of=date(2024, 1, 31))
    jan = rows(other.segment_breakdown(MetricFilters(), "plan"), "2024-01")
    assert (jan["prod_pro"]["mrr"], jan["prod_addon"]["mrr"]) == (4000, 2000) and "prod_basic" not in jan


def test_dimensions_are_checked():
    assert parse_dimension("metadata:tier") == "metadata:tier"
    for bad in ("plans", "metadata:", "", "Country"):
        with pytest.raises(ValueError, match="plan, price, interval, country or metadata:<key>"):
            parse_dimension(bad)
    with pytest.raises(ValueError, match="country code"):
        MetricFilters(country="France")


def test_cli_by_and_segment(example, capsys):
    from stripe_analytics import cli

    path = str(example.path)
    example.close()
    assert cli.main(["metrics", "--db", path, "--as-of", "2024-03-31", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "segments" not in plain
    assert cli.main(["metrics", "--db", path, "--as-of", "2024-03-31", "--json", "--by", "plan"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in doc.items() if k != "segments"} == plain      # existing keys unchanged
    usd = doc["segments"]["currencies"]["usd"]
    assert doc["segments"]["by"] == "plan" and [(s["segment"], s["name"]) for s in usd] == [
        ("prod_basic", "Basic"), ("prod_pro", "Pro")]                      # both 30.00 in March: by id
    feb = usd[1]["months"][1]
    assert tuple(feb) == SEGMENT_MONTH_KEYS
    assert (feb["month"], feb["mrr"], feb["expansion_mrr"], feb["contraction_mrr"], feb["churned_mrr"],
            feb["moved_in_mrr"], feb["moved_out_mrr"], feb["customer_churn_rate"]) == (
        "2024-02", 30.0, 20.0, 10.0, 30.0, 10.0, 20.0, 0.5)
    # --segment filters the monthly table; a plan segment has no converted view.
    assert cli.main(["metrics", "--db", path, "--as-of", "2024-03-31", "--json", "--segment", "plan=prod_pro"]) == 0
    pro = json.loads(capsys.readouterr().out)
    assert [m["mrr"] for m in pro["currencies"]["usd"]["months"]] == [60.0, 30.0, 30.0] and "reporting" not in pro
    assert cli.main(["metrics", "--db", path, "--as-of", "2024-03-31", "--segment", "country=FR", "--by",
                     "metadata:tier"]) == 0
    text = capsys.readouterr().out
    assert "USD BY METADATA:TIER" in text and "ALL CURRENCIES IN USD" in text
    for bad, words in ((["--by", "tier"], "--by 'tier' is not a segment"),
                       (["--segment", "plan"], "--segment must be DIMENSION=VALUE"),
                       (["--segment", "country=France"], "--segment 'France' is not a country code")):
        assert cli.main(["metrics", "--db", path, *bad]) == 2
        assert words in capsys.readouterr().err


def test_on_the_demo_every_segment_bridges_and_the_segments_add_up():
    """The rules hold on the small demo account, for every dimension, currency, value and month:
    MRR(M) = MRR(P) + net new + moved in - moved out, and the segments add up to the account."""
    from stripe_analytics.cache import Cache
    from tests.app_support import small_demo

    with Cache.open(small_demo(), read_only=True) as cache:
        engine = MetricsEngine(cache)
        total = engine.compute().monthly.set_index(["currency", "month"])
        moved = 0
        for by in ("plan", "price", "interval", "country", "metadata:segment"):
            frame = engine.segment_breakdown(MetricFilters(), by).sort_values(["currency", "segment", "m"])
            previous = frame.groupby(["currency", "segment"])["mrr"].shift(1).fillna(0)
            bridge = previous + frame["net_new_mrr"] + frame["moved_in_mrr"] - frame["moved_out_mrr"]
            first = frame["m"] == frame["m"].min()
            assert (bridge[~first] == frame["mrr"][~first]).all(), by
            sums = frame.groupby(["currency", "month"])[["mrr", "new_mrr", "expansion_mrr", "contraction_mrr",
                                                          "churned_mrr", "reactivation_mrr", "active_customers",
                                                          "churned_customers", "moved_in_mrr"]].sum()
            for column in sums.columns.drop("moved_in_mrr"):
                assert (sums[column] == total.loc[sums.index, column]).all(), (by, column)
            assert (sums["moved_in_mrr"] == frame.groupby(["currency", "month"])["moved_out_mrr"].sum()).all()
            moved += int(frame["moved_in_mrr"].sum())
            if by in ("country", "metadata:segment"):
                assert frame["moved_in_mrr"].sum() == 0, by     # one value per customer: nobody moves
        assert moved > 0                                        # the demo has plan changes
