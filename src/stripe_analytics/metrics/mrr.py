"""MRR of one subscription at an instant (metrics.md "MRR of one subscription at instant t").

Everything per line / per subscription runs as DuckDB SQL on the cache connection; the result is a
table of *components*: one row per (subscription, snapshot, product, price interval) piece of MRR,
in the subscription's currency, normalised to a month, in (fractional) minor units, with integer
keys for subscriptions, customers and products (`Components`). Filters by product or interval
select components; `snapshots.mrr_snapshots` then applies the "never below 0" rule per
subscription and sums to customers. Each rule of the contract is written once, here:

- eligibility of a subscription at t (rules 1-5)                      -> `_SUBSCRIPTIONS_TEMPLATE`,
                                                                         `_SUB_SNAPSHOTS_SQL`
- invoiced history first (subscription lines, no prorations, statuses) -> `_lines_sql`
- otherwise current items (unit x quantity, tiers, metered excluded)  -> `_ITEMS_SQL`, `tiered_amount`,
                                                                         `_FALLBACK_SQL`
- discounts in effect at t, policies `all` / `forever_only`          -> `_discounts_sql`, `_line_discount_sql`
- normalisation to a month                                            -> `NORMALISE_MACRO`
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa

from .filters import DiscountPolicy
from ._sql import query
from .load import Sources

# metrics.md "Normalising an amount billed every interval_count intervals to one month": the
# one rule, as (multiplier, divisor) per billing interval; the SQL macro and `monthly_amount`
# (the forms' summaries) are both built from it.
MONTHLY_FACTORS = {"month": (1.0, 1.0), "year": (1.0, 12.0), "week": (52.0, 12.0), "day": (365.0, 12.0)}
NORMALISE_MACRO = ("CREATE OR REPLACE TEMP MACRO sa_monthly(a, unit, n) AS CASE unit\n"
                   + "".join(f"    WHEN '{unit}' THEN CAST(a AS DOUBLE) * {mult} / ({div} * n)\n"
                             for unit, (mult, div) in MONTHLY_FACTORS.items())
                   + "END\n")


def monthly_amount(amount: int | float | None, interval: str | None, interval_count: int | None) -> float:
    """An amount billed every `interval_count` `interval`s, normalised to one month (metrics.md
    "Normalising ... to one month"); 0 for a non-recurring or unknown interval."""
    if not amount or interval not in MONTHLY_FACTORS:
        return 0.0
    mult, div = MONTHLY_FACTORS[interval]
    return float(amount) * mult / (div * (interval_count or 1))


# Statuses whose invoices count as invoiced history (metrics.md "Invoiced history first").
INVOICE_STATUSES = ("open", "paid", "uncollectible")
# metrics.md rule 4: never activated.
NEVER_ACTIVE = ("incomplete", "incomplete_expired")
# metrics.md rule 5.
INACTIVE_NOW = ("unpaid", "paused")

COMPONENT_SCHEMA = pa.schema([
    ("sub_key", pa.int32()), ("customer_key", pa.int32()), ("currency", pa.string()),
    ("m", pa.int32()), ("product_key", pa.int32()), ("interval", pa.string()),
    ("amount", pa.float64()), ("source", pa.string()), ("price_key", pa.int32()),
])


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# ---------------------------------------------------------------------------------------------
# Rules 1-5: which subscriptions contribute at each snapshot.
# `inactive_from` (rule 5): for a subscription now unpaid or paused (status `paused`, or payment
# collection paused with `pause_collection`), the moment it stops contributing: when the project's
# own history shows the status began (the first recorded row of the latest unpaid/paused run, if an
# earlier row shows another status), else the start of its current period.
_SUBSCRIPTIONS_TEMPLATE = f"""
CREATE OR REPLACE TEMP TABLE sa_subs AS
WITH periods AS (
    SELECT subscription, min(current_period_start) AS cps
    FROM subscription_items WHERE NOT deleted GROUP BY subscription
),
runs AS (
    SELECT subscription,
           max(seen_at) FILTER (WHERE status IS NULL OR status NOT IN {_in(INACTIVE_NOW)}) AS last_other
    FROM subscription_history GROUP BY subscription
),
began AS (
    SELECT h.subscription, min(h.seen_at) AS began
    FROM subscription_history h JOIN runs r USING (subscription)
    WHERE r.last_other IS NOT NULL AND h.status IN {_in(INACTIVE_NOW)} AND h.seen_at > r.last_other
    GROUP BY h.subscription
),
subs AS (
    SELECT s.id, s.customer, s.currency, s.ended_at, s.trial_start, s.trial_end,
           coalesce(s.start_date, s.created) AS start_at,
           s.status IN {_in(INACTIVE_NOW)} AS status_inactive,
           coalesce(json_type(s.pause_collection) = 'OBJECT', false) AS collection_paused
    FROM subscriptions s
    WHERE NOT s.deleted AND s.status NOT IN {_in(NEVER_ACTIVE)} AND s.customer IS NOT NULL
),
customer_keys AS (
    SELECT customer, CAST(row_number() OVER () AS INTEGER) AS ck FROM (SELECT DISTINCT customer FROM subs)
),
old_periods AS (   -- older API versions kept current_period_start on the subscription itself
    SELECT id, to_timestamp(try_cast(json_extract_string(raw, '$.current_period_start') AS BIGINT)) AS cps
    FROM subscriptions
    WHERE {{old_periods_filter}}
)
SELECT CAST(row_number() OVER () AS INTEGER) AS sk, k.ck,   -- internal keys: any numbering will do
       s.id AS subscription, s.customer, lower(s.currency) AS currency, s.start_at,
       coalesce(s.ended_at, 'infinity'::TIMESTAMPTZ) AS end_at,
       coalesce(s.trial_start, s.start_at) AS trial_start, s.trial_end,
       CASE WHEN s.status_inactive OR s.collection_paused THEN coalesce(
           CASE WHEN s.status_inactive THEN b.began END, p.cps, o.cps, s.start_at) END AS inactive_from
