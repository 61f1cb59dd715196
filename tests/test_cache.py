import contextlib
import os
import stat
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from stripe_analytics import cache as cache_module
from stripe_analytics.cache import (HOLDER_SYNC, HOLDER_WEBHOOKS, SCHEMA_VERSION, Cache, CacheError, CacheInUseError,
                                    SyncLockedError, cache_path, check_file, inspect, writer_lock)
from stripe_analytics.ingest import write_objects
from tests.stripe_fixtures import resources

FIXTURES = resources()


def test_cache_file_is_private(tmp_path):
    path = tmp_path / "data" / "acct_1.duckdb"
    Cache.open(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_every_table_exists_with_typed_columns_and_raw(tmp_path):
    with Cache.open(tmp_path / "c.duckdb") as cache:
        columns = {(r[0], r[1]): r[2] for r in cache.con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns()").fetchall()}
    for table in ("customers", "products", "prices", "coupons", "subscriptions", "subscription_items", "invoices",
                  "invoice_line_items", "charges", "refunds", "payment_intents", "balance_transactions",
                  "disputes", "events"):
        assert columns[(table, "raw")] == "JSON"
        assert columns[(table, "deleted")] == "BOOLEAN"
        assert columns[(table, "created" if table not in ("invoice_line_items",) else "period_start")] \
            == "TIMESTAMP WITH TIME ZONE"
    assert columns[("charges", "amount")] == "BIGINT"
    assert ("sync_state", "cursor") in columns and ("subscription_history", "seen_at") in columns


def test_old_cache_is_upgraded_in_place_without_losing_data(tmp_path):
    path = tmp_path / "old.duckdb"
    with Cache.open(path) as cache:
        with cache.transaction() as con:
            write_objects(con, [FIXTURES["customer"], FIXTURES["charge"]])
        # Make it look like a cache written before `country` and `receipt_email` existed.
        cache.con.execute("ALTER TABLE customers DROP COLUMN country")
        cache.con.execute("ALTER TABLE charges DROP COLUMN receipt_email")
        cache.con.execute("UPDATE customers SET raw = json_merge_patch(raw, '{\"address\": {\"country\": \"FR\"}}')")
        cache.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Cache.open(path, read_only=False) as cache:
        assert cache.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert cache.con.execute("SELECT id, country FROM customers").fetchall() == [(FIXTURES["customer"]["id"], "FR")]
        assert cache.con.execute("SELECT count(*) FROM charges").fetchone()[0] == 1


def test_newer_cache_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    with Cache.open(path) as cache:
        cache.set_meta("schema_version", "999")
    with pytest.raises(CacheError, match="newer version"):
        Cache.open(path)


def test_read_only_open_of_missing_or_corrupt_file_is_a_plain_error(tmp_path):
    with pytest.raises(CacheError, match="No cache"):
        Cache.open(tmp_path / "missing.duckdb", read_only=True)
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError):
        Cache.open(bad, read_only=True)


@pytest.mark.parametrize("account_id", ["../etc/passwd", "acct_1/../../x", "", "cus_123"])
def test_cache_path_only_accepts_account_ids(tmp_path, account_id):
    with pytest.raises(CacheError):
        cache_path(tmp_path, account_id)


def test_cache_path_for_an_account(tmp_path):
    assert cache_path(tmp_path, "acct_1AbC") == tmp_path / "acct_1AbC.duckdb"


def test_second_writer_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "acct_x.duckdb"
    with writer_lock(path):
        with pytest.raises(SyncLockedError, match="Another sync of this account is running"):
            with writer_lock(path):
                pass
    with writer_lock(path):  # released again
        pass


@contextlib.contextmanager
def lock_held_by(path, holder):
    """A thread holds `path`'s writer lock as `holder` until the block ends; yields what it saw
    (`order`) and the event that lets it go."""
    held, release, order = threading.Event(), threading.Event(), []

    def hold():
        with writer_lock(path, holder=holder):
            held.set()
            release.wait(30)
            order.append(f"{holder} lets go")

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    try:
        yield order, release
    finally:
        release.set()
        thread.join()


def test_a_sync_does_not_fail_because_the_server_is_applying_webhooks_for_a_moment(tmp_path):
    path = tmp_path / "acct_x.duckdb"
    with lock_held_by(path, HOLDER_WEBHOOKS) as (order, release):
        threading.Timer(0.3, release.set).start()
        with writer_lock(path):  # a sync, not asked to wait
            order.append("the sync writes")
    assert order == ["webhooks lets go", "the sync writes"]


def test_a_webhook_hold_that_does_not_end_is_reported_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "BRIEF_HOLD_PATIENCE", 0.3)
    path = tmp_path / "acct_x.duckdb"
    with lock_held_by(path, HOLDER_WEBHOOKS) as (order, _):
        with pytest.raises(SyncLockedError, match=f"The server \\(pid {os.getpid()}\\) is writing webhook events") \
                as refused:
            with writer_lock(path):
                pass
        assert order == []
    assert refused.value.holder == HOLDER_WEBHOOKS


