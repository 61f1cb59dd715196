"""Build the demo account's cache through the same ingestion code that sync uses."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
from collections import defaultdict, deque
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime, time, timezone
from time import monotonic, sleep
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from . import ingest, notes
from .cache import Cache, CacheInUseError, NotACacheError, check_existing, check_place, writer_lock

BATCH_OBJECTS = 5000
CUSTOMERS_PER_TASK = 64  # ~5,000 objects: one write transaction per task
DAY = 86400
EVENT_ORDER = ("_created", "_customer", "_place")  # an event's place in the stream: see DemoAccount.customers_in
# DuckDB's memory during the build (cached blocks, not yet checkpointed rows) and the log
# between checkpoints: small enough that the build's memory does not grow with the account.
BULK_MEMORY_LIMIT = "256MB"
BULK_WAL_BYTES = 64 << 20


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
    from .demo import generate_account
    from .sync import SyncProgress

    path = Path(path)
    check_place(path, source)
    existing = _existing_file(path)
    if existing is not None and not existing.empty and not existing.demo:
        raise NotACacheError(f"{path} holds the synced data of {existing.account_id or 'an account'}, not the demo; "
                             "it was left unchanged. Build the demo into another file (--db).")
    tmp = path.with_name(path.name + ".building")
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        leftover.unlink(missing_ok=True)
    account = generate_account(seed=seed, customers=customers, as_of=_as_datetime(as_of))
    if workers is None:  # starting processes pays off only beyond a few tasks
        workers = default_workers() if customers >= 1000 else 1
    counts: dict[str, int] = {}
    with writer_lock(path, wait=True):
        cache = Cache.open(tmp)
        try:
            with cache.transaction() as con:
                ingest.drop_primary_keys(con)  # added once the rows are in: flat memory, less work
                cache.set_meta("account_id", account.account["id"])
                cache.set_meta("account", json.dumps(account.account))
                cache.set_meta("demo", json.dumps({"seed": seed, "customers": customers,
                                                   "as_of": str(as_of) if as_of else None}))
            spool = _EventDays()
            with ingest.BulkLoad(cache.con, tmp, max_wal_bytes=BULK_WAL_BYTES, memory_limit=BULK_MEMORY_LIMIT) as bulk, \
                    _Workers(workers, account) as pool:
                # Customers are generated and prepared (pure Python) in worker processes while
                # this process writes the previous batches (DuckDB, in the writer thread).
                writer = ingest.WriterThread(cache.con, cache.transaction, bulk, history_source="demo", all_new=True)
                try:
                    writer.submit(ingest.prepare(account.catalog_objects()))
                    ranges = [(start, min(start + CUSTOMERS_PER_TASK, customers))
                              for start in range(0, customers, CUSTOMERS_PER_TASK)]
                    for (_, stop), (prepared, event_days) in zip(ranges, pool.map(_prepared_customers, ranges)):
                        writer.submit(prepared)
                        spool.add(event_days)
                        if progress:
                            progress(SyncProgress(
                                "backfill", None, sum(writer.counts.values()), stop / customers,
                                f"building the demo account: {stop}/{customers} customers"))
                    for events in spool.drain(BATCH_OBJECTS):
                        writer.submit(ingest.Prepared({"events": events}, {}, {}))
                finally:
                    spool.close()
                    counts = writer.close()
            with cache.transaction() as con:
                ingest.add_primary_keys(con)
                cache.set_meta("balance", json.dumps(demo_balance(con, account.as_of_ts)))
                cache.set_meta("demo_complete", "true")
                notes.carry_over(path, con)  # the analysts' notes outlive a rebuild
            cache.con.execute("CHECKPOINT")
        finally:
            cache.close()
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


def _prepared_customers(customer_range: tuple[int, int]) -> tuple[ingest.Prepared, dict[int, pa.Table]]:
    """Customers start..stop-1 ready to write, and their events prepared too, by day (`_EventDays`)."""
    objects: list[dict] = []
    events: list[dict] = []
    owners: list[int] = []
    places: list[int] = []
    for ci, objs, evs in _WORKER_ACCOUNT.customers_in(*customer_range):
        objects.extend(objs)
        events.extend(evs)
        owners.extend([ci] * len(evs))
        places.extend(range(len(evs)))
    return ingest.prepare(objects), _event_days(events, owners, places, _WORKER_ACCOUNT.events_since_ts)


def _event_days(events: list[dict], owners: list[int], places: list[int], window_start: int) -> dict[int, pa.Table]:
    """`events` prepared for the cache (`ingest.prepare`), each row with its place in the
    stream (`EVENT_ORDER`), split by day of the event window."""
    if not events:
        return {}
    prepared = ingest.prepare(events)
    table = prepared.tables.get("events")
    if set(prepared.tables) != {"events"} or table.num_rows != len(events):
        raise ValueError("every demo event must become one row of the events table")
    created = [event["created"] for event in events]
    for name, values in zip(EVENT_ORDER, (created, owners, places)):
        table = table.append_column(name, pa.array(values, type=pa.int64()))
    days: dict[int, list[int]] = defaultdict(list)
    for position, ts in enumerate(created):
        days[max(0, (ts - window_start) // DAY)].append(position)
    return {day: table.take(pa.array(positions, type=pa.int64())) for day, positions in days.items()}


class _EventDays:
    """Events come last in the stream, in created order, but are prepared with their customer
    in the workers: each day of the event window is appended (Arrow IPC, lz4) to a temporary
    file of its own; at the end each day is read back, sorted into the stream's order and
    handed out in batches. Peak memory is about one day of events (not the whole window)."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="demo-events-")
        self.writers: dict[int, tuple[pa.NativeFile, pa.ipc.RecordBatchStreamWriter]] = {}

    def _path(self, day: int) -> str:
        return os.path.join(self.folder.name, f"{day}.arrows")

    def add(self, days: dict[int, pa.Table]) -> None:
        for day, table in days.items():
            if day not in self.writers:
                sink = pa.OSFile(self._path(day), "wb")
                self.writers[day] = sink, pa.ipc.new_stream(sink, table.schema,
                                                            options=pa.ipc.IpcWriteOptions(compression="lz4"))
            self.writers[day][1].write_table(table)

    def drain(self, batch_rows: int) -> Iterator[pa.Table]:
        """Every event in the stream's order, `batch_rows` at a time, without the order columns."""
        for day in sorted(self.writers):
            sink, writer = self.writers.pop(day)
            writer.close()
            sink.close()
            with pa.OSFile(self._path(day), "rb") as source:
                table = pa.ipc.open_stream(source).read_all()
            os.remove(self._path(day))
            order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in EVENT_ORDER])
            table = table.take(order).drop_columns(list(EVENT_ORDER))
            for offset in range(0, table.num_rows, batch_rows):
                yield table.slice(offset, batch_rows)
            del table, order

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()
        self.writers.clear()
        self.folder.cleanup()


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
