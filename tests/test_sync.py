import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import stripe

from stripe_analytics import created_ranges, pager, schema
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from stripe_analytics.fetch_pacing import MAX_IN_FLIGHT, in_flight_for
from stripe_analytics.ingest import write_objects
from stripe_analytics.sync import PlanCause, SyncAuthError, SyncError, next_sync_plan, status, sync_account
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import DAY, build_account, template

KEY = "sk_test_sync_tests_key_0001"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def account():
    now = int(time.time())
    return build_account(now)


@pytest.fixture
def fake(account):
    acct, objects = account
    with FakeStripe() as server:
        server.add_account(acct, key=KEY)
        server.add_many(objects)
        yield server


def settings_for(fake, tmp_path, **overrides):
    values = dict(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=tmp_path,
                  stripe_max_requests_per_second=1000, stripe_max_network_retries=8, sync_concurrency=6)
    values.update(overrides)
    return Settings(**values)


def snapshot(path, *, include_deleted=True, history=True):
    """Every row of every table, minus the columns that record when we wrote it."""
    out = {}
    with Cache.open(path, read_only=True) as cache:
        for table in schema.TABLES:
            where = "" if include_deleted else "WHERE NOT deleted"
            cols = [c.name for c in table.columns] + (["deleted"] if include_deleted else []) + ["raw"]
            rows = cache.con.execute(
                f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM {table.name} {where} ORDER BY id'
            ).fetchall()
            out[table.name] = [tuple(json.loads(v) if c == "raw" and v else v for c, v in zip(cols, r)) for r in rows]
        if history:
            out["subscription_history"] = cache.con.execute(
                "SELECT subscription, status, items, discounts, fingerprint FROM subscription_history "
                "ORDER BY subscription, fingerprint").fetchall()
    return out


def direct_ingest(path, objects):
    with Cache.open(path) as cache, cache.transaction() as con:
        write_objects(con, objects)


def test_full_sync_reproduces_every_object(fake, account, tmp_path):
    _, objects = account
    report = sync_account(settings_for(fake, tmp_path))
    assert report.kind == "full" and not report.skipped
    assert report.account_id == "acct_synctest"
    assert report.db_path == tmp_path / "acct_synctest.duckdb"
    direct_ingest(tmp_path / "direct.duckdb", objects)
    synced = snapshot(report.db_path, history=False)
    expected = snapshot(tmp_path / "direct.duckdb", history=False)
    for table in expected:
        assert synced[table] == expected[table], table
    # Canceled subscriptions are there (status=all) and the long lists are complete.
    assert sum(1 for r in synced["subscriptions"] if r[3] == "canceled") == 6
    assert sum(1 for r in synced["subscription_items"] if r[1] == "sub_0003") == 12
    assert sum(1 for r in synced["invoice_line_items"] if r[1] == "in_0003") == 13
    assert fake.request_count("/v1/subscriptions", "GET") > 1  # split into created ranges
    assert fake.request_count("/v1/invoices/in_0003/lines") == 1
    assert fake.request_count("/v1/subscription_items") == 1


