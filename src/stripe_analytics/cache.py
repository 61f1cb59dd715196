"""The DuckDB cache: one file per Stripe account, versioned and migrated.

What the app creates is private: a missing data folder is made owner-only (0700) and a new
cache file owner-only (0600). Nothing it did not create is ever changed: an existing folder
keeps its mode, and an existing file is identified read-only first (`inspect`) and refused,
untouched, when it is not a Stripe Analytics cache, is one of a newer schema or of another
account, or is damaged."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from . import schema

SCHEMA_VERSION = 4  # 3: applied_events and object_versions (webhooks); 4: sync_state without its unused columns
# Schemas read as they are: 3 differs from 4 only by two sync_state columns nothing reads.
READABLE_SCHEMA_VERSIONS = (3, SCHEMA_VERSION)
# Columns of older schemas that were never written (the event cursor is kept in `meta`).
DROPPED_COLUMNS = (("sync_state", "last_event_id"), ("sync_state", "last_event_created"))
# DuckDB caches up to 80 % of RAM by default; an analytics laptop app should stay well below.
# Queries that need more spill to disk instead of failing.
MEMORY_LIMIT = "1536MB"
# A read-only cache serves the dashboard and the metrics, whose process also holds Python's frames
# (the engine's kept MRR components and snapshots): with this limit the metrics of a
# 100,000-customer account stay under 2 GB for the whole process (`make bench-metrics`).
READ_MEMORY_LIMIT = "1100MB"
# A read-only cache's query that DuckDB cannot fit (or spill) under READ_MEMORY_LIMIT, on an
# account larger than the benchmark's, is run once more with the writer's limit (`with_headroom`).
_ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9_]{1,64}$")
# Every DuckDB file starts with an 8-byte checksum followed by this magic.
_DUCKDB_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8


class CacheError(Exception):
    """The cache file cannot be used; the message says why in plain words."""


class CacheMissingError(CacheError):
    """There is no file at the path."""


class CacheInUseError(CacheError):
    """Another process (or another connection of this one) holds the file for a moment."""


class SyncLockedError(CacheInUseError):
    """Another process is writing this account's cache; `holder` says who (`writer_lock`)."""

    def __init__(self, message: str, holder: str = "sync"):
        super().__init__(message)
        self.holder = holder


class NotACacheError(CacheError):
    """The file is not a Stripe Analytics cache (another DuckDB database, or not DuckDB at all)."""


class CacheTooNewError(CacheError):
    """The cache was written by a newer version of the app."""


class CacheAccountError(CacheError):
    """The cache holds another account than the key or token reads (see access.cache_belongs_to)."""


class CacheDamagedError(CacheError):
    """Part of the file cannot be read back: truncated or overwritten."""


class CachePlaceError(CacheError):
    """The cache's folder or file cannot be used (not a folder, not writable, not readable):
    a problem of the setting or argument that names the place, `source`."""

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


@dataclass(frozen=True)
class CacheInfo:
    """What `inspect` learnt from a file without changing it."""

    path: Path
    schema_version: int  # 0: an empty DuckDB database (no tables yet)
    account_id: str | None
    demo: bool

    @property
    def empty(self) -> bool:
        return self.schema_version == 0


def cache_path(data_dir: Path, account_id: str) -> Path:
    """Where an account's cache lives. The id comes from Stripe, but is still checked so no
    value can point outside the data folder."""
    if account_id != "demo" and not _ACCOUNT_ID.match(account_id):
        raise CacheError(f"{account_id!r} is not a Stripe account id")
    return Path(data_dir) / f"{account_id}.duckdb"


# ---------------------------------------------------------------------------- places

def check_place(path: str | Path, source: str) -> None:
    """Raise CachePlaceError (naming `source`, the setting or argument the path comes from)
    unless a cache can be written at `path`: an existing writable file, or a new file in a
    writable folder, or in folders that can be created. Creates and changes nothing."""
    path = Path(path)
    if _exists(path, source):
        if path.is_dir():
            raise CachePlaceError(f"{source}: {path} is a folder, not a cache file.", source)
        if not os.access(path, os.R_OK | os.W_OK):
            raise CachePlaceError(f"{source}: the cache {path} is read-only for this user; make it writable "
                                  "or choose another file.", source)
        return
    folder = _nearest_folder(path.parent, source)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CachePlaceError(f"{source}: this user cannot write in {folder} (permission denied); "
                              "choose a writable folder.", source)


def check_folder(folder: str | Path, source: str) -> None:
    """Raise CachePlaceError unless caches can be written in `folder` (or it can be created)."""
    check_place(Path(folder) / "cache.duckdb", source)