FROM subs s JOIN customer_keys k ON k.customer = s.customer
LEFT JOIN periods p ON p.subscription = s.id LEFT JOIN began b ON b.subscription = s.id
LEFT JOIN old_periods o ON o.id = s.id
"""

_OLD_PERIODS_NEEDED = f"""
SELECT count(*) FROM subscriptions
WHERE NOT deleted AND (status IN {_in(INACTIVE_NOW)} OR pause_collection IS NOT NULL)
  AND id NOT IN (SELECT subscription FROM subscription_items WHERE NOT deleted AND current_period_start IS NOT NULL)
"""


def _subscriptions_sql(old_periods: bool) -> str:
    """sa_subs; the subscriptions' raw JSON is only read when some unpaid/paused subscription has
    no item periods (older API versions)."""
    condition = (f"NOT deleted AND (status IN {_in(INACTIVE_NOW)} OR pause_collection IS NOT NULL) "
                 "AND id NOT IN (SELECT subscription FROM periods WHERE cps IS NOT NULL)") if old_periods else "false"
    return _SUBSCRIPTIONS_TEMPLATE.replace("{old_periods_filter}", condition)


_SUB_SNAPSHOTS_SQL = """
CREATE OR REPLACE TEMP TABLE sa_sub_snap AS
SELECT s.sk, s.ck, s.currency, sn.m, sn.T
FROM sa_subs s JOIN sa_snap sn ON s.start_at < sn.T AND sn.T <= s.end_at       -- rules 1 and 3
WHERE NOT (s.trial_end IS NOT NULL AND s.trial_start < sn.T AND sn.T <= s.trial_end)  -- rule 2
  AND NOT (s.inactive_from IS NOT NULL AND s.inactive_from < sn.T)                  -- rule 5
"""

# Products get small integer keys so the big tables carry no long strings.
_PRODUCTS_SQL = """
CREATE OR REPLACE TEMP TABLE sa_products AS
SELECT CAST(row_number() OVER (ORDER BY product) AS INTEGER) AS pk, product FROM (
    SELECT product FROM prices WHERE product IS NOT NULL
    UNION SELECT product FROM subscription_items WHERE product IS NOT NULL
    UNION SELECT product FROM invoice_line_items WHERE product IS NOT NULL)
"""
# Prices likewise (the price segment of metrics.md "Segments").
_PRICES_SQL = """
CREATE OR REPLACE TEMP TABLE sa_prices AS
SELECT CAST(row_number() OVER (ORDER BY price) AS INTEGER) AS prk, price FROM (
    SELECT id AS price FROM prices
    UNION SELECT price FROM subscription_items WHERE price IS NOT NULL
    UNION SELECT price FROM invoice_line_items WHERE price IS NOT NULL)
