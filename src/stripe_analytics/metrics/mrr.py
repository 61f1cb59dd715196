"""MRR of one subscription at an instant (metrics.md "MRR of one subscription at instant t").

Everything per line / per subscription runs as DuckDB SQL on the cache connection; the result is a
table of *components*: one row per (subscription, snapshot, product, price interval) piece of MRR,
in the subscription's currency, normalised to a month, in (fractional) minor units. Filters by
product or interval select components; `snapshots.mrr_snapshots` then applies the "never below 0"
rule per subscription and sums to customers. Each rule of the contract is written once, here:

- eligibility of a subscription at t (rules 1-5)                      -> `_SUB_SNAPSHOTS_SQL`
- invoiced history first (subscription lines, no prorations, statuses) -> `_LINES_SQL`
- otherwise current items (unit x quantity, tiers, metered excluded)  -> `_ITEMS_SQL`, `tiered_amount`
- discounts in effect at t, policies `all` / `forever_only`          -> `_discounts_sql`, `_line_discount_sql`
- normalisation to a month                                            -> `NORMALISE_MACRO`
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa

from .filters import DiscountPolicy
from ._sql import query
from .load import Sources

# metrics.md "Normalising an amount billed every interval_count intervals to one month".
NORMALISE_MACRO = """
CREATE OR REPLACE TEMP MACRO sa_monthly(a, unit, n) AS CASE unit
    WHEN 'month' THEN CAST(a AS DOUBLE) / n
    WHEN 'year' THEN CAST(a AS DOUBLE) / (12.0 * n)
    WHEN 'week' THEN CAST(a AS DOUBLE) * 52.0 / (12.0 * n)
    WHEN 'day' THEN CAST(a AS DOUBLE) * 365.0 / (12.0 * n)
END
"""

# Statuses whose invoices count as invoiced history (metrics.md "Invoiced history first").
INVOICE_STATUSES = ("open", "paid", "uncollectible")
# metrics.md rule 4: never activated.
NEVER_ACTIVE = ("incomplete", "incomplete_expired")
# metrics.md rule 5.
INACTIVE_NOW = ("unpaid", "paused")

COMPONENT_SCHEMA = pa.schema([
    ("subscription", pa.string()), ("customer", pa.string()), ("currency", pa.string()),
    ("m", pa.int32()), ("product", pa.string()), ("interval", pa.string()),
    ("amount", pa.float64()), ("source", pa.string()),
])


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# ---------------------------------------------------------------------------------------------
# Rules 1-5: which subscriptions contribute at each snapshot.
# `inactive_from` (rule 5): for a subscription now unpaid or paused (status `paused`, or payment
# collection paused with `pause_collection`), the moment it stops contributing: when the project's
# own history shows the status began (the first recorded row of the latest unpaid/paused run, if an
# earlier row shows another status), else the start of its current period.
_SUBSCRIPTIONS_SQL = f"""
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
old_periods AS (   -- older API versions kept current_period_start on the subscription itself
    SELECT id, to_timestamp(try_cast(json_extract_string(raw, '$.current_period_start') AS BIGINT)) AS cps
    FROM subscriptions
    WHERE NOT deleted AND (status IN {_in(INACTIVE_NOW)} OR pause_collection IS NOT NULL)
      AND id NOT IN (SELECT subscription FROM periods WHERE cps IS NOT NULL)
)
SELECT s.id AS subscription, s.customer, lower(s.currency) AS currency, s.start_at,
       coalesce(s.ended_at, 'infinity'::TIMESTAMPTZ) AS end_at,
       coalesce(s.trial_start, s.start_at) AS trial_start, s.trial_end,
       CASE WHEN s.status_inactive OR s.collection_paused THEN coalesce(
           CASE WHEN s.status_inactive THEN b.began END, p.cps, o.cps, s.start_at) END AS inactive_from
FROM subs s LEFT JOIN periods p ON p.subscription = s.id LEFT JOIN began b ON b.subscription = s.id
LEFT JOIN old_periods o ON o.id = s.id
"""

_SUB_SNAPSHOTS_SQL = """
CREATE OR REPLACE TEMP TABLE sa_sub_snap AS
SELECT s.subscription, s.customer, s.currency, sn.m, sn.T
FROM sa_subs s JOIN sa_snap sn ON s.start_at < sn.T AND sn.T <= s.end_at       -- rules 1 and 3
WHERE NOT (s.trial_end IS NOT NULL AND s.trial_start < sn.T AND sn.T <= s.trial_end)  -- rule 2
  AND NOT (s.inactive_from IS NOT NULL AND s.inactive_from < sn.T)                  -- rule 5