def test_a_sync_holding_the_lock_is_not_waited_for_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "BRIEF_HOLD_PATIENCE", 60.0)  # (were it waited for, it would be got)
    path = tmp_path / "acct_x.duckdb"
    with lock_held_by(path, HOLDER_SYNC) as (order, _):
        with pytest.raises(SyncLockedError, match=f"Another sync of this account is running \\(pid {os.getpid()}\\)") \
                as refused:
            with writer_lock(path, holder=HOLDER_WEBHOOKS):
                pass
        assert order == []  # refused while the sync still held it
    assert refused.value.holder == HOLDER_SYNC


def test_second_writer_can_wait(tmp_path):
    path = tmp_path / "acct_x.duckdb"
    order = []
    first_has_lock = threading.Event()
    release = threading.Event()

    def first():
        with writer_lock(path):
            order.append("first in")
            first_has_lock.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_has_lock.wait(5)
    release.set()
    with writer_lock(path, wait=True):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_reading_while_this_process_writes_says_in_use_not_damaged(tmp_path):
    path = tmp_path / "acct_busy.duckdb"
    with Cache.open(path):
        with pytest.raises(CacheError, match="in use"):
            Cache.open(path, read_only=True)


OTHER_PROCESS_READS = """
import sys
from stripe_analytics.cache import Cache, CacheInUseError
try:
    Cache.open(sys.argv[1], read_only=True).close()
    print("opened")
except CacheInUseError:
    print("in use")
"""