"""


# ---------------------------------------------------------------------------------------------
# Invoiced history: subscription lines (not prorations) of open / paid / uncollectible invoices,
# licensed prices only, amount before tax minus the line's discounts, normalised by the interval of
# the line's price. The interval comes from the price (any row), else the subscription item billed
# (when it still has that price), else the length of the line's period.
def _line_discount_sql(policy: DiscountPolicy) -> str | None:
    """Per line, the discount amount to remove under `forever_only` (metrics.md "Invoiced history
    first" and the discount policy): only `discount_amounts` whose coupon has duration `forever` (a
    discount whose coupon cannot be found counts as not forever). None under `all`: every
    `discount_amounts` entry is removed (the `discount_amount` column is their sum)."""
    if policy == DiscountPolicy.all:
        return None
    return """
    WITH amounts AS (
        SELECT l.id, d.amount,
               CASE WHEN json_type(d.discount) = 'VARCHAR' THEN json_extract_string(d.discount, '$')
                    ELSE json_extract_string(d.discount, '$.id') END AS discount_id,
               json_extract_string(d.discount, '$.source.coupon.duration') AS embedded_duration
        FROM (SELECT x.id, unnest(from_json(json_extract(x.raw, '$.discount_amounts'),
                                            '[{"amount": "BIGINT", "discount": "JSON"}]')) AS d
              FROM invoice_line_items x WHERE NOT x.deleted AND x.discount_amount <> 0) l(id, d)
    )
    SELECT a.id, sum(a.amount) AS removed
    FROM amounts a
    LEFT JOIN discounts dd ON dd.id = a.discount_id
    LEFT JOIN coupons c ON c.id = dd.coupon
    WHERE coalesce(c.duration, json_extract_string(dd.raw, '$.source.coupon.duration'),
                   a.embedded_duration) = 'forever'
    GROUP BY a.id
    """


# Taxes are never MRR: inclusive taxes are inside `amount` and are taken out (exclusive ones are not
# in `amount`). Only lines of invoices with tax are read from their raw JSON.
_LINE_TAX_SQL = """
    WITH taxed AS (
        SELECT x.id, x.raw FROM invoice_line_items x
        WHERE NOT x.deleted AND x.invoice IN (SELECT id FROM invoices WHERE coalesce(tax, 0) <> 0))
    SELECT id, sum(amount) AS tax FROM (
        SELECT id, t.amount FROM (
            SELECT id, unnest(from_json(json_extract(raw, '$.taxes'),
                                        '[{"amount": "BIGINT", "tax_behavior": "VARCHAR"}]')) AS t
            FROM taxed) WHERE t.tax_behavior = 'inclusive'
        UNION ALL
        SELECT id, t.amount FROM (
            SELECT id, unnest(from_json(json_extract(raw, '$.tax_amounts'),
                                        '[{"amount": "BIGINT", "inclusive": "BOOLEAN"}]')) AS t
            FROM taxed) WHERE t.inclusive
    ) GROUP BY id
"""


# The definition (interval, usage type, product) of every price id a line may name: the price's own
# row, else what the subscription items carrying that price say.
_PRICE_DEFS_SQL = """
CREATE OR REPLACE TEMP TABLE sa_price_defs AS
SELECT id AS price, interval, coalesce(interval_count, 1) AS interval_count,
       coalesce(usage_type, 'licensed') AS usage_type, product
FROM prices WHERE interval IS NOT NULL
UNION ALL
SELECT price, any_value(interval), coalesce(any_value(interval_count), 1), coalesce(any_value(usage_type), 'licensed'),
       any_value(product)
FROM subscription_items
WHERE price IS NOT NULL AND interval IS NOT NULL AND price NOT IN (SELECT id FROM prices WHERE interval IS NOT NULL)
GROUP BY price
"""


def _lines_sql(policy: DiscountPolicy, any_tax: bool, as_of_month: int | None) -> str:
    """sa_line_snap: the normalised MRR of every eligible invoice line at every snapshot its period
    covers (`period.start <= t < period.end`), keyed by subscription key and product key.

    Month m's snapshot ends at the start of month m + 1, so a period [ps, pe) covers the snapshots
    of months month(ps) .. month(pe) - 1; the as-of month's snapshot ends at the as-of instant A and
    is covered when ps < A <= pe."""
    forever = _line_discount_sql(policy)
    ctes, joins = [], []
    discount = "l.discount_amount"
    if forever is not None:
        ctes.append(f"fd AS ({forever})")
        joins.append("LEFT JOIN fd ON fd.id = l.id")
        discount = "coalesce(fd.removed, 0)"
    tax = "0"
    if any_tax:
        ctes.append(f"tax AS ({_LINE_TAX_SQL})")
        joins.append("LEFT JOIN tax ON tax.id = l.id")
        tax = "coalesce(tax.tax, 0)"
    line_id = "l.id, " if joins else ""
    base_filter = """NOT l.deleted AND l.is_subscription_line AND NOT coalesce(l.proration, false)
          AND l.period_start IS NOT NULL AND l.period_end > l.period_start AND l.amount IS NOT NULL
          AND l.period_start < (SELECT hi FROM bounds) AND l.period_end >= (SELECT lo FROM bounds)"""
    return f"""
