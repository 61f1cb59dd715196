"""The one path from Stripe objects into the cache, shared by sync, the demo and the actions.

`write_objects` upserts a batch of Stripe dicts of any supported type inside the caller's
transaction: typed columns plus raw JSON, embedded lists (subscription items, invoice
lines, expanded discounts) into their own tables, and a `subscription_history` row when a
subscription's status, items, quantities, prices or discounts changed since last seen.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .stripe_fields import ref, subscription_fingerprint

_ARROW_TYPES = {
    "VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(), "JSON": pa.string(), schema.TS: pa.timestamp("s", tz="UTC"),
}


def _arrow_type(sql_type: str) -> pa.DataType:
    return _ARROW_TYPES[sql_type.replace(" PRIMARY KEY", "")]


def _strip_children(obj: dict, table: schema.Table) -> dict:
    """`raw` without the embedded lists stored in child tables, and with expanded discounts
    reduced to their ids (Stripe's unexpanded shape), so raw is the same however it was read."""
    discounts = obj.get("discounts")
    expanded = isinstance(discounts, list) and any(isinstance(d, dict) for d in discounts)
    if not table.children and not expanded:
        return obj
    stripped = dict(obj)
    if expanded:
        stripped["discounts"] = [d.get("id") if isinstance(d, dict) else d for d in discounts]
    for child in table.children:
        value = stripped.get(child.field)
        if isinstance(value, dict) and "data" in value:
            stripped[child.field] = {"object": "list", "stored_in": child.table.name}
    return stripped


def _children(obj: dict, field: str) -> list[dict] | None:
    """The full embedded list, or None when the object does not carry it complete."""
    value = obj.get(field)
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        if value.get("has_more"):
            return None
        return value["data"]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    return None


class _Batch:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict]] = defaultdict(dict)  # table -> id -> object
        # child table -> parent id -> the ids of its complete child list
        self.parents_replaced: dict[str, dict[str, list[str]]] = defaultdict(dict)

    def add(self, obj: dict, table: schema.Table) -> None:
        self.rows[table.name][obj["id"]] = obj
        for declared in table.children:
            children = _children(obj, declared.field)
            if children is None:
                continue
            child_table, child_name, parent_column = declared.table, declared.table.name, declared.parent_column
            kept = self.parents_replaced[child_name][obj["id"]] = []
            for child in children:
                if not isinstance(child, dict) or "id" not in child:
                    continue
                kept.append(child["id"])
                child = dict(child)
                child[parent_column] = obj["id"]
                self.rows[child_name][child["id"]] = child
                if child_table.children:
                    self.add(child, child_table)


def _arrow_table(table: schema.Table, objects: Iterable[dict], synced_at: datetime) -> pa.Table:
    objects = list(objects)
    arrays = {}
    for column in table.columns:
        arrays[column.name] = pa.array([column.extract(o) for o in objects], type=_arrow_type(column.type))
    arrays["deleted"] = pa.array([bool(o.get("deleted")) for o in objects], type=pa.bool_())
    # orjson's UTF-8 bytes as they are (no str made per object), then viewed as text
    arrays["raw"] = pa.array([orjson.dumps(_strip_children(o, table)) for o in objects], type=pa.binary()).cast(pa.string())
    arrays["synced_at"] = pa.array([synced_at] * len(objects), type=pa.timestamp("us", tz="UTC"))
    return pa.table(arrays)


class Prepared:
    """A batch of Stripe objects turned into Arrow columns, ready to write: the pure-Python
    part of a write (column extraction, raw JSON, child lists, history fingerprints). The
    sync prepares each page in its fetch thread, so the writing thread only runs DuckDB."""

    __slots__ = ("tables", "parents_replaced", "subscriptions")

    def __init__(self, tables: dict[str, pa.Table], parents_replaced: dict[str, dict[str, list[str]]],
                 subscriptions: dict[str, dict]) -> None:
        self.tables = tables  # table name -> rows (unique ids)
        self.parents_replaced = parents_replaced  # child table -> parent -> its complete child list
        self.subscriptions = subscriptions  # id -> history row candidate (with its fingerprint)