def other_process_reads(path) -> str:
    return subprocess.run([sys.executable, "-c", OTHER_PROCESS_READS, str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_while_this_process_writes_a_cache_other_processes_stay_locked_out_whatever_this_one_tries(tmp_path):
    """DuckDB locks the file with a POSIX record lock, which the process loses when any of its
    descriptors of the file is closed: reading the file's header beside DuckDB let another
    process open a cache this one was writing (a webhook burst then read back torn)."""
    path = tmp_path / "acct_held.duckdb"
    Cache.open(path).close()
    with Cache.open(path) as cache:
        with cache.transaction():
            cache.set_meta("account_id", "acct_held")
        assert other_process_reads(path) == "in use"
        for attempt in (lambda: Cache.open(path, read_only=True), lambda: Cache.open(path), lambda: inspect(path)):
            with pytest.raises(CacheInUseError):
                attempt()
        assert check_file(path) is True
        assert other_process_reads(path) == "in use"
    assert other_process_reads(path) == "opened"


def test_an_existing_folder_keeps_its_mode_and_only_the_new_file_is_private(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    os.chmod(public, 0o1777)
    Cache.open(public / "acct_1.duckdb").close()
    assert stat.S_IMODE(os.stat(public).st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(public / "acct_1.duckdb").st_mode) == 0o600


def test_a_foreign_duckdb_file_is_refused_for_writing_and_left_unchanged(tmp_path):
    import duckdb

    from stripe_analytics.cache import NotACacheError

    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (x INTEGER)")
    con.close()
    os.chmod(path, 0o644)
    before = path.read_bytes()
    with pytest.raises(NotACacheError, match="not a Stripe Analytics cache"):
        Cache.open(path)
    assert path.read_bytes() == before and stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_an_empty_duckdb_database_becomes_a_cache(tmp_path):
    import duckdb

    path = tmp_path / "new.duckdb"
    duckdb.connect(str(path)).close()
    with Cache.open(path) as cache:
        assert cache.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_a_reading_command_upgrades_an_older_cache_then_reads_it_read_only(tmp_path):
    from stripe_analytics.cache import open_for_reading

    path = tmp_path / "old.duckdb"
    with Cache.open(path) as cache:
        cache.con.execute("ALTER TABLE customers DROP COLUMN country")
        cache.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with open_for_reading(path, verify=True) as cache:
        assert cache.read_only and cache.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert "country" in {r[0] for r in cache.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'customers'").fetchall()}


def test_a_cache_whose_creation_was_cut_short_is_adopted(tmp_path):
    """An earlier version created `meta` before the rest, so a sync killed at that moment left a
    file holding only an empty `meta`: the next sync takes it as the empty cache it is."""
    import duckdb

    path = tmp_path / "acct_1.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    with Cache.open(path) as cache:
        assert cache.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),)
        assert "customers" in cache.row_counts()


def test_a_schema_3_cache_opens_and_loses_only_its_unused_sync_state_columns(tmp_path):
    path = tmp_path / "three.duckdb"
    with Cache.open(path) as cache:
        with cache.transaction() as con:
            write_objects(con, [FIXTURES["customer"]])
            con.execute("INSERT INTO sync_state (resource, backfill_complete) VALUES ('customers', true)")
        # As schema 3 left it: two sync_state columns that were never written.
        cache.con.execute("ALTER TABLE sync_state ADD COLUMN last_event_id VARCHAR")
        cache.con.execute("ALTER TABLE sync_state ADD COLUMN last_event_created TIMESTAMPTZ")
        cache.con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    def sync_state_columns(cache):
        return {r[0] for r in cache.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'sync_state'").fetchall()}

    with Cache.open(path, read_only=True) as cache:  # the app reads it as it is
        assert cache.con.execute("SELECT id FROM customers").fetchall() == [(FIXTURES["customer"]["id"],)]
        assert "last_event_id" in sync_state_columns(cache)
    with Cache.open(path) as cache:  # the next write upgrades it
        assert cache.get_meta("schema_version") == str(SCHEMA_VERSION) == "4"
        assert not {"last_event_id", "last_event_created"} & sync_state_columns(cache)
        assert cache.con.execute("SELECT resource, backfill_complete FROM sync_state").fetchall() == [("customers", True)]
        assert cache.con.execute("SELECT count(*) FROM customers").fetchone()[0] == 1


def test_a_read_only_cache_leaves_room_for_the_metrics_frames(tmp_path):
    # A reading process (dashboard, metrics) also holds the engine's frames; DuckDB gets less
    # there than a writer does, so the whole process stays under 2 GB (README "Benchmarks").
    path = tmp_path / "c.duckdb"
    Cache.open(path).close()
    limit = "SELECT current_setting('memory_limit')"
    with Cache.open(path) as writer:
        written = writer.con.execute(limit).fetchone()[0]
    with Cache.open(path, read_only=True) as reader:
        read = reader.con.execute(limit).fetchone()[0]
    assert read == "1.0 GiB" and written != read  # 1100 MB; the writer keeps its own limit


def test_a_read_only_query_that_needs_more_memory_gets_the_writers_limit_once(tmp_path, monkeypatch):
    # A larger account than the benchmark's must not fail where the writer's limit would have held.
    import stripe_analytics.cache as cache_module

    monkeypatch.setattr(cache_module, "READ_MEMORY_LIMIT", "20MB")
    monkeypatch.setattr(cache_module, "MEMORY_LIMIT", "1GB")
    path = tmp_path / "c.duckdb"
    Cache.open(path).close()
    big = "SELECT len(list(i)) FROM range(6000000) t(i)"  # a list aggregate: held in memory whole
    limit = "SELECT current_setting('memory_limit')"
    with Cache.open(path, read_only=True) as reader:
        tight = reader.con.execute(limit).fetchone()[0]
        with pytest.raises(duckdb.OutOfMemoryException):
            reader.con.execute(big).fetchone()
        assert cache_module.with_headroom(reader.con, lambda: reader.con.execute(big).fetchone()) == (6000000,)
        assert reader.con.execute(limit).fetchone()[0] == tight
    with Cache.open(path) as writer, pytest.raises(duckdb.OutOfMemoryException):
        writer.con.execute("SET memory_limit = '20MB'")
        cache_module.with_headroom(writer.con, lambda: writer.con.execute(big).fetchone())


def test_meta_is_read_one_way():
    # One reader of the cache's `meta` values (cache.read_meta), whichever connection asks.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readers = [f"{path.relative_to(root)}:{n}" for path in sorted((root / "src").rglob("*.py"))
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"FROM meta WHERE", line, re.I)]
    assert readers == ["src/stripe_analytics/cache.py:" + readers[0].rsplit(":", 1)[1]] and len(readers) == 1, readers



def test_threads_opening_one_cache_at_once_each_get_a_working_connection(tmp_path, monkeypatch):
    """The warm-up thread and the first page load open the same cache together. DuckDB shares
    one instance per file in a process and adds its Python scans (behind `register`) just after
    creating it, so a connection taken in between cannot `register` a frame ("Table Function
    with name pandas_scan does not exist"; seen on a loaded machine, rarely on a quiet one).
    Opening is therefore one at a time: the real `duckdb.connect` is timed here, held a moment
    so that overlapping calls would show, and every thread still reads its registered frame."""
    import pandas as pd

    import stripe_analytics.cache as cache_module

    real_connect = duckdb.connect
    inside, most_inside = 0, 0
    count = threading.Lock()

    def timed_connect(*args, **kwargs):
        nonlocal inside, most_inside
        with count:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            con = real_connect(*args, **kwargs)
            time.sleep(0.05)
            return con
        finally:
            with count:
                inside -= 1

    path = tmp_path / "c.duckdb"
    Cache.open(path).close()
    monkeypatch.setattr(cache_module.duckdb, "connect", timed_connect)
    frame = pd.DataFrame({"amount": [100, 250]})
    start = threading.Barrier(4)
    failures: list[str] = []

    def read() -> None:
        start.wait()
        try:
            with Cache.open(path, read_only=True) as cache:
                cache.con.register("amounts", frame)
                assert cache.con.execute("SELECT sum(amount) FROM amounts").fetchone() == (350,)
        except Exception as error:  # collected: an exception in a thread would not fail the test
            failures.append(repr(error))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert most_inside == 1
