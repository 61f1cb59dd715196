"""Failed-payment recovery and involuntary churn (metrics.md "Failed payments and recovery").

`failed_invoices` reads one row per invoice with a failed payment attempt and
`subscription_endings` the subscriptions' ends; `payment_recovery`, `recovery_days` and
`involuntary_churn` are pure functions over those rows (and the MRR movements)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from .cash import ratio
from .load import Calendar, Sources, month_label

RECOVERY_COLUMNS = ("failed_invoice_payments", "failed_invoice_amount", "recovered_invoice_payments",
                    "recovered_invoice_amount", "recovery_rate", "outstanding_invoice_amount",
                    "median_days_to_recover", "after_trial_failed_payments", "after_trial_failed_amount",
                    "after_trial_recovered_payments", "after_trial_recovered_amount")
RECOVERY_AMOUNT_COLUMNS = ("failed_invoice_amount", "recovered_invoice_amount", "outstanding_invoice_amount",
                           "after_trial_failed_amount", "after_trial_recovered_amount")
INVOLUNTARY_COLUMNS = ("involuntary_churned_mrr", "involuntary_churn_share")
# Days from the first failed attempt to the payment, as the Revenue page groups them.
RECOVERY_DAY_BUCKETS = ((0, 3, "0–3 days"), (3, 7, "4–7 days"), (7, 14, "8–14 days"), (14, 30, "15–30 days"),
                        (30, None, "over 30 days"))
_DAY = pd.Timedelta(days=1)


def failed_invoices(src: Sources, as_of: datetime) -> pd.DataFrame:
    """One row per invoice with at least one failed charge created before `as_of`:

    invoice, customer, subscription, currency (lower case), amount (`amount_due`), status (now),
    first_failed_at (the first failed charge), failed_attempts, paid_at (when the invoice was
    paid, if before `as_of`), after_trial (the subscription had a trial and this is its first
    invoice with an amount due).

    A failed charge belongs to the invoice its payment intent was created for: the latest
    finalized invoice of the same customer, currency and amount due created up to 35 days before
    the intent (Stripe creates it when it finalizes the invoice); a charge without a payment
    intent (the Charges API) names its `invoice`. Every currency and customer: `MetricsEngine` selects them for its filters."""
    frame = src.con.execute("""
        WITH failed AS (
            SELECT id, customer, payment_intent, amount, lower(currency) AS currency, created
            FROM charges WHERE NOT deleted AND status = 'failed' AND created < ?::TIMESTAMPTZ),
        -- Stripe creates an invoice's payment intent, for its amount due, when it finalizes the
        -- invoice: a failed charge's intent belongs to the latest invoice of the same customer,
        -- currency and amount created up to 35 days before the intent (before the charge when
        -- the intent is not in the cache). Columns only: reading every invoice's raw `payments`
        -- costs seconds on a large account.
        intents AS (
            SELECT f.payment_intent, any_value(f.customer) AS customer, any_value(f.currency) AS currency,
                   any_value(f.amount) AS amount, coalesce(any_value(pi.created), min(f.created)) AS created
            FROM failed f LEFT JOIN payment_intents pi ON pi.id = f.payment_intent AND NOT pi.deleted
            WHERE f.payment_intent IS NOT NULL GROUP BY f.payment_intent),
        matched AS (
            SELECT t.payment_intent, arg_max(i.id, (i.created, i.id)) AS invoice
            FROM intents t JOIN invoices i
              ON i.customer = t.customer AND lower(i.currency) = t.currency AND i.amount_due = t.amount
             AND i.created <= t.created AND t.created < i.created + INTERVAL 35 DAY
            WHERE NOT i.deleted AND i.status IN ('open', 'paid', 'uncollectible', 'void')
            GROUP BY t.payment_intent),
        -- charges without a payment intent (the Charges API): the charge names its invoice
        older AS (
            SELECT id, json_extract_string(raw, '$.invoice') AS invoice
            FROM charges WHERE NOT deleted AND status = 'failed' AND payment_intent IS NULL
              AND created < ?::TIMESTAMPTZ),
        linked AS (
            SELECT f.created, coalesce(m.invoice, o.invoice) AS invoice
            FROM failed f LEFT JOIN matched m ON m.payment_intent = f.payment_intent
            LEFT JOIN older o ON o.id = f.id),
        per_invoice AS (
            SELECT invoice, min(created) AS first_failed_at, count(*) AS failed_attempts
            FROM linked WHERE invoice IS NOT NULL GROUP BY invoice),
        trial_firsts AS (
            SELECT i.subscription, arg_min(i.id, (i.created, i.id)) AS invoice
            FROM invoices i JOIN subscriptions s ON s.id = i.subscription
            WHERE NOT i.deleted AND s.trial_start IS NOT NULL AND coalesce(i.amount_due, 0) > 0
              AND i.status IN ('open', 'paid', 'uncollectible', 'void')
            GROUP BY i.subscription)
        SELECT i.id AS invoice, i.customer, i.subscription, lower(i.currency) AS currency,
               CAST(coalesce(i.amount_due, 0) AS BIGINT) AS amount, i.status, p.first_failed_at, p.failed_attempts,
               CASE WHEN i.status = 'paid' AND i.paid_at < ?::TIMESTAMPTZ THEN i.paid_at END AS paid_at,
               tf.invoice IS NOT NULL AS after_trial
        FROM per_invoice p JOIN invoices i ON i.id = p.invoice
        LEFT JOIN trial_firsts tf ON tf.invoice = i.id
        WHERE NOT i.deleted
        ORDER BY i.id""", [as_of, as_of, as_of]).df()
    return frame


def _with_month(failed: pd.DataFrame, tz: str) -> pd.DataFrame:
    frame = failed.copy()
    for column in ("first_failed_at", "paid_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    local = frame["first_failed_at"].dt.tz_convert(tz)
    frame["m"] = (local.dt.year * 12 + local.dt.month - 1).astype("float64")
    frame["recovered"] = frame["paid_at"].notna() & (frame["paid_at"] >= frame["first_failed_at"])
    frame["days_to_recover"] = ((frame["paid_at"] - frame["first_failed_at"]) / _DAY).where(frame["recovered"])
    frame["written_off"] = frame["status"].isin(["uncollectible", "void"]) & ~frame["recovered"]
    return frame


def payment_recovery(failed: pd.DataFrame, calendar: Calendar, currencies: Sequence[str]) -> pd.DataFrame:
    """metrics.md "Failed payments and recovery", per currency and month of the invoice's first
    failed attempt (every month of the calendar, zeros where nothing failed). Invoices that are
    the first invoice after a trial are counted apart (the after_trial_* columns) and left out
    of all the others:

    - failed_invoice_payments / failed_invoice_amount: invoices whose first failed attempt is in
      the month, and their amount due;
    - recovered_invoice_payments / recovered_invoice_amount: of those, the invoices paid after
      that failure (before the as-of instant);
    - recovery_rate = recovered_invoice_amount / failed_invoice_amount (NaN when nothing failed);
    - outstanding_invoice_amount: the amount of those not paid and still collectable (not void,
      not marked uncollectible);
    - median_days_to_recover: median days from the first failure to the payment (NaN when none).

    `failed` are `failed_invoices` rows. Amounts in minor units. Returns columns currency, m,
    month and RECOVERY_COLUMNS."""
    frame = _with_month(failed, calendar.tz)
    months = calendar.months
    grid = pd.DataFrame({"currency": [c for c in currencies for _ in months],
                         "m": [float(m) for _ in currencies for m in months]})
    by = ["currency", "m"]
    trial = frame["after_trial"].astype(bool)
    regular, recovered = ~trial, frame["recovered"]
    amount = frame["amount"].astype("float64")
    flags = pd.DataFrame({
        "currency": frame["currency"], "m": frame["m"],
        "failed_invoice_payments": regular, "failed_invoice_amount": amount.where(regular, 0.0),
        "recovered_invoice_payments": regular & recovered,
        "recovered_invoice_amount": amount.where(regular & recovered, 0.0),
        "outstanding_invoice_amount": amount.where(regular & ~recovered & ~frame["written_off"], 0.0),
        "median_days_to_recover": frame["days_to_recover"].where(regular),
        "after_trial_failed_payments": trial, "after_trial_failed_amount": amount.where(trial, 0.0),
        "after_trial_recovered_payments": trial & recovered,
        "after_trial_recovered_amount": amount.where(trial & recovered, 0.0),
    })
    sums = [c for c in flags.columns if c not in ("currency", "m", "median_days_to_recover")]
    grouped = flags.groupby(by)
    totals = grouped[sums].sum().join(grouped["median_days_to_recover"].median()).reset_index()
    out = grid.merge(totals, on=by, how="left")
    for column in RECOVERY_COLUMNS:
        if column not in ("recovery_rate", "median_days_to_recover"):
            # amounts of a converted view are exact floats of R's minor units: rounded half-even here
            out[column] = out[column].fillna(0).round().astype("int64")
    out["median_days_to_recover"] = out["median_days_to_recover"].astype("float64")
    out["recovery_rate"] = ratio(out["recovered_invoice_amount"], out["failed_invoice_amount"])
    out["m"] = out["m"].astype("int32")
    out.insert(2, "month", [month_label(int(m)) for m in out["m"]])
    return out[["currency", "m", "month", *RECOVERY_COLUMNS]].sort_values(by).reset_index(drop=True)


def recovery_days(failed: pd.DataFrame, calendar: Calendar, months: Sequence[int]) -> pd.DataFrame:
    """How long recovery took, for the invoices (after-trial ones left out) whose first failure
    is in `months`: per currency and RECOVERY_DAY_BUCKETS bucket (a recovery after exactly 3 days
    is in "0–3 days"), the number and amount of invoices recovered. Returns columns currency,
    days (the bucket's label), recovered_invoice_payments, recovered_invoice_amount; every
    bucket of every currency with a recovery."""
    frame = _with_month(failed, calendar.tz)
    frame = frame[frame["recovered"] & ~frame["after_trial"].astype(bool) & frame["m"].isin([float(m) for m in months])]
    rows = []
    for currency in sorted(frame["currency"].unique()):
        mine = frame[frame["currency"] == currency]
        for low, high, label in RECOVERY_DAY_BUCKETS:
            inside = (mine["days_to_recover"] > low) if low else (mine["days_to_recover"] >= 0)
            if high is not None:
                inside &= mine["days_to_recover"] <= high
            rows.append({"currency": currency, "days": label, "recovered_invoice_payments": int(inside.sum()),
                         "recovered_invoice_amount": int(mine.loc[inside, "amount"].sum())})
    return pd.DataFrame(rows, columns=["currency", "days", "recovered_invoice_payments", "recovered_invoice_amount"])


def subscription_endings(src: Sources, as_of: datetime) -> pd.DataFrame:
    """Subscriptions whose MRR stopped by `as_of` through an end or an unpaid status:
    subscription, customer, currency, stopped_at (`ended_at`; for a subscription now `unpaid`,
    the start of its current period), status, cancellation_reason
    (`cancellation_details.reason`)."""
    return src.con.execute("""
        WITH periods AS (SELECT subscription, min(current_period_start) AS period_start
                         FROM subscription_items WHERE NOT deleted GROUP BY subscription)
        SELECT s.id AS subscription, s.customer, lower(s.currency) AS currency,
               CASE WHEN s.ended_at IS NOT NULL THEN s.ended_at WHEN s.status = 'unpaid' THEN p.period_start END
                   AS stopped_at,
               s.status, json_extract_string(s.raw, '$.cancellation_details.reason') AS cancellation_reason
        FROM subscriptions s LEFT JOIN periods p ON p.subscription = s.id
        WHERE NOT s.deleted AND (s.ended_at < ?::TIMESTAMPTZ OR (s.ended_at IS NULL AND s.status = 'unpaid'))
        ORDER BY s.id""", [as_of]).df()


def involuntary_endings(endings: pd.DataFrame, failed: pd.DataFrame, calendar: Calendar) -> pd.DataFrame:
    """The involuntary ones among `subscription_endings` (metrics.md "Involuntary churn"): the
    subscription is now `unpaid`, or it ended with the cancellation reason `payment_failed`, or
    it ended while one of its invoices with a failed attempt was still unpaid (not paid before
    the end). Returns columns customer, currency, m (the month whose snapshot first misses the
    subscription: the month of `stopped_at`, as the snapshots fall)."""
    frame = endings.copy()
    frame["stopped_at"] = pd.to_datetime(frame["stopped_at"], utc=True)
    unpaid_failures = failed.copy()
    unpaid_failures["paid_at"] = pd.to_datetime(unpaid_failures["paid_at"], utc=True)
    unpaid_failures["first_failed_at"] = pd.to_datetime(unpaid_failures["first_failed_at"], utc=True)
    merged = frame.merge(unpaid_failures[["subscription", "first_failed_at", "paid_at"]], on="subscription",
                         how="left")
    open_failure = merged["first_failed_at"].notna() & (merged["first_failed_at"] <= merged["stopped_at"]) \
        & (merged["paid_at"].isna() | (merged["paid_at"] > merged["stopped_at"]))
    after_failures = set(merged.loc[open_failure, "subscription"])
    involuntary = frame[(frame["status"] == "unpaid") | (frame["cancellation_reason"] == "payment_failed")
                        | frame["subscription"].isin(after_failures)]
    involuntary = involuntary[involuntary["stopped_at"].notna()]
    local = involuntary["stopped_at"].dt.tz_convert(calendar.tz)
    months = (local.dt.year * 12 + local.dt.month - 1).astype("int32")
    return pd.DataFrame({"customer": involuntary["customer"].to_numpy(), "currency": involuntary["currency"].to_numpy(),
                         "m": months.to_numpy()}).drop_duplicates().reset_index(drop=True)


def involuntary_churn(movements: pd.DataFrame | pa.Table, involuntary: pd.DataFrame,
                      months: Sequence[int], currencies: Sequence[str], *, by_currency: bool = True) -> pd.DataFrame:
    """metrics.md "Involuntary churn": per currency and month, the churned MRR of customers
    whose churn that month came with an involuntary end of one of their subscriptions in that
    currency (an `involuntary_endings` row for the customer, currency and month), and its share
    of all churned MRR.

    `movements` has columns currency, customer, m, movement, amount; a converted view passes
    currency = R and `by_currency=False`, so an involuntary end in any currency counts. Returns columns currency, m,
    involuntary_churned_mrr (minor units), involuntary_churn_share (NaN when nothing churned)."""
    moves = movements.to_pandas() if isinstance(movements, pa.Table) else movements
    churn = moves[moves["movement"] == "churn"][["currency", "customer", "m", "amount"]].copy()
    churn["m"] = churn["m"].astype("int64")
    flags = involuntary.copy()
    flags["m"] = flags["m"].astype("int64")
    keys = ["customer", "currency", "m"] if by_currency else ["customer", "m"]
    flags = flags[keys].drop_duplicates().assign(involuntary=True)
    churn = churn.merge(flags, on=keys, how="left")
    churn["involuntary"] = churn["involuntary"].fillna(False).astype(bool)
    grid = pd.DataFrame({"currency": [c for c in currencies for _ in months],
                         "m": [int(m) for _ in currencies for m in months]})
    totals = churn.groupby(["currency", "m"])["amount"].sum().rename("churned").reset_index()
    invol = churn[churn["involuntary"]].groupby(["currency", "m"])["amount"].sum() \
        .rename("involuntary_churned_mrr").reset_index()
    out = grid.merge(totals, on=["currency", "m"], how="left").merge(invol, on=["currency", "m"], how="left")
    out["involuntary_churned_mrr"] = out["involuntary_churned_mrr"].fillna(0).astype("int64")
    out["involuntary_churn_share"] = ratio(out["involuntary_churned_mrr"], out["churned"].fillna(0))
    out["m"] = out["m"].astype("int32")
    return out[["currency", "m", *INVOLUNTARY_COLUMNS]]