def prepare(objects: Iterable[dict], synced_at: datetime | None = None) -> Prepared:
    """Objects of any supported type as a `Prepared` batch; unknown types are ignored."""
    synced_at = synced_at or datetime.now(timezone.utc)
    batch = _Batch()
    for obj in objects:
        table = schema.TABLE_BY_OBJECT.get(obj.get("object", ""))
        if table is None or "id" not in obj:
            continue
        batch.add(obj, table)
    tables = {table.name: _arrow_table(table, batch.rows[table.name].values(), synced_at)
              for table in schema.TABLES if batch.rows.get(table.name)}
    subscriptions = {sid: _history_row(sid, sub) for sid, sub in batch.rows.get("subscriptions", {}).items()}
    return Prepared(tables, dict(batch.parents_replaced), subscriptions)


def write_objects(
    con: duckdb.DuckDBPyConnection,
    objects: Iterable[dict],
    *,
    seen_at: datetime | None = None,
    history_source: str = "sync",
) -> dict[str, int]:
    """Upsert Stripe objects (any mix of supported types). Must run inside a transaction.
    Returns the number of rows written per table. Unknown object types are ignored."""
    return write_prepared(con, [prepare(objects)], seen_at=seen_at, history_source=history_source)


def write_prepared(
    con: duckdb.DuckDBPyConnection,
    batches: list[Prepared],
    *,
    seen_at: datetime | None = None,
    history_source: str = "sync",
    all_new: bool = False,
) -> dict[str, int]:
    """Upsert prepared batches, in order (a later batch's version of an object wins). Must
    run inside a transaction. Returns the number of rows written per table.

    `all_new` is for a cache being built from objects whose ids are unique and not yet
    stored (the demo build): rows are appended instead of upserted, which spares DuckDB the
    conflict check per row (~40 % of the write's CPU), and there are no stored children to
    retire. An id that is there after all raises a constraint error (nothing is replaced)."""
    seen_at = seen_at or datetime.now(timezone.utc)
    complete_lists: dict[str, dict[str, list[str]]] = defaultdict(dict)  # the last list seen per parent
    for prepared in batches:
        for child_name, lists in prepared.parents_replaced.items():
            complete_lists[child_name].update(lists)
    incoming = {name: _last_wins([p.tables[name] for p in batches if name in p.tables])
                for name in {name for p in batches for name in p.tables}}
    counts: dict[str, int] = {}

    subscriptions: dict[str, dict] = {}
    for prepared in batches:
        subscriptions.update(prepared.subscriptions)
    if subscriptions:
        _record_history(con, subscriptions, seen_at, history_source, all_new=all_new)

    insert = "INSERT INTO" if all_new else "INSERT OR REPLACE INTO"
    for table in schema.TABLES:
        arrow = incoming.get(table.name)
        if arrow is None or not arrow.num_rows:
            continue
        con.register("_incoming", arrow)
        con.execute(f"{insert} {table.name} BY NAME SELECT * FROM _incoming")
        con.unregister("_incoming")
        counts[table.name] = arrow.num_rows

    for child_name, lists in ({} if all_new else complete_lists).items():
        # Children missing from their parent's latest complete list were removed in Stripe.
        child_table = schema.TABLE_BY_NAME[child_name]
        parents = pa.table({"id": pa.array(sorted(lists), type=pa.string())})
        keep = pa.table({"id": pa.array([i for ids in lists.values() for i in ids], type=pa.string())})
        con.register("_parents", parents)
        con.register("_keep", keep)
        con.execute(
            f"UPDATE {child_name} SET deleted = true WHERE \"{child_table.parent_column}\" IN "
            f"(SELECT id FROM _parents) AND id NOT IN (SELECT id FROM _keep) AND NOT deleted"
        )
        con.unregister("_parents")
        con.unregister("_keep")
    return counts


