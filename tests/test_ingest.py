import copy
import json

import duckdb
import pyarrow as pa
import pytest

from stripe_analytics.cache import Cache
from stripe_analytics.ingest import BulkLoad, Prepared, WriterThread, add_primary_keys, drop_primary_keys, \
    prepare, write_objects, write_prepared
from tests.stripe_fixtures import resources

FIXTURES = resources()


@pytest.fixture
def cache(tmp_path):
    with Cache.open(tmp_path / "acct_t.duckdb") as c:
        yield c


def write(cache, objects, **kw):
    with cache.transaction() as con:
        return write_objects(con, objects, **kw)


def subscription(items, status="active", sub_id="sub_1"):
    sub = copy.deepcopy(FIXTURES["subscription"])
    sub.update(id=sub_id, status=status, customer="cus_1", discounts=[])
    template = sub["items"]["data"][0]
    sub["items"] = {"object": "list", "has_more": False, "data": [
        {**copy.deepcopy(template), "id": item_id, "quantity": qty, "subscription": sub_id,
         "price": {**template["price"], "id": price}} for item_id, price, qty in items]}
    return sub


def test_every_fixture_type_lands_in_its_table_with_typed_columns(cache):
    counts = write(cache, [FIXTURES[k] for k in ("customer", "product", "price", "coupon", "subscription", "invoice",
                                                  "charge", "refund", "payment_intent", "balance_transaction",
                                                  "dispute", "event")])
    assert counts["subscription_items"] == 1 and counts["invoice_line_items"] == 1
    charge = FIXTURES["charge"]
    row = cache.con.execute("SELECT amount, currency, status, epoch(created)::BIGINT, payment_method_type "
                            "FROM charges").fetchone()
    assert row == (charge["amount"], charge["currency"], charge["status"], charge["created"],
                   charge["payment_method_details"]["type"])
    line = cache.con.execute("SELECT invoice, amount, proration, is_subscription_line FROM invoice_line_items").fetchone()
    assert line == (FIXTURES["invoice"]["id"], 1000, True, False)  # the fixture's parent type is invoice_item_details


def test_raw_keeps_everything_but_embedded_lists(cache):
    write(cache, [FIXTURES["invoice"]])
    raw = json.loads(cache.con.execute("SELECT raw FROM invoices").fetchone()[0])
    expected = {k: v for k, v in FIXTURES["invoice"].items() if k != "lines"}
    assert {k: v for k, v in raw.items() if k != "lines"} == expected
    assert raw["lines"] == {"object": "list", "stored_in": "invoice_line_items"}


def test_upsert_is_idempotent(cache):
    objs = [FIXTURES["customer"], FIXTURES["subscription"], FIXTURES["invoice"]]
    write(cache, objs)
    first = cache.row_counts()
    write(cache, objs)
    assert cache.row_counts() == first
    assert cache.con.execute("SELECT count(*) FROM subscription_history").fetchone()[0] == 1


def test_removed_items_are_marked_deleted_and_history_records_each_change(cache):
    write(cache, [subscription([("si_a", "price_basic", 1)])])
    write(cache, [subscription([("si_a", "price_basic", 1)])])  # nothing changed
    write(cache, [subscription([("si_a", "price_basic", 3)])])  # seat change
    write(cache, [subscription([("si_b", "price_pro", 3)])])  # upgrade: item replaced
    write(cache, [subscription([("si_b", "price_pro", 3)], status="past_due")])
    items = cache.con.execute("SELECT id, price, quantity, deleted FROM subscription_items ORDER BY id").fetchall()
    assert items == [("si_a", "price_basic", 3, True), ("si_b", "price_pro", 3, False)]
    history = cache.con.execute(
        "SELECT status, items->>'$[0].price', (items->>'$[0].quantity')::INT FROM subscription_history "
        "ORDER BY seen_at").fetchall()
    assert history == [("active", "price_basic", 1), ("active", "price_basic", 3), ("active", "price_pro", 3),
                       ("past_due", "price_pro", 3)]


def test_truncated_embedded_list_does_not_delete_children(cache):
    write(cache, [subscription([("si_a", "price_basic", 1), ("si_b", "price_pro", 1)])])
    partial = subscription([("si_a", "price_basic", 1)])
    partial["items"]["has_more"] = True
    write(cache, [partial])
    assert cache.con.execute("SELECT count(*) FROM subscription_items WHERE NOT deleted").fetchone()[0] == 2


