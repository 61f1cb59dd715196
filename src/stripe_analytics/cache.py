"""The DuckDB cache: one file per Stripe account, created owner-only, versioned and migrated."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from . import schema

SCHEMA_VERSION = 3  # 3: applied_events and object_versions (webhooks)
# DuckDB caches up to 80 % of RAM by default; an analytics laptop app should stay well below.
# Queries that need more spill to disk instead of failing.
MEMORY_LIMIT = "1536MB"
_ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9_]{1,64}$")


class CacheError(Exception):
    """The cache file cannot be used; the message says why in plain words."""


class SyncLockedError(CacheError):
    """Another process is writing this account's cache."""


def cache_path(data_dir: Path, account_id: str) -> Path:
    """Where an account's cache lives. The id comes from Stripe, but is still checked so no
    value can point outside the data folder."""
    if account_id != "demo" and not _ACCOUNT_ID.match(account_id):
        raise CacheError(f"{account_id!r} is not a Stripe account id")
    return Path(data_dir) / f"{account_id}.duckdb"


def _ensure_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        os.chmod(path.parent, 0o700)
    if not path.exists():
        # DuckDB creates new files with the process umask; make it owner-only first.
        old = os.umask(0o077)
        try:
            duckdb.connect(str(path)).close()
        finally:
            os.umask(old)
    os.chmod(path, 0o600)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring any older cache to SCHEMA_VERSION in place: create missing tables, add missing
    columns (new typed columns are back-filled from `raw`), never drop data."""
    con.execute(schema.SUPPORT_TABLES_SQL[0])
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
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


@dataclass
class Cache:
    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = False

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> "Cache":
        path = Path(path)
        if read_only:
            if not path.exists():
                raise CacheError(f"No cache at {path}: sync an account or build the demo first.")
            try:
                con = duckdb.connect(str(path), read_only=True)
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                raise _io_error(path, error) from None
            except duckdb.Error as error:
                raise CacheError(f"The cache at {path} cannot be read ({type(error).__name__}); "
                                 "it may be damaged: delete it and sync again.") from None
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            cache = cls(path, con, read_only=True)
            cache._check_version()
            return cache
        _ensure_private_file(path)
        try:
            con = duckdb.connect(str(path))
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            raise _io_error(path, error) from None
        except duckdb.Error as error:
            raise CacheError(f"The cache at {path} cannot be opened ({type(error).__name__}); "
                             "it may be damaged: delete it and sync again.") from None
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        _migrate(con)
        return cls(path, con)

    def _check_version(self) -> None:
        try:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except duckdb.Error:
            raise CacheError(f"{self.path} is not a Stripe Analytics cache.") from None
        if not row or int(row[0]) != SCHEMA_VERSION:
            raise CacheError(f"{self.path} has schema {row[0] if row else 'none'}; open it once for writing "
                             f"(e.g. `stripe-analytics status --db {self.path}`) to upgrade it.")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

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


class CacheInUseError(CacheError):
    """Another connection (a sync, a writer of this process) holds the file for a moment."""


def _io_error(path: Path, error: Exception) -> CacheError:
    text = str(error)
    # Another process holds the file ("lock"), or this process has it open for writing
    # ("different configuration"): either way it is in use for a moment, not damaged.
    if "lock" in text.lower() or "different configuration" in text.lower():
        return CacheInUseError(f"The cache {path.name} is in use by another process (a sync or another app). "
                               "Wait for it to finish and try again.")
    return CacheError(f"The cache at {path} cannot be opened: {text.splitlines()[0]}")


@contextlib.contextmanager
def writer_lock(path: Path, *, wait: bool = False) -> Iterator[None]:
    """Exclusive lock of one account's cache for a sync. The second sync waits (wait=True) or
    is refused with a clear message; two syncs never interleave writes."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="ignore").strip() or "another process"
            raise SyncLockedError(
                f"Another sync of this account is running (pid {holder}); wait for it to finish "
                "or run sync again with --wait."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
