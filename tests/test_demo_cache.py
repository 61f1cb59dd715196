"""The demo account enters the cache through the same ingestion as sync: a full sync of the
demo served by the fake Stripe server gives the same cache as building the demo directly."""

import json
import subprocess
import sys
import time
import types
from datetime import datetime, timezone

from stripe_analytics.cache import Cache
from stripe_analytics.cli import main
from stripe_analytics.config import Settings
from stripe_analytics.demo import generate_account
from stripe_analytics import demo_cache
from stripe_analytics.demo_cache import build_demo_cache
from stripe_analytics.sync import sync_account
from tests.fake_stripe import FakeStripe
from tests.test_sync import direct_ingest, snapshot

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
KEY = "sk_test_demo_sync_000001"


def test_sync_of_the_served_demo_equals_direct_ingestion(tmp_path):
    direct = tmp_path / "demo.duckdb"
    counts = build_demo_cache(direct, seed=7, customers=60, as_of=AS_OF)
    assert counts["customers"] == 60 and counts["invoice_line_items"] > counts["invoices"]

    account = generate_account(seed=7, customers=60, as_of=AS_OF)
    with FakeStripe() as fake:
        fake.add_account(account.account, key=KEY)
        fake.add_many(account.iter_objects())
        settings = Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=tmp_path,
                            stripe_max_requests_per_second=1000)
        report = sync_account(settings, db_path=tmp_path / "synced.duckdb")
    assert report.kind == "full" and not report.skipped
    synced, built = snapshot(report.db_path, history=False), snapshot(direct, history=False)
    for table in built:
        if table == "events":
            continue  # Stripe lists only the last 30 days of events: compared below
        assert len(synced[table]) == len(built[table]), table
        assert synced[table] == built[table], table
    assert synced["events"] == [e for e in built["events"] if e[0] in {s[0] for s in synced["events"]}]


def test_demo_command_builds_the_default_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert main(["demo", "--customers", "25", "--seed", "3", "--as-of", "2026-05-31"]) == 0
    assert "demo account built" in capsys.readouterr().out
    with Cache.open(tmp_path / "demo.duckdb", read_only=True) as cache:
        assert cache.row_counts()["customers"] == 25
        assert cache.get_meta("demo_complete") == "true"
        latest = cache.con.execute("SELECT max(created) FROM charges").fetchone()[0]
        assert latest <= datetime(2026, 6, 1, tzinfo=timezone.utc)


def test_demo_command_rejects_bad_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert main(["demo", "--customers", "0"]) == 2
    assert "--customers" in capsys.readouterr().err
    assert main(["demo", "--as-of", "2026-13-45"]) == 2
    assert "--as-of" in capsys.readouterr().err
    assert main(["demo", "--db", str(tmp_path / "x.txt")]) == 2
    assert not (tmp_path / "demo.duckdb").exists()


def test_the_demo_has_a_balance_as_its_daily_payouts_leave_it(tmp_path):
    """Pending = what becomes available after as-of (the generator marks those transactions
    `pending`); available = what became available that day, before its automatic payout."""
    import json

    path = tmp_path / "demo.duckdb"
    build_demo_cache(path, seed=5, customers=40, as_of=AS_OF)
    with Cache.open(path, read_only=True) as cache:
        balance = json.loads(cache.get_meta("balance"))
        by_status = dict(cache.con.execute(
            "SELECT status, sum(net) FROM balance_transactions WHERE lower(currency) = 'usd' GROUP BY 1").fetchall())
        today = cache.con.execute(
            "SELECT coalesce(sum(net), 0) FROM balance_transactions WHERE lower(currency) = 'usd' "
            "AND available_on > ? AND available_on <= ?",
            [datetime(2026, 6, 30, tzinfo=timezone.utc), AS_OF]).fetchone()[0]
    assert balance["object"] == "balance" and balance["retrieved_at"] == int(AS_OF.timestamp())
    pending = {b["currency"]: b["amount"] for b in balance["pending"]}
    available = {b["currency"]: b["amount"] for b in balance["available"]}
    assert pending["usd"] == by_status["pending"] > 0
    assert available["usd"] == today


