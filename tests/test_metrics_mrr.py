"""MRR of subscriptions at instants and month snapshots, hand-computed (metrics.md "MRR of one
subscription at instant t"). Every scenario is built from Stripe-shaped objects ingested through
`write_objects`; amounts are minor units; each expected number says how it was computed."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from stripe_analytics.metrics import Sources, compute_metrics, subscription_mrr_at, tiered_amount
from tests.stripe_builders import (add_objects, coupon, customer, discount, invoice, invoices_for, item, line,
                                   make_cache, price, subscription, tier)


def mrr_by_month(cache, as_of, currency="usd", policy="all", customer_id=None) -> dict[str, int]:
    """{month: MRR in minor units} over the reported months (one customer's if asked)."""
    result = compute_metrics(cache, as_of=as_of, discount_policy=policy)
    if customer_id is None:
        rows = result.monthly[result.monthly["currency"] == currency]
        return dict(zip(rows["month"], rows["mrr"].astype(int)))
    snaps = result.snapshots
    rows = snaps[(snaps["currency"] == currency) & (snaps["customer"] == customer_id)]
    values = dict(zip(rows["month"], rows["mrr"].astype(int)))
    return {m: values.get(m, 0) for m in result.months}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


# -- normalisation --------------------------------------------------------------------------------
def test_normalisation_of_intervals_from_current_items(tmp):
    m = price("p_m", 1000)                                    # 10.00 a month
    y = price("p_y", 12000, interval="year")                  # 120.00 a year
    w = price("p_w", 1000, interval="week")                   # 10.00 a week
    q = price("p_q", 3000, interval="month", interval_count=3)  # 30.00 every 3 months
    d = price("p_d", 100, interval="day")                     # 1.00 a day
    objs = [m, y, w, q, d]
    for n, p in enumerate((m, y, w, q, d)):
        objs += [customer(f"cus_{n}"), subscription(f"sub_{n}", f"cus_{n}", [item(f"si_{n}", p)], start="2024-01-01")]
    cache = make_cache(tmp, objs)
    got = {c: mrr_by_month(cache, date(2024, 1, 31), customer_id=f"cus_{c}")["2024-01"] for c in range(5)}
    assert got == {
        0: 1000,   # 1000 / 1
        1: 1000,   # 12000 / 12
        2: 4333,   # 1000 * 52 / 12 = 4333.33
        3: 1000,   # 3000 / 3
        4: 3042,   # 100 * 365 / 12 = 3041.67
    }


def test_normalisation_of_invoiced_lines(tmp):
    w = price("p_w", 1000, interval="week")
    q = price("p_q", 3000, interval="month", interval_count=3)
    y = price("p_y", 12000, interval="year")
    sw = subscription("sub_w", "cus_w", [item("si_w", w)], start="2024-01-01")
    sq = subscription("sub_q", "cus_q", [item("si_q", q)], start="2024-01-01")
    sy = subscription("sub_y", "cus_y", [item("si_y", y)], start="2024-01-01")
    # The items now carry other prices; the invoices are what was billed and win.
    sw["items"]["data"][0]["price"] = price("p_w2", 9999, interval="week")
    objs = [w, q, y, customer("cus_w"), customer("cus_q"), customer("cus_y"), sw, sq, sy,
            *invoices_for(subscription("sub_w", "cus_w", [item("si_w", w)], start="2024-01-01"), until="2024-03-01"),
            *invoices_for(sq, until="2024-03-01"), *invoices_for(sy, until="2024-03-01")]
    cache = make_cache(tmp, objs)
    assert mrr_by_month(cache, date(2024, 2, 29), customer_id="cus_w") == {"2024-01": 4333, "2024-02": 4333}
    assert mrr_by_month(cache, date(2024, 2, 29), customer_id="cus_q") == {"2024-01": 1000, "2024-02": 1000}
    assert mrr_by_month(cache, date(2024, 2, 29), customer_id="cus_y") == {"2024-01": 1000, "2024-02": 1000}


def test_subscription_mrr_at_instants_reports_source(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p, quantity=2)], start="2024-01-01")
    # Invoiced January at 1 x 10.00; no invoice for February: the current items (2 x 10.00) price it.
    inv = invoice("in_1", "cus_1", [line("il_1", 1000, p, "2024-01-01", "2024-02-01", "sub_1", "si_1")],
                  "2024-01-01", subscription="sub_1")
    cache = make_cache(tmp, [p, customer("cus_1"), s, inv])
    frame = subscription_mrr_at(Sources.from_cache(cache), [at("2024-01-15"), at("2024-02-15"), at("2023-12-31")])
    rows = [(r.instant.date().isoformat(), r.subscription, r.mrr, r.source) for r in frame.itertuples()]
    assert rows == [("2024-01-15", "sub_1", 1000.0, "invoice"), ("2024-02-15", "sub_1", 2000.0, "items")]


