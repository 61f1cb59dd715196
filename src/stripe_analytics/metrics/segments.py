"""Segments: MRR, movements and churn per plan, price, billing interval, country or metadata value
(metrics.md "Segments").

A segment dimension gives every customer with MRR > 0 at a month's snapshot one value:

- `plan` / `price` / `interval` (month by month): the product, price or billing interval that
  brings the largest part of the customer's MRR in that currency at that snapshot (the sum of its
  MRR components over all its subscriptions); a tie goes to the smallest id;
- `country` and `metadata:<key>` (one value per customer, today's): the customer's country
  (address, else card) or metadata value.

Gains (new, reactivation, expansion) belong to the customer's segment *after* the movement (at
M); losses (contraction, churn) to its segment *before* it (at P). A customer whose segment
changes between P and M while keeping MRR > 0 moves min(P, M) out of the old segment and into
the new one (`moved_out_mrr` / `moved_in_mrr`), so per segment
MRR(M) = MRR(P) + net new MRR + moved in - moved out, and over all segments the movements add
up to the account's.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._sql import query
from .monthly import MOVEMENT_SUMS_SQL, movement_rates
from .snapshots import MONTH_LABEL_SQL

PLAN_DIMENSIONS = ("plan", "price", "interval")
CUSTOMER_DIMENSIONS = ("country",)
METADATA_PREFIX = "metadata:"
NO_SEGMENT = "(none)"  # a customer without a value in the dimension (no country, metadata key unset)

# The component column each month-by-month dimension reads, and its id dictionary.
_PLAN_COLUMNS = {"plan": ("product_key", "products", "product"), "price": ("price_key", "prices", "price"),
                 "interval": ("interval", None, None)}


def parse_dimension(text: str) -> str:
    """A dimension name as the CLI and the URL write it: plan, price, interval, country or
    metadata:<key>. Raises ValueError with the choices otherwise."""
    value = (text or "").strip()
    if value in PLAN_DIMENSIONS or value in CUSTOMER_DIMENSIONS:
        return value
    if value.startswith(METADATA_PREFIX) and value[len(METADATA_PREFIX):].strip():
        return value
    raise ValueError(f"{text!r} is not a segment: use plan, price, interval, country or metadata:<key>")


def plan_segments(components, dimension: str) -> pa.Table:
    """Each customer's plan, price or billing interval per currency and month snapshot, from the MRR
    components (`mrr.Components`): the value bringing the largest part of the customer's MRR (its
    components summed over its subscriptions), ties to the smallest id (metrics.md "Segments").

    Returns columns: currency, customer_key, m, segment (the product / price id or the interval;
    NO_SEGMENT when the MRR names none)."""
    column, dictionary, id_column = _PLAN_COLUMNS[dimension]
    tables = {"comps": components.table}
    value, join = "t.value", ""
    if dictionary is not None:
        tables["ids"] = getattr(components, dictionary)
        value, join = f"ids.{id_column}", f"LEFT JOIN ids ON ids.{column} = t.value"
    return query(f"""
        WITH v AS (SELECT currency, customer_key, m, {column} AS value, sum(amount) AS amount
                   FROM comps GROUP BY ALL),
        top AS (SELECT currency, customer_key, m,
                       first(value ORDER BY amount DESC, value ASC NULLS LAST) AS value
                FROM v GROUP BY ALL)
        SELECT t.currency, t.customer_key, CAST(t.m AS INTEGER) AS m, coalesce({value}, '{NO_SEGMENT}') AS segment
        FROM top t {join}""", arrow=True, **tables)


def customer_segments(values: pd.DataFrame, customers: pa.Table) -> pa.Table:
    """A value per customer (`values`: customer, segment) keyed like the MRR components
    (`customers`: customer_key, customer). Returns columns: customer_key, segment."""
    return query(f"""SELECT k.customer_key, coalesce(v.segment, '{NO_SEGMENT}') AS segment
                     FROM keys k LEFT JOIN vals v ON v.customer = k.customer""",
                 arrow=True, keys=customers, vals=values[["customer", "segment"]])


# The segment of every snapshot row, of every movement by the rule above (gains at M, losses at
# P), and the customers who changed segment between consecutive snapshots (month by month only).
_LOSSES = "('churn', 'contraction')"
_ATTRIBUTED_SQL = f"""
WITH snap AS MATERIALIZED (
    SELECT s.currency, s.customer_key, s.m, s.mrr, coalesce(g.segment, '{NO_SEGMENT}') AS segment
    FROM snaps s LEFT JOIN segs g ON {{on_snap}}),