CREATE OR REPLACE TEMP TABLE sa_line_snap AS
WITH bounds AS (SELECT min(T) AS lo, max(T) AS hi, max(m) AS last_m, min(m) AS first_m FROM sa_snap),
{"".join(c + "," for c in ctes)}
lines AS (
    SELECT {line_id}l.subscription, l.price, l.product, l.amount, coalesce(l.discount_amount, 0) AS discount_amount,
           l.period_start, l.period_end
    FROM invoice_line_items l
    WHERE {base_filter} AND l.subscription IS NOT NULL
      AND l.invoice IN (SELECT id FROM invoices WHERE NOT deleted AND status IN {_in(INVOICE_STATUSES)})
    UNION ALL   -- lines that name no subscription: the invoice's subscription
    SELECT {line_id}i.subscription, l.price, l.product, l.amount, coalesce(l.discount_amount, 0),
           l.period_start, l.period_end
    FROM invoice_line_items l JOIN invoices i ON i.id = l.invoice
    WHERE {base_filter} AND l.subscription IS NULL
      AND NOT i.deleted AND i.status IN {_in(INVOICE_STATUSES)}
),
priced AS (
    SELECT s.sk, pr.pk, prc.prk, l.period_start, l.period_end,
           l.amount - {discount} - {tax} AS net,
           CASE WHEN d.interval IS NOT NULL THEN d.interval
                WHEN date_diff('month', l.period_start, l.period_end) >= 1 THEN 'month'
                ELSE 'day' END AS interval,
           CASE WHEN d.interval IS NOT NULL THEN d.interval_count
                WHEN date_diff('month', l.period_start, l.period_end) >= 1
                    THEN date_diff('month', l.period_start, l.period_end)
                ELSE greatest(1, date_diff('day', l.period_start, l.period_end)) END AS interval_count,
           year(l.period_start) * 12 + month(l.period_start) - 1 AS m_start,
           year(l.period_end) * 12 + month(l.period_end) - 1 AS m_end
    FROM lines l
    JOIN sa_subs s ON s.subscription = l.subscription
    {" ".join(joins)}
    LEFT JOIN sa_price_defs d ON d.price = l.price
    LEFT JOIN sa_products pr ON pr.product = coalesce(l.product, d.product)
    LEFT JOIN sa_prices prc ON prc.price = l.price
    WHERE coalesce(d.usage_type, 'licensed') <> 'metered'
)
{_spans_sql(as_of_month)}"""


def _spans_sql(as_of_month: int | None) -> str:
    if as_of_month is None:
        return """
SELECT l.sk, sn.m, l.pk, l.prk, l.interval, sa_monthly(l.net, l.interval, l.interval_count) AS amount
FROM priced l JOIN sa_snap sn ON l.period_start < sn.T AND sn.T <= l.period_end
"""
    return f""",
spans AS (
    SELECT sk, pk, prk, interval, sa_monthly(net, interval, interval_count) AS amount,
           generate_series(greatest(m_start, (SELECT first_m FROM bounds)),
                           least(m_end - 1, {as_of_month} - 1)) AS months,
           period_start < (SELECT hi FROM bounds) AND (SELECT hi FROM bounds) <= period_end AS covers_as_of
    FROM priced
)
SELECT sk, CAST(unnest(months) AS INTEGER) AS m, pk, prk, interval, amount FROM spans
UNION ALL
SELECT sk, {as_of_month} AS m, pk, prk, interval, amount FROM spans WHERE covers_as_of
"""


# ---------------------------------------------------------------------------------------------
# Current items: licensed items not deleted; per billing interval unit_amount x quantity
# (transform_quantity applied), or the tiered amount of the quantity; normalised to a month.
_ITEMS_SQL = """
CREATE OR REPLACE TEMP TABLE sa_items AS
WITH embedded AS (   -- the item's embedded price, read only where the price table cannot help
    SELECT si.id,
           try_cast(json_extract_string(si.raw, '$.price.unit_amount_decimal') AS DOUBLE) AS unit_amount_decimal,
           json_extract(si.raw, '$.price.transform_quantity') AS transform
    FROM subscription_items si
    WHERE NOT si.deleted AND (si.price IS NULL OR si.price NOT IN (SELECT id FROM prices)
                              OR (si.unit_amount IS NULL AND coalesce(si.billing_scheme, '') <> 'tiered'))
),
i AS (
    SELECT si.id, si.subscription, si.price, coalesce(si.product, p.product) AS product,
           coalesce(si.quantity, 1) AS quantity,
           coalesce(si.billing_scheme, p.billing_scheme, 'per_unit') AS billing_scheme,
           coalesce(si.interval, p.interval) AS interval,
           coalesce(si.interval_count, p.interval_count, 1) AS interval_count,
           coalesce(si.usage_type, p.usage_type, 'licensed') AS usage_type,
           coalesce(si.unit_amount, p.unit_amount, e.unit_amount_decimal,
                    try_cast(json_extract_string(p.raw, '$.unit_amount_decimal') AS DOUBLE)) AS unit_amount,
           coalesce(json_extract(p.raw, '$.transform_quantity'), e.transform) AS transform
    FROM subscription_items si LEFT JOIN prices p ON p.id = si.price LEFT JOIN embedded e ON e.id = si.id
    WHERE NOT si.deleted
)
SELECT i.id AS item, s.sk, pr.pk, prc.prk, i.interval, i.interval_count,
       CASE WHEN i.billing_scheme = 'tiered' THEN ta.amount
            WHEN json_type(i.transform) = 'OBJECT' THEN i.unit_amount * (
                CASE json_extract_string(i.transform, '$.round')
                    WHEN 'up' THEN ceil(i.quantity / try_cast(json_extract_string(i.transform, '$.divide_by') AS DOUBLE))
                    ELSE floor(i.quantity / try_cast(json_extract_string(i.transform, '$.divide_by') AS DOUBLE)) END)
            ELSE i.unit_amount * i.quantity END AS amount