"""


# ---------------------------------------------------------------------------------------------
# Invoiced history: subscription lines (not prorations) of open / paid / uncollectible invoices,
# licensed prices only, amount before tax minus the line's discounts, normalised by the interval of
# the line's price. The interval comes from the price (any row), else the subscription item billed
# (when it still has that price), else the length of the line's period.
def _line_discount_sql(policy: DiscountPolicy) -> str:
    """Per line, the discount amount to remove (metrics.md "Invoiced history first" and the
    discount policy): all `discount_amounts`, or under `forever_only` only those whose coupon has
    duration `forever` (a discount whose coupon cannot be found counts as not forever)."""
    if policy == DiscountPolicy.all:
        return "SELECT NULL::VARCHAR AS id, NULL::BIGINT AS removed WHERE false"
    return """
    WITH amounts AS (
        SELECT l.id, d.amount,
               CASE WHEN json_type(d.discount) = 'VARCHAR' THEN json_extract_string(d.discount, '$')
                    ELSE json_extract_string(d.discount, '$.id') END AS discount_id,
               json_extract_string(d.discount, '$.source.coupon.duration') AS embedded_duration
        FROM (SELECT x.id, unnest(from_json(json_extract(x.raw, '$.discount_amounts'),
                                            '[{"amount": "BIGINT", "discount": "JSON"}]')) AS d
              FROM invoice_line_items x SEMI JOIN sa_lines_raw r ON r.id = x.id AND r.discount_amount <> 0) l(id, d)
    )
    SELECT a.id, sum(a.amount) AS removed
    FROM amounts a
    LEFT JOIN discounts dd ON dd.id = a.discount_id
    LEFT JOIN coupons c ON c.id = dd.coupon
    WHERE coalesce(c.duration, json_extract_string(dd.raw, '$.source.coupon.duration'),
                   a.embedded_duration) = 'forever'
    GROUP BY a.id
    """


_LINES_RAW_SQL = f"""
CREATE OR REPLACE TEMP TABLE sa_lines_raw AS
WITH inv AS (
    SELECT id, subscription, coalesce(tax, 0) <> 0 AS taxed FROM invoices
    WHERE NOT deleted AND status IN {_in(INVOICE_STATUSES)}
)
SELECT l.id, coalesce(l.subscription, inv.subscription) AS subscription, l.subscription_item,
       l.price, l.product, l.amount, coalesce(l.discount_amount, 0) AS discount_amount,
       l.period_start, l.period_end, inv.taxed
FROM invoice_line_items l JOIN inv ON inv.id = l.invoice
WHERE NOT l.deleted AND l.is_subscription_line AND NOT coalesce(l.proration, false)
  AND l.period_start IS NOT NULL AND l.period_end > l.period_start AND l.amount IS NOT NULL
  AND l.period_start < (SELECT max(T) FROM sa_snap) AND l.period_end >= (SELECT min(T) FROM sa_snap)
"""

# Taxes are never MRR: inclusive taxes are inside `amount` and are taken out (exclusive ones are not
# in `amount`). Only lines of invoices with tax are read from their raw JSON.
_LINE_TAX_SQL = """
SELECT id, sum(amount) AS tax FROM (
    SELECT id, t.amount FROM (
        SELECT x.id, unnest(from_json(json_extract(x.raw, '$.taxes'),
                                      '[{"amount": "BIGINT", "tax_behavior": "VARCHAR"}]')) AS t
        FROM invoice_line_items x SEMI JOIN sa_lines_raw r ON r.id = x.id AND r.taxed) WHERE t.tax_behavior = 'inclusive'
    UNION ALL
    SELECT id, t.amount FROM (
        SELECT x.id, unnest(from_json(json_extract(x.raw, '$.tax_amounts'),
                                      '[{"amount": "BIGINT", "inclusive": "BOOLEAN"}]')) AS t
        FROM invoice_line_items x SEMI JOIN sa_lines_raw r ON r.id = x.id AND r.taxed) WHERE t.inclusive
) GROUP BY id
"""


def _lines_sql(policy: DiscountPolicy) -> str:
    discount = "l.discount_amount" if policy == DiscountPolicy.all else "coalesce(fd.removed, 0)"
    return f"""