moved AS (
    SELECT mv.currency, mv.m, mv.movement, mv.amount, coalesce(g.segment, '{NO_SEGMENT}') AS segment
    FROM moves mv LEFT JOIN segs g ON {{on_move}}),
switched AS ({{switched}})
"""
_SWITCHED_SQL = """
    SELECT currency, m, least(previous_mrr, mrr) AS amount, from_segment, to_segment FROM (
        SELECT currency, m, mrr, segment AS to_segment,
               lag(segment) OVER w AS from_segment, lag(mrr) OVER w AS previous_mrr, lag(m) OVER w AS previous_m
        FROM snap WINDOW w AS (PARTITION BY currency, customer_key ORDER BY m))
    WHERE previous_m = m - 1 AND from_segment <> to_segment"""
_NO_SWITCH_SQL = "SELECT '' AS currency, 0 AS m, 0 AS amount, '' AS from_segment, '' AS to_segment WHERE false"


def _attributed(segments: pa.Table) -> tuple[str, dict]:
    if "m" in segments.column_names:
        key = "g.currency = {t}.currency AND g.customer_key = {t}.customer_key AND g.m = {m}"
        sql = _ATTRIBUTED_SQL.format(
            on_snap=key.format(t="s", m="s.m"),
            on_move=key.format(t="mv", m=f"CASE WHEN mv.movement IN {_LOSSES} THEN mv.m - 1 ELSE mv.m END"),
            switched=_SWITCHED_SQL)
    else:  # one value per customer: nobody changes segment
        sql = _ATTRIBUTED_SQL.format(on_snap="g.customer_key = s.customer_key",
                                     on_move="g.customer_key = mv.customer_key", switched=_NO_SWITCH_SQL)
    return sql, {"segs": segments}


def select_segment(snapshots: pa.Table, movements: pa.Table, segments: pa.Table,
                   value: str) -> tuple[pa.Table, pa.Table]:
    """The snapshots (currency, customer_key, m, mrr) of the customers in segment `value` at each
    month, and the movements (`movements.mrr_movements` columns) that belong to it (metrics.md
    "Segments": gains to the segment after the movement, losses to the one before). `segments` is
    `plan_segments` or `customer_segments` output (it covers every customer and month of the
    snapshots, so no snapshot is needed to place a movement)."""
    chosen = segments.filter(pc.equal(segments["segment"], value))
    if "m" not in segments.column_names:   # one value per customer: a customer filter
        keys = chosen["customer_key"]
        return (snapshots.filter(pc.is_in(snapshots["customer_key"], value_set=keys)),
                movements.filter(pc.is_in(movements["customer_key"], value_set=keys)))
    on = "g.currency = t.currency AND g.customer_key = t.customer_key AND g.m = {m}"
    snaps = query(f"SELECT t.* FROM t SEMI JOIN g ON {on.format(m='t.m')}", arrow=True, t=snapshots, g=chosen)
    moves = query(f"""SELECT t.* FROM t SEMI JOIN g ON {on.format(
                          m=f"CASE WHEN t.movement IN {_LOSSES} THEN t.m - 1 ELSE t.m END")}""",
                  arrow=True, t=movements, g=chosen)
    return snaps, moves


SEGMENT_COLUMNS = (
    "mrr", "active_customers", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
    "net_new_mrr", "moved_in_mrr", "moved_out_mrr", "new_customers", "churned_customers", "reactivated_customers",
    "expansion_customers", "contraction_customers", "moved_in_customers", "moved_out_customers",
)


def segment_metrics(snapshots: pa.Table, movements: pa.Table, segments: pa.Table, months: Sequence[int],
                    currencies: Sequence[str]) -> pd.DataFrame:
    """MRR, movements, counts and churn per currency, segment value and month (metrics.md
    "Segments"), one row for every month of `months` of each (currency, segment) seen:

    - mrr, active_customers: of the customers in the segment at the month's snapshot;
    - new / reactivation / expansion MRR and customers: the gains of the customers in the segment
      after the movement; contraction and churned MRR and customers: the losses of those in the
      segment before it;
    - net_new_mrr = new + reactivation + expansion - contraction - churned;
    - moved_in_mrr / moved_out_mrr (and customers): min(P, M) of customers whose segment changed
      while they kept MRR > 0; mrr = previous mrr + net_new_mrr + moved_in - moved_out;
    - the rates of metrics.md "Customer counts and rates" within the segment (customer churn rate
      = churned customers / active customers of the segment at P; revenue churn rate, GRR, NRR on
      the segment's MRR at P; quick ratio, ARPA, LTV, MRR growth rate).

    Amounts in minor units. Columns: currency, segment, m, month, SEGMENT_COLUMNS, then the rates.
    Compute over all months and slice afterwards (rates use the previous month)."""
    head, tables = _attributed(segments)
    frame = query(head + f""",
        keys AS (SELECT DISTINCT currency, segment FROM snap UNION SELECT DISTINCT currency, segment FROM moved
                 UNION SELECT DISTINCT currency, from_segment FROM switched),
        grid AS (SELECT k.currency, k.segment, g.m FROM keys k, grid_m g
                 WHERE k.currency IN (SELECT currency FROM wanted)),
        s AS (SELECT currency, segment, m, sum(mrr) AS mrr, count(*) AS active_customers FROM snap GROUP BY ALL),
        mv AS (SELECT currency, segment, m, {MOVEMENT_SUMS_SQL}
               FROM moved GROUP BY ALL),
        mi AS (SELECT currency, to_segment AS segment, m, sum(amount) AS moved_in_mrr, count(*) AS moved_in_customers
               FROM switched GROUP BY ALL),
        mo AS (SELECT currency, from_segment AS segment, m, sum(amount) AS moved_out_mrr,
                      count(*) AS moved_out_customers
               FROM switched GROUP BY ALL)
        SELECT g.currency, g.segment, g.m, {MONTH_LABEL_SQL.format(m='g.m')} AS month,
               CAST(coalesce(s.mrr, 0) AS BIGINT) AS mrr,
               CAST(coalesce(s.active_customers, 0) AS BIGINT) AS active_customers,
               {", ".join(f"CAST(coalesce(mv.{c}, 0) AS BIGINT) AS {c}" for c in
                          ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"))},
               CAST(coalesce(mv.new_mrr, 0) + coalesce(mv.reactivation_mrr, 0) + coalesce(mv.expansion_mrr, 0)
                    - coalesce(mv.contraction_mrr, 0) - coalesce(mv.churned_mrr, 0) AS BIGINT) AS net_new_mrr,
               CAST(coalesce(mi.moved_in_mrr, 0) AS BIGINT) AS moved_in_mrr,
               CAST(coalesce(mo.moved_out_mrr, 0) AS BIGINT) AS moved_out_mrr,
               {", ".join(f"CAST(coalesce(mv.{c}, 0) AS BIGINT) AS {c}" for c in
                          ("new_customers", "churned_customers", "reactivated_customers", "expansion_customers",
                           "contraction_customers"))},
               CAST(coalesce(mi.moved_in_customers, 0) AS BIGINT) AS moved_in_customers,
               CAST(coalesce(mo.moved_out_customers, 0) AS BIGINT) AS moved_out_customers
        FROM grid g
        LEFT JOIN s ON s.currency = g.currency AND s.segment = g.segment AND s.m = g.m
        LEFT JOIN mv ON mv.currency = g.currency AND mv.segment = g.segment AND mv.m = g.m
        LEFT JOIN mi ON mi.currency = g.currency AND mi.segment = g.segment AND mi.m = g.m
        LEFT JOIN mo ON mo.currency = g.currency AND mo.segment = g.segment AND mo.m = g.m
        ORDER BY g.currency, g.segment, g.m""", snaps=snapshots, moves=movements,
                  grid_m=pa.table({"m": pa.array(list(months), pa.int32())}),
                  wanted=pa.table({"currency": pa.array(list(currencies), pa.string())}), **tables)
    return movement_rates(frame, ("currency", "segment")).reset_index(drop=True)