def test_instant_bounds_are_start_inclusive_end_exclusive(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-10T12:00", status="canceled",
                     ended_at="2024-01-20T00:00")
    cache = make_cache(tmp, [p, customer("cus_1"), s])
    src = Sources.from_cache(cache)
    frame = subscription_mrr_at(src, [at("2024-01-10T11:59:59"), at("2024-01-10T12:00"),
                                      at("2024-01-19T23:59:59"), at("2024-01-20T00:00")])
    assert [r.isoformat() for r in frame["instant"]] == ["2024-01-10T12:00:00+00:00", "2024-01-19T23:59:59+00:00"]


# -- quantity, upgrades, prorations -------------------------------------------------------------
def test_quantity_change_moves_mrr(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p, quantity=3)], start="2024-01-01")
    lines = [(2, "2024-01-01", "2024-02-01"), (2, "2024-02-01", "2024-03-01"), (3, "2024-03-01", "2024-04-01")]
    invs = [invoice(f"in_{n}", "cus_1", [line(f"il_{n}", 1000 * q, p, a, b, "sub_1", "si_1", quantity=q)], a,
                    subscription="sub_1") for n, (q, a, b) in enumerate(lines)]
    cache = make_cache(tmp, [p, customer("cus_1"), s, *invs])
    # 2 x 1000 in January and February, 3 x 1000 from March (the quantity-3 invoice).
    assert mrr_by_month(cache, date(2024, 3, 31)) == {"2024-01": 2000, "2024-02": 2000, "2024-03": 3000}


def test_mid_period_upgrade_prorations_do_not_count(tmp):
    basic, pro = price("p_basic", 1000), price("p_pro", 3000)
    s = subscription("sub_1", "cus_1", [item("si_1", pro, period_start="2024-02-01", period_end="2024-03-01")],
                     start="2024-01-01")
    jan = invoice("in_1", "cus_1", [line("il_1", 1000, basic, "2024-01-01", "2024-02-01", "sub_1", "si_1")],
                  "2024-01-01", subscription="sub_1")
    # Upgrade on Jan 15: credit for unused basic, charge for the rest of the month on pro.
    upgrade = invoice("in_2", "cus_1", [
        line("il_2a", -500, basic, "2024-01-15", "2024-02-01", "sub_1", "si_1", proration=True),
        line("il_2b", 1500, pro, "2024-01-15", "2024-02-01", "sub_1", "si_1", proration=True),
    ], "2024-01-15", subscription="sub_1", billing_reason="subscription_update")
    feb = invoice("in_3", "cus_1", [line("il_3", 3000, pro, "2024-02-01", "2024-03-01", "sub_1", "si_1")],
                  "2024-02-01", subscription="sub_1")
    cache = make_cache(tmp, [basic, pro, customer("cus_1"), s, jan, upgrade, feb])
    # January snapshot: only the basic period line (1000); the prorations (-500 + 1500) are left out.
    assert mrr_by_month(cache, date(2024, 2, 29)) == {"2024-01": 1000, "2024-02": 3000}
    result = compute_metrics(cache, as_of=date(2024, 2, 29))
    feb_row = result.monthly.iloc[1]
    assert (feb_row["expansion_mrr"], feb_row["new_mrr"]) == (2000, 0)


def test_invoice_with_more_than_ten_lines(tmp):
    prices = [price(f"p_{n}", 100 * n) for n in range(1, 13)]   # 1.00 .. 12.00
    items = [item(f"si_{n}", p) for n, p in enumerate(prices, 1)]
    s = subscription("sub_1", "cus_1", items, start="2024-01-01")
    inv = invoice("in_1", "cus_1", [line(f"il_{n}", 100 * n, p, "2024-01-01", "2024-02-01", "sub_1", f"si_{n}")
                                    for n, p in enumerate(prices, 1)], "2024-01-01", subscription="sub_1")
    cache = make_cache(tmp, [*prices, customer("cus_1"), s, inv])
    # 100 * (1 + 2 + ... + 12) = 100 * 78 = 7800, from the 12 lines of one invoice.
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 7800}
    assert cache.con.execute("SELECT count(*) FROM invoice_line_items WHERE invoice = 'in_1'").fetchone()[0] == 12