def test_expanded_discounts_go_to_their_table(cache):
    sub = subscription([("si_a", "price_basic", 1)])
    sub["discounts"] = [{**FIXTURES["discount"], "id": "di_1", "subscription": "sub_1",
                         "source": {"type": "coupon", "coupon": "SAVE10"}}]
    write(cache, [sub])
    assert cache.con.execute("SELECT id, coupon, subscription FROM discounts").fetchall() == [("di_1", "SAVE10", "sub_1")]
    raw = json.loads(cache.con.execute("SELECT raw FROM subscriptions").fetchone()[0])
    assert raw["discounts"] == ["di_1"]


def test_deleted_objects_are_kept_and_flagged(cache):
    write(cache, [FIXTURES["product"], FIXTURES["customer"]])
    write(cache, [{"id": FIXTURES["product"]["id"], "object": "product", "deleted": True}])  # as Stripe sends it
    assert cache.con.execute("SELECT deleted FROM products").fetchone() == (True,)
    assert cache.row_counts()["products"] == 0
    write(cache, [{**FIXTURES["customer"], "deleted": True}])
    assert cache.con.execute("SELECT deleted, email IS NULL FROM customers").fetchone() == (True, True)


def test_a_failed_batch_writes_nothing(cache):
    with pytest.raises(RuntimeError):
        with cache.transaction() as con:
            write_objects(con, [FIXTURES["customer"]])
            raise RuntimeError("crash in the middle")
    assert cache.row_counts()["customers"] == 0
    assert cache.data_version == 0


def test_prepared_pages_written_together_equal_the_objects_written_in_order(tmp_path):
    """The sync prepares each page in its fetch thread and writes many pages in one
    statement per table: the result equals writing the same objects one call at a time, a
    later page's version of an object winning (here an upgrade seen on two pages)."""
    customer = {**FIXTURES["customer"], "id": "cus_1"}
    renamed = {**customer, "name": "Renamed"}
    pages = [[customer, subscription([("si_a", "price_basic", 1)])],
             [FIXTURES["invoice"], subscription([("si_b", "price_pro", 2)])],
             [renamed]]
    with Cache.open(tmp_path / "acct_one.duckdb") as one, Cache.open(tmp_path / "acct_pages.duckdb") as together:
        for page in pages:
            write(one, page)
        with together.transaction() as con:
            counts = write_prepared(con, [prepare(page) for page in pages])
        assert counts["customers"] == 1 and counts["subscription_items"] == 2
        for table in ("customers", "subscriptions", "subscription_items", "invoices", "invoice_line_items"):
            query = f"SELECT * EXCLUDE (synced_at) FROM {table} ORDER BY id"
            assert together.con.execute(query).fetchall() == one.con.execute(query).fetchall(), table
        assert together.con.execute("SELECT name FROM customers").fetchall() == [("Renamed",)]
        items = together.con.execute("SELECT id, deleted FROM subscription_items ORDER BY id").fetchall()
        assert items == [("si_a", True), ("si_b", False)]
        # one history row for the subscription's state at the end of the batch
        assert together.con.execute("SELECT count(*) FROM subscription_history").fetchone()[0] == 1


def test_writer_thread_writes_batches_in_order_and_stops_at_a_failed_one(tmp_path):
    customer = {**FIXTURES["customer"], "id": "cus_1"}
    broken = Prepared({"customers": pa.table({"id": ["cus_2"], "no_such_column": [1]})}, {}, {})
    with Cache.open(tmp_path / "acct_w.duckdb") as cache, BulkLoad(cache.con, cache.path) as bulk:
        writer = WriterThread(cache.con, cache.transaction, bulk, history_source="demo")
        writer.submit(prepare([customer]))
        writer.submit(prepare([{**customer, "name": "Renamed"}]))
        writer.submit(broken)
        writer.submit(prepare([{**customer, "id": "cus_3"}]))
        with pytest.raises(duckdb.Error):
            writer.close()
        assert cache.con.execute("SELECT id, name FROM customers").fetchall() == [("cus_1", "Renamed")]
        assert cache.data_version == 2  # the failed batch and the one after it wrote nothing


def test_bulk_load_checkpoints_when_the_log_outgrows_the_file(tmp_path):
    invoice = FIXTURES["invoice"]
    with Cache.open(tmp_path / "acct_b.duckdb") as cache:
        with BulkLoad(cache.con, cache.path, min_wal_bytes=256 << 10) as bulk:
            for n in range(60):
                with cache.transaction() as con:
                    write_objects(con, [{**invoice, "id": f"in_{n}_{i}"} for i in range(20)])
                bulk.after_commit()
                wal = bulk.wal_path.stat().st_size if bulk.wal_path.exists() else 0
                # never more log than the larger of the floor and the file (plus one batch)
                assert wal < max(256 << 10, cache.path.stat().st_size) + (1 << 20)
        assert bulk.checkpoints >= 2
        assert cache.con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0] == "16.0 MiB"
        assert cache.row_counts()["invoices"] == 1200