FROM i JOIN sa_subs s ON s.subscription = i.subscription
LEFT JOIN sa_tier_amounts ta ON ta.item = i.id
LEFT JOIN sa_products pr ON pr.product = i.product
LEFT JOIN sa_prices prc ON prc.price = i.price
WHERE i.usage_type <> 'metered' AND i.interval IS NOT NULL
"""

_TIERED_ITEMS_SQL = """
SELECT si.id, coalesce(si.quantity, 1) AS quantity,
       coalesce(p.tiers_mode, json_extract_string(si.raw, '$.price.tiers_mode')) AS tiers_mode,
       coalesce(CAST(p.tiers AS VARCHAR), CAST(json_extract(si.raw, '$.price.tiers') AS VARCHAR)) AS tiers
FROM subscription_items si LEFT JOIN prices p ON p.id = si.price
WHERE NOT si.deleted AND coalesce(si.billing_scheme, p.billing_scheme) = 'tiered'
"""


def tiered_amount(tiers: Sequence[dict], mode: str | None, quantity: int) -> float | None:
    """metrics.md "for tiered prices the amount of that quantity under tiers_mode volume or
    graduated, flat amounts included". `volume`: the tier containing the quantity prices every unit
    (plus its flat amount); `graduated`: each tier prices the units that fall in it (plus the flat
    amount of every tier reached). A quantity of 0 costs 0. None when the tiers are unknown."""
    if not tiers or quantity is None:
        return None
    quantity = int(quantity)
    if quantity <= 0:
        return 0.0

    def unit(tier: dict) -> float:
        if tier.get("unit_amount") is not None:
            return float(tier["unit_amount"])
        return float(tier.get("unit_amount_decimal") or 0)

    def flat(tier: dict) -> float:
        if tier.get("flat_amount") is not None:
            return float(tier["flat_amount"])
        return float(tier.get("flat_amount_decimal") or 0)

    ordered = sorted(tiers, key=lambda t: math.inf if t.get("up_to") in (None, "inf") else int(t["up_to"]))
    if mode == "volume":
        for tier in ordered:
            up_to = tier.get("up_to")
            if up_to in (None, "inf") or quantity <= int(up_to):
                return unit(tier) * quantity + flat(tier)
        return None
    total, lower = 0.0, 0
    for tier in ordered:
        up_to = tier.get("up_to")
        upper = math.inf if up_to in (None, "inf") else int(up_to)
        if quantity <= lower:
            break
        units = min(quantity, upper) - lower
        total += unit(tier) * units + flat(tier)
        lower = upper
    return total


def _tier_amounts(src: Sources) -> pa.Table:
    rows = src.con.execute(_TIERED_ITEMS_SQL).fetchall()
    items, amounts = [], []
    for item_id, quantity, mode, tiers in rows:
        items.append(item_id)
        amounts.append(tiered_amount(json.loads(tiers) if tiers else None, mode, quantity))
    return pa.table({"item": pa.array(items, pa.string()), "amount": pa.array(amounts, pa.float64())})


# ---------------------------------------------------------------------------------------------
# Discounts in effect at t on current items: `start <= t` and (`end` null or `end > t`),
# subscription-level (no subscription_item) and item-level (subscription_item set, or listed in
# the item's `discounts`). percent_off reduces by that share; amount_off (in the subscription's
# currency, else the coupon's currency_options) is removed once per billing interval, normalised
# like the items. Order: item discounts, then subscription discounts; at each level all percentages
# multiply first, then amounts are removed; nothing goes below 0.
def _discounts_sql(policy: DiscountPolicy) -> str:
    forever = "AND duration = 'forever'" if policy == DiscountPolicy.forever_only else ""
    return f"""