def test_one_time_items_taxes_and_invoice_statuses(tmp):
    p = price("p", 1000)
    setup_fee = price("p_setup", 5000, interval=None)
    s = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-01")
    jan = invoice("in_1", "cus_1", [
        line("il_1", 1200, p, "2024-01-01", "2024-02-01", "sub_1", "si_1",
             taxes=[{"amount": 200, "tax_behavior": "inclusive", "taxable_amount": 1000}]),
        line("il_setup", 5000, setup_fee, "2024-01-01", "2024-01-01"),      # one-time invoice item
    ], "2024-01-01", subscription="sub_1", tax=200)
    # A voided February invoice is not history: the current items (1 x 1000) price February.
    feb = invoice("in_2", "cus_1", [line("il_2", 7777, p, "2024-02-01", "2024-03-01", "sub_1", "si_1")],
                  "2024-02-01", subscription="sub_1", status="void")
    # An open March invoice counts (exclusive tax 300 is outside the line amount anyway).
    mar = invoice("in_3", "cus_1", [line("il_3", 2000, p, "2024-03-01", "2024-04-01", "sub_1", "si_1", quantity=2)],
                  "2024-03-01", subscription="sub_1", status="open", tax=300)
    cache = make_cache(tmp, [p, setup_fee, customer("cus_1"), s, jan, feb, mar])
    # Jan: 1200 - 200 inclusive tax = 1000 (setup fee ignored); Feb: items 1000; Mar: open invoice 2000.
    assert mrr_by_month(cache, date(2024, 3, 31)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 2000}


# -- trials, cancellations, statuses ------------------------------------------------------------
def test_trial_then_conversion_and_trial_that_lapses(tmp):
    p = price("p", 1000)
    converted = subscription("sub_c", "cus_c", [item("si_c", p)], start="2024-01-20", trial_start="2024-01-20",
                             trial_end="2024-02-03")
    trial_inv = invoice("in_t", "cus_c", [line("il_t", 0, p, "2024-01-20", "2024-02-03", "sub_c", "si_c")],
                        "2024-01-20", subscription="sub_c")
    lapsed = subscription("sub_l", "cus_l", [item("si_l", p)], start="2024-01-20", trial_start="2024-01-20",
                          trial_end="2024-02-03", status="canceled", ended_at="2024-02-03", canceled_at="2024-02-03")
    cache = make_cache(tmp, [p, customer("cus_c"), customer("cus_l"), converted, trial_inv, lapsed,
                             *invoices_for(converted, until="2024-04-01")])
    # Jan 31: in trial -> 0. Feb and Mar: converted, invoiced 1000 a month. The lapsed trial never counts.
    assert mrr_by_month(cache, date(2024, 3, 31), customer_id="cus_c") == {"2024-01": 0, "2024-02": 1000, "2024-03": 1000}
    assert mrr_by_month(cache, date(2024, 3, 31), customer_id="cus_l") == {"2024-01": 0, "2024-02": 0, "2024-03": 0}
    result = compute_metrics(cache, as_of=date(2024, 3, 31))
    assert list(result.monthly["new_customers"]) == [0, 1, 0]
    assert list(result.monthly["churned_customers"]) == [0, 0, 0]


def test_cancel_at_period_end_versus_immediately(tmp):
    p = price("p", 1000)
    at_end = subscription("sub_e", "cus_e", [item("si_e", p, period_start="2024-02-01", period_end="2024-03-01")],
                          start="2024-01-01", status="canceled", cancel_at_period_end=True,
                          canceled_at="2024-02-10", ended_at="2024-03-01")
    now = subscription("sub_n", "cus_n", [item("si_n", p, period_start="2024-02-01", period_end="2024-03-01")],
                       start="2024-01-01", status="canceled", canceled_at="2024-02-10", ended_at="2024-02-10")
    objs = [p, customer("cus_e"), customer("cus_n"), at_end, now,
            *invoices_for(at_end, until="2024-03-01"), *invoices_for(now, until="2024-03-01")]
    cache = make_cache(tmp, objs)
    # At period end: keeps its MRR through February (the Feb snapshot is the instant before Mar 1 = ended_at).
    assert mrr_by_month(cache, date(2024, 3, 31), customer_id="cus_e") == {"2024-01": 1000, "2024-02": 1000, "2024-03": 0}
    # Immediately on Feb 10: nothing at the February snapshot although the paid Feb line runs to Mar 1.
    assert mrr_by_month(cache, date(2024, 3, 31), customer_id="cus_n") == {"2024-01": 1000, "2024-02": 0, "2024-03": 0}
    result = compute_metrics(cache, as_of=date(2024, 3, 31))
    assert list(result.monthly["churned_mrr"]) == [0, 1000, 1000]


