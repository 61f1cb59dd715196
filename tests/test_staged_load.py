import copy

import duckdb
import pytest

from stripe_analytics import staged_load
from stripe_analytics.cache import Cache
from stripe_analytics.ingest import add_primary_keys, drop_primary_keys, prepare, write_prepared
from tests.stripe_fixtures import resources

FIXTURES = resources()
TABLES = ("customers", "subscriptions", "subscription_items", "invoices", "invoice_line_items", "charges", "events")


def _batches():
    """Three batches of distinct objects, as the demo's tasks stage them."""
    batches = []
    for n in range(3):
        objects = []
        for kind in ("customer", "subscription", "invoice", "charge", "event"):
            obj = copy.deepcopy(FIXTURES[kind])
            obj["id"] = f"{obj['id']}_{n}"
            if kind == "subscription":
                for item in obj["items"]["data"]:
                    item["id"] = f"{item['id']}_{n}"
            if kind == "invoice":
                for line in obj["lines"]["data"]:
                    line["id"] = f"{line['id']}_{n}"
            objects.append(obj)
        batches.append(prepare(objects))
    return batches


def _rows(con, table):
    return con.execute(f"SELECT * EXCLUDE (synced_at) FROM {table} ORDER BY rowid").fetchall()


def test_staged_parts_load_the_rows_the_writer_appends_in_the_same_order(tmp_path):
    batches = _batches()
    with Cache.open(tmp_path / "written.duckdb") as written:
        for batch in batches:
            with written.transaction() as con:
                write_prepared(con, [batch], history_source="demo", all_new=True)
        expected = {table: _rows(written.con, table) for table in TABLES}
        expected_history = written.con.execute(
            "SELECT * EXCLUDE (seen_at) FROM subscription_history ORDER BY rowid").fetchall()

    parts = tmp_path / "parts"
    staged = [staged_load.stage(batch, parts, part, history_source="demo") for part, batch in
              reversed(list(enumerate(batches)))]  # staged in any order: they load in their parts' order
    assert all(counts["customers"] == 1 and counts["invoice_line_items"] >= 1 for counts in staged)
    with Cache.open(tmp_path / "loaded.duckdb") as loaded:
        with loaded.transaction() as con:
            drop_primary_keys(con, raw_compression="zstd")
        counts = staged_load.load(loaded.transaction, parts)
        assert counts == {table: sum(c[table] for c in staged) for table in staged[0]}
        assert {table: _rows(loaded.con, table) for table in TABLES} == expected
        assert loaded.con.execute(
            "SELECT * EXCLUDE (seen_at) FROM subscription_history ORDER BY rowid").fetchall() == expected_history
        assert not parts.exists() or not any(parts.iterdir())  # each table's parts go once loaded
        with loaded.transaction() as con:
            add_primary_keys(con)
        loaded.con.execute("CHECKPOINT")
        compression = loaded.con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('events') WHERE column_name = 'raw' "
            "AND compression NOT IN ('Constant', 'Uncompressed')").fetchall()
        assert compression == [("ZSTD",)]


def test_a_part_being_written_is_not_loaded_and_a_repeated_id_stops_the_keys(tmp_path):
    batch = _batches()[0]
    parts = tmp_path / "parts"
    staged_load.stage(batch, parts, 1, history_source="demo")
    (parts / "customers" / ".000000002.parquet.partial").write_bytes(b"half a file")  # a killed writer's
    with Cache.open(tmp_path / "loaded.duckdb") as loaded:
        with loaded.transaction() as con:
            drop_primary_keys(con)
        assert staged_load.load(loaded.transaction, parts)["customers"] == 1

    staged_load.stage(batch, parts, 1, history_source="demo")
    staged_load.stage(batch, parts, 2, history_source="demo")  # the same ids again
    with Cache.open(tmp_path / "twice.duckdb") as twice:
        with twice.transaction() as con:
            drop_primary_keys(con)
        staged_load.load(twice.transaction, parts)
        with pytest.raises(duckdb.ConstraintException):
            with twice.transaction() as con:
                add_primary_keys(con)