CREATE OR REPLACE TEMP TABLE sa_discounts AS
WITH listed AS (   -- item discounts listed on the item, as ids or expanded objects
    SELECT si.id AS item, si.subscription, d AS entry
    FROM (SELECT id, subscription, unnest(from_json(discounts, '["JSON"]')) AS d
          FROM subscription_items WHERE NOT deleted AND json_array_length(discounts) > 0) si
),
listed_objects AS (
    SELECT item, subscription, json_extract_string(entry, '$.id') AS id,
           to_timestamp(try_cast(json_extract_string(entry, '$.start') AS BIGINT)) AS "start",
           to_timestamp(try_cast(json_extract_string(entry, '$.end') AS BIGINT)) AS "end",
           coalesce(json_extract_string(entry, '$.source.coupon.id'),
                    json_extract_string(entry, '$.source.coupon'), json_extract_string(entry, '$.coupon.id'),
                    json_extract_string(entry, '$.coupon')) AS coupon,
           json_extract(entry, '$.source.coupon') AS coupon_json
    FROM listed WHERE json_type(entry) = 'OBJECT'
),
listed_ids AS (
    SELECT l.item, l.subscription, d.id, d.start, d."end", d.coupon, json_extract(d.raw, '$.source.coupon') AS coupon_json
    FROM listed l JOIN discounts d ON d.id = json_extract_string(l.entry, '$') AND NOT d.deleted
    WHERE json_type(l.entry) = 'VARCHAR'
),
table_rows AS (
    SELECT subscription_item AS item, subscription, id, start, "end", coupon,
           json_extract(raw, '$.source.coupon') AS coupon_json
    FROM discounts WHERE NOT deleted AND subscription IS NOT NULL
),
alld AS (
    SELECT DISTINCT ON (coalesce(id, item || coupon), item) * FROM (
        SELECT * FROM table_rows UNION ALL SELECT * FROM listed_ids UNION ALL SELECT * FROM listed_objects)
),
resolved AS (
    SELECT d.item, d.subscription, d.start, d."end",
           coalesce(c.percent_off, try_cast(json_extract_string(d.coupon_json, '$.percent_off') AS DOUBLE)) AS percent_off,
           coalesce(c.amount_off, try_cast(json_extract_string(d.coupon_json, '$.amount_off') AS BIGINT)) AS amount_off,
           lower(coalesce(c.currency, json_extract_string(d.coupon_json, '$.currency'))) AS coupon_currency,
           coalesce(c.raw, d.coupon_json) AS coupon_raw,
           coalesce(c.duration, json_extract_string(d.coupon_json, '$.duration')) AS duration
    FROM alld d LEFT JOIN coupons c ON c.id = d.coupon
)
SELECT r.item, s.sk, coalesce(r.start, '-infinity'::TIMESTAMPTZ) AS start,
       coalesce(r."end", 'infinity'::TIMESTAMPTZ) AS "end", r.percent_off,
       CASE WHEN r.amount_off IS NULL THEN NULL
            WHEN r.coupon_currency IS NULL OR r.coupon_currency = s.currency THEN r.amount_off
            ELSE try_cast(json_extract_string(r.coupon_raw, '$.currency_options.' || s.currency || '.amount_off')
                          AS BIGINT) END AS amount_off