def check_readable_folder(folder: str | Path, source: str) -> bool:
    """Whether `folder` exists (False: it does not, and could be created); raises CachePlaceError
    naming `source` when a file is in the way or this user cannot list or reach it. Reading
    needs no write access."""
    folder = Path(folder)
    nearest = _nearest_folder(folder, source)
    if nearest != folder:
        return False
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CachePlaceError(f"{source}: this user cannot read {folder} (permission denied).", source)
    return True


def _nearest_folder(folder: Path, source: str) -> Path:
    """`folder`, or the nearest folder above it that exists; CachePlaceError when that is a file."""
    while not _exists(folder, source):
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise CachePlaceError(f"{source}: {folder} is a file, not a folder.", source)
    return folder


def _exists(path: Path, source: str) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False
    except PermissionError:
        raise CachePlaceError(f"{source}: this user cannot reach {path} (permission denied on a folder "
                              "above it).", source) from None
    return True


def make_folders(folder: Path) -> None:
    """Create `folder` and any missing folder above it, each owner-only; folders that already
    exist are left exactly as they are."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for part in reversed(missing):
        try:
            os.mkdir(part, 0o700)
        except FileExistsError:
            if not part.is_dir():
                raise
            continue


# DuckDB's Python package shares one database instance per file within a process and adds its
# Python table functions (the scans behind `register`) to that instance just after creating it;
# a second thread opening the same file at that moment gets the instance without them, and its
# `con.register(...)` fails ("Table Function with name pandas_scan does not exist"). The warm-up
# thread and the first page load open the same cache together at start-up, so files are opened
# one at a time. (Measured: 4 threads opening one file at once, 200 trials: 123 failed on a
# loaded machine and 1 on a quiet one; with the lock, 0.)
_OPENING = threading.Lock()
# The caches this process has open (`check_file` must not read their header: see `_connect`).
_OPEN_HERE: "weakref.WeakSet[Cache]" = weakref.WeakSet()


def _create_private(path: Path) -> None:
    make_folders(path.parent)
    old = os.umask(0o077)  # DuckDB creates the file with the process umask: owner-only from the start
    try:
        with _OPENING:
            duckdb.connect(str(path)).close()
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------- identifying a file

def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to an existing file. The file's header is read (for the plain
    message of a file that is not DuckDB's) only when DuckDB refused the file for another reason
    than its use: DuckDB locks the file with a POSIX record lock, which this process would lose
    for every connection it holds to the file the moment the header's descriptor was closed
    (another process could then open a cache this one writes). Under `_OPENING`, no other
    thread of this process opens the file meanwhile."""
    with _OPENING:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            refused = classify_error(path, error)
            if not isinstance(refused, CacheInUseError):
                _check_header(path)
            raise refused from None


def classify_error(path: Path, error: Exception) -> CacheError:
    """The typed CacheError for a DuckDB failure on `path` (the one place that reads DuckDB's
    words: it has a single exception type for a held lock and for a damaged file)."""
    text = str(error)
    lowered = text.lower()
    # Another process holds the file ("lock"), or this process has it open with another
    # configuration: either way it is in use for a moment, not damaged.
    if "could not set lock" in lowered or "conflicting lock" in lowered or "different configuration" in lowered:
        return CacheInUseError(f"The cache {path.name} is in use by another process (a sync or another app). "
                               "Wait for it to finish and try again.")
    if isinstance(error, duckdb.IOException) and "permission denied" in lowered:
        return CachePlaceError(f"The cache {path} cannot be opened: permission denied.", str(path))
    detail = text.splitlines()[0] if text else type(error).__name__
    return damaged(path, detail)


def damaged(path: Path, detail: str) -> CacheDamagedError:
    """The plain message for a damaged cache, with the way to recover."""
    aside = f"{path}.damaged"
    return CacheDamagedError(
        f"The cache {path} is damaged: part of it cannot be read back ({detail}). "
        f"Keep it aside and rebuild it: `mv {path} {aside}`, then `stripe-analytics sync --full --db {path}` "
        f"(for the demo account: `stripe-analytics demo --db {path}`).")


def inspect(path: str | Path, *, verify: bool = False) -> CacheInfo:
    """What the file at `path` is, read-only: raises CacheMissingError, NotACacheError,
    CacheTooNewError, CacheDamagedError, CacheInUseError or CachePlaceError (not readable).
    With `verify`, every table is read completely first (see `verify_tables`)."""
    con, info = _open_identified(Path(path), verify=verify)
    con.close()
    return info


