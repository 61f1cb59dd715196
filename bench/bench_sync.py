"""Sync throughput against the fake Stripe server with a realistic per-request latency.

Baselines measured in the same run, through the same budgeted client:
- bare sequential: one `auto_paging_iter()` loop per resource that stores nothing;
- bare concurrent: the same `created` slices the sync uses, read by a thread pool, storing nothing.
Reports objects/s for each and for the sync (sequential and concurrent), the share of the
request budget the sync reaches, and the share of time spent writing to DuckDB.

    make bench-sync                       # ~100,000 objects, 150 ms latency, 20 requests/s
    make bench-sync BENCH_ARGS="--customers 300 --skip-sequential"   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_analytics.config import Settings  # noqa: E402
from stripe_analytics.resources import RESOURCES  # noqa: E402
from stripe_analytics.stripe_client import build_client  # noqa: E402
from stripe_analytics.sync import DEFAULT_SLICES, fetch_account, sync_account  # noqa: E402
from tests.fake_stripe import fake_process  # noqa: E402


def bare_sequential(settings: Settings) -> tuple[int, float, int]:
    access = build_client(settings)
    began = time.perf_counter()
    count = 0
    for resource in RESOURCES:
        for _ in resource.service_of(access.client).list(
                params={**resource.params, "limit": 100}).auto_paging_iter():
            count += 1
    return count, time.perf_counter() - began, access.stats.requests


def bare_concurrent(settings: Settings, slices: int) -> tuple[int, float, int]:
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
    with ThreadPoolExecutor(max_workers=settings.sync_concurrency) as pool:
        count = sum(pool.map(run, jobs))
    return count, time.perf_counter() - began, access.stats.requests - 1


def top_level(report) -> int:
    """Objects of the listed resources (embedded items and lines are not counted, as in the bare loop)."""
    return sum(report.written.get(r.name, 0) for r in RESOURCES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2200, help="demo customers (~46 objects each)")
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--rps", type=float, default=20.0, help="request budget (Stripe test mode: 20)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    print(f"starting the fake Stripe server: demo account with {args.customers} customers, "
          f"{args.latency * 1000:.0f} ms per request", flush=True)
    with fake_process(demo_customers=args.customers, latency=args.latency) as (url, key), \
            tempfile.TemporaryDirectory() as tmp:
        settings = Settings(stripe_api_key=key, stripe_api_base=url, data_dir=Path(tmp),
                            stripe_max_requests_per_second=args.rps, sync_concurrency=args.concurrency)
        sequential = Settings(**{**settings.model_dump(), "stripe_api_key": key, "sync_concurrency": 1})
        rows = []
        if not args.skip_sequential:
            n, secs, reqs = bare_sequential(sequential)
            rows.append(("bare auto_paging_iter, sequential", n, secs, reqs, None))
            report = sync_account(sequential, db_path=Path(tmp) / "seq.duckdb", slices=1)
            rows.append(("sync, sequential", top_level(report), report.seconds, report.requests,
                         report.write_seconds))
        n, secs, reqs = bare_concurrent(settings, DEFAULT_SLICES)
        bare = (n, secs, reqs)
        rows.append((f"bare auto_paging_iter, {args.concurrency} threads", n, secs, reqs, None))
        report = sync_account(settings, db_path=Path(tmp) / "conc.duckdb")
        rows.append((f"sync, {args.concurrency} threads", top_level(report), report.seconds, report.requests,
                     report.write_seconds))
        write_cpu = report.write_cpu_seconds

    budget = args.rps * 100
    print(f"\nrequest budget {args.rps:g}/s x 100 objects/page = {budget:,.0f} objects/s at most\n")
    print(f"{'run':<36}{'objects':>10}{'seconds':>9}{'requests':>10}{'obj/s':>9}{'req/s':>8}"
          f"{'% budget':>10}{'write s':>9}")
    for name, n, secs, reqs, write in rows:
        print(f"{name:<36}{n:>10,}{secs:>9.1f}{reqs:>10,}{n / secs:>9,.0f}{reqs / secs:>8.1f}"
              f"{100 * (reqs / secs) / args.rps:>9.0f}%{(f'{write:.1f}' if write is not None else '-'):>9}")
    conc = rows[-1]
    print(f"\nsync / bare concurrent objects/s: {(conc[1] / conc[2]) / (bare[0] / bare[1]):.2f}")
    print(f"sync requests/s as a share of the budget: {(conc[3] / conc[2]) / args.rps:.0%} (target >= 80%)")
    print(f"DuckDB write time / bare concurrent loop time: {conc[4] / bare[1]:.1%} wall, "
          f"{write_cpu / bare[1]:.1%} CPU of the writing thread (target < 10%)")


if __name__ == "__main__":
    main()