def _last_wins(parts: list[pa.Table]) -> pa.Table:
    """The batches' rows of one table with each id once, its last version kept."""
    if len(parts) == 1:
        return parts[0]
    table = pa.concat_tables(parts)
    ids = table.column("id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    last: dict[str, int] = {}
    for position, object_id in enumerate(ids.to_pylist()):
        last[object_id] = position
    return table.take(pa.array(sorted(last.values()), type=pa.int64()))


def _history_row(sid: str, sub: dict) -> dict:
    digest, items, discounts = subscription_fingerprint(sub)
    return {
        "subscription": sid, "status": sub.get("status"), "customer": ref("customer")(sub),
        "currency": sub.get("currency"), "items": json.dumps(items), "discounts": json.dumps(discounts),
        "cancel_at_period_end": sub.get("cancel_at_period_end"), "cancel_at": sub.get("cancel_at"),
        "trial_end": sub.get("trial_end"), "ended_at": sub.get("ended_at"), "fingerprint": digest,
    }


def _record_history(con: duckdb.DuckDBPyConnection, subs: dict[str, dict], seen_at: datetime, source: str, *,
                    all_new: bool = False) -> None:
    """A subscription_history row for each subscription whose fingerprint differs from the
    stored one (or that is new)."""
    known: dict[str, str] = {}
    if not all_new:
        ids = pa.table({"id": pa.array(list(subs), type=pa.string())})
        con.register("_sub_ids", ids)
        known = dict(con.execute(
            "SELECT id, history_fingerprint FROM subscriptions WHERE id IN (SELECT id FROM _sub_ids)"
        ).fetchall())
        con.unregister("_sub_ids")
    rows = [row for sid, row in subs.items() if known.get(sid) != row["fingerprint"]]
    if not rows:
        return
    con.register("_history", history_table(rows, seen_at, source))
    con.execute("INSERT INTO subscription_history BY NAME SELECT * FROM _history")
    con.unregister("_history")


def history_table(rows: list[dict], seen_at: datetime, source: str) -> pa.Table:
    ts = pa.timestamp("s", tz="UTC")
    return pa.table({
        "subscription": pa.array([r["subscription"] for r in rows], pa.string()),
        "seen_at": pa.array([seen_at] * len(rows), pa.timestamp("us", tz="UTC")),
        "source": pa.array([source] * len(rows), pa.string()),
        "status": pa.array([r["status"] for r in rows], pa.string()),
        "customer": pa.array([r["customer"] for r in rows], pa.string()),
        "currency": pa.array([r["currency"] for r in rows], pa.string()),
        "items": pa.array([r["items"] for r in rows], pa.string()),
        "discounts": pa.array([r["discounts"] for r in rows], pa.string()),
        "cancel_at_period_end": pa.array([r["cancel_at_period_end"] for r in rows], pa.bool_()),
        "cancel_at": pa.array([r["cancel_at"] for r in rows], ts),
        "trial_end": pa.array([r["trial_end"] for r in rows], ts),
        "ended_at": pa.array([r["ended_at"] for r in rows], ts),
        "fingerprint": pa.array([r["fingerprint"] for r in rows], pa.string()),
    })


class BulkLoad:
    """Checkpoints paced for writing many batches into one cache (a backfill, the demo build).

    DuckDB folds its write-ahead log into the database file once the log reaches 16 MB, and
    each such checkpoint rewrites the tables' primary-key indexes: over a large load the
    checkpoints cost more than the writes, growing with the file (quadratic in all), and wrote
    gigabytes for the 100,000-customer demo. During a bulk load the automatic checkpoint is
    off and `after_commit` checkpoints when the log has grown to the size of the database file
    (at least `min_wal_bytes`), so checkpoint work stays proportional to the data; and at most
    `max_wal_bytes`, because DuckDB keeps what is not yet checkpointed in memory. Durability is
    unchanged: a transaction is in the log when COMMIT returns, and a process killed at any
    moment replays the log on the next open."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str | Path, *,
                 min_wal_bytes: int = 64 << 20, max_wal_bytes: int = 256 << 20,
                 memory_limit: str | None = None) -> None:
        self.con = con
        self.db_path = Path(db_path)
        self.wal_path = Path(str(db_path) + ".wal")
        self.min_wal_bytes = min_wal_bytes
        self.max_wal_bytes = max_wal_bytes
        self.memory_limit = memory_limit  # DuckDB's, during the load (e.g. '256MB'); None: unchanged
        self.checkpoints = 0
        self._previous: dict[str, str] = {}

    def __enter__(self) -> "BulkLoad":
        settings = {"checkpoint_threshold": "1000 GiB"}
        if self.memory_limit:
            settings["memory_limit"] = self.memory_limit
        for name, value in settings.items():
            self._previous[name] = self.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]
            self.con.execute(f"SET {name} = '{value}'")
        return self

    def __exit__(self, *exc) -> None:
        for name, value in self._previous.items():
            self.con.execute(f"SET {name} = '{value}'")

    def after_commit(self, *, idle_from: int | None = None) -> bool:
        """Checkpoint if the log has outgrown its share; call between transactions. A caller with
        nothing else to write for now passes `idle_from`: the log is then folded in from that
        size on, while the writer would wait anyway, so that less is left for the end."""
        wal = _size(self.wal_path)
        limit = min(self.max_wal_bytes, max(self.min_wal_bytes, _size(self.db_path)))
        if wal < (min(limit, idle_from) if idle_from is not None else limit):
            return False
        self.con.execute("CHECKPOINT")
        self.checkpoints += 1
        return True


def drop_primary_keys(con: duckdb.DuckDBPyConnection, *, raw_compression: str | None = None) -> None:
    """Recreate the (empty) object tables without their primary keys, for a cache being built
    from unique ids (`write_prepared(all_new=True)`): DuckDB then keeps no index in memory
    during the load, so memory stays flat, and builds each index once, in
    `add_primary_keys`, instead of row by row. Must run in the creating transaction."""
    for table in schema.TABLES:
        if con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]:
            raise ValueError(f"{table.name} is not empty: its primary key stays")
        con.execute(f"DROP TABLE {table.name}")
        con.execute(schema.create_table_sql(table, primary_key=False, raw_compression=raw_compression))


def add_primary_keys(con: duckdb.DuckDBPyConnection) -> None:
    """The primary keys `drop_primary_keys` left out; a duplicate id raises a constraint error."""
    for table in schema.TABLES:
        con.execute(f"ALTER TABLE {table.name} ADD PRIMARY KEY (id)")


class WriterThread:
    """Writes prepared batches into a cache from a thread of its own, one transaction each,
    while the caller builds the next batch: DuckDB runs without the GIL, so on two cores the
    writes overlap the pure-Python work of generating and preparing objects. The connection
    must not be used by anyone else until `close` returns. An error in the writer is raised
    by the next `submit` or by `close`; nothing after the failed batch is written."""

    def __init__(self, con: duckdb.DuckDBPyConnection, transaction, bulk: BulkLoad, *,
                 history_source: str, all_new: bool = False, depth: int = 2) -> None:
        self.counts: dict[str, int] = {}
        self._all_new = all_new  # see write_prepared
        self._con = con
        self._transaction = transaction  # Cache.transaction
        self._bulk = bulk
        self._history_source = history_source
        self._queue: "queue.Queue[Prepared | None]" = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cache-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (prepared := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain until close
            try:
                with self._transaction() as con:
                    written = write_prepared(con, [prepared], history_source=self._history_source,
                                             all_new=self._all_new)
                self._bulk.after_commit()
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self._error = error
                continue
            for table, n in written.items():
                self.counts[table] = self.counts.get(table, 0) + n

    def submit(self, prepared: Prepared) -> None:
        self._raise()
        self._queue.put(prepared)

    def close(self) -> dict[str, int]:
        self._queue.put(None)
        self._thread.join()
        self._raise()
        return self.counts

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