CREATE OR REPLACE TEMP TABLE sa_lines AS
WITH fd AS ({_line_discount_sql(policy)}),
tax AS ({_LINE_TAX_SQL}),
defs AS (
    SELECT l.id,
           CASE WHEN p.interval IS NOT NULL THEN p.interval
                WHEN si.interval IS NOT NULL AND (l.price IS NULL OR si.price = l.price) THEN si.interval
                WHEN date_diff('month', l.period_start, l.period_end) >= 1 THEN 'month'
                ELSE 'day' END AS interval,
           CASE WHEN p.interval IS NOT NULL THEN coalesce(p.interval_count, 1)
                WHEN si.interval IS NOT NULL AND (l.price IS NULL OR si.price = l.price)
                    THEN coalesce(si.interval_count, 1)
                WHEN date_diff('month', l.period_start, l.period_end) >= 1
                    THEN date_diff('month', l.period_start, l.period_end)
                ELSE greatest(1, date_diff('day', l.period_start, l.period_end)) END AS interval_count,
           coalesce(p.usage_type, si.usage_type, 'licensed') AS usage_type,
           coalesce(l.product, p.product, si.product) AS product
    FROM sa_lines_raw l
    LEFT JOIN prices p ON p.id = l.price
    LEFT JOIN subscription_items si ON si.id = l.subscription_item
)
SELECT l.id, l.subscription, d.product, d.interval, l.period_start, l.period_end,
       sa_monthly(l.amount - {discount} - coalesce(tax.tax, 0), d.interval, d.interval_count) AS amount
FROM sa_lines_raw l JOIN defs d ON d.id = l.id
LEFT JOIN fd ON fd.id = l.id
LEFT JOIN tax ON tax.id = l.id
WHERE d.usage_type <> 'metered' AND l.subscription IS NOT NULL
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
SELECT i.id AS item, i.subscription, i.product, i.interval, i.interval_count,
       CASE WHEN i.billing_scheme = 'tiered' THEN ta.amount
            WHEN json_type(i.transform) = 'OBJECT' THEN i.unit_amount * (
                CASE json_extract_string(i.transform, '$.round')
                    WHEN 'up' THEN ceil(i.quantity / try_cast(json_extract_string(i.transform, '$.divide_by') AS DOUBLE))
                    ELSE floor(i.quantity / try_cast(json_extract_string(i.transform, '$.divide_by') AS DOUBLE)) END)
            ELSE i.unit_amount * i.quantity END AS amount