def test_worker_processes_build_the_same_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_cache, "CUSTOMERS_PER_TASK", 9)  # several tasks per worker, the last one short
    # As under the CLI: a `__main__` the workers need not re-run (an earlier AppTest may have left a page there).
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    in_process = build_demo_cache(tmp_path / "one.duckdb", seed=4, customers=40, as_of=AS_OF, workers=1)
    in_workers = build_demo_cache(tmp_path / "two.duckdb", seed=4, customers=40, as_of=AS_OF, workers=2)
    assert in_workers == in_process and in_process["customers"] == 40 and in_process["events"] > 0
    one, two = snapshot(tmp_path / "one.duckdb"), snapshot(tmp_path / "two.duckdb")
    assert one == two
    # and both hold exactly the generator's stream
    generated = list(generate_account(seed=4, customers=40, as_of=AS_OF).iter_objects())
    assert [row[0] for row in one["events"]] == sorted(o["id"] for o in generated if o["object"] == "event")
    assert [row[0] for row in one["charges"]] == sorted(o["id"] for o in generated if o["object"] == "charge")


def test_the_build_holds_exactly_the_rows_of_the_generated_stream(tmp_path, monkeypatch):
    """The build writes each range's events with its customers (not after every customer, as
    the stream orders them): the rows are the same as writing the stream in its own order."""
    monkeypatch.setattr(demo_cache, "CUSTOMERS_PER_TASK", 7)
    build_demo_cache(tmp_path / "built.duckdb", seed=6, customers=30, as_of=AS_OF, workers=1)
    direct_ingest(tmp_path / "stream.duckdb", generate_account(seed=6, customers=30, as_of=AS_OF).iter_objects())
    built, stream = snapshot(tmp_path / "built.duckdb"), snapshot(tmp_path / "stream.duckdb")
    assert len(built["events"]) > 0 and len(built["charges"]) > 0
    for table in stream:
        assert built[table] == stream[table], table


def test_a_build_started_during_a_script_run_stays_in_this_process(tmp_path, monkeypatch):
    """Streamlit swaps the running page in as `__main__`; spawned workers would run it first."""
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('a page must never run in a demo worker')\n")
    running_page = types.ModuleType("__main__")
    running_page.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", running_page)
    monkeypatch.setattr(demo_cache, "CUSTOMERS_PER_TASK", 9)
    built = build_demo_cache(tmp_path / "page.duckdb", seed=4, customers=20, as_of=AS_OF, workers=2)
    assert built == build_demo_cache(tmp_path / "cli.duckdb", seed=4, customers=20, as_of=AS_OF, workers=1)


def test_a_killed_build_leaves_the_previous_demo_and_the_next_build_clears_its_leftovers(tmp_path):
    path = tmp_path / "demo.duckdb"
    build_demo_cache(path, seed=1, customers=20, as_of=AS_OF, workers=1)
    parts = tmp_path / "demo.duckdb.building.parts"
    rebuild = subprocess.Popen([sys.executable, "-c", "from stripe_analytics.demo_cache import build_demo_cache; "
                                f"build_demo_cache({str(path)!r}, seed=2, customers=5000, workers=1)"])
    try:
        deadline = time.monotonic() + 120
        while len(list((parts / "customers").glob("*.parquet"))) < 3:  # staging is under way
            assert rebuild.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        rebuild.kill()
        rebuild.wait()
    assert (tmp_path / "demo.duckdb.building").exists() and parts.exists()
    with Cache.open(path, read_only=True) as cache:  # the previous demo, whole
        assert json.loads(cache.con.execute("SELECT value FROM meta WHERE key = 'demo'").fetchone()[0])["customers"] == 20
        assert cache.row_counts()["customers"] == 20

    build_demo_cache(path, seed=3, customers=25, as_of=AS_OF, workers=1)
    assert [p.name for p in tmp_path.iterdir() if "building" in p.name] == []
    with Cache.open(path, read_only=True) as cache:
        assert cache.row_counts()["customers"] == 25
