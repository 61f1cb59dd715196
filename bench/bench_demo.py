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
import os
import resource
import tempfile
import time
from datetime import date, datetime, time as dtime, timezone
from pathlib import Path

import orjson
from peak_memory import PeakMemory


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the build's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    args = parser.parse_args(argv)

    from stripe_analytics.demo import generate_account
    from stripe_analytics.demo_cache import build_demo_cache, default_workers

    end_of_day = datetime.combine(args.as_of, dtime(23, 59, 59), tzinfo=timezone.utc)  # as build_demo_cache
    # One streaming pass (the 100,000-customer account does not fit in memory as a list):
    # the generator's time and the serialisation's time are clocked apart.
    counts: collections.Counter = collections.Counter()
    lines = size = 0
    generate_s = baseline_s = 0.0
    objects = iter(generate_account(seed=args.seed, customers=args.customers, as_of=end_of_day).iter_objects())
    while True:
        started = time.perf_counter()
        obj = next(objects, None)
        generate_s += time.perf_counter() - started
        if obj is None:
            break
        started = time.perf_counter()
        size += len(orjson.dumps(obj))
        baseline_s += time.perf_counter() - started
        counts[obj["object"]] += 1
        if obj["object"] == "invoice":
            lines += len(obj["lines"]["data"])

    with tempfile.TemporaryDirectory() as folder, PeakMemory(children=True) as memory:
        started, started_cpu = time.perf_counter(), _cpu_seconds()
        build_demo_cache(Path(folder) / "demo.duckdb", seed=args.seed, customers=args.customers, as_of=args.as_of)
        build_s = time.perf_counter() - started
        build_cpu_s = _cpu_seconds() - started_cpu
        size_mb = (Path(folder) / "demo.duckdb").stat().st_size / 1e6

    print(f"demo account: {args.customers:,} customers, seed {args.seed}, as of {args.as_of}")
    print(f"{'step':<28}{'seconds':>10}{'x baseline':>12}")
    for name, seconds in (("baseline (orjson dumps)", baseline_s), ("generate", generate_s),
                          ("build cache (generate+write)", build_s)):
        print(f"{name:<28}{seconds:>10.2f}{seconds / baseline_s:>12.1f}")
    print(f"build: {build_cpu_s:,.1f} s of CPU (all threads and worker processes; "
          f"{build_cpu_s / build_s:.2f} cores on average; {default_workers()} CPUs, load average {os.getloadavg()[0]:.1f})")
    print(f"cache file {size_mb:,.0f} MB; peak memory during the build {memory.peak / 2**20:,.0f} MB resident, "
          f"{memory.growth / 2**20:,.0f} MB above the process before it; worker processes together "
          f"{memory.children_peak / 2**20:,.0f} MB at most")
    print(f"{sum(counts.values()):,} objects ({size / 1e6:.0f} MB of JSON), {lines:,} invoice lines: "
          + ", ".join(f"{kind} {n:,}" for kind, n in counts.most_common()))


if __name__ == "__main__":
    main()