FROM i LEFT JOIN sa_tier_amounts ta ON ta.item = i.id
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
SELECT r.item, r.subscription, coalesce(r.start, '-infinity'::TIMESTAMPTZ) AS start,
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
    SELECT ss.* FROM sa_sub_snap ss ANTI JOIN sa_line_cov c ON c.subscription = ss.subscription AND c.m = ss.m
),
item_rows AS (
    SELECT n.subscription, n.customer, n.currency, n.m, n.T, i.item, i.product, i.interval,
           i.interval_count, coalesce(i.amount, 0) AS raw_amount,
           coalesce(sa_monthly(i.amount, i.interval, i.interval_count), 0) AS norm_amount
    FROM need n JOIN sa_items i ON i.subscription = n.subscription
),
item_disc AS (
    SELECT r.subscription, r.m, r.item,
           product(1 - coalesce(d.percent_off, 0) / 100.0) AS keep,
           sum(coalesce(sa_monthly(d.amount_off, r.interval, r.interval_count), 0)) AS off
    FROM item_rows r JOIN sa_discounts d ON d.item = r.item AND d.start < r.T AND r.T <= d."end"
    GROUP BY ALL
),
after_items AS (
    SELECT r.*, CASE WHEN d.item IS NULL THEN r.norm_amount
                     ELSE greatest(0, r.norm_amount * d.keep - d.off) END AS amount
    FROM item_rows r LEFT JOIN item_disc d ON d.subscription = r.subscription AND d.m = r.m AND d.item = r.item
),
sub_totals AS (
    SELECT subscription, m, any_value(T) AS T, sum(amount) AS total, sum(norm_amount) AS norm_total,
           sum(raw_amount) AS raw_total
    FROM after_items GROUP BY subscription, m
),
sub_disc AS (
    SELECT t.subscription, t.m,
           product(1 - coalesce(d.percent_off, 0) / 100.0) AS keep,
           -- amount_off is per billing interval: normalised with the items' own interval mix
           sum(coalesce(d.amount_off, 0) * CASE WHEN t.raw_total > 0 THEN t.norm_total / t.raw_total ELSE 0 END) AS off
    FROM sub_totals t JOIN sa_discounts d ON d.item IS NULL AND d.subscription = t.subscription
        AND d.start < t.T AND t.T <= d."end"
    GROUP BY ALL
),
factor AS (
    SELECT t.subscription, t.m,
           CASE WHEN d.subscription IS NULL THEN 1.0
                WHEN t.total <= 0 THEN 0.0
                ELSE greatest(0, t.total * d.keep - d.off) / t.total END AS f
    FROM sub_totals t LEFT JOIN sub_disc d ON d.subscription = t.subscription AND d.m = t.m
)
SELECT a.subscription, a.customer, a.currency, a.m, a.product, a.interval, a.amount * f.f AS amount
FROM after_items a JOIN factor f ON f.subscription = a.subscription AND f.m = a.m
"""

_COMPONENTS_SQL = """
SELECT ss.subscription, ss.customer, ss.currency, ss.m, l.product, l.interval, l.amount, 'invoice' AS source
FROM sa_line_snap l JOIN sa_sub_snap ss ON ss.subscription = l.subscription AND ss.m = l.m
UNION ALL
SELECT subscription, customer, currency, m, product, interval, amount, 'items' AS source FROM sa_fallback
"""


def mrr_components(src: Sources, snapshots: pa.Table, policy: DiscountPolicy | str = DiscountPolicy.all,
                   keep_temp: bool = False) -> pa.Table:
    """MRR pieces of every subscription at every snapshot (metrics.md "MRR of one subscription at
    instant t"), as an Arrow table with columns

        subscription, customer, currency (lower case), m (snapshot key, int), product, interval,
        amount (monthly MRR in minor units, unrounded, may be fractional), source ('invoice'|'items')

    `snapshots` has columns m (int32) and T (timestamptz): T is the *exclusive* end of the instant
    (the snapshot is the last moment before T). Subscriptions not contributing have no rows. The
    per-subscription floor at 0 is applied by `subscription_mrr` / `mrr_snapshots`."""
    policy = DiscountPolicy(policy)
    con = src.con
    con.execute(NORMALISE_MACRO)
    con.register("sa_snap_in", snapshots)
    con.execute("CREATE OR REPLACE TEMP TABLE sa_snap AS SELECT m::INTEGER AS m, T::TIMESTAMPTZ AS T FROM sa_snap_in")
    con.unregister("sa_snap_in")
    if not len(snapshots):
        return COMPONENT_SCHEMA.empty_table()
    con.execute(_SUBSCRIPTIONS_SQL)
    con.execute(_SUB_SNAPSHOTS_SQL)
    con.execute(_LINES_RAW_SQL)
    con.execute(_lines_sql(policy))
    con.execute("""CREATE OR REPLACE TEMP TABLE sa_line_snap AS
        SELECT l.subscription, sn.m, l.product, l.interval, l.amount
        FROM sa_lines l JOIN sa_snap sn ON l.period_start < sn.T AND sn.T <= l.period_end""")
    con.execute("CREATE OR REPLACE TEMP TABLE sa_line_cov AS SELECT DISTINCT subscription, m FROM sa_line_snap")
    con.register("sa_tier_amounts", _tier_amounts(src))
    con.execute(_ITEMS_SQL)
    con.unregister("sa_tier_amounts")
    con.execute(_discounts_sql(policy))
    con.execute(_FALLBACK_SQL)
    table = con.sql(_COMPONENTS_SQL).to_arrow_table().cast(COMPONENT_SCHEMA)
    if not keep_temp:
        for name in ("sa_lines_raw", "sa_lines", "sa_line_snap", "sa_line_cov", "sa_items", "sa_discounts",
                     "sa_fallback", "sa_sub_snap", "sa_subs", "sa_snap"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return table


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
        SELECT m, subscription, any_value(customer) AS customer, any_value(currency) AS currency,
               greatest(0, sum(amount)) AS mrr, min(source) AS source
        FROM comps GROUP BY m, subscription HAVING greatest(0, sum(amount)) > 0
        ORDER BY m, subscription""", comps=comps)
    frame.insert(0, "instant", [instants[i] for i in frame.pop("m")])
    return frame