def test_as_of_inside_a_month_snapshots_at_the_as_of_instant(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-01", status="canceled",
                     ended_at="2024-03-20")
    cache = make_cache(tmp, [p, customer("cus_1"), s])
    # As of Mar 15 (end of day) the subscription still runs; as of Mar 25 it has ended.
    assert mrr_by_month(cache, date(2024, 3, 15)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 1000}
    assert mrr_by_month(cache, date(2024, 3, 25)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 0}


def test_incomplete_subscriptions_never_count(tmp):
    p = price("p", 1000)
    inc = subscription("sub_i", "cus_1", [item("si_i", p)], start="2024-01-05", status="incomplete")
    exp = subscription("sub_x", "cus_1", [item("si_x", p)], start="2024-01-05", status="incomplete_expired")
    open_inv = invoice("in_i", "cus_1", [line("il_i", 1000, p, "2024-01-05", "2024-02-05", "sub_i", "si_i")],
                       "2024-01-05", subscription="sub_i", status="open")
    cache = make_cache(tmp, [p, customer("cus_1"), inc, exp, open_inv])
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 0}


def test_unpaid_counts_until_its_current_period_started(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p, period_start="2024-03-01", period_end="2024-04-01")],
                     start="2024-01-01", status="unpaid")
    invs = invoices_for(s, until="2024-03-01") + [
        invoice("in_open", "cus_1", [line("il_o", 1000, p, "2024-03-01", "2024-04-01", "sub_1", "si_1")],
                "2024-03-01", subscription="sub_1", status="open")]
    cache = make_cache(tmp, [p, customer("cus_1"), s, *invs])
    # Contributes nothing from Mar 1 (current_period_start), although March's open invoice exists.
    assert mrr_by_month(cache, date(2024, 3, 31)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 0}


def test_unpaid_from_when_the_recorded_history_saw_it_begin(tmp):
    p = price("p", 1000)
    active = subscription("sub_1", "cus_1", [item("si_1", p, period_start="2024-02-01", period_end="2024-03-01")],
                          start="2024-01-01", status="active")
    unpaid = dict(active, status="unpaid")
    cache = make_cache(tmp, [p, customer("cus_1"), *invoices_for(active, until="2024-03-01")])
    add_objects(cache, [active], seen_at="2024-01-05")             # a sync saw it active
    add_objects(cache, [unpaid], seen_at="2024-02-20T10:00", source="event")  # the event: unpaid since Feb 20
    # The history says unpaid from Feb 20: the February snapshot (Feb 29) has 0 ...
    assert mrr_by_month(cache, date(2024, 2, 29)) == {"2024-01": 1000, "2024-02": 0}
    # ... but as of Feb 19 it still counts (the Feb line, 1000). Without the history the cut would be
    # the current period start, Feb 1, and this would be 0.
    assert mrr_by_month(cache, date(2024, 2, 19)) == {"2024-01": 1000, "2024-02": 1000}


def test_unpaid_history_after_period_start_is_used_not_the_period_start(tmp):
    p = price("p", 1000)
    active = subscription("sub_1", "cus_1", [item("si_1", p, period_start="2024-01-01", period_end="2024-02-01")],
                          start="2024-01-01", status="active")
    later = subscription("sub_1", "cus_1", [item("si_1", p, period_start="2024-03-01", period_end="2024-04-01")],
                         start="2024-01-01", status="paused")
    cache = make_cache(tmp, [p, customer("cus_1"), *invoices_for(active, until="2024-04-01")])
    add_objects(cache, [active], seen_at="2024-01-02")
    add_objects(cache, [later], seen_at="2024-03-20")
    # Paused first seen Mar 20, after an earlier snapshot showed it active: March snapshot (Mar 31) is 0,
    # February (Feb 29) still counts. As of Mar 10 (before the recorded change) it still counts.
    assert mrr_by_month(cache, date(2024, 3, 31)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 0}
    assert mrr_by_month(cache, date(2024, 3, 10)) == {"2024-01": 1000, "2024-02": 1000, "2024-03": 1000}