def check_file(path: str | Path) -> bool:
    """Without opening it with DuckDB (so a running sync is not disturbed): False when there is
    nothing at `path`; raises NotACacheError for a folder or a file that is not a DuckDB
    database, CachePlaceError when it cannot be read."""
    path = Path(path)
    try:
        _check_present(path)
    except CacheMissingError:
        return False
    with _OPENING:
        if not any(not cache.closed and _same_file(cache.path, path) for cache in list(_OPEN_HERE)):
            _check_header(path)  # (a cache this process has open is DuckDB's: see `_connect`)
    return True


def _same_file(one: Path, other: Path) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(one, other)
    return False


def _check_present(path: Path) -> None:
    if not _exists(path, str(path)):
        raise CacheMissingError(f"No cache at {path}: sync an account or build the demo first.")
    if path.is_dir():
        raise NotACacheError(f"{path} is a folder, not a cache file.")


def _check_header(path: Path) -> None:
    """NotACacheError unless the file starts as a DuckDB database (see `_connect` for when
    this may be read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_OFFSET + len(_DUCKDB_MAGIC))
    except PermissionError:
        raise CachePlaceError(f"The cache {path} cannot be read by this user (permission denied).",
                              str(path)) from None
    except OSError as error:
        raise damaged(path, error.strerror or type(error).__name__) from None
    if head[_MAGIC_OFFSET:] != _DUCKDB_MAGIC:
        what = "an empty file" if not head else "not a DuckDB database"
        raise NotACacheError(f"{path} is {what}, so not a Stripe Analytics cache; it was left unchanged.")


def _open_identified(path: Path, *, verify: bool) -> tuple[duckdb.DuckDBPyConnection, CacheInfo]:
    """A read-only connection to `path` and what the file is (see `inspect`)."""
    _check_present(path)
    con = _connect(path, read_only=True)
    try:
        info = _identify(con, path)
        if verify and not info.empty:
            verify_tables(con, path)
        return con, info
    except duckdb.Error as error:
        con.close()
        raise classify_error(path, error) from None
    except BaseException:
        con.close()
        raise


def check_existing(path: str | Path, *, verify: bool = False) -> CacheInfo | None:
    """None when there is no file at `path`; else what `inspect` finds (refusing what is not
    a usable cache)."""
    try:
        return inspect(path, verify=verify)
    except CacheMissingError:
        return None


def _identify(con: duckdb.DuckDBPyConnection, path: Path) -> CacheInfo:
    names = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
    ).fetchall()}
    if not names:
        return CacheInfo(path, 0, None, False)
    foreign = NotACacheError(
        f"{path} is a DuckDB database but not a Stripe Analytics cache (it holds "
        f"{', '.join(sorted(names)[:4])}{', …' if len(names) > 4 else ''}); it was left unchanged. "
        "Choose another file.")
    if "meta" not in names:
        raise foreign
    if names == {"meta"} and not con.execute("SELECT count(*) FROM meta").fetchone()[0]:
        return CacheInfo(path, 0, None, False)  # a cache whose creation was cut short by an earlier version
    try:
        meta = {key: read_meta(con, key) for key in ("schema_version", "account_id", "demo")}
    except (duckdb.BinderException, duckdb.CatalogException, duckdb.ConversionException):
        raise foreign from None
    version = str(meta["schema_version"] or "")
    if not version.isdigit():
        raise foreign
    if int(version) > SCHEMA_VERSION:
        raise CacheTooNewError(f"{path} was written by a newer version of Stripe Analytics (schema {version}); "
                               "upgrade the app to use it. It was left unchanged.")
    return CacheInfo(path, int(version), meta["account_id"], meta["demo"] is not None)


def verify_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Read every column of every row of every table (DuckDB checks each block's checksum as
    it reads it, and a truncated file runs out of bytes), so a damaged cache is found before a
    sync writes on top of it or a report is computed from it. Raises CacheDamagedError."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
    try:
        for table in tables:
            con.execute(f'SELECT bit_xor(hash(t)) FROM "{table}" AS t').fetchall()
    except duckdb.Error as error:
        raise classify_error(path, error) from None


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring any older cache to SCHEMA_VERSION in place: create missing tables, add missing
    columns (new typed columns are back-filled from `raw`), never drop data."""
    # `meta` is created inside the transaction below with everything else: a process killed
    # while creating a cache leaves either nothing or a whole cache, never a lone `meta`.
    has_meta = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                           "AND table_name = 'meta'").fetchone()[0]
    stored = read_meta(con, "schema_version") if has_meta else None
    version = int(stored) if stored else 0
    if version > SCHEMA_VERSION:
        raise CacheError(
            f"This cache was written by a newer version of Stripe Analytics (schema {version}); upgrade the app."
        )
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN")
    try:
        for sql in schema.SUPPORT_TABLES_SQL:
            con.execute(sql)
        existing_tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in schema.TABLES:
            if table.name not in existing_tables:
                con.execute(schema.create_table_sql(table))
                continue
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table.name]).fetchall()}
            for column in table.columns:
                if column.name not in have:
                    con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" '
                                f'{column.type.replace(" PRIMARY KEY", "")}')
                    _backfill_column(con, table, column)
            for name, type_ in schema.COMMON_COLUMNS:
                if name not in have:
                    con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {type_}')
        for table_name, column_name in DROPPED_COLUMNS:
            con.execute(f'ALTER TABLE {table_name} DROP COLUMN IF EXISTS "{column_name}"')
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _backfill_column(con: duckdb.DuckDBPyConnection, table: schema.Table, column: schema.Column) -> None:
    rows = con.execute(f"SELECT id, raw FROM {table.name} WHERE raw IS NOT NULL").fetchall()
    if not rows:
        return
    values = [(column.extract(json.loads(raw)), id_) for id_, raw in rows]
    if column.type == schema.TS:
        con.executemany(f'UPDATE {table.name} SET "{column.name}" = to_timestamp(?) WHERE id = ?', values)
    else:
        con.executemany(f'UPDATE {table.name} SET "{column.name}" = ? WHERE id = ?', values)