def test_a_writer_with_nothing_to_write_folds_the_log_in_from_a_smaller_size(tmp_path):
    invoice = FIXTURES["invoice"]
    with Cache.open(tmp_path / "acct_i.duckdb") as cache:
        with BulkLoad(cache.con, cache.path, min_wal_bytes=64 << 20) as bulk:
            with cache.transaction() as con:
                write_objects(con, [{**invoice, "id": f"in_{i}"} for i in range(200)])
            wal = bulk.wal_path.stat().st_size
            assert not bulk.after_commit()  # far below the 64 MB floor
            assert not bulk.after_commit(idle_from=wal + 1)
            assert bulk.after_commit(idle_from=wal)
            assert bulk.checkpoints == 1
            assert not bulk.wal_path.exists() or bulk.wal_path.stat().st_size < wal
        assert cache.row_counts()["invoices"] == 200


def test_writing_all_new_rows_matches_the_upsert_and_refuses_a_stored_id(tmp_path):
    objects = [FIXTURES[k] for k in ("customer", "subscription", "invoice", "charge", "event")]
    with Cache.open(tmp_path / "acct_u.duckdb") as upserted, upserted.transaction() as con:
        write_objects(con, objects)
    with Cache.open(tmp_path / "acct_n.duckdb") as appended:
        with appended.transaction() as con:
            counts = write_prepared(con, [prepare(objects)], all_new=True)
        assert counts == {"customers": 1, "subscriptions": 1, "subscription_items": 1, "invoices": 1,
                          "invoice_line_items": 1, "charges": 1, "events": 1}
        history = appended.con.execute("SELECT subscription, source FROM subscription_history").fetchall()
        assert history == [(FIXTURES["subscription"]["id"], "sync")]
        with pytest.raises(duckdb.ConstraintException):
            with appended.transaction() as con:
                write_prepared(con, [prepare([{**FIXTURES["customer"], "name": "Twice"}])], all_new=True)
        assert appended.con.execute("SELECT name FROM customers").fetchone()[0] == FIXTURES["customer"]["name"]
    for table in ("customers", "subscriptions", "subscription_items", "invoices", "invoice_line_items", "charges",
                  "events"):
        assert _rows(tmp_path / "acct_n.duckdb", table) == _rows(tmp_path / "acct_u.duckdb", table), table


def _rows(path, table):
    with Cache.open(path, read_only=True) as cache:
        return cache.con.execute(f"SELECT * EXCLUDE (synced_at) FROM {table} ORDER BY id").fetchall()


def test_keys_added_after_a_load_behave_as_created_ones_and_catch_a_duplicate(tmp_path):
    customer = FIXTURES["customer"]
    with Cache.open(tmp_path / "acct_k.duckdb") as cache:
        with cache.transaction() as con:
            drop_primary_keys(con)
        with BulkLoad(cache.con, cache.path, memory_limit="128MB") as bulk:
            assert cache.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "122.0 MiB"
            with cache.transaction() as con:
                write_prepared(con, [prepare([customer, {**customer, "id": "cus_2"}])], all_new=True)
            bulk.after_commit()
        assert cache.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] != "122.0 MiB"
        with cache.transaction() as con:
            add_primary_keys(con)
        write(cache, [{**customer, "name": "Renamed"}])  # an upsert finds the key
        assert cache.con.execute("SELECT count(*), max(name) FILTER (WHERE id = ?) FROM customers",
                                 [customer["id"]]).fetchone() == (2, "Renamed")
        with pytest.raises(ValueError):  # only empty tables lose their key
            with cache.transaction() as con:
                drop_primary_keys(con)
    with Cache.open(tmp_path / "acct_d.duckdb") as cache:
        with cache.transaction() as con:
            drop_primary_keys(con)
            write_prepared(con, [prepare([customer]), prepare([{**customer, "name": "Again"}])], all_new=True)
            write_prepared(con, [prepare([{**customer, "name": "Again"}])], all_new=True)
        with pytest.raises(duckdb.ConstraintException):
            with cache.transaction() as con:
                add_primary_keys(con)