def test_paused_collection_counts_as_paused(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p, period_start="2024-02-01", period_end="2024-03-01")],
                     start="2024-01-01", pause_collection={"behavior": "void", "resumes_at": None})
    cache = make_cache(tmp, [p, customer("cus_1"), s, *invoices_for(s, until="2024-02-01")])
    # Payment collection paused: nothing from its current period start (Feb 1).
    assert mrr_by_month(cache, date(2024, 2, 29)) == {"2024-01": 1000, "2024-02": 0}


def test_deleted_rows_are_ignored(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p), item("si_2", price("p2", 500))], start="2024-01-01")
    gone = subscription("sub_gone", "cus_2", [item("si_g", p)], start="2024-01-01")
    gone["deleted"] = True
    cache = make_cache(tmp, [p, customer("cus_1"), customer("cus_2"), s, gone])
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 1500}
    # The second item is removed in Stripe: the next sync's complete item list no longer has it.
    s2 = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-01")
    add_objects(cache, [s2])
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 1000}


def test_start_and_end_inside_one_month_never_shows(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-05", status="canceled",
                     ended_at="2024-01-20")
    cache = make_cache(tmp, [p, customer("cus_1"), s, *invoices_for(s, until="2024-01-06")])
    result = compute_metrics(cache, as_of=date(2024, 2, 29))
    assert list(result.monthly["mrr"]) == [0, 0]
    assert list(result.monthly["new_customers"]) == [0, 0] and list(result.monthly["churned_customers"]) == [0, 0]


# -- tiers and metered ---------------------------------------------------------------------------
GRADUATED = [tier(5, 1000, flat_amount=2000), tier(10, 800), tier(None, 500)]


def test_tiered_amount_rules():
    # graduated, 12 units: 5 x 1000 + 2000 flat + 5 x 800 + 2 x 500 = 5000 + 2000 + 4000 + 1000 = 12000
    assert tiered_amount(GRADUATED, "graduated", 12) == 12000
    # graduated, 3 units: 3 x 1000 + 2000 flat = 5000
    assert tiered_amount(GRADUATED, "graduated", 3) == 5000
    # volume: the tier holding the quantity prices every unit: 12 -> 12 x 500; 7 -> 7 x 800; 3 -> 3 x 1000 + 2000
    assert tiered_amount(GRADUATED, "volume", 12) == 6000
    assert tiered_amount(GRADUATED, "volume", 7) == 5600
    assert tiered_amount(GRADUATED, "volume", 3) == 5000
    assert tiered_amount(GRADUATED, "volume", 0) == 0


def test_tiered_items_graduated_and_volume(tmp):
    grad = price("p_grad", None, tiers=GRADUATED, tiers_mode="graduated")
    vol = price("p_vol", None, tiers=GRADUATED, tiers_mode="volume", interval="year")
    sg = subscription("sub_g", "cus_g", [item("si_g", grad, quantity=12)], start="2024-01-01")
    sv = subscription("sub_v", "cus_v", [item("si_v", vol, quantity=7)], start="2024-01-01")
    cache = make_cache(tmp, [grad, vol, customer("cus_g"), customer("cus_v"), sg, sv])
    assert mrr_by_month(cache, date(2024, 1, 31), customer_id="cus_g") == {"2024-01": 12000}
    # volume, 7 units a year: 7 x 800 = 5600 / 12 = 466.67 -> 467
    assert mrr_by_month(cache, date(2024, 1, 31), customer_id="cus_v") == {"2024-01": 467}


def test_metered_items_and_lines_are_not_mrr(tmp):
    seat = price("p_seat", 1000)
    usage = price("p_usage", 5, usage_type="metered")
    s = subscription("sub_1", "cus_1", [item("si_1", seat), item("si_2", usage, quantity=None)],
                     start="2024-01-01", period_start="2024-02-01", period_end="2024-03-01")
    only_usage = subscription("sub_2", "cus_2", [item("si_3", usage, quantity=None)], start="2024-01-01")
    jan = invoice("in_1", "cus_1", [line("il_1", 1000, seat, "2024-01-01", "2024-02-01", "sub_1", "si_1")],
                  "2024-01-01", subscription="sub_1")
    feb = invoice("in_2", "cus_1", [
        line("il_2", 1000, seat, "2024-02-01", "2024-03-01", "sub_1", "si_1"),
        line("il_3", 7000, usage, "2024-01-01", "2024-02-01", "sub_1", "si_2", quantity=1400),  # usage in arrears
    ], "2024-02-01", subscription="sub_1")
    cache = make_cache(tmp, [seat, usage, customer("cus_1"), customer("cus_2"), s, only_usage, jan, feb])
    # Only the seat: 1000 a month; the usage line (7000) and the usage-only subscription count nothing.
    assert mrr_by_month(cache, date(2024, 2, 29)) == {"2024-01": 1000, "2024-02": 1000}
    result = compute_metrics(cache, as_of=date(2024, 2, 29))
    assert list(result.monthly["active_customers"]) == [1, 1]


