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
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_analytics.cache import Cache  # noqa: E402
from stripe_analytics.config import Settings  # noqa: E402
from stripe_analytics.sync import sync_account  # noqa: E402
from tests.fake_stripe import FakeStripe  # noqa: E402
from tests.sync_accounts import build_account, template  # noqa: E402
from tests.webhook_support import ACCOUNT, KEY, live_env, live_server, post, sign, wait_until  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class RawClient:
    """A light HTTP/1.1 client: keep-alive connections on one asyncio loop, each request written as
    bytes. Python `requests` costs the client more CPU per request than the server spends on it, so on
    a 2-core machine it, not the server, would set the rate measured."""

    def __init__(self, url: str, connections: int):
        parsed = urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.connections = connections

    async def _exchange(self, reader, writer, request: bytes) -> int:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        return int(status_line.split()[1])

    async def _run(self, jobs: list[tuple[float, callable]]) -> list[tuple[float, int]]:
        """Each job is (when to send, relative to start; a function building the request bytes)."""
        queue: asyncio.Queue = asyncio.Queue()
        for index, job in enumerate(jobs):
            queue.put_nowait((index, job))
        results: list[tuple[float, int]] = [(0.0, 0)] * len(jobs)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5
        wall_start = time.time() + 0.5

        async def worker():
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                while not queue.empty():
                    index, (offset, build) = queue.get_nowait()
                    delay = start + offset - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    at = wall_start + (loop.time() - start)
                    results[index] = (at, await self._exchange(reader, writer, build()))
            finally:
                writer.close()

        await asyncio.gather(*(worker() for _ in range(self.connections)))
        return results

    def run(self, jobs: list[tuple[float, callable]]) -> list[tuple[float, int]]:
        return asyncio.run(self._run(jobs))

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send_paced(url: str, events: list[dict], rate: float, connections: int = 64) -> tuple[dict[str, float], list[int]]:
    """POST every event, the i-th at start + i / rate, signed just before it is sent; returns
    {event id: time sent} and the statuses."""
    client = RawClient(url, connections)

    def build(event: dict):
        def request() -> bytes:
            body = json.dumps(event).encode()
            return client.request("POST", "/webhooks/stripe", body,
                                  {"Content-Type": "application/json", "Stripe-Signature": sign(body)})
        return request

    results = client.run([(i / rate, build(event)) for i, event in enumerate(events)])
    return {event["id"]: at for event, (at, _) in zip(events, results)}, [status for _, status in results]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process used so far: a cost per event that,
    unlike a rate, does not depend on what else the machine is running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_ceiling(url: str, requests_count: int = 3000, connections: int = 64) -> float:
    """Requests/s the served app answers on its cheapest route (`/_stcore/health`) with the
    same client and connections, as fast as it can: what this machine allows any endpoint."""
    client = RawClient(url, connections)
    request = client.request("GET", "/_stcore/health")
    began = time.perf_counter()
    statuses = client.run([(0.0, lambda: request)] * requests_count)
    elapsed = time.perf_counter() - began - 0.5
    assert all(status == 200 for _, status in statuses), "the health route failed"
    return requests_count / elapsed


def screen_latency(url: str, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, go

    def gross(tab) -> str:
        tile = tab.locator("[data-testid='saTile']").filter(has_text="Gross volume").first
        return tile.locator("[data-testid='saTileValue']").inner_text()

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
            cpu_before = cpu_seconds(app.proc.pid)
            ceiling = http_ceiling(app.url)
            ceiling_cpu_ms = (cpu_seconds(app.proc.pid) - cpu_before) / 3000 * 1000
            print(f"HTTP ceiling of this server here (GET /_stcore/health, 64 connections): {ceiling:,.0f} requests/s "
                  f"({ceiling_cpu_ms:.2f} ms of server CPU each)")
            print(f"webhooks: sending {total:,} events at {args.rate:g}/s for {args.seconds:g} s ...")
            first = time.time()
            cpu_before = cpu_seconds(app.proc.pid)
            sent, statuses = send_paced(app.url, events, args.rate)
            sending = time.time() - first
            wait_until(lambda: app.account_health()["events_queued"] == 0, timeout=600, what="the queue to drain")
            drained = time.time()
            event_cpu_ms = (cpu_seconds(app.proc.pid) - cpu_before) / total * 1000
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
    print(f"server CPU per event (received, stored, applied): {event_cpu_ms:.2f} ms, i.e. at most "
          f"{1000 / event_cpu_ms:,.0f} events/s on one core; per GET /_stcore/health: {ceiling_cpu_ms:.2f} ms "
          f"(ratio {event_cpu_ms / ceiling_cpu_ms:.1f})")
    print(f"GET /healthz round trip: median {statistics.median(health_ms):.0f} ms, max {max(health_ms):.0f} ms "
          f"(target < 50 ms)")
    if screen:
        print(f"webhook -> screen (open Overview, headless Chromium): p50 {statistics.median(screen):.2f} s, "
              f"max {max(screen):.2f} s over {len(screen)} rounds (target < 5 s)")


if __name__ == "__main__":
    main()
