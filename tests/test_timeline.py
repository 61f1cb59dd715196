"""One customer's story (timeline.py), on a hand-built account: every kind of event, in order,
with the MRR movements taken from the metrics engine; lifetime paid; Dashboard links."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from stripe_analytics import queries, timeline
from stripe_analytics.metrics import compute_metrics
from tests.stripe_builders import (add_interval, charge, customer, invoice, item, line, make_cache, price, product,
                                   refund, subscription, ts)

BASIC = price("p_basic", 1000, product="prod_basic")
PRO = price("p_pro", 3000, product="prod_pro")
AS_OF = date(2024, 6, 30)


def _paid_invoice(n: int, plan: dict, start: str) -> dict:
    end = add_interval(ts(start), "month")
    return invoice(f"in_{n}", "cus_1", [line(f"il_{n}", plan["unit_amount"], plan, start, end, "sub_1", "si_1")],
                   start, subscription="sub_1")


def _pay(id_: str, amount: int, at: str, intent: str, status: str = "succeeded", refunded: int = 0) -> dict:
    return dict(charge(id_, amount, at, customer="cus_1", status=status, amount_refunded=refunded),
                payment_intent=intent, failure_message=None if status == "succeeded" else "Your card was declined.")


@pytest.fixture
def story_cache(tmp_path):
    """cus_1: a 14-day trial from 1 Jan 2024, Basic (10.00 a month) from 15 Jan, Pro (30.00) from
    15 Mar, asked to cancel on 20 Apr, ended 15 May. February's payment failed twice and went
    through on the 20th; March's payment was refunded 5.00; January's was disputed. cus_2 is
    another customer whose payment must not appear."""
    objs = [product("prod_basic", "Basic"), product("prod_pro", "Pro"), BASIC, PRO,
            customer("cus_1", name="Ada"), customer("cus_2")]
    objs.append(subscription("sub_1", "cus_1", [item("si_1", PRO)], start="2024-01-01", status="canceled",
                             trial_start="2024-01-01", trial_end="2024-01-15", canceled_at="2024-04-20",
                             cancel_at_period_end=True, ended_at="2024-05-15", period_start="2024-04-15",
                             period_end="2024-05-15"))
    objs += [_paid_invoice(1, BASIC, "2024-01-15"), _paid_invoice(2, BASIC, "2024-02-15"),
             _paid_invoice(3, PRO, "2024-03-15"), _paid_invoice(4, PRO, "2024-04-15")]
    objs += [_pay("ch_1", 1000, "2024-01-15T00:10", "pi_1"),
             _pay("ch_2a", 1000, "2024-02-15T00:10", "pi_2", status="failed"),
             _pay("ch_2b", 1000, "2024-02-17T00:10", "pi_2", status="failed"),
             _pay("ch_2c", 1000, "2024-02-20T00:10", "pi_2"),
             _pay("ch_3", 3000, "2024-03-15T00:10", "pi_3", refunded=500),
             _pay("ch_4", 3000, "2024-04-15T00:10", "pi_4"),
             refund("re_1", "ch_3", 500, "2024-03-20"),
             {"id": "dp_1", "object": "dispute", "charge": "ch_1", "payment_intent": "pi_1", "amount": 1000,
              "currency": "usd", "status": "lost", "reason": "fraudulent", "created": ts("2024-04-01")},
             dict(charge("ch_other", 700, "2024-02-01", customer="cus_2"), payment_intent="pi_other")]
    cache = make_cache(tmp_path, objs, account_id="acct_1Story")
    yield cache
    cache.close()


def _story(cache):
    result = compute_metrics(cache, as_of=AS_OF)
    as_of = datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
    events = timeline.customer_events(cache.con, "cus_1", as_of)
    movements = result.movements[result.movements["customer"] == "cus_1"]
    frame = timeline.customer_timeline(events, movements, timeline.snapshot_instants(result.calendar),
                                       livemode=False, account_id="acct_1Story")
    return result, frame


def test_every_event_of_the_customer_in_order(story_cache):
    _, frame = _story(story_cache)
    got = [(f"{at:%Y-%m-%d}", event, None if pd.isna(amount) else int(amount))
           for at, event, amount in zip(frame["at"], frame["event"], frame["amount"])]
    assert got == [
        ("2024-01-01", "Subscription started", None),
        ("2024-01-01", "Trial started", None),
        ("2024-01-15", "Trial ended", None),
        ("2024-01-15", "Invoice", 1000),
        ("2024-01-15", "Payment", 1000),
        ("2024-01-31", "New MRR", 1000),
        ("2024-02-15", "Invoice", 1000),
        ("2024-02-15", "Payment failed", 1000),
        ("2024-02-17", "Payment failed", 1000),
        ("2024-02-20", "Payment recovered", 1000),
        ("2024-03-15", "Plan changed", None),
        ("2024-03-15", "Invoice", 3000),
        ("2024-03-15", "Payment", 3000),
        ("2024-03-20", "Refund", 500),
        ("2024-03-31", "Expansion", 2000),
        ("2024-04-01", "Dispute", 1000),
        ("2024-04-15", "Invoice", 3000),
        ("2024-04-15", "Payment", 3000),
        ("2024-04-20", "Cancellation requested", None),
        ("2024-05-15", "Subscription ended", None),
        ("2024-05-31", "Churn", -3000),
    ]
    by_event = frame.set_index("event")
    assert by_event.loc["Trial ended", "detail"] == "converted: first paid invoice on 2024-01-15"
    assert by_event.loc["Trial started", "detail"] == "until 2024-01-15"
    assert by_event.loc["Plan changed", "detail"] == "Basic × 1 → Pro × 1"
    assert by_event.loc["Payment recovered", "detail"] == "after 2 failed attempts, 5 days after the first"
    assert by_event.loc["Cancellation requested", "detail"] == "ends 2024-05-15"
    assert by_event.loc["Churn", "mrr"] == 0 and by_event.loc["Expansion", "mrr"] == 3000
    assert "ch_other" not in set(frame["object_id"])


def test_mrr_movements_are_the_engines(story_cache):
    """The timeline's MRR rows are the engine's movements of this customer, one for one."""
    result, frame = _story(story_cache)
    engine = result.movements[result.movements["customer"] == "cus_1"]
    mrr_rows = frame[frame["kind"] == "mrr"]
    assert list(mrr_rows["amount"].astype(int)) == list(engine["change"].astype(int))
    assert list(mrr_rows["status"]) == list(engine["movement"]) == ["new", "expansion", "churn"]


def test_lifetime_paid_and_mrr_history(story_cache):
    result, _ = _story(story_cache)
    lifetime = queries.customer_lifetime_paid(story_cache.con, "cus_1")
    assert lifetime[["currency", "lifetime_paid", "payments"]].values.tolist() == [["usd", 1000 + 1000 + 3000 - 500
                                                                                    + 3000, 4]]
    snaps = result.snapshots[result.snapshots["customer"] == "cus_1"]
    history = timeline.mrr_history(snaps, result.calendar.labels())
    assert history.values.tolist() == [["usd", "2024-01", 1000], ["usd", "2024-02", 1000], ["usd", "2024-03", 3000],
                                       ["usd", "2024-04", 3000], ["usd", "2024-05", 0], ["usd", "2024-06", 0]]


def test_links_to_the_same_objects_in_stripes_dashboard(story_cache):
    _, frame = _story(story_cache)
    links = dict(zip(frame["object_id"], frame["dashboard_url"]))
    assert links["ch_2c"] == "https://dashboard.stripe.com/acct_1Story/test/payments/ch_2c"
    assert links["in_3"] == "https://dashboard.stripe.com/acct_1Story/test/invoices/in_3"
    assert links["sub_1"] == "https://dashboard.stripe.com/acct_1Story/test/subscriptions/sub_1"
    assert links["re_1"] == "https://dashboard.stripe.com/acct_1Story/test/refunds/re_1"
    assert links["dp_1"] == "https://dashboard.stripe.com/acct_1Story/test/disputes/dp_1"
    assert frame.loc[frame["kind"] == "mrr", "dashboard_url"].isna().all()


def test_a_trial_that_has_not_ended_is_not_an_event_yet(story_cache):
    events = timeline.customer_events(story_cache.con, "cus_1", datetime(2024, 1, 10, tzinfo=timezone.utc))
    trial = events[events["kind"] == "trial"]
    assert list(trial["event"]) == ["Trial started"]


def test_a_customer_without_anything_has_an_empty_story(story_cache):
    result = compute_metrics(story_cache, as_of=AS_OF)
    events = timeline.customer_events(story_cache.con, "cus_nobody", datetime(2024, 6, 30, tzinfo=timezone.utc))
    frame = timeline.customer_timeline(events, result.movements[result.movements["customer"] == "cus_nobody"],
                                       timeline.snapshot_instants(result.calendar), livemode=False)
    assert frame.empty and "dashboard_url" in frame.columns
