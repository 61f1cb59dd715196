"""Copy a Stripe account into its DuckDB cache: a full backfill split into `created`
ranges fetched concurrently, then incremental syncs that apply `/v1/events`.

Crash safety: every page is written in the same transaction as the cursor that says it
was written, so a sync killed at any moment resumes where it stopped and ends with
exactly the cache an uninterrupted sync gives.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, NamedTuple

import duckdb
# pyarrow imports pandas on its first `pa.array` (in `ingest.prepare`). Imported here, that
# one-off cost is paid before the fetch threads start, not by all of them at once while they
# compete for the interpreter (0.5 s at the start of a backfill, measured).
import pandas  # noqa: F401
import stripe

from . import created_ranges, event_apply, ingest, pager
from .access import UNKNOWN_ACCOUNT, cache_belongs_to
from .cache import (Cache, CacheAccountError, CacheError, CacheInfo, CachePlaceError, SyncLockedError, cache_path,
                    check_existing, check_file, check_folder, check_place, classify_error, utcnow, writer_lock)
from .config import Settings
from .fetch_pacing import MAX_IN_FLIGHT, InFlightGate
from .pager import Fetcher
from .schema import ACCOUNT, BALANCE, RESOURCE_BY_NAME, RESOURCE_BY_OBJECT, RESOURCES, Resource, select
from .stripe_client import StripeAccess, build_client, redact
from .stripe_errors import Failure, access_needed, describe, plain

log = logging.getLogger(__name__)

EVENT_RETENTION = timedelta(days=30)
# Stripe keeps events 30 days; leave a margin so a sync never relies on the edge.
EVENT_CURSOR_MAX_AGE = EVENT_RETENTION - timedelta(hours=6)
EVENT_WARNING_AGE = timedelta(days=20)  # from then on the Data page asks for a sync soon
DEFAULT_SLICES = 16
EARLIEST = 1262304000  # 2010-01-01: before any Stripe account existed
PAGES_PER_TRANSACTION = 50
FLUSH_SECONDS = 0.5
EVENTS_PER_TRANSACTION = 200
IDLE_CHECKPOINT_BYTES = 16 << 20  # the log is folded in from this size when the writer would wait anyway
SPLIT_MIN_PAGES = 1  # a range is split only when it is estimated to hold this many more pages


class SyncError(Exception):
    """A sync cannot go on; the message is plain and contains no secret."""


class SyncAuthError(SyncError):
    pass


class SyncBusyError(SyncError):
    """Another sync of the same account holds its writer lock."""


class SyncPlaceError(SyncError):
    """The cache's place (DATA_DIR or --db) cannot be used, or holds another account's cache."""


@dataclass
class SyncProgress:
    phase: str  # "backfill", "events", "done"
    resource: str | None
    objects: int
    fraction: float
    message: str


@dataclass
class SyncReport:
    account_id: str
    db_path: Path
    kind: str  # "full" or "incremental"
    reason: str
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    events_applied: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0  # wall time spent writing to DuckDB (the rest is waiting on Stripe)
    write_cpu_seconds: float = 0.0  # CPU time of the writing thread (excludes waiting for the GIL)
    concurrency: Any = None  # the backfill's InFlightGate: its limit, peak and measured time per request
    ranges_split: int = 0  # `created` ranges the backfill split off for readers that would be idle

    @property
    def objects(self) -> int:
        return sum(self.written.values())


ProgressCallback = Callable[[SyncProgress], None]


class _ReadPage(NamedTuple):
    """A page of a backfill range with its rows prepared for the writer (in the reader's thread)."""

    page: pager.Page
    rows: ingest.Prepared

    @property
    def after(self) -> str | None:
        return self.page.after

    @property
    def last(self) -> bool:
        return self.page.last


def permission_message(resource: Resource) -> str:
    return (f"this key cannot read {resource.name.replace('_', ' ')}: "
            f"{access_needed(resource.permission, 'Read', resource.needed_for)}")


RESUMES = "Sync again: it resumes where it stopped."


def auth_message(error: stripe.AuthenticationError) -> str:
    return f"{plain(error)} Check STRIPE_API_KEY, or connect the account again."


# ---------------------------------------------------------------------------- state

def _load_state(cache: Cache) -> dict[str, dict]:
    rows = cache.con.execute(
        "SELECT resource, backfill_complete, cursor, last_sync_at, skipped_reason FROM sync_state"
    ).fetchall()
    return {r[0]: {"backfill_complete": r[1], "cursor": json.loads(r[2]) if r[2] else None,
                   "last_sync_at": r[3], "skipped_reason": r[4]} for r in rows}


def _save_state(con, resource: str, **values: Any) -> None:
    con.execute("INSERT OR IGNORE INTO sync_state (resource) VALUES (?)", [resource])
    for key, value in values.items():
        if key == "cursor" and value is not None:
            value = json.dumps(value)
        con.execute(f"UPDATE sync_state SET {key} = ? WHERE resource = ?", [value, resource])


def event_cursor(cache: Cache) -> dict | None:
    raw = cache.get_meta("event_cursor")
    return json.loads(raw) if raw else None


class PlanCause(StrEnum):
    """Why the next sync is full or incremental."""

    NEVER_SYNCED = "never_synced"
    CURSOR_UNKNOWN = "cursor_unknown"
    EVENTS_EXPIRED = "events_expired"  # the last applied event is older than Stripe keeps events
    FULL_ASKED = "full_asked"
    RESUMING_BACKFILL = "resuming_backfill"
    EVENTS = "events"


@dataclass(frozen=True)
class SyncPlan:
    kind: str  # "full" or "incremental"
    cause: PlanCause
    reason: str  # the cause in words
    cursor_age: timedelta | None = None  # how old the last applied event is (None: no cursor yet)

    @property
    def events_expiring(self) -> bool:
        """The next incremental sync is due soon: a little longer and it has to reload everything."""
        return self.cursor_age is not None and EVENT_WARNING_AGE <= self.cursor_age <= EVENT_CURSOR_MAX_AGE


def next_sync_plan(cache: Cache, now: datetime | None = None) -> SyncPlan:
    """What the next sync of this cache does, and why."""
    now = now or utcnow()
    state = _load_state(cache)
    cursor = event_cursor(cache)
    if not cursor:
        if not state:
            return SyncPlan("full", PlanCause.NEVER_SYNCED, "no sync has completed yet")
        return SyncPlan("full", PlanCause.CURSOR_UNKNOWN, "the event cursor is unknown")
    age = timedelta(seconds=now.timestamp() - cursor["created"])
    if age > EVENT_CURSOR_MAX_AGE:
        return SyncPlan("full", PlanCause.EVENTS_EXPIRED, "the last sync is more than 30 days old and Stripe keeps "
                        "events for 30 days, so changes since then can only be found by reloading everything", age)
    unfinished = [r.name for r in RESOURCES if not state.get(r.name, {}).get("backfill_complete")]
    if unfinished:
        return SyncPlan("incremental", PlanCause.RESUMING_BACKFILL,
                        f"resuming the unfinished backfill of {', '.join(unfinished)}", age)
    return SyncPlan("incremental", PlanCause.EVENTS, "applying the changes recorded in Stripe's events", age)


# ---------------------------------------------------------------------------- sync

class _Syncer:
    def __init__(self, cache: Cache, access: StripeAccess, account: dict, progress: ProgressCallback | None,
                 concurrency: int | None, slices: int, report: SyncReport):
        self.cache = cache
        self.access = access
        self.fetcher = Fetcher(access)
        self.account = account
        self.progress = progress or (lambda p: None)
        self.concurrency = concurrency  # None: from the budget and the measured latency
        self.slices = slices
        self.report = report

    # -- helpers
    def _emit(self, phase: str, resource: str | None, fraction: float, message: str) -> None:
        self.progress(SyncProgress(phase, resource, self.report.objects, min(1.0, fraction), message))

    def _record_written(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self.report.written[name] = self.report.written.get(name, 0) + n

    # -- event cursor
    def ensure_event_cursor(self, reset: bool) -> None:
        if event_cursor(self.cache) and not reset:
            return
        try:
            latest = next(self.fetcher.resource_pages(RESOURCE_BY_OBJECT["event"], {"limit": 1})).objects
        except stripe.PermissionError:
            latest = []
        cursor = ({"id": latest[0]["id"], "created": latest[0]["created"], "ids": [latest[0]["id"]]}
                  if latest else {"id": None, "created": int(time.time()), "ids": []})
        with self.cache.transaction() as con:
            con.execute("INSERT OR REPLACE INTO meta VALUES ('event_cursor', ?)", [json.dumps(cursor)])

    # -- backfill
    def _initial_cursor(self, resource: Resource) -> dict:
        upper = int(time.time()) + 1
        if not resource.split_by_created or self.slices <= 1:
            return {"upper": upper, "slices": [{"gte": None, "lt": None, "after": None, "done": False}]}
        lower = self._lower_bound(resource, upper)
        step = max(1, (upper - lower + self.slices - 1) // self.slices)
        bounds = list(range(lower, upper, step)) + [upper]
        slices = [{"gte": a, "lt": b, "after": None, "done": False} for a, b in zip(bounds, bounds[1:])]
        slices[0]["gte"] = None  # anything older than the account's creation date still belongs here
        return {"upper": upper, "slices": slices}

    def _lower_bound(self, resource: Resource, upper: int) -> int:
        """Where the first `created` range of a resource begins (it also takes anything older)."""
        lower = min(int(self.account.get("created") or EARLIEST), upper - 1)
        if resource.name == "events":
            lower = max(lower, upper - int(EVENT_RETENTION.total_seconds()) - 86400)
        return lower

    def backfill(self, resources: list[Resource], reset: bool) -> None:
        state = _load_state(self.cache)
        cursors: dict[str, dict] = {}
        with self.cache.transaction() as con:
            for resource in resources:
                st = state.get(resource.name)
                if reset or not st or not st["cursor"]:
                    cursors[resource.name] = self._initial_cursor(resource)
                    _save_state(con, resource.name, backfill_complete=False, cursor=cursors[resource.name],
                                skipped_reason=None, last_error=None)
                elif not st["backfill_complete"]:
                    cursors[resource.name] = st["cursor"]
                    _save_state(con, resource.name, skipped_reason=None)
        pending = created_ranges.newest_first(cursors)
        if not pending:
            return
        gate = InFlightGate(self.access.limiter.per_second, self.access.stats.thread_round_trips,
                            fixed=self.concurrency)
        self.report.concurrency = gate
        # Bounded so that fetching never runs far ahead of writing: memory stays flat.
        results: "queue.Queue[tuple]" = queue.Queue(maxsize=2 * PAGES_PER_TRANSACTION)
        stop = threading.Event()
        denied: set[str] = set()
        # Guards the cursors (ranges split by the readers, pages recorded by the writer) and `live`.
        lock = threading.Lock()
        live = {"ranges": len(pending), "readers": 0}  # ranges to finish; readers started and not returned
        futures: list = []

        def start(name: str, index: int) -> None:  # called under `lock`
            live["readers"] += 1
            futures.append(pool.submit(work, name, index))

        def split(name: str, sl: dict, newest: int, reached: int, read: int) -> None:
            """Hand the older half of this range to a new reader when one would be idle."""
            with lock:
                if stop.is_set() or name in denied or live["readers"] >= gate.limit:
                    return
                older = created_ranges.split_off_older(
                    sl, lower=self._lower_bound(RESOURCE_BY_NAME[name], cursors[name]["upper"]), newest=newest,
                    reached=reached, read=read, min_objects=SPLIT_MIN_PAGES * pager.PAGE_SIZE)
                if older is None:
                    return
                cursors[name]["slices"].append(older)
                live["ranges"] += 1
                self.report.ranges_split += 1
                start(name, len(cursors[name]["slices"]) - 1)

        def work(name: str, index: int) -> None:
            try:
                read_range(name, index)
            finally:
                with lock:
                    live["readers"] -= 1

        def read_range(name: str, index: int) -> None:
            resource = RESOURCE_BY_NAME[name]
            sl = cursors[name]["slices"][index]
            # An unsplit resource is read whole (no `created` filter): it is small, and some
            # Stripe-compatible servers do not filter every list by `created`.
            whole = len(cursors[name]["slices"]) == 1
            lt = sl["lt"] if sl["lt"] is not None else cursors[name]["upper"]
            newest, read = None, 0

            def read_page(after: str | None) -> _ReadPage:
                # The range as it is now: a split may have narrowed it since the last page.
                created = {} if whole else {"lt": lt} if sl["gte"] is None else {"lt": lt, "gte": sl["gte"]}
                with gate.read():
                    page = self.fetcher.resource_page(resource, {"created": created} if created else {}, after)
                    # Columns and raw JSON are built here, in parallel; the writer only runs DuckDB.
                    return _ReadPage(page, ingest.prepare(page.objects))

            def halted() -> bool:
                """The sync stopped, or another range found the resource denied (said once per range)."""
                if stop.is_set():
                    return True
                if name in denied:
                    results.put(("denied", name, index, None, None, True))
                    return True
                return False

            try:
                if halted():
                    return
                for got in pager.follow(read_page, sl["after"]):
                    results.put(("page", name, index, got.rows, got.after, got.last))
                    if got.last:
                        return
                    read += len(got.page.objects)
                    newest = newest if newest is not None else got.page.objects[0]["created"]
                    if not whole:
                        split(name, sl, newest, got.page.objects[-1]["created"], read)
                    if halted():
                        return
            except stripe.PermissionError:
                denied.add(name)
                results.put(("denied", name, index, None, None, True))
            except stripe.AuthenticationError as error:
                stop.set()
                results.put(("auth", name, index, error, None, True))
            except Exception as error:  # noqa: BLE001 - handed to the writer, which stops the sync
                stop.set()
                results.put(("error", name, index, error, None, True))

        finished = 0
        shown = 0.0
        failure: tuple | None = None
        # As many threads as reads may be in flight: ranges split off while others finish need them.
        with ingest.BulkLoad(self.cache.con, self.cache.path) as bulk, \
                ThreadPoolExecutor(max_workers=self.concurrency or MAX_IN_FLIGHT, thread_name_prefix="sync") as pool:
            with lock:
                for name, index in pending:
                    start(name, index)
            try:
                while finished < live["ranges"] and failure is None:
                    # Group the pages that arrive within a short window into one transaction:
                    # DuckDB's cost is per statement and per commit far more than per row.
                    batch = [results.get()]
                    deadline = time.monotonic() + FLUSH_SECONDS
                    while len(batch) < PAGES_PER_TRANSACTION and finished + len(batch) < live["ranges"]:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        try:
                            batch.append(results.get(timeout=remaining))
                        except queue.Empty:
                            break
                        if batch[-1][5] and finished + sum(1 for item in batch if item[5]) >= live["ranges"]:
                            break
                    finished += sum(1 for item in batch if item[5])
                    failure = next((item for item in batch if item[0] in ("auth", "error")), None)
                    self._write_pages(batch, cursors, lock)
                    # No page waiting, or fewer readers than reads may be in flight (the last reads
                    # of the backfill): fold the log in now, while reads go on, rather than in one
                    # long checkpoint after the last one.
                    idle = results.empty() or live["readers"] < gate.limit
                    bulk.after_commit(idle_from=IDLE_CHECKPOINT_BYTES if idle else None)
                    shown = max(shown, finished / live["ranges"])  # splits add ranges: never move back
                    self._emit("backfill", batch[-1][1], shown,
                               f"{batch[-1][1]}: {self.report.written.get(batch[-1][1], 0)} objects")
            finally:
                with lock:
                    stop.set()
                # Workers may be blocked on a full queue: drain it until every one has returned.
                while not all(f.done() for f in futures):
                    try:
                        results.get(timeout=0.05)
                    except queue.Empty:
                        pass
        if failure:
            kind, name, _, error, _, _ = failure
            if kind == "auth":
                raise SyncAuthError(auth_message(error))
            if describe(error).kind is Failure.NOT_STRIPE:  # a bug, not Stripe's answer: keep its traceback
                log.error("sync: reading %s failed", name, exc_info=error)
            raise SyncError(f"Reading {name} from Stripe failed: {plain(error)} {RESUMES}")

    def _write_pages(self, batch: list[tuple], cursors: dict[str, dict], lock: threading.Lock) -> None:
        pages: list[ingest.Prepared] = []
        touched: set[str] = set()
        skipped: set[str] = set()
        with lock:
            for kind, name, index, payload, after, done in batch:
                if kind == "page":
                    pages.append(payload)
                    sl = cursors[name]["slices"][index]
                    sl["after"] = after
                    sl["done"] = done
                    touched.add(name)
                elif kind == "denied":
                    skipped.add(name)
            # The readers split ranges while this transaction runs: it stores the cursors as they are now.
            saved = {name: copy.deepcopy(cursors[name]) for name in touched}
        began, began_cpu = time.perf_counter(), time.thread_time()
        with self.cache.transaction() as con:
            counts = ingest.write_prepared(con, pages)
            for name in touched:
                complete = all(s["done"] for s in saved[name]["slices"])
                values: dict[str, Any] = {"cursor": saved[name], "backfill_complete": complete}
                if complete:
                    values["last_full_sync_at"] = utcnow()
                _save_state(con, name, **values)
            for name in skipped:
                _save_state(con, name, skipped_reason=permission_message(RESOURCE_BY_NAME[name]))
        self.report.write_seconds += time.perf_counter() - began
        self.report.write_cpu_seconds += time.thread_time() - began_cpu
        self._record_written(counts)
        for name in skipped:
            self.report.skipped[name] = permission_message(RESOURCE_BY_NAME[name])

    # -- watermark resources (no events): fetch what is newer than the newest row
    def catch_up_by_created(self, resource: Resource) -> None:
        """The objects created since the newest stored one. Stripe lists them newest first, so
        the watermark is fixed when the catch-up starts and kept with the page reached, in the
        transaction of each page: a catch-up cut short resumes there, never skipping older ones."""
        cursor = _load_state(self.cache).get(resource.name, {}).get("cursor") or {}
        progress = cursor.get("catch_up")
        if progress is None:
            row = self.cache.con.execute(f"SELECT epoch(max(created))::BIGINT FROM {resource.name}").fetchone()
            progress = {"since": row[0] if row else None, "after": None}
        created = {"created": {"gte": progress["since"]}} if progress["since"] is not None else {}
        try:
            for page in self.fetcher.resource_pages(resource, created, progress["after"]):
                progress = {**progress, "after": page.after}
                with self.cache.transaction() as con:
                    self._record_written(ingest.write_objects(con, page.objects))
                    _save_state(con, resource.name, cursor={**cursor, "catch_up": None if page.last else progress})
        except stripe.PermissionError:
            self.report.skipped[resource.name] = permission_message(resource)
            with self.cache.transaction() as con:
                _save_state(con, resource.name, skipped_reason=permission_message(resource))

    # -- events
    def apply_events(self) -> None:
        cursor = event_cursor(self.cache)
        assert cursor is not None
        events_resource = RESOURCE_BY_OBJECT["event"]
        newest_first: list[dict] = []
        try:
            for page in self.fetcher.resource_pages(events_resource, {"created": {"gte": cursor["created"]}}):
                newest_first.extend(page.objects)
        except stripe.PermissionError:
            self.report.skipped["events"] = permission_message(events_resource)
            return
        seen_at_cursor = set(cursor.get("ids") or [])
        fresh = [e for e in reversed(newest_first)
                 if e["created"] > cursor["created"] or e["id"] not in seen_at_cursor]
        for start in range(0, len(fresh), EVENTS_PER_TRANSACTION):
            chunk = fresh[start:start + EVENTS_PER_TRANSACTION]
            # The same path as the webhooks' (event_apply): in Stripe's order, newest snapshot kept.
            planned = event_apply.plan(self.cache.con, chunk, fetcher=self.fetcher, ordered=True)
            with self.cache.transaction() as con:
                self._record_written(event_apply.write(con, planned, source="sync"))
                last = chunk[-1]
                ids = [e["id"] for e in chunk if e["created"] == last["created"]]
                if last["created"] == cursor["created"]:
                    ids = sorted(set(ids) | set(cursor.get("ids") or []))
                cursor = {"id": last["id"], "created": last["created"], "ids": ids}
                con.execute("INSERT OR REPLACE INTO meta VALUES ('event_cursor', ?)", [json.dumps(cursor)])
            self.report.events_applied += len(chunk)
            self._emit("events", None, (start + len(chunk)) / len(fresh), f"applied {start + len(chunk)} events")
        if not fresh:
            # Keep the cursor young so that a quiet account does not fall out of the 30-day window.
            self.touch_cursor(cursor)

    def read_balance(self) -> dict | None:
        """The live balance (available and pending per currency): one request, or None when it
        cannot be read (the reason in the report's skipped entries)."""
        try:
            balance = self.access.client.v1.balance.retrieve().to_dict(for_json=True)
        except stripe.PermissionError:
            self.report.skipped["balance"] = (f"this key cannot read the balance: give it Read access to "
                                              f"{BALANCE.name} (needed for {BALANCE.needed_for})")
            return None
        except (stripe.InvalidRequestError, stripe.APIError) as error:
            if isinstance(error, stripe.InvalidRequestError) and error.http_status == 404:
                log.info("sync: the API base has no /v1/balance (a Stripe-compatible server); balance not stored")
                return None
            # Only the Account page shows the balance: the sync goes on and says why it is missing.
            message = f"the balance could not be read: {plain(error)} The next sync reads it again."
            log.warning("sync: %s", message)
            self.report.skipped["balance"] = message
            return None
        balance["retrieved_at"] = int(time.time())
        return balance

    def store_balance(self, balance: dict | None) -> None:
        """Keep the balance `read_balance` gave in meta."""
        if balance is None:
            return
        with self.cache.transaction() as con:
            con.execute("INSERT OR REPLACE INTO meta VALUES ('balance', ?)", [json.dumps(balance)])

    def touch_cursor(self, cursor: dict) -> None:
        # Events created in the last minute may still be arriving: never move past them.
        now = int(time.time()) - 60
        if now > cursor["created"]:
            new = {"id": cursor.get("id"), "created": now, "ids": []}
            with self.cache.transaction() as con:
                con.execute("INSERT OR REPLACE INTO meta VALUES ('event_cursor', ?)", [json.dumps(new)])


def fetch_account(access: StripeAccess, *, allow_unknown: bool = False) -> dict:
    """The account the key reads. `allow_unknown`: an API base without `/v1/account` (some
    Stripe-compatible servers) gives a placeholder, for use with an explicit cache path."""
    try:
        return access.client.v1.accounts.retrieve_current().to_dict(for_json=True)
    except stripe.AuthenticationError as error:
        raise SyncAuthError(auth_message(error)) from None
    except stripe.PermissionError:
        raise SyncError(f"This key cannot read the account profile: give it Read access to {ACCOUNT.name} "
                        "(Connect → Accounts), so the cache can be named after the account.") from None
    except stripe.StripeError as error:
        if allow_unknown and error.http_status == 404:
            return {"id": UNKNOWN_ACCOUNT, "object": "account"}
        raise SyncError(f"Stripe could not be asked which account this key belongs to: {plain(error)}") from None


def sync_account(
    settings: Settings,
    *,
    db_path: str | Path | None = None,
    full: bool = False,
    resources: list[str] | None = None,
    progress: ProgressCallback | None = None,
    access: StripeAccess | None = None,
    wait: bool = False,
    slices: int = DEFAULT_SLICES,
) -> SyncReport:
    """Sync one account into its cache and return what happened. Raises SyncError (plain
    message) when it cannot go on; a partial sync always leaves a consistent, resumable cache."""
    started = time.monotonic()
    chosen = select(resources)
    check_cache_place(settings, db_path)
    access = access or build_client(settings)
    account = fetch_account(access, allow_unknown=db_path is not None)
    account_id = account["id"]
    path = Path(db_path) if db_path else cache_path(settings.data_dir, account_id)
    try:
        # Under the writer lock (reading it earlier could collide with a running sync's opening):
        # a foreign, newer, damaged or other account's file is refused untouched before any write,
        # and the lock file is then removed again.
        with writer_lock(path, wait=wait):
            refuse_another_account(check_existing(path, verify=True), account_id)
            cache = Cache.open(path)
            try:
                stored = cache.account_id
                if not stored:
                    with cache.transaction():
                        cache.set_meta("account_id", account_id)
                with cache.transaction():
                    cache.set_meta("account", json.dumps(account))
                plan = next_sync_plan(cache)
                if full:
                    plan = SyncPlan("full", PlanCause.FULL_ASKED, "a full sync was asked for", plan.cursor_age)
                kind, reason = plan.kind, plan.reason
                report = SyncReport(account_id, path, kind, reason)
                run_id = _start_run(cache, kind)
                syncer = _Syncer(cache, access, account, progress, settings.sync_concurrency, slices, report)
                try:
                    reset = kind == "full"
                    syncer.ensure_event_cursor(reset=reset or event_cursor(cache) is None)
                    syncer._emit("backfill", None, 0.0, f"{kind} sync: {reason}")
                    state = _load_state(cache)
                    to_backfill = [r for r in chosen if reset or not state.get(r.name, {}).get("backfill_complete")]
                    # The balance is one request independent of the rest: read while the backfill runs.
                    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-balance") as side:
                        balance = side.submit(syncer.read_balance)
                        syncer.backfill(to_backfill, reset=reset)
                        if kind == "incremental" or not reset:
                            for resource in chosen:
                                if (not resource.has_events and resource not in to_backfill
                                        and resource.name != "events"):
                                    syncer.catch_up_by_created(resource)
                        syncer.apply_events()
                        syncer.store_balance(balance.result())
                    with cache.transaction() as con:
                        for resource in chosen:
                            _save_state(con, resource.name, last_sync_at=utcnow(), last_error=None)
                except SyncError as error:
                    _finish_run(cache, run_id, "failed", str(error), access, report)
                    raise
                except duckdb.Error as error:
                    raise classify_error(path, error) from None  # the cache cannot take the run's record
                except Exception as error:
                    if describe(error).kind is Failure.NOT_STRIPE:  # a bug, not Stripe's answer: keep its traceback
                        log.exception("sync of %s failed", account_id)
                    message = f"{plain(error)} {RESUMES}"
                    _finish_run(cache, run_id, "failed", message, access, report)
                    raise SyncError(message) from None
                report.requests = access.stats.requests
                report.retries = access.stats.retries
                report.seconds = time.monotonic() - started
                _finish_run(cache, run_id, "ok", f"{kind}: {reason}", access, report)
                syncer._emit("done", None, 1.0, f"synced {report.objects} objects")
                return report
            finally:
                cache.close()
    except SyncLockedError as error:
        raise SyncBusyError(str(error)) from None
    except (CachePlaceError, CacheAccountError) as error:
        raise SyncPlaceError(str(error)) from None
    except CacheError as error:
        raise SyncError(str(error)) from None
    except duckdb.Error as error:  # a block of the cache failed its checksum while the sync wrote
        raise SyncError(str(classify_error(path, error))) from None


def refuse_another_account(info: CacheInfo | None, account_id: str) -> None:
    """Raise CacheAccountError, before the file is opened for writing, when the cache `info`
    describes holds another account than the key reads (the rule is access.cache_belongs_to)."""
    belongs = cache_belongs_to(info.account_id if info else None, account_id)
    if not belongs.allowed:
        raise CacheAccountError(f"{info.path}: {belongs.reason} It was left unchanged.")


def check_cache_place(settings: Settings, db_path: str | Path | None = None) -> None:
    """Before any request to Stripe: the cache can be written where the settings put it (a new
    file in DATA_DIR, or `--db`: a writable place, and an existing file a DuckDB database; what
    that database holds is checked under the writer lock). Raises SyncPlaceError naming the
    setting, or SyncError when an existing --db file is not a DuckDB database."""
    try:
        if db_path is None:
            check_folder(settings.data_dir, "DATA_DIR")
            return
        check_place(db_path, "--db")
        check_file(db_path)
    except CachePlaceError as error:
        raise SyncPlaceError(str(error)) from None
    except CacheError as error:
        raise SyncError(str(error)) from None


def _start_run(cache: Cache, kind: str) -> int:
    with cache.transaction() as con:
        run_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM sync_runs").fetchone()[0]
        con.execute("INSERT INTO sync_runs (id, started_at, kind) VALUES (?, ?, ?)", [run_id, utcnow(), kind])
    return run_id


def _finish_run(cache: Cache, run_id: int, outcome: str, message: str, access: StripeAccess,
                report: SyncReport) -> None:
    with cache.transaction() as con:
        con.execute(
            "UPDATE sync_runs SET finished_at = ?, outcome = ?, message = ?, requests = ?, objects = ? WHERE id = ?",
            [utcnow(), outcome, redact(message), access.stats.requests, report.objects, run_id],
        )


def status(cache: Cache) -> list[dict]:
    """Per resource: rows, last sync, skipped reason, and what the next sync will do."""
    state = _load_state(cache)
    kind = next_sync_plan(cache).kind
    counts = cache.row_counts()
    rows = []
    for resource in RESOURCES:
        st = state.get(resource.name, {})
        next_kind = kind if st.get("backfill_complete") else "full"
        rows.append({
            "resource": resource.name, "rows": counts.get(resource.name, 0),
            "last_sync_at": st.get("last_sync_at"), "next": next_kind,
            "skipped": st.get("skipped_reason"),
        })
    return rows