# -- discounts ----------------------------------------------------------------------------------
def _discounted_customer(n: int, cpn: dict, discounted_months: int, still_attached: bool, amount: int,
                         end: str | None = None) -> list[dict]:
    """A 50.00/month subscription from Jan 1 invoiced Jan-Apr, the first `discounted_months`
    invoices carrying a discount of `amount` from coupon `cpn`."""
    p = price(f"p_{n}", 5000)
    disc = discount(f"di_{n}", cpn, start="2024-01-01", end=end)
    s = subscription(f"sub_{n}", f"cus_{n}", [item(f"si_{n}", p)], start="2024-01-01",
                     discounts=[disc] if still_attached else [])
    invs = invoices_for(s, until="2024-04-02")
    for inv in invs[:discounted_months]:
        ln = inv["lines"]["data"][0]
        ln["discount_amounts"] = [{"amount": amount, "discount": f"di_{n}"}]
    return [p, customer(f"cus_{n}"), cpn, s, *invs]


@pytest.mark.parametrize("policy", ["all", "forever_only"])
def test_coupons_on_invoices_under_both_policies(tmp, policy):
    objs = []
    objs += _discounted_customer(1, coupon("c_pct_forever", percent_off=20), 4, True, 1000)
    objs += _discounted_customer(2, coupon("c_pct_once", percent_off=20, duration="once"), 1, False, 1000)
    objs += _discounted_customer(3, coupon("c_pct_rep", percent_off=20, duration="repeating", duration_in_months=3),
                                 3, True, 1000, end="2024-04-01")
    objs += _discounted_customer(4, coupon("c_amt_forever", amount_off=500, currency="usd"), 4, True, 500)
    objs += _discounted_customer(5, coupon("c_amt_once", amount_off=500, currency="usd", duration="once"), 1,
                                 False, 500)
    cache = make_cache(tmp, objs)
    got = {n: mrr_by_month(cache, date(2024, 4, 30), policy=policy, customer_id=f"cus_{n}") for n in range(1, 6)}
    months = ["2024-01", "2024-02", "2024-03", "2024-04"]
    if policy == "all":   # every discount in effect: 5000 - discount while it is on the invoice
        expected = {1: [4000] * 4, 2: [4000, 5000, 5000, 5000], 3: [4000, 4000, 4000, 5000],
                    4: [4500] * 4, 5: [4500, 5000, 5000, 5000]}
    else:                 # only `forever` coupons reduce MRR
        expected = {1: [4000] * 4, 2: [5000] * 4, 3: [5000] * 4, 4: [4500] * 4, 5: [5000] * 4}
    assert got == {n: dict(zip(months, v)) for n, v in expected.items()}


