"""Benchmark of the demo account: how long generating it and building its cache take, and
what it holds.

    python bench/bench_demo.py                      # the default demo (2,000 customers)
    python bench/bench_demo.py --customers 20000    # a larger account

Three figures for the same account, measured in this run:

- baseline: serialising the generated objects to JSON once (orjson), the least any writer
  of these objects has to do;
- generate: running the generator (`generate_account(...).iter_objects()`);
- build: `build_demo_cache`, generation plus ingestion into a DuckDB file, as `make run`
  does on a first start and `stripe-analytics demo` does.

Each is printed with its ratio to the baseline, followed by the object counts.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from datetime import date, datetime, time as dtime, timezone
from pathlib import Path

import orjson


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    args = parser.parse_args(argv)

    from stripe_analytics.demo import generate_account
    from stripe_analytics.demo_cache import build_demo_cache

    end_of_day = datetime.combine(args.as_of, dtime(23, 59, 59), tzinfo=timezone.utc)  # as build_demo_cache
    started = time.perf_counter()
    objects = list(generate_account(seed=args.seed, customers=args.customers,
                                    as_of=end_of_day).iter_objects())
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    size = sum(len(orjson.dumps(obj)) for obj in objects)
    baseline_s = time.perf_counter() - started

    counts = collections.Counter(obj["object"] for obj in objects)
    lines = sum(len(obj["lines"]["data"]) for obj in objects if obj["object"] == "invoice")
    del objects

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        build_demo_cache(Path(folder) / "demo.duckdb", seed=args.seed, customers=args.customers, as_of=args.as_of)
        build_s = time.perf_counter() - started

    print(f"demo account: {args.customers:,} customers, seed {args.seed}, as of {args.as_of}")
    print(f"{'step':<28}{'seconds':>10}{'x baseline':>12}")
    for name, seconds in (("baseline (orjson dumps)", baseline_s), ("generate", generate_s),
                          ("build cache (generate+write)", build_s)):
        print(f"{name:<28}{seconds:>10.2f}{seconds / baseline_s:>12.1f}")
    print(f"{sum(counts.values()):,} objects ({size / 1e6:.0f} MB of JSON), {lines:,} invoice lines: "
          + ", ".join(f"{kind} {n:,}" for kind, n in counts.most_common()))


if __name__ == "__main__":
    main()
