"""One customer's story: everything that happened to them, in one ordered list.

`customer_events` reads the customer's objects from the cache (subscriptions and their trials,
plan changes, cancellations, invoices, payments with their failures and recoveries, refunds,
disputes); `customer_timeline` merges them with the customer's MRR movements, which come from
the metrics engine (`MetricsResult.movements`, the rule of docs/metrics.md "Customer MRR and
movements"): nothing here computes MRR a second time. Amounts stay in minor units next to
their currency.

Rules of the events (docs/metrics.md "A customer's timeline"):
- a *plan change* is an invoice of a subscription whose plan (its subscription lines' prices
  and quantities, prorations left out) differs from the subscription's previous invoice; it is
  dated at the start of the period the new plan is billed for;
- a *failed payment* is a failed charge; a *recovered payment* is a successful charge of a
  payment (PaymentIntent; an invoice's retries all belong to its one PaymentIntent) that had
  failed before: it says after how many failed attempts and how many days after the first;
- a *trial ended* row says whether the trial converted: the subscription's first paid invoice
  (amount paid > 0, paid at or after the trial's start), the rule of metrics/trials.py;
- an *MRR movement* is dated at its month's snapshot (the month's last instant, or the as-of
  instant for the current month).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from .dashboard_links import dashboard_url

COLUMNS = ["at", "kind", "event", "amount", "currency", "status", "detail", "mrr", "object_type", "object_id"]
# The order of events at the same instant: what starts a story before what follows from it.
KIND_ORDER = {"subscription": 0, "trial": 1, "plan_change": 2, "invoice": 3, "payment_failed": 4, "payment": 5,
              "payment_recovered": 5, "refund": 6, "dispute": 7, "cancellation": 8, "mrr": 9}
MOVEMENT_EVENTS = {"new": "New MRR", "expansion": "Expansion", "contraction": "Contraction", "churn": "Churn",
                   "reactivation": "Reactivation"}

_EVENTS_SQL = """
WITH subs AS MATERIALIZED (SELECT * FROM subscriptions WHERE customer = $customer AND NOT deleted),
inv AS MATERIALIZED (SELECT * FROM invoices WHERE customer = $customer AND NOT deleted),
ch AS MATERIALIZED (SELECT * FROM charges WHERE customer = $customer AND NOT deleted),
plans AS (  -- each invoice's plan: its subscription lines, prorations left out
    SELECT i.id AS invoice, i.subscription, i.currency, i.created,
           min(l.period_start) AS period_start,
           string_agg(coalesce(p.name, l.product, l.price) || ' × ' || coalesce(l.quantity, 1), ', '
                      ORDER BY coalesce(p.name, l.product, l.price), l.price) AS plan
    FROM inv i
    JOIN invoice_line_items l ON l.invoice = i.id AND NOT l.deleted AND l.is_subscription_line AND NOT l.proration
    LEFT JOIN products p ON p.id = l.product
    WHERE i.subscription IS NOT NULL
    GROUP BY ALL
),
plan_steps AS (
    SELECT *, lag(plan) OVER (PARTITION BY subscription ORDER BY created, invoice) AS previous_plan FROM plans
),
attempts AS (  -- every charge with the failed attempts of its payment before it
    SELECT c.*, count(*) FILTER (WHERE c.status = 'failed') OVER earlier AS failed_before,
           min(c.created) FILTER (WHERE c.status = 'failed') OVER earlier AS first_failure
    FROM ch c
    WINDOW earlier AS (PARTITION BY coalesce(c.payment_intent, c.id) ORDER BY c.created, c.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
first_paid AS (  -- a trial's conversion, as metrics/trials.py counts it (docs/metrics.md "Trials and trial conversion")
    SELECT i.subscription, min(i.paid_at) AS at FROM inv i JOIN subs s ON s.id = i.subscription
    WHERE i.status = 'paid' AND coalesce(i.amount_paid, 0) > 0 AND i.paid_at >= s.trial_start
      AND i.paid_at < $as_of
    GROUP BY i.subscription
)
SELECT coalesce(start_date, created) AS at, 'subscription' AS kind, 'Subscription started' AS event,
       NULL::BIGINT AS amount, currency, status, NULL AS detail, 'subscription' AS object_type, id AS object_id
FROM subs
UNION ALL
SELECT trial_start, 'trial', 'Trial started', NULL, currency, status,
       'until ' || strftime(trial_end, '%Y-%m-%d'), 'subscription', id
FROM subs WHERE trial_start IS NOT NULL
UNION ALL
SELECT s.trial_end, 'trial', 'Trial ended', NULL, s.currency, s.status,
       CASE WHEN fp.at IS NOT NULL THEN 'converted: first paid invoice on ' || strftime(fp.at, '%Y-%m-%d')
            WHEN s.ended_at IS NOT NULL AND s.ended_at <= s.trial_end + INTERVAL 1 DAY THEN 'ended without converting'
            ELSE 'no paid invoice after the trial' END,
       'subscription', s.id
FROM subs s LEFT JOIN first_paid fp ON fp.subscription = s.id
WHERE s.trial_end IS NOT NULL AND s.trial_start IS NOT NULL AND s.trial_end <= $as_of
UNION ALL
SELECT period_start, 'plan_change', 'Plan changed', NULL, currency, NULL, previous_plan || ' → ' || plan,
       'subscription', subscription
FROM plan_steps WHERE previous_plan IS NOT NULL AND previous_plan <> plan
UNION ALL
SELECT canceled_at, 'cancellation', 'Cancellation requested', NULL, currency, status,
       'ends ' || strftime(coalesce(cancel_at, ended_at), '%Y-%m-%d'), 'subscription', id
FROM subs WHERE canceled_at IS NOT NULL AND (ended_at IS NULL OR canceled_at < ended_at - INTERVAL 1 MINUTE)
UNION ALL
SELECT ended_at, 'cancellation', 'Subscription ended', NULL, currency, status, NULL, 'subscription', id
FROM subs WHERE ended_at IS NOT NULL
UNION ALL
SELECT created, 'invoice', trim('Invoice ' || coalesce(number, '')), total, currency, status,
       concat_ws('; ', replace(billing_reason, '_', ' '),
                 CASE WHEN status = 'paid' AND paid_at IS NOT NULL THEN 'paid ' || strftime(paid_at, '%Y-%m-%d') END,
                 CASE WHEN amount_remaining > 0 AND status = 'open' THEN 'open' END),
       'invoice', id
FROM inv
UNION ALL
SELECT created,
       CASE WHEN status = 'failed' THEN 'payment_failed' WHEN failed_before > 0 THEN 'payment_recovered'
            ELSE 'payment' END,
       CASE WHEN status = 'failed' THEN 'Payment failed' WHEN failed_before > 0 THEN 'Payment recovered'
            WHEN status = 'succeeded' THEN 'Payment' ELSE 'Payment ' || status END,
       amount, currency, status,
       CASE WHEN status = 'failed' THEN coalesce(failure_message, failure_code)
            WHEN failed_before > 0 THEN 'after ' || failed_before || ' failed attempt'
                 || CASE WHEN failed_before > 1 THEN 's' ELSE '' END || ', '
                 || date_diff('day', first_failure, created)
                 || CASE WHEN date_diff('day', first_failure, created) = 1 THEN ' day' ELSE ' days' END
                 || ' after the first'
            ELSE payment_method_type END,
       'charge', id
FROM attempts
UNION ALL
SELECT r.created, 'refund', 'Refund', r.amount, r.currency, r.status,
       concat_ws('; ', replace(r.reason, '_', ' '), 'of ' || r.charge), 'refund', r.id
FROM refunds r JOIN ch c ON c.id = r.charge
WHERE NOT r.deleted
UNION ALL
SELECT d.created, 'dispute', 'Dispute', d.amount, d.currency, d.status,
       concat_ws('; ', replace(d.reason, '_', ' '), 'of ' || d.charge), 'dispute', d.id
FROM disputes d JOIN ch c ON c.id = d.charge
WHERE NOT d.deleted
"""


def customer_events(con, customer_id: str, as_of: datetime) -> pd.DataFrame:
    """The customer's events from the cache (COLUMNS; `at` in UTC), unordered. Events after
    `as_of` (a trial that has not ended yet) are left out."""
    frame = con.execute(_EVENTS_SQL, {"customer": customer_id, "as_of": as_of}).df()
    frame = frame[frame["at"].notna()]
    frame["currency"] = frame["currency"].str.lower()
    frame["mrr"] = None  # only MRR movements carry the MRR after them
    return frame[COLUMNS].reset_index(drop=True)


def movement_events(movements: pd.DataFrame, snapshot_at) -> pd.DataFrame:
    """The customer's MRR movements (rows of `MetricsResult.movements`: currency, m, month,
    previous_mrr, mrr, movement, change) as timeline events dated at their snapshot:
    `snapshot_at(m)` is the month's last instant. `amount` is the signed MRR change."""
    if movements.empty:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame({
        "at": [snapshot_at(int(m)) for m in movements["m"]],
        "kind": "mrr",
        "event": [MOVEMENT_EVENTS.get(v, v) for v in movements["movement"]],
        "amount": movements["change"].astype("int64").to_numpy(),
        "currency": movements["currency"].to_numpy(),
        "status": movements["movement"].to_numpy(),
        "detail": [f"{month} month-end snapshot" for month in movements["month"]],
        "mrr": movements["mrr"].astype("int64").to_numpy(),
        "object_type": None,
        "object_id": None,
    })


def customer_timeline(events: pd.DataFrame, movements: pd.DataFrame, snapshot_at, *, livemode: bool,
                      account_id: str | None = None, demo: bool = False) -> pd.DataFrame:
    """Every event of one customer, oldest first (COLUMNS plus `dashboard_url`): the cache's
    events (`customer_events`) and the customer's MRR movements from the metrics engine
    (`movement_events`). Ties keep the order of KIND_ORDER (a subscription starts before its
    invoice is paid; a month's MRR movement comes after that month's payments)."""
    moves = movement_events(movements, snapshot_at)
    parts = [frame for frame in (events[COLUMNS], moves) if not frame.empty]
    if not parts:
        return pd.DataFrame(columns=COLUMNS + ["dashboard_url"])
    frame = pd.concat(parts, ignore_index=True)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["amount"] = frame["amount"].astype("Int64")
    frame["mrr"] = frame["mrr"].astype("Int64")
    frame["_rank"] = frame["kind"].map(KIND_ORDER).fillna(len(KIND_ORDER))
    frame = frame.sort_values(["at", "_rank", "object_id"], kind="stable", na_position="last")
    frame = frame.drop(columns="_rank").reset_index(drop=True)
    frame["dashboard_url"] = [dashboard_url(t, i, livemode=livemode, account_id=account_id, demo=demo)
                              if isinstance(t, str) else None
                              for t, i in zip(frame["object_type"], frame["object_id"])]
    return frame


def snapshot_instants(calendar) -> "callable":
    """m -> the month's last instant as the metrics engine snapshots it (`Calendar.snapshot_end`
    is exclusive)."""
    return lambda m: calendar.snapshot_end(m) - timedelta(microseconds=1)


def mrr_history(snapshots: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """One customer's MRR at every month end from their first month with MRR to the last month
    (currency, month, mrr; 0 where they had none: the engine's snapshots list only MRR > 0)."""
    if snapshots.empty:
        return pd.DataFrame(columns=["currency", "month", "mrr"])
    rows = []
    for currency, own in snapshots.groupby("currency", sort=True):
        by_month = dict(zip(own["month"], own["mrr"]))
        first = min(by_month)
        rows += [(currency, m, int(by_month.get(m, 0))) for m in months if m >= first]
    return pd.DataFrame(rows, columns=["currency", "month", "mrr"])