@pytest.mark.parametrize("policy", ["all", "forever_only"])
def test_coupons_on_current_items_under_both_policies(tmp, policy):
    monthly, yearly = price("p_m", 5000), price("p_y", 12000, interval="year")
    pct = discount("di_pct", coupon("c_pct", percent_off=25), start="2024-01-01")            # forever
    amt = discount("di_amt", coupon("c_amt", amount_off=2400, currency="usd", duration="repeating",
                                    duration_in_months=24), start="2024-01-01", end="2026-01-01")
    ending = discount("di_end", coupon("c_end", percent_off=50, duration="repeating", duration_in_months=2),
                      start="2024-01-01", end="2024-03-01")
    too_big = discount("di_big", coupon("c_big", amount_off=9000, currency="usd"), start="2024-01-01")
    subs = [
        subscription("sub_1", "cus_1", [item("si_1", monthly)], start="2024-01-01", discounts=[pct]),
        subscription("sub_2", "cus_2", [item("si_2", yearly)], start="2024-01-01", discounts=[amt]),
        subscription("sub_3", "cus_3", [item("si_3", monthly)], start="2024-01-01", discounts=[ending]),
        subscription("sub_4", "cus_4", [item("si_4", monthly)], start="2024-01-01", discounts=[too_big]),
    ]
    cache = make_cache(tmp, [monthly, yearly, *[customer(f"cus_{n}") for n in range(1, 5)], *subs])
    got = {n: mrr_by_month(cache, date(2024, 3, 31), policy=policy, customer_id=f"cus_{n}") for n in range(1, 5)}
    if policy == "all":
        expected = {
            1: [3750] * 3,                # 5000 x (1 - 25%)
            2: [800] * 3,                 # (12000 - 2400) / 12: amount_off once per yearly interval
            3: [2500, 2500, 5000],        # 50% until Mar 1 (still in effect at the Feb 29 snapshot)
            4: [0] * 3,                   # 5000 - 9000 -> never below 0
        }
    else:
        expected = {1: [3750] * 3, 2: [1000] * 3, 3: [5000] * 3, 4: [0] * 3}
    months = ["2024-01", "2024-02", "2024-03"]
    assert got == {n: dict(zip(months, v)) for n, v in expected.items()}


def test_item_level_discount_and_subscription_discount_stack(tmp):
    p1, p2 = price("p1", 4000), price("p2", 1000)
    item_disc = discount("di_item", coupon("c_item", percent_off=50), start="2024-01-01", subscription_item="si_1")
    sub_disc = discount("di_sub", coupon("c_sub", percent_off=10), start="2024-01-01")
    s = subscription("sub_1", "cus_1", [item("si_1", p1, discounts=[item_disc]), item("si_2", p2)],
                     start="2024-01-01", discounts=[sub_disc])
    cache = make_cache(tmp, [p1, p2, customer("cus_1"), s])
    # item: 4000 x 50% = 2000; + 1000 = 3000; subscription 10% off: 2700
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 2700}


# -- currencies ---------------------------------------------------------------------------------
def test_zero_and_three_decimal_currencies(tmp):
    jpy = price("p_jpy", 5000, currency="jpy")                       # 5,000 yen a month
    jpy_y = price("p_jpy_y", 10000, currency="jpy", interval="year")  # 10,000 yen a year
    kwd = price("p_kwd", 12000, currency="kwd", interval="year")     # 12.000 KWD a year
    subs = [subscription("sub_j", "cus_j", [item("si_j", jpy)], start="2024-01-01"),
            subscription("sub_jy", "cus_jy", [item("si_jy", jpy_y)], start="2024-01-01"),
            subscription("sub_k", "cus_k", [item("si_k", kwd)], start="2024-01-01")]
    cache = make_cache(tmp, [jpy, jpy_y, kwd, customer("cus_j"), customer("cus_jy"), customer("cus_k"), *subs])
    # jpy: 5000 + 10000 / 12 (= 833.33 -> 833) = 5833 yen; kwd: 12000 / 12 = 1000 fils = 1.000 KWD
    assert mrr_by_month(cache, date(2024, 1, 31), currency="jpy") == {"2024-01": 5833}
    assert mrr_by_month(cache, date(2024, 1, 31), currency="kwd") == {"2024-01": 1000}


def test_customer_with_subscriptions_in_two_currencies(tmp):
    usd, eur = price("p_usd", 1000), price("p_eur", 2000, currency="eur")
    subs = [subscription("sub_u", "cus_1", [item("si_u", usd)], start="2024-01-01"),
            subscription("sub_e", "cus_1", [item("si_e", eur)], start="2024-02-10")]
    cache = make_cache(tmp, [usd, eur, customer("cus_1"), *subs])
    result = compute_metrics(cache, as_of=date(2024, 2, 29))
    rows = {(r.currency, r.month): (r.mrr, r.active_customers, r.new_customers) for r in result.monthly.itertuples()}
    # Each currency on its own: the EUR subscription makes cus_1 a new EUR customer in February.
    assert rows == {("eur", "2024-01"): (0, 0, 0), ("eur", "2024-02"): (2000, 1, 1),
                    ("usd", "2024-01"): (1000, 1, 1), ("usd", "2024-02"): (1000, 1, 0)}