def test_incremental_sync_applies_exactly_the_changes(fake, account, tmp_path):
    settings = settings_for(fake, tmp_path)
    full = sync_account(settings)
    full_requests = full.requests
    with Cache.open(full.db_path) as cache:
        assert next_sync_plan(cache).kind == "incremental"

    time.sleep(1.1)  # the changes come after the backfill's second, as in life
    now = fake.clock
    fake.create(template("customer", id="cus_new", email="new@example.com", created=now, discount=None))
    sub = fake.get("subscription", "sub_0001")
    upgraded = sub["items"]["data"][0] | {"quantity": 5, "price": fake.get("price", "price_3")}
    fake.update("subscription", "sub_0001", items={**sub["items"], "data": [upgraded]})
    fake.delete("subscription", "sub_0001")  # canceled right after the upgrade
    fake.create(template("refund", id="re_new", charge="ch_0002", amount=100, created=now,
                         balance_transaction=None))
    fake.delete("product", "prod_2")

    fake.clear_requests()
    report = sync_account(settings)
    assert report.kind == "incremental"
    assert report.events_applied >= 5
    assert report.requests <= 6 < full_requests / 3
    assert fake.request_count("/v1/customers") == 0 and fake.request_count("/v1/invoices") == 0

    with Cache.open(report.db_path, read_only=True) as cache:
        q = cache.con.execute
        assert q("SELECT email FROM customers WHERE id = 'cus_new'").fetchone() == ("new@example.com",)
        assert q("SELECT status FROM subscriptions WHERE id = 'sub_0001'").fetchone() == ("canceled",)
        assert q("SELECT quantity, price FROM subscription_items WHERE subscription = 'sub_0001' "
                 "AND NOT deleted").fetchall() == [(5, "price_3")]
        assert q("SELECT amount FROM refunds WHERE id = 're_new'").fetchone() == (100,)
        assert q("SELECT deleted FROM products WHERE id = 'prod_2'").fetchone() == (True,)
        history = q("SELECT status, items->>'$[0].quantity' FROM subscription_history "
                    "WHERE subscription = 'sub_0001' ORDER BY seen_at").fetchall()
        assert [h[0] for h in history] == ["active", "active", "canceled"]

    # The result equals what a fresh full sync of the changed account gives.
    fresh = sync_account(settings, db_path=tmp_path / "fresh.duckdb", full=True)
    assert snapshot(report.db_path, include_deleted=False, history=False) == \
        snapshot(fresh.db_path, include_deleted=False, history=False)


def test_sync_with_faults_ends_with_the_same_cache(fake, tmp_path):
    clean = sync_account(settings_for(fake, tmp_path), db_path=tmp_path / "clean.duckdb")
    fake.inject_random("rate_limit", 0.08, seed=1)
    fake.inject_random("rate_limit_no_retry_after", 0.05, seed=2)
    fake.inject_random("server_error", 0.08, seed=3)
    fake.inject_random("drop", 0.05, seed=4)
    fake.inject("slow", times=3, delay=0.3)
    faulty = sync_account(settings_for(fake, tmp_path), db_path=tmp_path / "faulty.duckdb")
    assert faulty.retries > 0
    assert snapshot(faulty.db_path) == snapshot(clean.db_path)


def test_rate_limit_beyond_the_retry_budget_fails_plainly_and_resumes(fake, tmp_path):
    settings = settings_for(fake, tmp_path, stripe_max_network_retries=1)
    fake.inject("rate_limit_no_retry_after", times=None, path=r"^/v1/charges")
    with pytest.raises(SyncError, match="too many requests"):
        sync_account(settings)
    fake.clear_faults()
    report = sync_account(settings)
    assert report.written.get("charges") == 40
    with Cache.open(report.db_path, read_only=True) as cache:
        assert cache.row_counts()["charges"] == 40