@dataclass(eq=False)
class Cache:
    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        _OPEN_HERE.add(self)

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, verify: bool = False) -> "Cache":
        """The cache at `path`. Read-only: it must exist and be a cache of this schema. For
        writing: a missing file is created (owner-only); an existing one is identified first,
        read-only, and refused untouched unless it is a cache (or an empty DuckDB database) not
        newer than this app; an older cache is then upgraded in place. `verify` reads every
        table completely first. Whose account it holds is the caller's decision
        (`access.cache_belongs_to`, on `inspect`'s answer), taken before opening for writing."""
        path = Path(path)
        if read_only:
            return cls._open_read_only(path, verify=verify)
        if check_existing(path, verify=verify) is None:
            _create_private(path)
        con = _connect(path, read_only=False)
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            _migrate(con)
        except BaseException:
            con.close()
            raise
        return cls(path, con)

    @classmethod
    def _open_read_only(cls, path: Path, *, verify: bool) -> "Cache":
        # One connection both identifies the file and serves the reads (refusing missing,
        # foreign, newer and unreadable files with their own message).
        con, info = _open_identified(path, verify=verify)
        try:
            if info.empty:
                raise NotACacheError(f"{path} is an empty DuckDB database, not yet a cache: sync an account into "
                                     "it first.")
            if info.schema_version not in READABLE_SCHEMA_VERSIONS:
                raise CacheError(f"{path} has schema {info.schema_version}; open it once for writing "
                                 f"(e.g. `stripe-analytics sync --db {path}`) to upgrade it.")
            con.execute(f"SET memory_limit = '{READ_MEMORY_LIMIT}'")
        except BaseException:
            con.close()
            raise
        return cls(path, con, read_only=True)

    def close(self) -> None:
        self.con.close()
        self.closed = True

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return read_meta(self.con, key)

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    @property
    def account_id(self) -> str | None:
        return self.get_meta("account_id")

    @property
    def data_version(self) -> int:
        return int(self.get_meta("data_version") or 0)

    def bump_data_version(self) -> None:
        self.set_meta("data_version", str(self.data_version + 1))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
            self.bump_data_version()
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def row_counts(self) -> dict[str, int]:
        return {t.name: self.con.execute(f"SELECT count(*) FROM {t.name} WHERE NOT deleted").fetchone()[0]
                for t in schema.TABLES}


