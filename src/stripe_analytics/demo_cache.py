"""Build the demo account's cache through the same ingestion code that sync uses."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime, time, timezone
from time import monotonic, sleep
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import ingest, staged_load
from .cache import Cache, CacheInUseError, NotACacheError, check_existing, check_place, writer_lock

CUSTOMERS_PER_TASK = 64  # ~5,000 objects: one staged part per table and task
# DuckDB's memory while it loads the staged parts: the build's memory does not grow with the account.
BULK_MEMORY_LIMIT = "256MB"
# The objects' raw JSON in zstd: a quarter of the file DuckDB's own choice (DICT_FSST) makes,
# and ~40 % less CPU to load.
RAW_COMPRESSION = "zstd"
GENERATING_SHARE = 0.8  # of the progress bar; loading the staged rows is the rest


def default_workers() -> int:
    """Processes generating customers: one per CPU this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _as_datetime(as_of: date | datetime | None) -> datetime | None:
    if as_of is None or isinstance(as_of, datetime):
        return as_of
    return datetime.combine(as_of, time(23, 59, 59), tzinfo=timezone.utc)


def build_demo_cache(
    path: str | Path,
    *,
    seed: int = 0,
    customers: int = 2000,
    as_of: date | datetime | None = None,
    progress: Callable | None = None,
    source: str = "the demo's path",
    workers: int | None = None,
) -> dict[str, int]:
    """Generate the demo account and write it to `path` (replacing any previous demo there).
    The file is built beside the target and renamed into place, so a reader never sees half of it.
    Only a demo cache (or an empty DuckDB database) is replaced: any other file at `path` is
    refused untouched, as is a place that cannot be written (CachePlaceError naming `source`).
    `workers` processes generate the customers (default: one per CPU from 1,000 customers
    on; 0 or 1: this process). They are started with `spawn`, so the program's
    main module must be safe to import (the `if __name__ == "__main__"` guard). The cache's
    content does not depend on `workers`: customer i is drawn from its own seed."""
    from . import notes  # here, not at the top: the worker processes need neither it nor pandas
    from .demo import generate_account
    from .sync import SyncProgress

    path = Path(path)
    check_place(path, source)
    existing = _existing_file(path)
    if existing is not None and not existing.empty and not existing.demo:
        raise NotACacheError(f"{path} holds the synced data of {existing.account_id or 'an account'}, not the demo; "
                             "it was left unchanged. Build the demo into another file (--db).")
    tmp = path.with_name(path.name + ".building")
    parts = path.with_name(path.name + ".building.parts")  # the staged rows (staged_load)
    account = generate_account(seed=seed, customers=customers, as_of=_as_datetime(as_of))
    if workers is None:  # starting processes pays off only beyond a few tasks
        workers = default_workers() if customers >= 1000 else 1
    counts: dict[str, int] = {}
    with writer_lock(path, wait=True):
        _remove_leftovers(tmp, parts)  # of a build that was stopped
        cache = Cache.open(tmp)
        try:
            with cache.transaction() as con:
                # keys added once the rows are in: flat memory, less work
                ingest.drop_primary_keys(con, raw_compression=RAW_COMPRESSION)
                cache.set_meta("account_id", account.account["id"])
                cache.set_meta("account", json.dumps(account.account))
                cache.set_meta("demo", json.dumps({"seed": seed, "customers": customers,
                                                   "as_of": str(as_of) if as_of else None}))
            # Customers are generated, prepared and staged in worker processes; then each table is
            # loaded at once (staged_load says why).
            staged_load.stage(ingest.prepare(account.catalog_objects()), parts, 0, history_source="demo")
            ranges = [(start, min(start + CUSTOMERS_PER_TASK, customers))
                      for start in range(0, customers, CUSTOMERS_PER_TASK)]
            tasks = [(parts, part, customer_range) for part, customer_range in enumerate(ranges, start=1)]
            staged = 0
            with _Workers(workers, account) as pool:
                for (_, _, (_, stop)), rows in zip(tasks, pool.map(_staged_customers, tasks)):
                    staged += sum(rows.values())
                    if progress:
                        progress(SyncProgress(
                            "backfill", None, staged, GENERATING_SHARE * stop / customers,
                            f"building the demo account: {stop}/{customers} customers"))
            tables = staged_load.tables_in_load_order()

            def loading(table: str) -> None:
                if progress:
                    progress(SyncProgress("backfill", None, staged, GENERATING_SHARE + (1 - GENERATING_SHARE)
                                          * tables.index(table) / len(tables), f"building the demo account: {table}"))

            # DuckDB held to BULK_MEMORY_LIMIT while it loads; its own limit again for the keys,
            # whose index needs more at 100,000 customers
            with ingest.BulkLoad(cache.con, tmp, memory_limit=BULK_MEMORY_LIMIT):
                counts = staged_load.load(cache.transaction, parts, loading)
            with cache.transaction() as con:
                ingest.add_primary_keys(con)
                cache.set_meta("balance", json.dumps(demo_balance(con, account.as_of_ts)))
                cache.set_meta("demo_complete", "true")
                notes.carry_over(path, con)  # the analysts' notes outlive a rebuild
            cache.con.execute("CHECKPOINT")
        finally:
            cache.close()
            shutil.rmtree(parts, ignore_errors=True)
        os.replace(tmp, path)
        Path(str(path) + ".wal").unlink(missing_ok=True)
    if progress:
        progress(SyncProgress("done", None, sum(counts.values()), 1.0, "demo account ready"))
    return counts