# -- pure functions on frames ----------------------------------------------------------------------
def test_snapshots_floor_per_subscription_and_round_per_customer():
    import pandas as pd

    from stripe_analytics.metrics import mrr_snapshots

    comps = pd.DataFrame({   # MRR components as `mrr_components` gives them (any key type works)
        "sub_key": ["sub_a", "sub_b", "sub_c", "sub_c", "sub_d"],
        "customer_key": ["cus_1", "cus_1", "cus_2", "cus_2", "cus_2"],
        "currency": ["usd"] * 5, "m": [24288] * 5, "product_key": [1] * 5, "interval": ["year"] * 5,
        "amount": [10000 / 12, 10000 / 12, 500.0, -800.0, 250.0], "source": ["items"] * 5,
    })
    snaps = mrr_snapshots(comps)
    # cus_1: 833.33 + 833.33 = 1666.67 -> 1667 (rounded once per customer, not 833 + 833);
    # cus_2: sub_c is 500 - 800 -> floored at 0, plus sub_d 250.
    assert snaps[["customer_key", "m", "mrr"]].values.tolist() == [["cus_1", 24288, 1667], ["cus_2", 24288, 250]]


def test_dataframes_in_give_the_same_metrics_as_the_cache(tmp):
    p = price("p", 1000)
    s = subscription("sub_1", "cus_1", [item("si_1", p, quantity=2)], start="2024-01-01")
    cache = make_cache(tmp, [p, customer("cus_1"), s, *invoices_for(s, until="2024-03-01")])
    frames = Sources.from_cache(cache).frames()
    from_frames = compute_metrics(Sources.from_frames(frames, account_id="acct_test"), as_of=date(2024, 2, 29))
    from_cache = compute_metrics(cache, as_of=date(2024, 2, 29))
    assert from_frames.monthly.equals(from_cache.monthly)
    assert list(from_frames.monthly["mrr"]) == [2000, 2000]


def test_transform_quantity_is_applied(tmp):
    p = price("p_pack", 500)               # 5.00 per pack of 10 seats, rounded up
    p["transform_quantity"] = {"divide_by": 10, "round": "up"}
    s = subscription("sub_1", "cus_1", [item("si_1", p, quantity=23)], start="2024-01-01")
    cache = make_cache(tmp, [p, customer("cus_1"), s])
    assert mrr_by_month(cache, date(2024, 1, 31)) == {"2024-01": 1500}   # ceil(23 / 10) = 3 packs x 500


def test_monthly_normalisation_is_one_rule_in_sql_and_python():
    """The forms' Python summaries and the engine's SQL normalise a price to a month alike."""
    import duckdb

    from stripe_analytics.metrics.mrr import NORMALISE_MACRO, monthly_amount

    con = duckdb.connect()
    con.execute(NORMALISE_MACRO)
    for amount, interval, count, expected in ((1200, "month", 1, 1200.0), (1200, "month", 3, 400.0),
                                              (12000, "year", 1, 1000.0), (1200, "week", 1, 5200.0),
                                              (100, "day", 1, 100 * 365 / 12), (5000, "week", 2, 5000 * 52 / 24)):
        in_sql = con.execute("SELECT sa_monthly(?, ?, ?)", [amount, interval, count]).fetchone()[0]
        assert in_sql == monthly_amount(amount, interval, count) == pytest.approx(expected)
    assert monthly_amount(1200, None, 1) == 0.0 and monthly_amount(None, "month", 1) == 0.0


@pytest.mark.parametrize("converted", [False, True])
def test_the_mrr_page_columns_are_columns_the_engine_gives(converted):
    """The MRR page's movements and monthly table ask only for columns of the engine's table, in
    one currency and converted (then with FX impact), and its money columns are amounts."""
    from stripe_analytics.cache import Cache
    from stripe_analytics.metrics import MetricFilters
    from stripe_analytics.metrics import monthly as monthly_view
    from stripe_analytics.metrics.engine import MetricsEngine
    from tests.app_support import small_demo

    with Cache.open(small_demo(), read_only=True) as cache:
        result = MetricsEngine(cache).compute(MetricFilters(), reporting_currency="usd" if converted else None)
    for columns in (monthly_view.mrr_movement_columns(converted), monthly_view.mrr_table_columns(converted)):
        assert set(columns) <= set(result.monthly.columns), set(columns) - set(result.monthly.columns)
        assert ("fx_mrr" in columns) == converted
    money = monthly_view.money_columns(monthly_view.mrr_table_columns(converted))
    assert {"mrr", "arr", "net_new_mrr", "arpa", "ltv"} <= set(money) and ("fx_mrr" in money) == converted
    assert not {"month", "active_customers", "mrr_growth_rate", "quick_ratio"} & set(money)
