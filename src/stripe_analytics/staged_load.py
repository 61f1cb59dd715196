"""A bulk load into an empty cache (the demo build): prepared batches are kept as Parquet
parts, one file per table and batch, and each table is then filled with one INSERT.

Writing batch after batch into DuckDB puts every row in the write-ahead log and then, at each
checkpoint, into the file, and each checkpoint rewrites row groups the next batches extend:
the 100,000-customer demo wrote ~65 GB for a 7.9 GB file, and the cost per batch grew with the
file. One INSERT of a whole table from Parquet lets DuckDB write full row groups straight to the
file (its optimistic writes, on all cores), once. The parts are written by whoever prepares
the batches (the demo's worker processes), so the loading process holds no rows meanwhile.

The rows are exactly those `ingest.write_prepared(..., all_new=True)` would append for the same
batches in the same order, subscription history included.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow.parquet as pq

from . import ingest, schema

HISTORY_TABLE = "subscription_history"
# Parts are read once, in full: snappy makes them ~6x smaller than none, and without
# dictionaries and statistics (which nothing reads) they take ~30 % less CPU to write.
PARQUET_OPTIONS = {"compression": "snappy", "use_dictionary": False, "write_statistics": False}


def tables_in_load_order() -> list[str]:
    return [HISTORY_TABLE] + [table.name for table in schema.TABLES]


def stage(prepared: ingest.Prepared, folder: Path, part: int, *, history_source: str,
          seen_at: datetime | None = None) -> dict[str, int]:
    """Write one prepared batch as part `part` (parts load in their numbers' order) of each of its
    tables under `folder`; returns the rows per object table. Every id must be new to the cache
    being loaded (as for `write_prepared(all_new=True)`), so every subscription gets a history row."""
    seen_at = seen_at or datetime.now(timezone.utc)
    rows = dict(prepared.tables)
    if prepared.subscriptions:
        rows[HISTORY_TABLE] = ingest.history_table(list(prepared.subscriptions.values()), seen_at, history_source)
    for name, arrow in rows.items():
        if not arrow.num_rows:
            continue
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        # written under a temporary name: a part is either whole or absent
        partial = target / f".{part:09d}.parquet.partial"
        pq.write_table(arrow, partial, **PARQUET_OPTIONS)
        partial.rename(target / f"{part:09d}.parquet")
    return {name: arrow.num_rows for name, arrow in prepared.tables.items() if arrow.num_rows}


def load(transaction: Callable, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Insert every staged part under `folder` into the cache's (empty, key-less) tables, one
    transaction per table, and remove each table's parts once they are in. Returns the rows
    per object table."""
    counts: dict[str, int] = {}
    for name in tables_in_load_order():
        parts = sorted(str(p) for p in (folder / name).glob("*.parquet"))
        if not parts:
            continue
        if progress:
            progress(name)
        with transaction() as con:
            inserted = _insert(con, name, parts)
        if name != HISTORY_TABLE:
            counts[name] = inserted
        shutil.rmtree(folder / name)
    return counts


def _insert(con: duckdb.DuckDBPyConnection, table: str, parts: list[str]) -> int:
    return con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [parts]).fetchone()[0]
