"""Properties of the metrics on generated accounts (hypothesis), and the demo account's sanity.

Properties (issue 4): net_new_mrr equals the MRR difference every month; no negative MRR; movement
counts add up to the change in active customers; metrics are invariant to the order rows arrive in.
"""

from __future__ import annotations

import math
import random
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_analytics import ingest
from stripe_analytics.cache import Cache
from stripe_analytics.metrics import MetricsEngine, Sources, compute_metrics, subscription_mrr_at
from tests.stripe_builders import (add_interval, balance_transaction, charge, coupon, customer, discount, invoice,
                                   item, line, price, refund, subscription, tier, ts)

AS_OF = date(2024, 12, 31)
AS_OF_TS = ts("2025-01-01")
BASE = ts("2024-01-01")
DAY = 86400

CATALOG = [
    price("p_m", 1000), price("p_m2", 2500), price("p_y", 24000, interval="year"),
    price("p_w", 700, interval="week"), price("p_q", 9000, interval_count=3),
    price("p_meter", 3, usage_type="metered"),
    price("p_tier", None, tiers=[tier(3, 1000, flat_amount=500), tier(None, 400)], tiers_mode="graduated"),
    price("p_jpy", 3000, currency="jpy"), price("p_jpy_y", 50000, currency="jpy", interval="year"),
    price("p_eur", 1500, currency="eur"),
]
COUPONS = [coupon("c_pct", percent_off=30), coupon("c_once", percent_off=50, duration="once"),
           coupon("c_amt", amount_off=400, currency="usd", duration="repeating", duration_in_months=3),
           coupon("c_jpy", amount_off=500, currency="jpy")]

subscription_plan = st.fixed_dictionaries({
    "price": st.sampled_from(range(len(CATALOG))),
    "quantity": st.integers(1, 4),
    "start_day": st.integers(0, 330),
    "trial_days": st.sampled_from([0, 0, 0, 14, 40]),
    "length_days": st.one_of(st.none(), st.integers(1, 300)),
    "status": st.sampled_from(["active", "active", "past_due", "unpaid", "paused", "incomplete", "trialing"]),
    "invoice_statuses": st.lists(st.sampled_from(["paid", "paid", "paid", "open", "void", "uncollectible", "draft"]),
                                 min_size=0, max_size=14),
    "quantity_changes": st.lists(st.integers(1, 5), max_size=14),
    "discount": st.one_of(st.none(), st.tuples(st.sampled_from(range(len(COUPONS))), st.integers(0, 200),
                                               st.one_of(st.none(), st.integers(1, 200)))),
    "line_discount": st.integers(0, 100),
    "proration": st.booleans(),
})
account_plan = st.lists(st.lists(subscription_plan, min_size=1, max_size=3), min_size=1, max_size=5)
payments_plan = st.lists(st.tuples(st.integers(0, 360), st.integers(100, 20000),
                                   st.sampled_from(["succeeded", "succeeded", "failed"]), st.integers(0, 60),
                                   st.sampled_from(["usd", "eur", "jpy"])), max_size=8)


