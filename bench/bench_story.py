"""Benchmark of the customer page's reads (issue 18, "The customer's story").

    python bench/bench_story.py --db PATH.duckdb [--customers 20]

On an existing cache (read-only; e.g. the account `make bench-metrics` builds), for the
customers with the most charges: the timeline's events (`timeline.customer_events`, one query
over subscriptions, invoices and their lines, charges, refunds, disputes) beside the baseline of
the same run, the three per-customer reads the customer page made before the timeline
(`queries.customer_subscriptions`, `customer_invoices`, `customer_charges`), alternating, and the
merge with the engine's movements (`timeline.customer_timeline`, on an empty movements frame: the
movements are the engine's, computed once per account state for every page).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stripe_analytics import queries, timeline  # noqa: E402
from stripe_analytics.cache import Cache  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--customers", type=int, default=20)
    args = parser.parse_args()
    with Cache.open(args.db, read_only=True) as cache:
        con = cache.con
        ids = [r[0] for r in con.execute("SELECT customer FROM charges WHERE customer IS NOT NULL GROUP BY 1 "
                                         "ORDER BY count(*) DESC, 1 LIMIT ?", [args.customers]).fetchall()]
        size = con.execute("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM invoices), "
                           "(SELECT count(*) FROM charges)").fetchone()
        now = datetime.now(timezone.utc)

        def before(customer: str) -> None:
            queries.customer_subscriptions(con, customer)
            queries.customer_invoices(con, customer)
            queries.customer_charges(con, customer)

        empty = pd.DataFrame(columns=["currency", "m", "month", "previous_mrr", "mrr", "movement", "change"])

        def story(customer: str) -> int:
            events = timeline.customer_events(con, customer, now)
            return len(timeline.customer_timeline(events, empty, lambda m: now, livemode=False))

        before(ids[0]), story(ids[0])  # first-query costs out of the way
        baseline, timed, rows = [], [], []
        for customer in ids:
            start = time.perf_counter()
            before(customer)
            baseline.append(time.perf_counter() - start)
            start = time.perf_counter()
            rows.append(story(customer))
            timed.append(time.perf_counter() - start)
    base, new = statistics.median(baseline), statistics.median(timed)
    print(f"cache: {size[0]:,} customers, {size[1]:,} invoices, {size[2]:,} charges; {len(ids)} customers, "
          f"{statistics.median(rows):.0f} timeline rows (median)")
    print(f"baseline (the page's three reads before): {base * 1000:.1f} ms per customer (median)")
    print(f"timeline events + merge:                  {new * 1000:.1f} ms per customer (median), {new / base:.2f}x")


if __name__ == "__main__":
    main()
