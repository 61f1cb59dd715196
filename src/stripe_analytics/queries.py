"""Browse and search queries on the cache, for the app's tables (customers, payments,
subscriptions, products, the global search, the Data page).

These list and look up objects; they never compute a metric. Every number the product
defines (MRR, movements, churn, volumes, ...) comes from `stripe_analytics.metrics`, and
the pages join those results onto these tables. Amounts stay in minor units next to
their currency; formatting is the UI's job.

Every function takes a DuckDB connection (or cursor) on which the cache tables are
visible, reads only rows not flagged `deleted` unless it says otherwise, and returns a
DataFrame or plain dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Sequence

import duckdb
import pandas as pd

from .cache import read_meta
from .segment_sql import CUSTOMER_COUNTRY_SQL, PRICE_NAMES_SQL, customers_sql

DEFAULT_LIMIT = 20_000
SEGMENT_MAX_VALUES = 50
SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused", "canceled", "incomplete",
                         "incomplete_expired")
CHARGE_STATUSES = ("succeeded", "pending", "failed")
PAYMENT_INTENT_STATUSES = ("succeeded", "processing", "requires_payment_method", "requires_confirmation",
                           "requires_action", "requires_capture", "canceled")


def _ts(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A date filter bound as a UTC instant; an end date includes its whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    moment = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return moment + timedelta(days=1) if end else moment


@dataclass
class Scope:
    """The global filters as they apply to browse tables."""

    start: date | None = None
    end: date | None = None
    currency: str | None = None
    product: str | None = None
    segment_key: str | None = None
    segment_value: str | None = None
    country: str | None = None

    def segment_sql(self, customer_column: str, params: list) -> str:
        """The customer-level segments (metadata key = value, country) as a condition on `customer_column`."""
        selected = customers_sql(self.segment_key or None, self.segment_value, self.country)
        if selected is None:
            return ""
        sql, segment_params = selected
        params.extend(segment_params)
        return f" AND {customer_column} IN ({sql})"

    def product_customers_sql(self, customer_column: str, params: list) -> str:
        if not self.product:
            return ""
        params.append(self.product)
        return (f" AND {customer_column} IN (SELECT s.customer FROM subscriptions s JOIN subscription_items i "
                f"ON i.subscription = s.id WHERE NOT s.deleted AND NOT i.deleted AND i.product = ?)")

    def dates_sql(self, column: str, params: list) -> str:
        sql = ""
        if self.start:
            sql += f" AND {column} >= ?"
            params.append(_ts(self.start))
        if self.end:
            sql += f" AND {column} < ?"
            params.append(_ts(self.end, end=True))
        return sql

    def currency_sql(self, column: str, params: list) -> str:
        if not self.currency:
            return ""
        params.append(self.currency.lower())
        return f" AND lower({column}) = ?"


def _df(con, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


def _search_sql(columns: Sequence[str], text: str | None, params: list) -> str:
    """Case-insensitive substring match over several columns (ids, emails, names, metadata)."""
    if not text or not text.strip():
        return ""
    needle = f"%{text.strip().lower()}%"
    params.extend([needle] * len(columns))
    return " AND (" + " OR ".join(f"lower(CAST({c} AS VARCHAR)) LIKE ?" for c in columns) + ")"


# ----------------------------------------------------------------------------- account

def account_profile(con) -> dict:
    """The Stripe account object stored by the last sync (or the demo), {} if unknown."""
    stored = read_meta(con, "account")
    return json.loads(stored) if stored else {}


def balance(con) -> dict:
    """The live balance (`available` and `pending` per currency, `retrieved_at`) stored by the
    last sync (or the demo), {} if unknown."""
    stored = read_meta(con, "balance")
    return json.loads(stored) if stored else {}


# ----------------------------------------------------------------------------- the write forms' choices

CHOICES_LIMIT = 5000  # a form's list of customers or subscriptions: the newest ones (an id can be typed)


def customer_choices(con) -> list[dict]:
    """id, name, email of the newest customers."""
    return _records(con, "SELECT id, name, email FROM customers WHERE NOT deleted ORDER BY created DESC "
                         f"LIMIT {CHOICES_LIMIT}")


def product_choices(con) -> list[dict]:
    """id and name of the products, active ones first, by name."""
    return _records(con, "SELECT id, name FROM products WHERE NOT deleted ORDER BY active DESC, name")


def recurring_price_choices(con) -> list[dict]:
    """The active recurring prices (id, unit_amount, currency, interval, interval_count, and
    the product's name), by product name, currency and amount."""
    return _records(con, """
        SELECT p.id, p.unit_amount, p.currency, p.interval, p.interval_count, pr.name AS product_name
        FROM prices p LEFT JOIN products pr ON pr.id = p.product
        WHERE NOT p.deleted AND coalesce(p.active, true) AND p.type = 'recurring'
        ORDER BY pr.name, p.currency, p.unit_amount""")


def subscription_choices(con, *, scheduled_only: bool = False) -> list[dict]:
    """id, status and the customer's name and email of the newest subscriptions that can still
    be canceled; `scheduled_only`: those set to end (or paused), which can be resumed."""
    where = "s.status NOT IN ('canceled', 'incomplete_expired') AND NOT s.deleted"
    if scheduled_only:
        where += " AND (s.cancel_at_period_end OR s.cancel_at IS NOT NULL OR s.status = 'paused')"
    return _records(con, f"""
        SELECT s.id, s.status, c.name, c.email FROM subscriptions s LEFT JOIN customers c ON c.id = s.customer
        WHERE {where} ORDER BY s.created DESC LIMIT {CHOICES_LIMIT}""")


def subscription_to_cancel(con, subscription_id: str) -> dict | None:
    """What a cancel confirmation names: the subscription's customer (id, name, email), status,
    currency, cancel_at_period_end, current period's end, and its items' unit_amount, quantity,
    interval and interval_count."""
    found = _records(con, """
        SELECT s.customer, s.status, s.currency, s.cancel_at_period_end, c.name, c.email,
               (SELECT max(current_period_end) FROM subscription_items i
                WHERE i.subscription = s.id AND NOT i.deleted) AS period_end
        FROM subscriptions s LEFT JOIN customers c ON c.id = s.customer WHERE s.id = ?""", [subscription_id])
    if not found:
        return None
    items = _records(con, "SELECT unit_amount, quantity, interval, interval_count FROM subscription_items "
                          "WHERE subscription = ? AND NOT deleted", [subscription_id])
    return {**found[0], "items": items}


def _records(con, sql: str, params: Sequence[Any] = ()) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def row_counts(con) -> dict[str, int]:
    from . import schema

    parts = " UNION ALL ".join(f"SELECT '{t.name}', count(*) FROM {t.name} WHERE NOT deleted" for t in schema.TABLES)
    return {name: int(n) for name, n in con.execute(parts).fetchall()}


@dataclass
class FilterOptions:
    currencies: list[str] = field(default_factory=list)  # most used first
    default_currency: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    products: list[tuple[str, str]] = field(default_factory=list)  # (id, name), by name
    segments: dict[str, list[str]] = field(default_factory=dict)  # metadata key -> values
    prices: list[tuple[str, str]] = field(default_factory=list)  # recurring (id, "product · nickname"), by name
    intervals: list[str] = field(default_factory=list)  # billing intervals of recurring prices
    countries: list[str] = field(default_factory=list)  # customers' countries (segment_sql), most customers first
    account_currency: str | None = None  # the account's default_currency as Stripe reports it (lower case)
    imported_rate_currencies: list[str] = field(default_factory=list)  # currencies of the user's own rates

    @property
    def empty(self) -> bool:
        return not self.currencies


def filter_options(con) -> FilterOptions:
    """What the sidebar filters can choose from in this cache."""
    rows = con.execute("""
        SELECT c, sum(n) AS n FROM (
            SELECT lower(currency) AS c, count(*) AS n FROM subscriptions WHERE NOT deleted AND currency IS NOT NULL GROUP BY 1
            UNION ALL
            SELECT lower(currency), count(*) FROM charges WHERE NOT deleted AND currency IS NOT NULL GROUP BY 1
        ) GROUP BY c ORDER BY n DESC, c""").fetchall()
    currencies = [r[0] for r in rows]
    profile = account_profile(con)
    default = (profile.get("default_currency") or "").lower()
    if default not in currencies:
        default = currencies[0] if currencies else None
    bounds = con.execute("""
        SELECT min(t), max(t) FROM (
            SELECT min(coalesce(start_date, created)) AS t FROM subscriptions WHERE NOT deleted
            UNION ALL SELECT max(coalesce(start_date, created)) FROM subscriptions WHERE NOT deleted
            UNION ALL SELECT min(created) FROM charges WHERE NOT deleted
            UNION ALL SELECT max(created) FROM charges WHERE NOT deleted)""").fetchone()
    first = bounds[0].astimezone(timezone.utc).date() if bounds and bounds[0] else None
    last = bounds[1].astimezone(timezone.utc).date() if bounds and bounds[1] else None
    products = [(r[0], r[1] or r[0]) for r in con.execute(
        "SELECT id, name FROM products WHERE NOT deleted ORDER BY lower(coalesce(name, id))").fetchall()]
    segments: dict[str, list[str]] = {}
    seg_rows = con.execute(f"""
        WITH kv AS (
            SELECT je.key AS k, je.value ->> '$' AS v
            FROM customers, json_each(customers.metadata) AS je
            WHERE NOT customers.deleted AND customers.metadata IS NOT NULL
        ), keys AS (SELECT k FROM kv GROUP BY k HAVING count(DISTINCT v) <= {SEGMENT_MAX_VALUES})
        SELECT k, v, count(*) AS n FROM kv WHERE k IN (SELECT k FROM keys) AND v IS NOT NULL
        GROUP BY k, v ORDER BY k, n DESC, v""").fetchall()
    for key, value, _ in seg_rows:
        segments.setdefault(key, []).append(value)
    prices = [(r[0], r[1]) for r in con.execute(PRICE_NAMES_SQL).fetchall()]
    intervals = [r[0] for r in con.execute("""
        SELECT interval FROM prices WHERE NOT deleted AND interval IS NOT NULL GROUP BY interval
        ORDER BY list_position(['day', 'week', 'month', 'year'], interval)""").fetchall()]
    countries = [r[0] for r in con.execute(f"""
        SELECT country FROM ({CUSTOMER_COUNTRY_SQL}) WHERE country IS NOT NULL
        GROUP BY country ORDER BY count(*) DESC, country""").fetchall()]
    return FilterOptions(currencies, default, first, last, products, segments, prices, intervals, countries,
                         (profile.get("default_currency") or "").lower() or None)


# ----------------------------------------------------------------------------- customers

_CUSTOMER_STATUS_SQL = """
    SELECT customer,
           CASE WHEN bool_or(status = 'active') THEN 'active'
                WHEN bool_or(status = 'past_due') THEN 'past_due'
                WHEN bool_or(status = 'trialing') THEN 'trialing'
                WHEN bool_or(status IN ('unpaid', 'paused')) THEN 'unpaid/paused'
                WHEN bool_or(status = 'canceled') THEN 'churned'
                ELSE 'no subscription' END AS status,
           count(*) FILTER (WHERE status NOT IN ('canceled', 'incomplete_expired')) AS open_subscriptions
    FROM subscriptions WHERE NOT deleted GROUP BY customer
"""


# Lifetime paid per customer and currency: captured minus refunded, successful charges.
_PAID_BY_CUSTOMER_SQL = """
    SELECT customer, lower(currency) AS currency,
           CAST(sum(amount_captured - coalesce(amount_refunded, 0)) AS BIGINT) AS lifetime_paid,
           count(*) AS payments, max(created) AS last_payment
    FROM charges WHERE NOT deleted AND status = 'succeeded'
    GROUP BY customer, lower(currency)"""


def customers(con, scope: Scope, *, search: str | None = None, status: Sequence[str] | None = None,
              limit: int = DEFAULT_LIMIT) -> pd.DataFrame:
    """Customers with their subscription status and what they paid (net of refunds) in their
    own currency (`currency`: the customer's currency in Stripe, else the one they paid most
    often in, else the scope's). Search matches id, email, name, description, phone and
    metadata."""
    params: list = []
    fallback_currency = (scope.currency or "").lower()
    params.append(fallback_currency)
    where = " WHERE NOT c.deleted"
    where += _search_sql(["c.id", "c.email", "c.name", "c.description", "c.phone", "c.metadata"], search, params)
    where += scope.segment_sql("c.id", params)
    where += scope.product_customers_sql("c.id", params)
    if status:
        params.append(list(status))
        where += " AND coalesce(st.status, 'no subscription') IN (SELECT unnest(?))"
    params.append(limit + 1)
    sql = f"""
        WITH st AS ({_CUSTOMER_STATUS_SQL}),
        paid AS ({_PAID_BY_CUSTOMER_SQL}),
        usual AS (SELECT customer, arg_max(currency, payments) AS currency FROM paid GROUP BY customer),
        own AS (
            SELECT c.id, coalesce(nullif(lower(c.currency), ''), usual.currency, ?) AS currency
            FROM customers c LEFT JOIN usual ON usual.customer = c.id
        )
        SELECT c.id, c.email, c.name, c.country, c.created,
               coalesce(st.status, 'no subscription') AS status, own.currency,
               coalesce(paid.lifetime_paid, 0) AS lifetime_paid, coalesce(paid.payments, 0) AS payments,
               paid.last_payment, c.delinquent, c.currency AS customer_currency, c.metadata
        FROM customers c JOIN own ON own.id = c.id LEFT JOIN st ON st.customer = c.id
             LEFT JOIN paid ON paid.customer = c.id AND paid.currency = own.currency
        {where}
        ORDER BY c.created DESC, c.id
        LIMIT ?"""
    return _df(con, sql, params)


def customer_names(con) -> pd.DataFrame:
    """id, name and email of every customer, to put names on ids."""
    return _df(con, "SELECT id, name, email FROM customers WHERE NOT deleted")


def customer_lifetime_paid(con, customer_id: str) -> pd.DataFrame:
    """One customer's lifetime paid per currency (currency, lifetime_paid, payments): captured
    minus refunded of its successful charges, the rule the customers list uses."""
    return _df(con, f"""SELECT currency, lifetime_paid, payments FROM ({_PAID_BY_CUSTOMER_SQL})
                        WHERE customer = ? ORDER BY lifetime_paid DESC""", [customer_id])


def customer(con, customer_id: str) -> dict | None:
    row = con.execute(
        "SELECT id, email, name, description, phone, country, currency, delinquent, balance, created, metadata, "
        "deleted, raw FROM customers WHERE id = ?", [customer_id]).fetchone()
    if not row:
        return None
    names = ["id", "email", "name", "description", "phone", "country", "currency", "delinquent", "balance",
             "created", "metadata", "deleted", "raw"]
    out = dict(zip(names, row))
    for key in ("metadata", "raw"):
        try:
            out[key] = json.loads(out[key]) if out[key] else {}
        except (TypeError, ValueError):
            out[key] = {}
    return out


def customer_subscriptions(con, customer_id: str) -> pd.DataFrame:
    return _df(con, """
        SELECT s.id, s.status, s.currency, s.created, s.start_date, s.trial_end, s.cancel_at_period_end,
               s.cancel_at, s.ended_at, min(i.current_period_end) AS current_period_end,
               string_agg(coalesce(p.name, i.product) || ' × ' || i.quantity, ', ' ORDER BY i.id) AS items
        FROM subscriptions s
        LEFT JOIN subscription_items i ON i.subscription = s.id AND NOT i.deleted
        LEFT JOIN products p ON p.id = i.product
        WHERE s.customer = ? AND NOT s.deleted
        GROUP BY ALL ORDER BY s.created DESC""", [customer_id])


def customer_invoices(con, customer_id: str) -> pd.DataFrame:
    return _df(con, """
        SELECT id, number, status, currency, total, amount_paid, amount_remaining, created, period_start,
               period_end, billing_reason, subscription, hosted_invoice_url
        FROM invoices WHERE customer = ? AND NOT deleted ORDER BY created DESC""", [customer_id])


def customer_charges(con, customer_id: str) -> pd.DataFrame:
    return _df(con, """
        SELECT id, status, currency, amount, amount_refunded, created, payment_method_type, description,
               failure_message, receipt_url
        FROM charges WHERE customer = ? AND NOT deleted ORDER BY created DESC""", [customer_id])


# ----------------------------------------------------------------------------- payments

def _payments_where(alias: str, scope: Scope, statuses: Sequence[str] | None, amount_min: int | None,
                    amount_max: int | None, search_columns: Sequence[str], search: str | None,
                    params: list) -> str:
    """The WHERE clause the Payments page's two tables share (charges `ch`, payment intents
    `pi`): not deleted, the scope's dates, currency and segment, statuses, amount range, search."""
    where = f" WHERE NOT {alias}.deleted"
    where += scope.dates_sql(f"{alias}.created", params)
    where += scope.currency_sql(f"{alias}.currency", params)
    where += scope.segment_sql(f"{alias}.customer", params)
    if statuses:
        params.append(list(statuses))
        where += f" AND {alias}.status IN (SELECT unnest(?))"
    if amount_min is not None:
        params.append(int(amount_min))
        where += f" AND {alias}.amount >= ?"
    if amount_max is not None:
        params.append(int(amount_max))
        where += f" AND {alias}.amount <= ?"
    return where + _search_sql(list(search_columns), search, params)


def charges(con, scope: Scope, *, statuses: Sequence[str] | None = None, amount_min: int | None = None,
            amount_max: int | None = None, search: str | None = None, limit: int = DEFAULT_LIMIT) -> pd.DataFrame:
    """Charges in the date range and currency; amounts in minor units. Search matches the
    charge, payment intent and customer ids, the customer's email and name, the description,
    the receipt email and metadata."""
    params: list = []
    where = _payments_where("ch", scope, statuses, amount_min, amount_max,
                            ["ch.id", "ch.payment_intent", "ch.customer", "cu.email", "cu.name", "ch.description",
                             "ch.receipt_email", "ch.metadata"], search, params)
    params.append(limit + 1)
    return _df(con, f"""
        SELECT ch.id, ch.created, ch.status, ch.amount, ch.amount_refunded, ch.currency, ch.customer,
               cu.email AS customer_email, ch.payment_method_type, ch.description, ch.failure_code,
               ch.refunded, ch.disputed, ch.payment_intent
        FROM charges ch LEFT JOIN customers cu ON cu.id = ch.customer
        {where}
        ORDER BY ch.created DESC, ch.id LIMIT ?""", params)


def payment_intents(con, scope: Scope, *, statuses: Sequence[str] | None = None, amount_min: int | None = None,
                    amount_max: int | None = None, search: str | None = None,
                    limit: int = DEFAULT_LIMIT) -> pd.DataFrame:
    """Payment intents, filtered like `charges`; search also matches the latest charge's id."""
    params: list = []
    where = _payments_where("pi", scope, statuses, amount_min, amount_max,
                            ["pi.id", "pi.customer", "cu.email", "cu.name", "pi.description", "pi.receipt_email",
                             "pi.metadata", "pi.latest_charge"], search, params)
    params.append(limit + 1)
    return _df(con, f"""
        SELECT pi.id, pi.created, pi.status, pi.amount, pi.amount_received, pi.currency, pi.customer,
               cu.email AS customer_email, pi.description, pi.latest_charge
        FROM payment_intents pi LEFT JOIN customers cu ON cu.id = pi.customer
        {where}
        ORDER BY pi.created DESC, pi.id LIMIT ?""", params)


def payment(con, payment_id: str) -> dict | None:
    """A charge (ch_/py_) or payment intent (pi_) with its refunds, disputes and fees."""
    charge_id = payment_id
    intent = None
    if payment_id.startswith("pi_"):
        row = con.execute("SELECT id, status, amount, amount_received, currency, created, latest_charge, "
                          "description, customer, raw FROM payment_intents WHERE id = ?", [payment_id]).fetchone()
        if not row:
            return None
        intent = dict(zip(["id", "status", "amount", "amount_received", "currency", "created", "latest_charge",
                           "description", "customer", "raw"], row))
        charge_id = intent["latest_charge"]
    charge = None
    if charge_id:
        row = con.execute("""
            SELECT ch.id, ch.status, ch.amount, ch.amount_captured, ch.amount_refunded, ch.currency, ch.created,
                   ch.customer, cu.email, cu.name, ch.payment_intent, ch.payment_method_type, ch.description,
                   ch.failure_code, ch.failure_message, ch.receipt_url, ch.receipt_email, ch.disputed,
                   ch.metadata, bt.fee, bt.net, bt.currency AS settlement_currency, ch.raw
            FROM charges ch LEFT JOIN customers cu ON cu.id = ch.customer
            LEFT JOIN balance_transactions bt ON bt.id = ch.balance_transaction
            WHERE ch.id = ?""", [charge_id]).fetchone()
        if row:
            charge = dict(zip(["id", "status", "amount", "amount_captured", "amount_refunded", "currency", "created",
                               "customer", "customer_email", "customer_name", "payment_intent",
                               "payment_method_type", "description", "failure_code", "failure_message",
                               "receipt_url", "receipt_email", "disputed", "metadata", "fee", "net",
                               "settlement_currency", "raw"], row))
    if charge is None and intent is None:
        return None
    refunds = _df(con, "SELECT id, status, amount, currency, reason, created FROM refunds "
                       "WHERE NOT deleted AND charge = ? ORDER BY created", [charge_id or ""])
    disputes = _df(con, "SELECT id, status, amount, currency, reason, created FROM disputes "
                        "WHERE NOT deleted AND charge = ? ORDER BY created", [charge_id or ""])
    return {"charge": charge, "payment_intent": intent, "refunds": refunds, "disputes": disputes}


# ----------------------------------------------------------------------------- subscriptions

def subscriptions(con, scope: Scope, *, statuses: Sequence[str] | None = None, price: str | None = None,
                  interval: str | None = None, search: str | None = None,
                  limit: int = DEFAULT_LIMIT) -> pd.DataFrame:
    """One row per subscription with its items (prices, intervals) and period dates."""
    params: list = []
    where = " WHERE NOT s.deleted"
    where += scope.currency_sql("s.currency", params)
    where += scope.segment_sql("s.customer", params)
    if scope.product:
        params.append(scope.product)
        where += " AND s.id IN (SELECT subscription FROM subscription_items WHERE NOT deleted AND product = ?)"
    if statuses:
        params.append(list(statuses))
        where += " AND s.status IN (SELECT unnest(?))"
    if price:
        params.append(price)
        where += " AND s.id IN (SELECT subscription FROM subscription_items WHERE NOT deleted AND price = ?)"
    if interval:
        params.append(interval)
        where += " AND s.id IN (SELECT subscription FROM subscription_items WHERE NOT deleted AND interval = ?)"
    where += _search_sql(["s.id", "s.customer", "cu.email", "cu.name", "s.description", "s.metadata"], search, params)
    params.append(limit + 1)
    return _df(con, f"""
        WITH items AS (
            SELECT i.subscription,
                   string_agg(coalesce(p.name, i.product) || ' × ' || coalesce(i.quantity, 1), ', '
                              ORDER BY i.id) AS items,
                   string_agg(DISTINCT i.price, ', ') AS prices,
                   string_agg(DISTINCT CASE WHEN coalesce(i.interval_count, 1) = 1 THEN i.interval
                                            ELSE i.interval_count || ' ' || i.interval || 's' END, ', ') AS intervals,
                   min(i.current_period_start) AS current_period_start,
                   min(i.current_period_end) AS current_period_end
            FROM subscription_items i LEFT JOIN products p ON p.id = i.product
            WHERE NOT i.deleted GROUP BY i.subscription
        )
        SELECT s.id, s.status, s.customer, cu.email AS customer_email, s.currency, items.items, items.intervals,
               items.prices, s.created, s.start_date, s.trial_end, items.current_period_start,
               items.current_period_end, s.cancel_at_period_end, s.cancel_at, s.canceled_at, s.ended_at,
               s.collection_method
        FROM subscriptions s LEFT JOIN items ON items.subscription = s.id
        LEFT JOIN customers cu ON cu.id = s.customer
        {where}
        ORDER BY s.created DESC, s.id LIMIT ?""", params)


def upcoming(frame: pd.DataFrame, kind: str, now: datetime, days: int) -> pd.DataFrame:
    """From a `subscriptions()` frame: renewals, scheduled cancellations or trials ending in the
    next `days` days (a selection of rows, no arithmetic on amounts)."""
    if frame.empty:
        return frame
    horizon = pd.Timestamp(now + timedelta(days=days))
    now_ts = pd.Timestamp(now)
    if kind == "renewals":
        mask = (frame["status"].isin(["active", "past_due"]) & ~frame["cancel_at_period_end"].fillna(False).astype(bool)
                & frame["cancel_at"].isna()
                & (frame["current_period_end"] >= now_ts) & (frame["current_period_end"] < horizon))
        return frame[mask].sort_values("current_period_end")
    if kind == "cancellations":
        end = frame["cancel_at"].fillna(frame["current_period_end"])
        mask = (~frame["status"].isin(["canceled", "incomplete_expired"])
                & (frame["cancel_at_period_end"].fillna(False).astype(bool) | frame["cancel_at"].notna())
                & (end >= now_ts))
        out = frame[mask].copy()
        out.insert(2, "ends_at", end[mask])
        return out.sort_values("ends_at")
    if kind == "trials":
        mask = (frame["status"] == "trialing") & (frame["trial_end"] >= now_ts) & (frame["trial_end"] < horizon)
        return frame[mask].sort_values("trial_end")
    raise ValueError(kind)


# ----------------------------------------------------------------------------- products

def products(con) -> pd.DataFrame:
    """The catalogue: one row per product with its prices summarised."""
    return _df(con, """
        WITH pc AS (
            SELECT product, count(*) FILTER (WHERE active) AS active_prices, count(*) AS prices
            FROM prices WHERE NOT deleted GROUP BY product
        )
        SELECT p.id, p.name, p.active, p.description, p.created, coalesce(pc.active_prices, 0) AS active_prices,
               coalesce(pc.prices, 0) AS prices, p.default_price, p.metadata
        FROM products p LEFT JOIN pc ON pc.product = p.id
        WHERE NOT p.deleted ORDER BY p.active DESC, lower(coalesce(p.name, p.id))""")


def prices(con, product: str | None = None) -> pd.DataFrame:
    params: list = []
    where = " WHERE NOT pr.deleted"
    if product:
        params.append(product)
        where += " AND pr.product = ?"
    return _df(con, f"""
        SELECT pr.id, pr.product, p.name AS product_name, pr.nickname, pr.type, pr.currency, pr.unit_amount,
               pr.billing_scheme, pr.interval, pr.interval_count, pr.usage_type, pr.active, pr.created
        FROM prices pr LEFT JOIN products p ON p.id = pr.product
        {where} ORDER BY p.name, pr.currency, pr.unit_amount""", params)


# ----------------------------------------------------------------------------- search

_SEARCH_TARGETS = (
    # kind, table, title expression, subtitle expression, columns searched, currency, amount
    ("customer", "customers", "coalesce(name, email, id)", "coalesce(email, '')",
     ("id", "email", "name", "description", "phone", "metadata"), "currency", "NULL::BIGINT"),
    ("charge", "charges", "coalesce(description, id)", "coalesce(receipt_email, customer, '') || ' · ' || status",
     ("id", "payment_intent", "customer", "description", "receipt_email", "metadata"), "currency", "amount"),
    ("payment_intent", "payment_intents", "coalesce(description, id)", "coalesce(customer, '') || ' · ' || status",
     ("id", "customer", "description", "receipt_email", "metadata"), "currency", "amount"),
    ("invoice", "invoices", "coalesce(number, id)", "coalesce(customer_email, customer, '') || ' · ' || status",
     ("id", "number", "customer", "customer_email", "subscription"), "currency", "total"),
    ("subscription", "subscriptions", "id", "coalesce(customer, '') || ' · ' || status",
     ("id", "customer", "description", "metadata"), "currency", "NULL::BIGINT"),
    ("product", "products", "coalesce(name, id)", "coalesce(description, '')",
     ("id", "name", "description", "metadata"), "NULL", "NULL::BIGINT"),
    ("price", "prices", "coalesce(nickname, lookup_key, id)", "product",
     ("id", "nickname", "lookup_key", "product", "metadata"), "currency", "unit_amount"),
)


def stored_object(con, object_type: str, object_id: str) -> dict | None:
    """The object of this type ("invoice", "price", ...) and id as the cache holds Stripe's JSON
    of it (child lists stored in their own tables), or None when there is none."""
    from .schema import TABLE_BY_OBJECT

    table = TABLE_BY_OBJECT[object_type]
    row = con.execute(f"SELECT raw FROM {table.name} WHERE id = ?", [object_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def search(con, text: str, *, limit_per_kind: int = 50) -> pd.DataFrame:
    """One search box over customers, payments, invoices, subscriptions, products and prices:
    ids, emails, names, descriptions and metadata. Exact id matches first."""
    text = (text or "").strip()
    columns = ["kind", "id", "title", "subtitle", "currency", "amount", "created", "exact"]
    if len(text) < 2:
        return pd.DataFrame(columns=columns)
    parts, params = [], []
    for kind, table, title, subtitle, searched, currency, amount in _SEARCH_TARGETS:
        where_params: list = []
        where = _search_sql(searched, text, where_params)
        parts.append(f"""(SELECT '{kind}' AS kind, id, {title} AS title, {subtitle} AS subtitle,
                          {currency} AS currency, {amount} AS amount, created, id = ? AS exact
                          FROM {table} WHERE NOT deleted {where}
                          ORDER BY (id = ?) DESC, created DESC LIMIT {int(limit_per_kind)})""")
        params.extend([text] + where_params + [text])
    order = ", ".join(f"'{kind}'" for kind, *_ in _SEARCH_TARGETS)
    sql = (" UNION ALL ".join(parts)
           + f" ORDER BY exact DESC, list_position([{order}], kind), created DESC")
    return _df(con, sql, params)


# ----------------------------------------------------------------------------- data page

def sync_runs(con, limit: int = 20) -> pd.DataFrame:
    return _df(con, "SELECT id, kind, outcome, started_at, finished_at, objects, requests, message "
                    "FROM sync_runs ORDER BY id DESC LIMIT ?", [limit])


def sync_errors(con) -> pd.DataFrame:
    return _df(con, "SELECT resource, last_error, skipped_reason, last_sync_at FROM sync_state "
                    "WHERE last_error IS NOT NULL OR skipped_reason IS NOT NULL ORDER BY resource")


def last_synced_at(con) -> datetime | None:
    row = con.execute("SELECT max(finished_at) FROM sync_runs WHERE outcome = 'ok'").fetchone()
    if row and row[0]:
        return row[0]
    row = con.execute("SELECT max(last_sync_at) FROM sync_state").fetchone()
    if row and row[0]:
        return row[0]
    row = con.execute("SELECT max(synced_at) FROM customers").fetchone()
    return row[0] if row else None


def audit_log(con, limit: int = 500) -> pd.DataFrame:
    try:
        return _df(con, 'SELECT "at", mode, action, object_type, object_id, outcome, error_code, message '
                        'FROM audit_log ORDER BY "at" DESC LIMIT ?', [limit])
    except duckdb.Error:
        return pd.DataFrame()


# ----------------------------------------------------------------------------- breakdowns
# Breakdowns by a dimension the metrics contract does not define (payment method, product,
# disputes). They list and count objects; the contract's own figures (gross volume, net
# volume, refunds, fees, MRR) always come from `stripe_analytics.metrics`.

def charges_by_payment_method(con, scope: Scope) -> pd.DataFrame:
    """Charges per payment method type in the date range and currency: how many succeeded or
    failed, and the captured amount of the successful ones (minor units)."""
    params: list = []
    where = " WHERE NOT ch.deleted"
    where += scope.dates_sql("ch.created", params)
    where += scope.currency_sql("ch.currency", params)
    where += scope.segment_sql("ch.customer", params)
    return _df(con, f"""
        SELECT coalesce(ch.payment_method_type, 'unknown') AS payment_method,
               count(*) FILTER (WHERE ch.status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE ch.status = 'failed') AS failed,
               CAST(coalesce(sum(ch.amount_captured) FILTER (WHERE ch.status = 'succeeded'), 0) AS BIGINT)
                   AS captured
        FROM charges ch {where} GROUP BY 1 ORDER BY captured DESC, payment_method""", params)


def invoiced_by_product(con, scope: Scope) -> pd.DataFrame:
    """Invoice lines of paid invoices per product, by the invoice's paid date (or creation)
    in the date range and currency: amount before tax and after line discounts (minor units)."""
    params: list = []
    where = " WHERE NOT inv.deleted AND NOT li.deleted AND inv.status = 'paid'"
    where += scope.dates_sql("coalesce(inv.paid_at, inv.created)", params)
    where += scope.currency_sql("li.currency", params)
    where += scope.segment_sql("inv.customer", params)
    if scope.product:
        params.append(scope.product)
        where += " AND li.product = ?"
    return _df(con, f"""
        SELECT coalesce(li.product, '(no product)') AS product, coalesce(p.name, li.product, 'One-off items') AS name,
               CAST(sum(li.amount - coalesce(li.discount_amount, 0)) AS BIGINT) AS invoiced,
               count(DISTINCT inv.customer) AS customers, count(*) AS lines
        FROM invoice_line_items li JOIN invoices inv ON inv.id = li.invoice
        LEFT JOIN products p ON p.id = li.product
        {where} GROUP BY ALL ORDER BY invoiced DESC""", params)


_PERIOD_LABEL_SQL = {  # the labels of metrics.cash.period_label: 'YYYY-MM', or the period's first day
    "day": "strftime(CAST({t} AS DATE), '%Y-%m-%d')",
    "week": "strftime(CAST(date_trunc('week', {t}) AS DATE), '%Y-%m-%d')",
    "month": "strftime({t}, '%Y-%m')",
}


def disputes_by_period(con, scope: Scope, period: str = "month") -> pd.DataFrame:
    """Disputes opened per day, ISO week (labelled by its Monday) or month: period, disputes,
    disputed_amount (minor units), lost."""
    if period not in _PERIOD_LABEL_SQL:
        raise ValueError(f"{period!r} is not a period (day, week or month)")
    params: list = []
    where = " WHERE NOT d.deleted"
    where += scope.dates_sql("d.created", params)
    where += scope.currency_sql("d.currency", params)
    where += scope.segment_sql("(SELECT customer FROM charges c WHERE c.id = d.charge)", params)
    return _df(con, f"""
        SELECT {_PERIOD_LABEL_SQL[period].format(t="d.created")} AS period, count(*) AS disputes,
               CAST(sum(d.amount) AS BIGINT) AS disputed_amount,
               count(*) FILTER (WHERE d.status = 'lost') AS lost
        FROM disputes d {where} GROUP BY 1 ORDER BY 1""", params)