def open_waiting(path: str | Path, *, patience: float, pause: float = 0.2) -> Cache:
    """`Cache.open(path)` for writing, trying again every `pause` seconds for `patience` seconds
    while the file is in use (the app's short reads hold it for a moment); then the
    CacheInUseError stands."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return Cache.open(path)
        except CacheInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)


# Who holds an account's writer lock. A sync may hold it for minutes; the server's webhook
# applier and an import of exchange rates hold it for a moment (the applier hands it back at
# least every `webhooks.WebhookApplier.HOLD_SECONDS`): those are waited for, up to
# BRIEF_HOLD_PATIENCE seconds, before anyone is told the cache is busy.
HOLDER_SYNC = "sync"
HOLDER_WEBHOOKS = "webhooks"
HOLDER_RATES = "rates"
BRIEF_HOLDERS = frozenset({HOLDER_WEBHOOKS, HOLDER_RATES})
BRIEF_HOLD_PATIENCE = 15.0
_BUSY_MESSAGES = {
    HOLDER_SYNC: "Another sync of this account is running (pid {pid}); wait for it to finish or run sync again "
                 "with --wait.",
    HOLDER_WEBHOOKS: "The server (pid {pid}) is writing webhook events into this account's cache and has not let "
                     "go of it for {patience:.0f} s; try again in a moment.",
    HOLDER_RATES: "Exchange rates are being imported into this account's cache (pid {pid}); try again in a moment.",
}


def _holder(fd: int) -> tuple[str, str | None]:
    """(pid, kind) as the lock's holder wrote them: a lock file of an older version says the pid
    only (a sync); kind None while the holder has not written yet (it has just locked)."""
    said = os.pread(fd, 64, 0).decode(errors="ignore").strip()
    if not said:
        return "unknown", None
    pid, _, kind = said.partition(" ")
    return pid, kind if kind in _BUSY_MESSAGES else HOLDER_SYNC


@contextlib.contextmanager
def writer_lock(path: Path, *, wait: bool = False, holder: str = HOLDER_SYNC) -> Iterator[None]:
    """Exclusive lock of one account's cache for whoever writes it (`holder`: a sync, the webhook
    applier, an import of rates). Held by a sync, the caller waits (wait=True) or is refused with
    SyncLockedError; held by a brief holder, it is waited for (see BRIEF_HOLD_PATIENCE) first.
    Two writers never interleave."""
    if holder not in _BUSY_MESSAGES:
        raise ValueError(f"unknown lock holder {holder!r}")
    lock_path = Path(str(path) + ".lock")
    try:
        make_folders(lock_path.parent)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        except FileExistsError:
            fd = os.open(lock_path, os.O_RDWR)
            created = False
    except OSError as error:
        raise CachePlaceError(f"The lock file {lock_path} cannot be created ({error.strerror}); the cache's "
                              "folder must be writable.", str(lock_path.parent)) from None
    try:
        if wait:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            _lock_or_refuse(fd)
        said = f"{os.getpid()} {holder}".encode()
        os.pwrite(fd, said, 0)  # then cut: a waiter reading meanwhile never finds the file empty
        os.ftruncate(fd, len(said))
        try:
            yield
        except CacheError:
            # The file was refused (foreign, damaged, another account's): leave nothing beside
            # it. Whoever waits on this lock will find the same file and refuse it too.
            if created:
                with contextlib.suppress(OSError):
                    lock_path.unlink()
            raise
    finally:
        os.close(fd)


def _lock_or_refuse(fd: int) -> None:
    deadline = time.monotonic() + BRIEF_HOLD_PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pid, kind = _holder(fd)
            if (kind is not None and kind not in BRIEF_HOLDERS) or time.monotonic() > deadline:
                kind = kind or HOLDER_SYNC
                raise SyncLockedError(_BUSY_MESSAGES[kind].format(pid=pid, patience=BRIEF_HOLD_PATIENCE),
                                      holder=kind) from None
            time.sleep(0.02)  # the applier lets go for 0.1 s between its holds


def with_headroom(con: duckdb.DuckDBPyConnection, run):
    """`run()`; if DuckDB ran out of memory under a read-only cache's tighter limit, once more
    with the writer's `MEMORY_LIMIT` (then the read-only limit is set back)."""
    try:
        return run()
    except duckdb.OutOfMemoryException:
        if con.execute("SELECT current_setting('access_mode')").fetchone()[0] != "read_only":
            raise  # a writer's connection has the larger limit already
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        try:
            return run()
        finally:
            con.execute(f"SET memory_limit = '{READ_MEMORY_LIMIT}'")


def read_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """One value of a cache's `meta` table (None when it is not set), on any of its connections."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def open_for_reading(path: str | Path, *, verify: bool = False) -> Cache:
    """A read-only Cache on `path`, after upgrading a cache of an older schema in place (the
    one change a reader makes, and only to a Stripe Analytics cache). Reading needs no write
    access otherwise."""
    info = inspect(path)
    if not info.empty and info.schema_version < SCHEMA_VERSION:
        Cache.open(path).close()
    return Cache.open(path, read_only=True, verify=verify)
