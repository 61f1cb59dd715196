"""Build the demo account's cache through the same ingestion code that sync uses."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time, timezone
from time import monotonic, sleep
from pathlib import Path
from typing import Callable

from . import ingest, notes
from .cache import Cache, CacheInUseError, NotACacheError, check_existing, check_place, writer_lock

BATCH_OBJECTS = 5000


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
) -> dict[str, int]:
    """Generate the demo account and write it to `path` (replacing any previous demo there).
    The file is built beside the target and renamed into place, so a reader never sees half of it.
    Only a demo cache (or an empty DuckDB database) is replaced: any other file at `path` is
    refused untouched, as is a place that cannot be written (CachePlaceError naming `source`)."""
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
    counts: dict[str, int] = {}
    with writer_lock(path, wait=True):
        cache = Cache.open(tmp)
        try:
            with cache.transaction():
                cache.set_meta("account_id", account.account["id"])
                cache.set_meta("account", json.dumps(account.account))
                cache.set_meta("demo", json.dumps({"seed": seed, "customers": customers,
                                                   "as_of": str(as_of) if as_of else None}))
            batch: list[dict] = []
            seen_customers = 0
            with ingest.BulkLoad(cache.con, tmp) as bulk:
                # Generating and preparing (Python) overlap the previous batch's write (DuckDB).
                writer = ingest.WriterThread(cache.con, cache.transaction, bulk, history_source="demo")
                try:
                    for obj in account.iter_objects():
                        batch.append(obj)
                        if obj.get("object") == "customer":
                            seen_customers += 1
                        if len(batch) >= BATCH_OBJECTS:
                            writer.submit(ingest.prepare(batch))
                            batch = []
                            if progress:
                                progress(SyncProgress(
                                    "backfill", None, sum(writer.counts.values()), min(1.0, seen_customers / customers),
                                    f"building the demo account: {seen_customers}/{customers} customers"))
                    if batch:
                        writer.submit(ingest.prepare(batch))
                finally:
                    counts = writer.close()
            with cache.transaction() as con:
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