def build_account(plan: list[list[dict]], payments: list[tuple]) -> list[dict]:
    """Stripe objects for a generated plan: customers, subscriptions, their invoices (random
    statuses, quantity changes, discounts, prorations) and some payments."""
    objs: list[dict] = [*CATALOG, *COUPONS]
    for c, subs in enumerate(plan):
        cust = f"cus_{c}"
        objs.append(customer(cust, metadata={"group": "a" if c % 2 else "b"}))
        for s, spec in enumerate(subs):
            sid, p = f"sub_{c}_{s}", CATALOG[spec["price"]]
            recurring = p["recurring"]
            start = BASE + spec["start_day"] * DAY
            trial_end = start + spec["trial_days"] * DAY if spec["trial_days"] else None
            ended = None if spec["length_days"] is None else start + spec["length_days"] * DAY
            if ended is not None and ended >= AS_OF_TS:
                ended = None
            status = "canceled" if ended else spec["status"]
            if status == "trialing" and not trial_end:
                status = "active"
            discounts = []
            if spec["discount"] is not None and COUPONS[spec["discount"][0]]["currency"] in (None, p["currency"]):
                k, begin, length = spec["discount"]
                discounts.append(discount(f"di_{sid}", COUPONS[k], start=start + begin * DAY,
                                          end=None if length is None else start + (begin + length) * DAY))
            quantity = spec["quantity"] if recurring["usage_type"] == "licensed" else None
            period = trial_end or start
            invs = []
            for n, inv_status in enumerate(spec["invoice_statuses"]):
                end = add_interval(period, recurring["interval"], recurring["interval_count"])
                if period >= AS_OF_TS or (ended and period >= ended):
                    break
                q = spec["quantity_changes"][n] if n < len(spec["quantity_changes"]) else (quantity or 1)
                amount = (p["unit_amount"] or 1000) * q
                off = amount * spec["line_discount"] // 100 if discounts else 0
                lines = [line(f"il_{sid}_{n}", amount, p, period, end, sid, f"si_{sid}", quantity=q,
                              discount_amounts=[{"amount": off, "discount": f"di_{sid}"}] if off else None)]
                if spec["proration"] and n == 1:
                    lines.append(line(f"il_{sid}_{n}_pr", -amount // 3, p, period + 5 * DAY, end, sid, f"si_{sid}",
                                      proration=True))
                invs.append(invoice(f"in_{sid}_{n}", cust, lines, period, subscription=sid, status=inv_status))
                period = end
            sub = subscription(sid, cust, [item(f"si_{sid}", p, quantity=quantity)], start=start, status=status,
                               trial_start=start if trial_end else None, trial_end=trial_end, ended_at=ended,
                               canceled_at=ended, discounts=discounts, period_start=period,
                               period_end=add_interval(period, recurring["interval"], recurring["interval_count"]))
            objs += [sub, *invs]
    for n, (day, amount, status, refund_days, currency) in enumerate(payments):
        created = BASE + day * DAY
        objs.append(charge(f"ch_{n}", amount, created, customer=f"cus_{n % len(plan)}", currency=currency,
                           status=status, balance_transaction=f"txn_{n}" if status == "succeeded" else None))
        if status == "succeeded":
            objs.append(balance_transaction(f"txn_{n}", "charge", amount, amount // 30, created, f"ch_{n}",
                                            currency=currency))
            if refund_days:
                objs.append(refund(f"re_{n}", f"ch_{n}", amount // 2, created + refund_days * DAY, currency=currency))
    return objs


def ingest_all(path: Path, objects: list[dict], batches: int = 1) -> Cache:
    cache = Cache.open(path)
    size = max(1, -(-len(objects) // batches))
    with cache.transaction():
        cache.set_meta("account_id", "acct_prop")
    for start in range(0, len(objects), size):
        with cache.transaction() as con:
            ingest.write_objects(con, objects[start:start + size])
    return cache


def check_invariants(result) -> None:
    monthly = result.monthly
    assert (monthly["mrr"] >= 0).all()
    for currency, rows in monthly.groupby("currency"):
        mrr = rows["mrr"].tolist()
        previous = [0] + mrr[:-1]
        # net new MRR = MRR(M) - MRR(P), exactly, every month
        assert rows["net_new_mrr"].tolist() == [m - p for m, p in zip(mrr, previous)], currency
        active = rows["active_customers"].tolist()
        previous_active = [0] + active[:-1]
        # the movement counts add up to the change in active customers
        assert [n + r - c for n, r, c in zip(rows["new_customers"], rows["reactivated_customers"],
                                             rows["churned_customers"])] == [
            a - p for a, p in zip(active, previous_active)], currency
    assert (result.snapshots["mrr"] > 0).all()
    assert (result.movements["amount"] > 0).all()
    by_type = result.movements.groupby(["currency", "month", "movement"])["amount"].sum()
    for row in monthly.itertuples():
        for movement, column in (("new", "new_mrr"), ("churn", "churned_mrr"), ("expansion", "expansion_mrr")):
            assert by_type.get((row.currency, row.month, movement), 0) == getattr(row, column)


def comparable(result) -> pd.DataFrame:
    return result.monthly.drop(columns=["m"]).reset_index(drop=True)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=account_plan, payments=payments_plan, seed=st.integers(0, 2**16), policy=st.sampled_from(["all", "forever_only"]))
def test_generated_accounts_keep_the_invariants_and_ignore_row_order(plan, payments, seed, policy):
    objects = build_account(plan, payments)
    shuffled = objects[:]
    random.Random(seed).shuffle(shuffled)
    with tempfile.TemporaryDirectory() as directory:
        first = ingest_all(Path(directory) / "a.duckdb", objects)
        second = ingest_all(Path(directory) / "b.duckdb", shuffled, batches=3)
        try:
            a = compute_metrics(first, as_of=AS_OF, discount_policy=policy)
            b = compute_metrics(second, as_of=AS_OF, discount_policy=policy)
            check_invariants(a)
            pd.testing.assert_frame_equal(comparable(a), comparable(b))
            pd.testing.assert_frame_equal(a.snapshots.reset_index(drop=True), b.snapshots.reset_index(drop=True))
            # subscription MRR at arbitrary instants is never negative, and at the month snapshots
            # (the last microsecond of each month) it gives the same customer MRR as the monthly path
            instants = [datetime.fromtimestamp(BASE + d * DAY + 3600, timezone.utc) for d in (0, 45, 170, 300)]
            frame = subscription_mrr_at(Sources.from_cache(first), instants, policy)
            assert (frame["mrr"] >= 0).all()
            ends = [a.calendar.snapshot_end(m) - timedelta(microseconds=1) for m in a.calendar.months]
            at_ends = subscription_mrr_at(Sources.from_cache(first), ends, policy)
            at_ends["month"] = at_ends["instant"].map(lambda t: (t + timedelta(microseconds=1) - timedelta(days=1)).strftime("%Y-%m"))
            by_customer = at_ends.groupby(["currency", "customer", "month"])["mrr"].sum().map(
                lambda v: int(math.floor(v + 0.5 + 1e-7))).loc[lambda x: x > 0]
            expected = a.snapshots.set_index(["currency", "customer", "month"])["mrr"]
            assert by_customer.sort_index().to_dict() == expected.sort_index().to_dict()
        finally:
            first.close()
            second.close()


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_demo_accounts_keep_the_invariants_and_ignore_row_order(seed):
    from stripe_analytics.demo import generate_account

    account = generate_account(seed=seed, customers=20, as_of=datetime(2026, 6, 30, tzinfo=timezone.utc))
    objects = [o for o in account.iter_objects() if o.get("object") != "event"]
    shuffled = objects[:]
    random.Random(seed).shuffle(shuffled)
    with tempfile.TemporaryDirectory() as directory:
        first = ingest_all(Path(directory) / "a.duckdb", objects)
        second = ingest_all(Path(directory) / "b.duckdb", shuffled, batches=4)
        try:
            a = compute_metrics(first, as_of=date(2026, 6, 30))
            b = compute_metrics(second, as_of=date(2026, 6, 30))
            check_invariants(a)
            pd.testing.assert_frame_equal(comparable(a), comparable(b))
        finally:
            first.close()
            second.close()


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    from stripe_analytics.demo_cache import build_demo_cache

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_cache(path, seed=0, customers=300, as_of=date(2026, 6, 30))
    cache = Cache.open(path, read_only=True)
    engine = MetricsEngine(cache, as_of=date(2026, 6, 30))
    yield engine.compute(), engine
    cache.close()


def test_demo_account_metrics_are_plausible(demo_result):
    from stripe_analytics.demo import CURRENCY_DECIMALS

    result, _ = demo_result
    check_invariants(result)
    assert set(result.currencies) == set(CURRENCY_DECIMALS)          # every currency present
    monthly = result.monthly
    assert len(result.months) == 24                                  # two years of history, no gap
    for currency, rows in monthly.groupby("currency"):
        rows = rows.reset_index(drop=True)
        assert rows["mrr"].iloc[-1] > 0, currency
        # growth: the account grows over two years
        assert rows["mrr"].iloc[-1] > rows["mrr"].iloc[len(rows) // 2] > 0, currency
        # churn: monthly customer churn on average between 0.5 % and 15 %
        churn = rows["customer_churn_rate"].dropna()
        assert 0.005 <= churn.mean() <= 0.15, (currency, churn.mean())
        nrr = rows["nrr"].dropna()
        assert 0.7 <= nrr.median() <= 1.3, (currency, nrr.median())
        assert rows["gross_volume"].sum() > 0 and rows["successful_payments"].sum() > 0
        success = rows["payment_success_rate"].dropna()
        assert 0.7 <= success.mean() <= 1.0, currency
    usd = monthly[monthly["currency"] == "usd"]
    assert usd["fees"].sum() > 0 and usd["net_volume"].sum() > 0


def test_demo_filter_changes_are_consistent(demo_result):
    from stripe_analytics.metrics import MetricFilters

    result, engine = demo_result
    segments = engine.src.con.execute(
        "SELECT DISTINCT json_extract_string(metadata, '$.segment') FROM customers WHERE NOT deleted").fetchall()
    values = [v for (v,) in segments if v is not None]
    assert values
    # MRR is additive over a partition of customers (segments) and of currencies
    total = result.monthly.groupby("month")["mrr"].sum()
    parts = sum(engine.compute(MetricFilters(segment_key="segment", segment_value=v)).monthly.groupby("month")["mrr"].sum()
                for v in values)
    unsegmented = result.snapshots.merge(
        engine.src.con.execute("SELECT id AS customer FROM customers WHERE json_extract_string(metadata, '$.segment') "
                               "IS NULL").df(), on="customer").groupby("month")["mrr"].sum()
    pd.testing.assert_series_equal(total, parts.add(unsegmented, fill_value=0).astype(total.dtype), check_names=False)
    usd = engine.compute(MetricFilters(currencies=["usd"])).monthly
    pd.testing.assert_frame_equal(usd.reset_index(drop=True),
                                  result.monthly[result.monthly["currency"] == "usd"].reset_index(drop=True))