_WORKER_ACCOUNT = None  # the account a worker process generates customers of


def _start_worker(seed: int, customers: int, as_of_ts: int) -> None:
    global _WORKER_ACCOUNT
    from .demo import DemoAccount

    _WORKER_ACCOUNT = DemoAccount(seed, customers, as_of_ts)


def _staged_customers(task: tuple[Path, int, tuple[int, int]]) -> dict[str, int]:
    """Stage customers start..stop-1 and their events as part `part`; returns the rows per table.
    The events go to the cache with their customers (each range's in created order), not after
    every customer as in the generator's stream: rows are the same, and no process has to hold
    or spool the whole event window to sort it at the end, while the workers would be idle."""
    folder, part, customer_range = task
    objects: list[dict] = []
    events: list[tuple[int, int, int, dict]] = []
    for ci, objs, evs in _WORKER_ACCOUNT.customers_in(*customer_range):
        objects.extend(objs)
        events.extend((event["created"], ci, n, event) for n, event in enumerate(evs))
    events.sort(key=lambda entry: entry[:3])
    objects.extend(event for *_, event in events)
    return staged_load.stage(ingest.prepare(objects), folder, part, history_source="demo")


def _remove_leftovers(tmp: Path, parts: Path) -> None:
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(parts, ignore_errors=True)


def _main_can_be_reimported() -> bool:
    """Spawned workers first re-run the parent's `__main__` from its file (unless it was started
    with -m). A command's or script's own file is guarded by `if __name__ == "__main__"`, but
    during a Streamlit script run `__main__` is the page itself (Streamlit swaps it in), which a
    worker cannot run: then the build stays in this process."""
    main = sys.modules.get("__main__")
    if getattr(main, "__spec__", None) is not None or getattr(main, "__file__", None) is None:
        return True
    return bool(sys.argv) and os.path.realpath(main.__file__) == os.path.realpath(sys.argv[0])


class _Workers:
    """`map` over worker processes (or in this process when there is one CPU), results in
    order, with only a few tasks ahead of the consumer so that memory stays flat."""

    def __init__(self, workers: int, account) -> None:
        self.workers = workers
        self.initargs = (account.seed, account.customers, account.as_of_ts)
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "_Workers":
        if self.workers > 1 and _main_can_be_reimported():
            # spawn, not fork: this may run in a thread of the app's server process.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker, initargs=self.initargs)
        else:
            _start_worker(*self.initargs)
        return self

    def __exit__(self, *exc) -> None:
        global _WORKER_ACCOUNT
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        _WORKER_ACCOUNT = None

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        if self.pool is None:
            yield from map(fn, items)
            return
        ahead: deque[Future] = deque()
        for item in items:
            ahead.append(self.pool.submit(fn, item))
            if len(ahead) > 2 * self.workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _existing_file(path: Path, patience: float = 5.0):
    """What is at `path` (None when nothing), waiting a moment while a reader (the app) has it open."""
    deadline = monotonic() + patience
    while True:
        try:
            return check_existing(path)
        except CacheInUseError:
            if monotonic() > deadline:
                raise
            sleep(0.2)


def demo_balance(con, as_of: int) -> dict:
    """The demo's balance in Stripe's shape, as its account would show it at `as_of`: the
    account pays out daily (its payout schedule), so `available` is what became available
    since the start of that UTC day and `pending` what becomes available later, per settlement
    currency, summed from the balance transactions' net amounts."""
    day_start = as_of - as_of % 86400
    rows = con.execute("""
        SELECT lower(currency),
               coalesce(sum(net) FILTER (WHERE available_on > to_timestamp(?) AND available_on <= to_timestamp(?)), 0),
               coalesce(sum(net) FILTER (WHERE available_on > to_timestamp(?)), 0)
        FROM balance_transactions WHERE NOT deleted GROUP BY 1 ORDER BY 1""",
                       [day_start, as_of, as_of]).fetchall()
    return {"object": "balance", "livemode": False, "retrieved_at": as_of,
            "available": [{"amount": int(a), "currency": c, "source_types": {"card": int(a)}} for c, a, _ in rows],
            "pending": [{"amount": int(p), "currency": c, "source_types": {"card": int(p)}} for c, _, p in rows]}