def _sync_child(fake, db_path, page_size=None):
    env = {**os.environ, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": fake.url,
           "STRIPE_MAX_REQUESTS_PER_SECOND": "1000", "SYNC_CONCURRENCY": "4", "DATA_DIR": str(db_path.parent)}
    command = ["-m", "stripe_analytics"] if page_size is None else [
        # small pages in two `created` ranges a resource: readers left idle split the ranges
        "-c", f"import sys; from stripe_analytics import cli, pager, sync; pager.PAGE_SIZE = {page_size}; "
              "sync.sync_account.__kwdefaults__['slices'] = 2; sys.exit(cli.main(sys.argv[1:]))"]
    return subprocess.Popen([sys.executable, *command, "sync", "--db", str(db_path), "--wait"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("seed, page_size", [(1, None), (2, None), (3, None), (4, 2)])
def test_sync_killed_at_random_points_then_rerun_is_identical(fake, tmp_path, seed, page_size):
    """kill -9 at random moments, then a sync to the end: the cache an uninterrupted sync gives.
    With pages of 2 objects the ranges being read are split while the sync is killed."""
    clean = sync_account(settings_for(fake, tmp_path), db_path=tmp_path / "clean.duckdb")
    fake.latency = 0.01
    rng = random.Random(seed)
    db = tmp_path / "killed.duckdb"
    kills = 0
    for _ in range(3):
        child = _sync_child(fake, db, page_size)
        time.sleep(rng.uniform(0.3, 1.5))
        if child.poll() is None:
            child.kill()  # SIGKILL: no cleanup code runs
            kills += 1
        child.communicate()
    final = _sync_child(fake, db, page_size)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert kills >= 1
    if page_size:
        assert any(len(_ranges(db, r.name)) > 2 for r in schema.RESOURCES)
    assert snapshot(db) == snapshot(clean.db_path)


def test_invalid_key_is_a_plain_error_with_exit_code(fake, tmp_path):
    env = {**os.environ, "STRIPE_API_KEY": "sk_test_wrong_key_123456789", "STRIPE_API_BASE": fake.url,
           "DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "stripe_analytics", "sync"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "Stripe refused the API key" in result.stderr
    assert "Traceback" not in result.stderr and "wrong_key_123456789" not in result.stderr + result.stdout
    with pytest.raises(SyncAuthError):
        sync_account(settings_for(fake, tmp_path, stripe_api_key="sk_test_wrong_key_123456789"))


def test_missing_permission_skips_that_resource_only(fake, tmp_path):
    fake.add_key("rk_test_no_disputes_0001", denied={"disputes"})
    report = sync_account(settings_for(fake, tmp_path, stripe_api_key="rk_test_no_disputes_0001"))
    assert report.skipped == {"disputes": report.skipped["disputes"]}
    assert "this key cannot read disputes: give it Read access to Disputes" in report.skipped["disputes"]
    with Cache.open(report.db_path, read_only=True) as cache:
        assert cache.row_counts()["charges"] == 40 and cache.row_counts()["disputes"] == 0
    with Cache.open(report.db_path) as cache:
        rows = {r["resource"]: r for r in status(cache)}
    assert "Read access to Disputes" in rows["disputes"]["skipped"]
    assert rows["charges"]["skipped"] is None and rows["charges"]["rows"] == 40


def test_stale_event_cursor_triggers_a_full_sync_and_says_why(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    first = sync_account(settings)
    with Cache.open(first.db_path) as cache:
        cursor = json.loads(cache.get_meta("event_cursor"))
        cursor["created"] -= 31 * DAY
        cache.set_meta("event_cursor", json.dumps(cursor))
        plan = next_sync_plan(cache)
    assert plan.kind == "full" and plan.cause is PlanCause.EVENTS_EXPIRED and "30 days" in plan.reason
    assert not plan.events_expiring and plan.cursor_age > timedelta(days=31)
    report = sync_account(settings)
    assert report.kind == "full" and "30 days" in report.reason
    assert report.written["customers"] == 40


def test_second_sync_of_the_same_account_is_refused(fake, tmp_path):
    fake.latency = 0.02
    settings = settings_for(fake, tmp_path)
    db = tmp_path / "acct_synctest.duckdb"
    env = {**os.environ, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": fake.url, "DATA_DIR": str(tmp_path),
           "STRIPE_MAX_REQUESTS_PER_SECOND": "1000"}
    first = subprocess.Popen([sys.executable, "-m", "stripe_analytics", "sync", "--db", str(db)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = Path(str(db) + ".lock")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.05)
    with pytest.raises(SyncError, match="Another sync of this account is running"):
        sync_account(settings, db_path=db)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()


def test_resources_option_limits_the_backfill(fake, tmp_path):
    report = sync_account(settings_for(fake, tmp_path), resources=["customers", "products"])
    assert set(report.written) <= {"customers", "products"}
    with pytest.raises(ValueError, match="unknown resource"):
        sync_account(settings_for(fake, tmp_path), resources=["customers", "nonsense"])


def test_status_command_prints_each_resource(fake, tmp_path, capsys):
    from stripe_analytics.cli import main

    report = sync_account(settings_for(fake, tmp_path))
    assert main(["status", "--db", str(report.db_path)]) == 0
    out = capsys.readouterr().out
    assert "next sync: incremental" in out
    assert any(line.startswith("customers") and " 40 " in line for line in out.splitlines())


def test_localstripe_customers_and_charges_land_in_the_cache(localstripe, tmp_path):
    client = stripe.StripeClient("sk_test_localstripe_0001", base_addresses={"api": localstripe})
    emails = [f"ls{i}@example.com" for i in range(3)]
    for email in emails:
        customer = client.v1.customers.create({"email": email})
        card = client.v1.payment_methods.create({"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
        client.v1.payment_methods.attach(card.id, {"customer": customer.id})
        client.v1.payment_intents.create({"amount": 1234, "currency": "usd", "customer": customer.id,
                                          "payment_method": card.id, "confirm": True})
    settings = Settings(stripe_api_key="sk_test_localstripe_0001", stripe_api_base=localstripe, data_dir=tmp_path)
    report = sync_account(settings, db_path=tmp_path / "local.duckdb", resources=["customers", "charges"], slices=1)
    with Cache.open(report.db_path, read_only=True) as cache:
        found = {r[0] for r in cache.con.execute("SELECT email FROM customers").fetchall()}
        charges = cache.con.execute("SELECT amount, currency, status FROM charges").fetchall()
    assert set(emails) <= found
    assert charges.count((1234, "usd", "succeeded")) >= 3


def test_tiered_price_from_an_event_is_read_again_with_its_tiers(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    sync_account(settings)
    time.sleep(1.1)
    tiers = [{"up_to": 10, "unit_amount": 500, "flat_amount": None, "unit_amount_decimal": "500",
              "flat_amount_decimal": None},
             {"up_to": None, "unit_amount": 300, "flat_amount": None, "unit_amount_decimal": "300",
              "flat_amount_decimal": None}]
    fake.create(template("price", id="price_tiered", product="prod_1", billing_scheme="tiered",
                         tiers_mode="graduated", tiers=tiers, unit_amount=None, unit_amount_decimal=None,
                         created=fake.clock, transform_quantity=None))
    fake.clear_requests()
    report = sync_account(settings)
    assert report.kind == "incremental"
    assert fake.request_count("/v1/prices/price_tiered") == 1
    with Cache.open(report.db_path, read_only=True) as cache:
        stored = cache.con.execute("SELECT tiers_mode, tiers FROM prices WHERE id = 'price_tiered'").fetchone()
    assert stored[0] == "graduated" and [t["unit_amount"] for t in json.loads(stored[1])] == [500, 300]


def test_sync_stores_the_live_balance(fake, account, tmp_path):
    _, objects = account
    report = sync_account(settings_for(fake, tmp_path))
    with Cache.open(report.db_path, read_only=True) as cache:
        balance = json.loads(cache.get_meta("balance"))
    expected = sum(o["net"] for o in objects if o["object"] == "balance_transaction")
    assert sum(b["amount"] for b in balance["available"] + balance["pending"]) == expected


def test_balance_without_permission_is_skipped_with_a_message(fake, tmp_path):
    fake.add_key("rk_test_no_balance_000001", denied={"balance_transactions"})
    report = sync_account(settings_for(fake, tmp_path, stripe_api_key="rk_test_no_balance_000001"))
    assert "Read access to Balance" in report.skipped["balance"]


def test_a_cache_damaged_anywhere_stops_the_sync_with_the_damaged_message(fake, tmp_path):
    """64 KiB overwritten in each block that holds no table rows (indexes, free space): a sync
    either never reads that block and succeeds, or stops with the plain damaged-cache message
    (block checksums), never with another error."""
    import duckdb
    import shutil

    settings = settings_for(fake, tmp_path)
    good = tmp_path / "good.duckdb"
    sync_account(settings, db_path=good, slices=1)
    con = duckdb.connect(str(good), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    rows = {b for t in tables for (b,) in con.execute(
        f"SELECT block_id FROM pragma_storage_info('{t}') WHERE block_id >= 0").fetchall()}
    metadata = {b for (b,) in con.execute("SELECT block_id FROM pragma_metadata_info()").fetchall()}
    _, _, block_size, total = con.execute("SELECT * FROM pragma_database_size()").fetchone()[:4]
    con.close()
    outcomes = []
    for block in [b for b in range(total) if b not in rows | metadata]:
        damaged = tmp_path / f"damaged{block}.duckdb"
        shutil.copy(good, damaged)
        with damaged.open("r+b") as handle:
            handle.seek(3 * 4096 + block * block_size + 100)
            handle.write(b"\x5a" * 65536)
        fake.add({"id": f"cus_after{block}", "object": "customer", "created": fake.clock, "metadata": {},
                  "livemode": False, "email": f"after{block}@example.com"})
        try:
            sync_account(settings, db_path=damaged, slices=1)
            outcomes.append("ok")
        except SyncError as error:
            assert "is damaged" in str(error) and "sync --full" in str(error), str(error)
            outcomes.append("damaged")
    assert "damaged" in outcomes, outcomes


def test_another_accounts_cache_is_refused_by_the_access_rule_before_it_is_opened(tmp_path):
    from stripe_analytics.cache import CacheAccountError, inspect
    from stripe_analytics.sync import UNKNOWN_ACCOUNT, refuse_another_account

    path = tmp_path / "acct_1.duckdb"
    with Cache.open(path) as cache:
        cache.set_meta("account_id", "acct_1")
    with pytest.raises(CacheAccountError, match="holds account acct_1, but the key or token reads acct_2"):
        refuse_another_account(inspect(path), "acct_2")
    refuse_another_account(inspect(path), "acct_1")
    refuse_another_account(inspect(path), UNKNOWN_ACCOUNT)  # a server without /v1/account: the path decides
    refuse_another_account(None, "acct_2")  # no file yet


def test_without_a_set_concurrency_the_reads_in_flight_follow_budget_and_latency(fake, account, tmp_path):
    """Unset SYNC_CONCURRENCY: the backfill measures the round trip (here at least the server's
    0.1 s) and keeps budget x round trip x 1.5 reads in flight, and the cache is the same."""
    fake.latency = 0.1
    report = sync_account(settings_for(fake, tmp_path, sync_concurrency=None, stripe_max_requests_per_second=60))
    gate = report.concurrency
    assert gate.fixed is None and gate.seconds_per_request >= 0.1
    assert gate.limit == in_flight_for(60, gate.seconds_per_request) >= 10
    assert 2 < gate.peak <= MAX_IN_FLIGHT  # the first, slower round trips may have raised it for a while
    direct_ingest(tmp_path / "direct.duckdb", account[1])
    assert snapshot(report.db_path, history=False) == snapshot(tmp_path / "direct.duckdb", history=False)


@pytest.mark.parametrize("days_old, cause, expiring", [
    (None, PlanCause.NEVER_SYNCED, False),
    (3, PlanCause.RESUMING_BACKFILL, False),
    (25, PlanCause.RESUMING_BACKFILL, True),
    (31, PlanCause.EVENTS_EXPIRED, False),
])
def test_the_sync_plan_is_a_typed_result_with_the_age_of_its_events(tmp_path, days_old, cause, expiring):
    now = datetime(2026, 6, 30, tzinfo=timezone.utc)
    with Cache.open(tmp_path / "plan.duckdb") as cache:
        if days_old is not None:
            with cache.transaction():
                cache.set_meta("event_cursor", json.dumps({"id": "evt_1", "created": int(now.timestamp()) - days_old * DAY,
                                                           "ids": ["evt_1"]}))
        plan = next_sync_plan(cache, now=now)
    assert plan.cause is cause and plan.events_expiring is expiring
    assert plan.kind == ("incremental" if cause is PlanCause.RESUMING_BACKFILL else "full")
    assert plan.cursor_age == (None if days_old is None else timedelta(days=days_old))


def test_a_catch_up_cut_short_resumes_without_skipping_older_objects(fake, tmp_path):
    """Balance transactions have no events: an incremental sync reads those created since the
    newest stored one, newest first. Cut short after its first page, the next sync must still
    read the older ones (not start again from the newest it now holds)."""
    settings = settings_for(fake, tmp_path, stripe_max_network_retries=1)
    first = sync_account(settings)
    now = int(fake.clock)
    for i in range(250):
        fake.create(template("balance_transaction", id=f"txn_new_{i:03d}", source=None, amount=100, fee=3, net=97,
                             created=now + i, type="adjustment"))
    fault = fake.inject("server_error", times=None, path=r"^/v1/balance_transactions$", query="starting_after=")

    def new_ones() -> int:
        with Cache.open(first.db_path, read_only=True) as cache:
            return cache.con.execute(
                "SELECT count(*) FROM balance_transactions WHERE id LIKE 'txn_new_%'").fetchone()[0]

    with pytest.raises(SyncError, match="Stripe had an internal error"):
        sync_account(settings)
    assert fault.fired and new_ones() == 100  # the newest page only
    fake.clear_faults()
    sync_account(settings)
    assert new_ones() == 250
    with Cache.open(first.db_path, read_only=True) as cache:
        cursor = json.loads(cache.con.execute(
            "SELECT cursor FROM sync_state WHERE resource = 'balance_transactions'").fetchone()[0])
    assert cursor.get("catch_up") is None  # finished: the next catch-up starts from the newest row


def _ranges(path, resource):
    with Cache.open(path, read_only=True) as cache:
        raw = cache.con.execute("SELECT cursor FROM sync_state WHERE resource = ?", [resource]).fetchone()[0]
    return json.loads(raw)["slices"]


def test_readers_left_idle_split_the_ranges_still_being_read_and_the_cache_is_the_same(
        fake, account, tmp_path, monkeypatch):
    """Small pages and two `created` ranges per resource: once fewer ranges than readers are
    left, a range being read hands its older half to a new reader. The ranges stay disjoint and
    cover the same time, and the cache holds exactly the account."""
    monkeypatch.setattr(pager, "PAGE_SIZE", 2)
    report = sync_account(settings_for(fake, tmp_path, sync_concurrency=6), slices=2)
    split = {r.name: ranges for r in schema.RESOURCES if len(ranges := _ranges(report.db_path, r.name)) > 2}
    assert split, "no range was split"
    assert report.ranges_split == sum(len(ranges) - 2 for ranges in split.values())
    for ranges in split.values():
        assert all(r["done"] for r in ranges)
        ordered = sorted(ranges, key=lambda r: r["lt"])
        assert ordered[0]["gte"] is None
        assert [r["lt"] for r in ordered[:-1]] == [r["gte"] for r in ordered[1:]]
    direct_ingest(tmp_path / "direct.duckdb", account[1])
    assert snapshot(report.db_path, history=False) == snapshot(tmp_path / "direct.duckdb", history=False)


def test_a_sync_stopped_after_ranges_were_split_resumes_to_the_same_cache(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(pager, "PAGE_SIZE", 2)
    clean = sync_account(settings_for(fake, tmp_path), db_path=tmp_path / "clean.duckdb", slices=2)
    splits = []
    original = created_ranges.split_off_older

    def split_off_older(range_, **values):
        older = original(range_, **values)
        if older:
            splits.append(older)
        return older

    def stop_after_a_split(progress):
        if progress.phase == "backfill" and splits:
            raise RuntimeError("stopped")

    monkeypatch.setattr(created_ranges, "split_off_older", split_off_older)
    stopped = tmp_path / "stopped.duckdb"
    with pytest.raises(SyncError, match="stopped"):
        sync_account(settings_for(fake, tmp_path), db_path=stopped, slices=2, progress=stop_after_a_split)
    assert splits and not all(s["done"] for r in schema.RESOURCES for s in _ranges(stopped, r.name))
    monkeypatch.undo()
    monkeypatch.setattr(pager, "PAGE_SIZE", 2)
    sync_account(settings_for(fake, tmp_path), db_path=stopped, slices=2)
    assert snapshot(stopped) == snapshot(clean.db_path)
