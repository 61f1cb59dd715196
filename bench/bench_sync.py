"""Sync throughput against the fake Stripe server with a realistic per-request latency, at
live mode's request budget (80/s) and test mode's (20/s).

For each budget, measured in the same run through the same budgeted client:
- sync: `sync_account` into a fresh cache, concurrency from the budget and the measured
  latency (or --concurrency), with its peak memory;
- bare concurrent: the same `created` slices read with `auto_paging_iter()` by a thread pool
  as large as the sync's peak of reads in flight, storing nothing.
Then the writer alone: the same account's objects, prepared into pages of 100 beforehand,
written into a fresh cache in the sync's transactions (pages and cursor together), objects/s.

    make bench-sync                                    # ~100,000 objects, 150 ms latency, 80 and 20 req/s
    make bench-sync BENCH_ARGS="--customers 300 --rps 80"            # a quick look
    make bench-sync BENCH_ARGS="--sequential"          # also the one-thread sync and loop
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from peak_memory import PeakMemory  # noqa: E402

from stripe_analytics import ingest  # noqa: E402
from stripe_analytics.cache import Cache  # noqa: E402
from stripe_analytics.config import Settings  # noqa: E402
from stripe_analytics.pager import PAGE_SIZE  # noqa: E402
from stripe_analytics.schema import RESOURCES  # noqa: E402
from stripe_analytics.stripe_client import build_client  # noqa: E402
from stripe_analytics.sync import DEFAULT_SLICES, PAGES_PER_TRANSACTION, _save_state, fetch_account, \
    sync_account  # noqa: E402
from tests.fake_stripe import fake_process  # noqa: E402

MB = 1 << 20


def bare_sequential(settings: Settings) -> tuple[int, float, int]:
    access = build_client(settings)
    began = time.perf_counter()
    count = 0
    for resource in RESOURCES:
        for _ in resource.service_of(access.client).list(
                params={**resource.params, "limit": 100}).auto_paging_iter():
            count += 1
    return count, time.perf_counter() - began, access.stats.requests


def bare_concurrent(settings: Settings, slices: int, threads: int) -> tuple[int, float, int]:
    access = build_client(settings)
    account = fetch_account(access)
    upper = int(time.time()) + 1
    lower = int(account.get("created") or 1262304000)
    step = max(1, (upper - lower + slices - 1) // slices)
    bounds = list(range(lower, upper, step)) + [upper]
    jobs = []
    for resource in RESOURCES:
        if not resource.split_by_created:
            jobs.append((resource, {}))
            continue
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            jobs.append((resource, {"created": {"lt": b} if i == 0 else {"gte": a, "lt": b}}))

    def run(job) -> int:
        resource, created = job
        params = {**resource.params, **created, "limit": 100}
        return sum(1 for _ in resource.service_of(access.client).list(params=params).auto_paging_iter())

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        count = sum(pool.map(run, jobs))
    return count, time.perf_counter() - began, access.stats.requests - 1


def top_level(report) -> int:
    """Objects of the listed resources (embedded items and lines are not counted, as in the bare loop)."""
    return sum(report.written.get(r.name, 0) for r in RESOURCES)


def writer_alone(customers: int, folder: Path) -> tuple[int, int, float, float, int]:
    """The benchmark's account written by the writer alone: (top-level objects, rows, wall s, CPU s, checkpoints).
    Pages are prepared before the clock runs (the sync prepares them in its fetch threads)."""
    from stripe_analytics.demo import generate_account

    by_type: dict[str, list[dict]] = collections.defaultdict(list)
    for obj in generate_account(seed=0, customers=customers, as_of=None).iter_objects():
        by_type[obj["object"]].append(obj)
    pages = [objects[i:i + PAGE_SIZE] for objects in by_type.values() for i in range(0, len(objects), PAGE_SIZE)]
    objects = sum(len(page) for page in pages)
    rows = 0
    wall = cpu = 0.0
    cache = Cache.open(folder / "writer.duckdb")
    try:
        with ingest.BulkLoad(cache.con, cache.path) as bulk:
            for start in range(0, len(pages), PAGES_PER_TRANSACTION):
                prepared = [ingest.prepare(page) for page in pages[start:start + PAGES_PER_TRANSACTION]]
                began, began_cpu = time.perf_counter(), time.process_time()
                with cache.transaction() as con:
                    rows += sum(ingest.write_prepared(con, prepared).values())
                    _save_state(con, "bench", cursor={"page": start}, backfill_complete=False)
                bulk.after_commit()
                wall += time.perf_counter() - began
                cpu += time.process_time() - began_cpu
        # What is still only in the write-ahead log is written by the closing checkpoint: count it
        # (the sync pays it too, before it ends).
        began, began_cpu = time.perf_counter(), time.process_time()
        cache.con.execute("CHECKPOINT")
        wall += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        checkpoints = bulk.checkpoints + 1
    finally:
        cache.close()
    return objects, rows, wall, cpu, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2200, help="demo customers (~46 objects each)")
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--rps", type=float, nargs="+", default=[80.0, 20.0],
                        help="request budgets to measure (Stripe: 80 live, 20 test)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="fixed reads in flight (SYNC_CONCURRENCY); default: from the budget and latency")
    parser.add_argument("--sequential", action="store_true", help="also the one-thread loop and sync")
    parser.add_argument("--skip-writer", action="store_true", help="leave out the writer-alone measurement")
    args = parser.parse_args()

    print(f"starting the fake Stripe server: demo account with {args.customers} customers, "
          f"{args.latency * 1000:.0f} ms per request", flush=True)
    results = []  # (rps, rows, summary)
    with fake_process(demo_customers=args.customers, latency=args.latency) as (url, key), \
            tempfile.TemporaryDirectory() as tmp:
        for rps in args.rps:
            settings = Settings(stripe_api_key=key, stripe_api_base=url, data_dir=Path(tmp),
                                stripe_max_requests_per_second=rps, sync_concurrency=args.concurrency)
            rows = []
            if args.sequential:
                sequential = Settings(**{**settings.model_dump(), "stripe_api_key": key, "sync_concurrency": 1})
                n, secs, reqs = bare_sequential(sequential)
                rows.append(("bare auto_paging_iter, sequential", n, secs, reqs, None))
                report = sync_account(sequential, db_path=Path(tmp) / f"seq-{rps:g}.duckdb", slices=1)
                rows.append(("sync, sequential", top_level(report), report.seconds, report.requests,
                             report.write_seconds))
            print(f"syncing at {rps:g} requests/s ...", flush=True)
            began_cpu = time.process_time()
            with PeakMemory() as memory:
                report = sync_account(settings, db_path=Path(tmp) / f"conc-{rps:g}.duckdb")
            sync_cpu = time.process_time() - began_cpu
            gate = report.concurrency
            threads = gate.peak
            sync_row = (f"sync, {'fixed ' if args.concurrency else 'auto '}{gate.limit} in flight",
                        top_level(report), report.seconds, report.requests, report.write_seconds)
            print(f"bare loop at {rps:g} requests/s, {threads} threads ...", flush=True)
            began_cpu = time.process_time()
            n, secs, reqs = bare_concurrent(settings, DEFAULT_SLICES, threads)
            bare_cpu = time.process_time() - began_cpu
            rows.append((f"bare auto_paging_iter, {threads} threads", n, secs, reqs, None))
            rows.append(sync_row)
            results.append((rps, rows, report, memory, (n, secs, reqs), (sync_cpu, bare_cpu)))
        writer = None if args.skip_writer else writer_alone(args.customers, Path(tmp))

    print(f"\n{'budget':>7}  {'run':<36}{'objects':>10}{'seconds':>9}{'requests':>10}{'obj/s':>9}{'req/s':>8}"
          f"{'% budget':>10}{'write s':>9}")
    for rps, rows, *_ in results:
        for name, n, secs, reqs, write in rows:
            print(f"{rps:>5g}/s  {name:<36}{n:>10,}{secs:>9.1f}{reqs:>10,}{n / secs:>9,.0f}{reqs / secs:>8.1f}"
                  f"{100 * (reqs / secs) / rps:>9.0f}%{(f'{write:.1f}' if write is not None else '-'):>9}")
    print()
    for rps, rows, report, memory, bare, (sync_cpu, bare_cpu) in results:
        sync = rows[-1]
        share = (report.requests / report.seconds) / rps
        target = 0.80 if rps >= 80 else 0.95
        print(f"at {rps:g} req/s: the sync uses {share:.0%} of the budget ({sync[1] / sync[2]:,.0f} objects/s; "
              f"target >= {target:.0%}), the bare concurrent loop {(bare[2] / bare[1]) / rps:.0%} "
              f"({bare[0] / bare[1]:,.0f} objects/s); sync / bare objects/s {(sync[1] / sync[2]) / (bare[0] / bare[1]):.2f}; "
              f"{report.concurrency.seconds_per_request * 1000:.0f} ms per request measured, "
              f"{report.ranges_split} created-ranges split off for idle readers, "
              f"DuckDB writes {report.write_seconds:.1f} s of {report.seconds:.1f} s")
        print(f"  CPU (all threads of this process): sync {sync_cpu:.1f} s, {sync[1] / sync_cpu:,.0f} objects per "
              f"CPU-second; bare loop {bare_cpu:.1f} s, {bare[0] / bare_cpu:,.0f} objects per CPU-second")
        print(f"  peak memory of the sync: {memory.peak / MB:,.0f} MB resident, {memory.growth / MB:,.0f} MB above "
              f"the process before it, for {report.objects:,} rows")
    if writer:
        objects, rows_written, wall, cpu, checkpoints = writer
        print(f"writer alone (prepared pages into DuckDB, {PAGES_PER_TRANSACTION} pages per transaction): "
              f"{objects / wall:,.0f} objects/s, {objects / cpu:,.0f} per CPU-second "
              f"({objects:,} objects, {rows_written:,} rows with items and lines, "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU of all threads, {checkpoints} checkpoints; target >= 15,000)")


if __name__ == "__main__":
    main()