FROM resolved r JOIN sa_subs s ON s.subscription = r.subscription
WHERE (r.percent_off IS NOT NULL OR r.amount_off IS NOT NULL) {forever}
"""


_FALLBACK_SQL = """
CREATE OR REPLACE TEMP TABLE sa_fallback AS
WITH need AS (      -- eligible (subscription, snapshot) pairs no invoice line covers
    SELECT ss.* FROM sa_sub_snap ss ANTI JOIN sa_line_snap c ON c.sk = ss.sk AND c.m = ss.m
),
item_rows AS (
    SELECT n.sk, n.ck, n.currency, n.m, n.T, i.item, i.pk, i.prk, i.interval,
           i.interval_count, coalesce(i.amount, 0) AS raw_amount,
           coalesce(sa_monthly(i.amount, i.interval, i.interval_count), 0) AS norm_amount
    FROM need n JOIN sa_items i ON i.sk = n.sk
),
item_disc AS (
    SELECT r.sk, r.m, r.item,
           product(1 - coalesce(d.percent_off, 0) / 100.0) AS keep,
           sum(coalesce(sa_monthly(d.amount_off, r.interval, r.interval_count), 0)) AS off
    FROM item_rows r JOIN sa_discounts d ON d.item = r.item AND d.start < r.T AND r.T <= d."end"
    GROUP BY ALL
),
after_items AS (
    SELECT r.*, CASE WHEN d.item IS NULL THEN r.norm_amount
                     ELSE greatest(0, r.norm_amount * d.keep - d.off) END AS amount
    FROM item_rows r LEFT JOIN item_disc d ON d.sk = r.sk AND d.m = r.m AND d.item = r.item
),
sub_totals AS (
    SELECT sk, m, any_value(T) AS T, sum(amount) AS total, sum(norm_amount) AS norm_total,
           sum(raw_amount) AS raw_total
    FROM after_items GROUP BY sk, m
),
sub_disc AS (
    SELECT t.sk, t.m,
           product(1 - coalesce(d.percent_off, 0) / 100.0) AS keep,
           -- amount_off is per billing interval: normalised with the items' own interval mix
           sum(coalesce(d.amount_off, 0) * CASE WHEN t.raw_total > 0 THEN t.norm_total / t.raw_total ELSE 0 END) AS off
    FROM sub_totals t JOIN sa_discounts d ON d.item IS NULL AND d.sk = t.sk
        AND d.start < t.T AND t.T <= d."end"
    GROUP BY ALL
),
factor AS (
    SELECT t.sk, t.m,
           CASE WHEN d.sk IS NULL THEN 1.0
                WHEN t.total <= 0 THEN 0.0
                ELSE greatest(0, t.total * d.keep - d.off) / t.total END AS f
    FROM sub_totals t LEFT JOIN sub_disc d ON d.sk = t.sk AND d.m = t.m
)
SELECT a.sk, a.ck, a.currency, a.m, a.pk, a.prk, a.interval, a.amount * f.f AS amount
FROM after_items a JOIN factor f ON f.sk = a.sk AND f.m = a.m
"""

_COMPONENTS_SQL = """
SELECT l.sk AS sub_key, ss.ck AS customer_key, ss.currency, l.m, l.pk AS product_key, l.interval, l.amount,
       'invoice' AS source, l.prk AS price_key
