"""Webhooks to cache and to screen, against the served app (serve.py) and the fake Stripe.

The fake account is synced once; N customers are then created in the fake Stripe, which
records N `customer.created` events. The same N events reach two copies of the cache:
- baseline: the incremental sync (`/v1/events`, what the product did before webhooks): one
  sync run applies them all; an event waits for the next scheduled run, then the run's time;
- webhooks: each event POSTed, signed, to `/webhooks/stripe` at a steady rate for `--seconds`.
Reported: p50/p95 from POST to the object in the cache (the `applied_events.applied_at` of its
transaction), sustained events/s, lost and applied-twice counts, and ratios to the baseline.
With `--screen`: time from POST to the open Overview (headless Chromium) showing the new figure.

    make bench-webhooks                                  # 60 s at 250 events/s, and the screen
    make bench-webhooks BENCH_ARGS="--seconds 10"        # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from stripe_analytics.cache import Cache  # noqa: E402
from stripe_analytics.config import Settings  # noqa: E402
from stripe_analytics.sync import sync_account  # noqa: E402
from tests.fake_stripe import FakeStripe  # noqa: E402
from tests.sync_accounts import build_account, template  # noqa: E402
from tests.webhook_support import ACCOUNT, KEY, live_env, live_server, post, wait_until  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def send_paced(url: str, events: list[dict], rate: float, workers: int = 8) -> tuple[dict[str, float], list[int]]:
    """POST every event, the i-th at start + i / rate; returns {event id: time sent} and statuses."""
    sent: dict[str, float] = {}
    statuses: list[int] = []
    lock = threading.Lock()
    local = threading.local()
    start = time.time() + 0.5

    def one(i_event):
        i, event = i_event
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        status = post(url, event, session=session).status_code
        with lock:
            sent[event["id"]] = at
            statuses.append(status)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(events)))
    return sent, statuses


def http_ceiling(url: str, requests_count: int = 1000, workers: int = 8) -> float:
    """Requests/s the served app answers on its cheapest route (`/_stcore/health`) with the
    same client and concurrency: what this machine allows any endpoint of the server."""
    session = requests.Session()
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: session.get(f"{url}/_stcore/health", timeout=10).status_code, range(requests_count)))
    return requests_count / (time.perf_counter() - began)


def screen_latency(url: str, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, go

    def gross(tab) -> str:
        tile = tab.locator("[data-testid='stMetric']").filter(has_text="Gross volume").first
        return tile.locator("[data-testid='stMetricValue']").inner_text()

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        go(tab, url)
        for n in range(rounds):
            before = gross(tab)
            now = int(time.time())
            charge = template("charge", id=f"ch_bench_screen_{n}", customer="cus_0001", payment_intent=None,
                              amount=100_000 + n, amount_captured=100_000 + n, amount_refunded=0, currency="usd",
                              status="succeeded", captured=True, paid=True, refunded=False, created=now,
                              balance_transaction=None)
            event = {"id": f"evt_bench_screen_{n}", "object": "event", "type": "charge.succeeded", "created": now,
                     "data": {"object": charge}, "livemode": False, "api_version": "2025-01-01"}
            started = time.monotonic()
            post(url, event)
            wait_until(lambda: gross(tab) != before, timeout=30, interval=0.05, what="the Overview to change")
            results.append(time.monotonic() - started)
            time.sleep(1.0)
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long events are sent")
    parser.add_argument("--rate", type=float, default=250.0, help="events per second sent")
    parser.add_argument("--interval-minutes", type=float, default=15.0,
                        help="the sync schedule the baseline waits for (SYNC_INTERVAL_MINUTES)")
    parser.add_argument("--screen-rounds", type=int, default=5, help="webhook-to-screen rounds (0: skip)")
    args = parser.parse_args()
    total = int(args.seconds * args.rate)

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    acct, objects = build_account(int(time.time()), customers=40)
    with FakeStripe() as fake:
        fake.add_account(acct, key=KEY)
        fake.add_many(objects)
        data_dir = work / "data"
        settings = Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir,
                            stripe_max_requests_per_second=1000)
        print(f"syncing the fake account ({len(objects)} objects) ...")
        sync_account(settings)
        cache_path = data_dir / f"{ACCOUNT}.duckdb"
        baseline_path = work / "baseline.duckdb"
        shutil.copy(cache_path, baseline_path)

        time.sleep(1.1)
        for i in range(total):
            fake.create(template("customer", id=f"cus_bench_{i:06d}", email=f"bench{i}@example.com",
                                 created=fake.clock, discount=None))
        store = fake.account_store().objects["event"]
        events = sorted((e for e in store.values() if e["data"]["object"]["id"].startswith("cus_bench_")),
                        key=lambda e: e["id"])
        assert len(events) == total
        print(f"{total:,} customer.created events recorded in the fake Stripe")

        began = time.perf_counter()
        report = sync_account(settings, db_path=baseline_path)
        sync_seconds = time.perf_counter() - began
        print(f"baseline: incremental sync applied {report.events_applied:,} events in {sync_seconds:.2f} s "
              f"({report.requests} requests)")

        env = live_env(data_dir, work, fake.url)
        with live_server(env, work / "server.log") as app:
            ceiling = http_ceiling(app.url)
            print(f"HTTP ceiling of this server here (GET /_stcore/health, 8 clients): {ceiling:,.0f} requests/s")
            print(f"webhooks: sending {total:,} events at {args.rate:g}/s for {args.seconds:g} s ...")
            first = time.time()
            sent, statuses = send_paced(app.url, events, args.rate)
            sending = time.time() - first
            wait_until(lambda: app.account_health()["events_queued"] == 0, timeout=600, what="the queue to drain")
            drained = time.time()
            health_ms = []
            for _ in range(20):
                began = time.perf_counter()
                app.health()
                health_ms.append((time.perf_counter() - began) * 1000)
            screen = screen_latency(app.url, args.screen_rounds) if args.screen_rounds else []
        with Cache.open(cache_path, read_only=True) as cache:
            rows = cache.con.execute(
                "SELECT id, epoch(applied_at), outcome FROM applied_events WHERE id IN (SELECT unnest(?))",
                [list(sent)]).fetchall()
            objects_twice = cache.con.execute(
                "SELECT count(*) - count(DISTINCT id) FROM customers WHERE id LIKE 'cus_bench_%'").fetchall()[0][0]
            stored = cache.con.execute("SELECT count(*) FROM customers WHERE id LIKE 'cus_bench_%'").fetchall()[0][0]

    latencies = [applied - sent[event_id] for event_id, applied, _ in rows]
    last_applied = max(applied for _, applied, _ in rows)
    sustained = len(rows) / (last_applied - min(sent.values()))
    lost = total - stored
    accepted = sum(1 for s in statuses if s == 200)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    baseline_rate = total / sync_seconds
    wait = args.interval_minutes * 60 / 2
    print()
    print(f"{'':<34}{'p50 s':>9}{'p95 s':>9}{'events/s':>10}")
    print(f"{'baseline: incremental sync run':<34}{sync_seconds:>9.2f}{sync_seconds:>9.2f}{baseline_rate:>10,.0f}")
    print(f"{'baseline with a ' + format(args.interval_minutes, 'g') + '-min schedule':<34}"
          f"{wait + sync_seconds:>9.1f}{args.interval_minutes * 60 * 0.95 + sync_seconds:>9.1f}{'':>10}")
    print(f"{'webhooks (POST -> cache)':<34}{p50:>9.3f}{p95:>9.3f}{sustained:>10,.0f}")
    print()
    print(f"sent {total:,} in {sending:.1f} s; accepted {accepted:,}; queue drained {drained - first:.1f} s after "
          f"the first POST")
    print(f"lost {lost} · applied twice {objects_twice} · outcomes "
          f"{json.dumps({o: sum(1 for r in rows if r[2] == o) for o in {r[2] for r in rows}})}")
    print(f"p95 target < 1 s: {'met' if p95 < 1 else 'NOT met'}; sustained target >= 200/s: "
          f"{'met' if sustained >= 200 else 'NOT met'} (sent at {args.rate:g}/s)")
    print(f"ratio webhook p95 / sync run time: {p95 / sync_seconds:.3f}; "
          f"webhook p95 / scheduled-sync wait (p95): {p95 / (args.interval_minutes * 60 * 0.95 + sync_seconds):.5f}")
    print(f"ratio webhook events/s / sync events/s: {sustained / baseline_rate:.2f}; "
          f"webhook events/s / the server's HTTP ceiling: {sustained / ceiling:.2f}")
    print(f"GET /healthz round trip: median {statistics.median(health_ms):.0f} ms, max {max(health_ms):.0f} ms "
          f"(target < 50 ms)")
    if screen:
        print(f"webhook -> screen (open Overview, headless Chromium): p50 {statistics.median(screen):.2f} s, "
              f"max {max(screen):.2f} s over {len(screen)} rounds (target < 5 s)")


if __name__ == "__main__":
    main()