FROM sa_line_snap l JOIN sa_sub_snap ss ON ss.sk = l.sk AND ss.m = l.m
UNION ALL
SELECT sk, ck, currency, m, pk, interval, amount, 'items' AS source, prk AS price_key FROM sa_fallback
"""


@dataclass
class Components:
    """MRR pieces and the dictionaries of their integer keys.

    `table` (Arrow): sub_key, customer_key, currency (lower case), m (snapshot key), product_key,
    interval, amount (monthly MRR in minor units, unrounded), source ('invoice' | 'items'), price_key.
    `subscriptions`: sub_key, subscription, customer_key; `customers`: customer_key, customer;
    `products`: product_key, product; `prices`: price_key, price (keys follow the ids' order)."""

    table: pa.Table
    subscriptions: pa.Table
    customers: pa.Table
    products: pa.Table
    prices: pa.Table | None = None

    def product_keys(self, product_ids: Iterable[str]) -> list[int]:
        wanted = set(product_ids)
        return [k for k, p in zip(self.products["product_key"].to_pylist(), self.products["product"].to_pylist())
                if p in wanted]

    def customer_keys(self, customer_ids: Iterable[str]) -> list[int]:
        wanted = set(customer_ids)
        return [k for k, c in zip(self.customers["customer_key"].to_pylist(), self.customers["customer"].to_pylist())
                if c in wanted]

    def frame(self) -> pd.DataFrame:
        """The components with subscription, customer and product ids (for inspection)."""
        return query("""
            SELECT s.subscription, cu.customer, c.currency, c.m, p.product, c.interval, c.amount, c.source
            FROM comps c JOIN subs s ON s.sub_key = c.sub_key JOIN custs cu ON cu.customer_key = c.customer_key
            LEFT JOIN prods p ON p.product_key = c.product_key
            ORDER BY c.m, s.subscription""", comps=self.table, subs=self.subscriptions, custs=self.customers,
                     prods=self.products)


def mrr_components(src: Sources, snapshots: pa.Table,
                   policy: DiscountPolicy | str = DiscountPolicy.all, month_snapshots: bool = False) -> Components:
    """MRR pieces of every subscription at every snapshot (metrics.md "MRR of one subscription at
    instant t"): one row per (subscription, snapshot, product, price interval) piece, in the
    subscription's currency, normalised to a month, in unrounded minor units (see `Components`).

    `snapshots` has columns m (int32) and T (timestamptz): T is the *exclusive* end of the instant
    (the snapshot is the last moment before T). `month_snapshots=True` declares that the snapshots
    are a `load.Calendar`'s (m = month index, T = start of month m + 1, the last one the as-of
    instant), which lets invoice periods be matched to months arithmetically. Subscriptions not
    contributing have no rows. The per-subscription floor at 0 is applied by `subscription_mrr_at`
    / `snapshots.mrr_snapshots`."""
    policy = DiscountPolicy(policy)
    con = src.con
    con.execute(NORMALISE_MACRO)
    con.register("sa_snap_in", snapshots)
    con.execute("CREATE OR REPLACE TEMP TABLE sa_snap AS SELECT m::INTEGER AS m, T::TIMESTAMPTZ AS T FROM sa_snap_in")
    con.unregister("sa_snap_in")
    try:
        con.execute(_subscriptions_sql(con.execute(_OLD_PERIODS_NEEDED).fetchone()[0] > 0))
        con.execute(_PRODUCTS_SQL)
        con.execute(_PRICES_SQL)
        con.execute(_SUB_SNAPSHOTS_SQL)
        any_tax = con.execute("SELECT count(*) FROM invoices WHERE NOT deleted AND coalesce(tax, 0) <> 0"
                              ).fetchone()[0] > 0
        con.execute(_PRICE_DEFS_SQL)
        last_m = con.execute("SELECT max(m) FROM sa_snap").fetchone()[0] if month_snapshots else None
        con.execute(_lines_sql(policy, any_tax, last_m))
        con.register("sa_tier_amounts", _tier_amounts(src))
        con.execute(_ITEMS_SQL)
        con.unregister("sa_tier_amounts")
        con.execute(_discounts_sql(policy))
        con.execute(_FALLBACK_SQL)
        table = con.sql(_COMPONENTS_SQL).to_arrow_table().cast(COMPONENT_SCHEMA)
        subscriptions = con.sql("SELECT sk AS sub_key, subscription, ck AS customer_key FROM sa_subs ORDER BY sk"
                                ).to_arrow_table()
        customers = con.sql("SELECT DISTINCT ck AS customer_key, customer FROM sa_subs ORDER BY ck").to_arrow_table()
        products = con.sql("SELECT pk AS product_key, product FROM sa_products ORDER BY pk").to_arrow_table()
        prices = con.sql("SELECT prk AS price_key, price FROM sa_prices ORDER BY prk").to_arrow_table()
    finally:
        for name in ("sa_line_snap", "sa_price_defs", "sa_items", "sa_discounts", "sa_fallback", "sa_sub_snap", "sa_subs",
                     "sa_products", "sa_prices", "sa_snap"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return Components(table, subscriptions, customers, products, prices)


def subscription_mrr_at(src: Sources, instants: Sequence[datetime],
                        policy: DiscountPolicy | str = DiscountPolicy.all) -> pd.DataFrame:
    """MRR of every contributing subscription at each given instant (metrics.md "MRR of one
    subscription at instant t"; never below 0).

    Returns a DataFrame with columns: instant (the given datetime), subscription, customer,
    currency, mrr (monthly, minor units, unrounded float), source ('invoice' when invoiced
    history priced it, 'items' when the current items did). Subscriptions contributing nothing
    are left out."""
    ends = [t + timedelta(microseconds=1) for t in instants]
    snaps = pa.table({"m": pa.array(range(len(ends)), pa.int32()),
                      "T": pa.array(ends, pa.timestamp("us", tz="UTC"))})
    comps = mrr_components(src, snaps, policy)
    frame = query("""
        SELECT c.m, s.subscription, cu.customer, any_value(c.currency) AS currency,
               greatest(0, sum(c.amount)) AS mrr, min(c.source) AS source
        FROM comps c JOIN subs s ON s.sub_key = c.sub_key JOIN custs cu ON cu.customer_key = c.customer_key
        GROUP BY c.m, s.subscription, cu.customer HAVING greatest(0, sum(c.amount)) > 0
        ORDER BY c.m, s.subscription""", comps=comps.table, subs=comps.subscriptions, custs=comps.customers)
    frame.insert(0, "instant", [instants[i] for i in frame.pop("m")])
    return frame
