"""The scheduled sync of accounts connected on the Connect page (connected_sync.py): which
connections are synced and as whom, one sync per account, failures reported per account, and
the health endpoint's view of them; with real sync children against the fake Stripe."""

from __future__ import annotations

import os
import time

import pytest
from pydantic import SecretStr

from stripe_analytics import health
from stripe_analytics.cache import Cache
from stripe_analytics.config import load_settings
from stripe_analytics.connected_sync import scheduled_connections, sync_connected
from stripe_analytics.connection import Connection, cache_path_for
from stripe_analytics.connection_store import ConnectionStore, holder_for_browser, holder_for_user
from stripe_analytics.scheduler import Outcome, SyncScheduler
from stripe_analytics.sync_jobs import outcome_of, start_connection
from tests.sync_accounts import fake_with_account, template

KEY = "rk_test_scheduled_connection_0001"
ACCOUNT = "acct_synctest"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR", "SECRET_KEY", "SESSION_", "SYNC_",
                                                         "ALLOWED_", "EDITORS", "HEALTH_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))


@pytest.fixture
def fake():
    with fake_with_account(KEY, customers=3) as server:
        yield server


def settings_for(fake, tmp_path, **values):
    return load_settings(stripe_api_base=fake.url, data_dir=tmp_path, stripe_max_requests_per_second=1000,
                         stripe_max_network_retries=0, sync_interval_minutes=15, **values)


def key_connection(key: str = KEY) -> Connection:
    return Connection(kind="restricted_key", account_id=ACCOUNT, livemode=False, key=SecretStr(key),
                      profile={"name": "Sync Test Co"})


def synced_once(settings, conn: Connection) -> None:
    assert outcome_of(start_connection(settings, conn, *conn.credentials(settings)), 120).outcome is Outcome.ok


def customers(settings) -> set[str]:
    with Cache.open(cache_path_for(settings, ACCOUNT), read_only=True) as cache:
        return {row[0] for row in cache.con.execute("SELECT id FROM customers").fetchall()}


def test_a_connected_account_is_brought_up_to_date_by_the_schedule(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    store = ConnectionStore(settings)
    conn = key_connection()
    store.save(holder_for_browser("a-browser-session"), conn)
    synced_once(settings, conn)
    fake.create(template("customer", id="cus_after_connect", email="late@example.com", created=fake.clock,
                         discount=None))
    assert "cus_after_connect" not in customers(settings)

    result, outcomes = sync_connected(settings, store, sign_in_configured=False, timeout=120)

    assert result.outcome is Outcome.ok, result.message
    assert set(outcomes) == {ACCOUNT}
    assert "cus_after_connect" in customers(settings)


def test_only_accounts_synced_once_and_held_by_someone_who_may_sync_are_scheduled(fake, tmp_path):
    settings = settings_for(fake, tmp_path, allowed_users="ana@example.com,vic@example.com",
                            editors="ana@example.com")
    store = ConnectionStore(settings)
    store.save(holder_for_browser("a-browser-session"), key_connection())
    # Never synced here: nothing to keep up to date yet.
    assert scheduled_connections(settings, store, sign_in_configured=False) == []
    synced_once(settings, key_connection())
    assert [s.holder for s in scheduled_connections(settings, store, sign_in_configured=False)] == \
        ["browser:a-browser-session"]
    # A server that now requires sign-in no longer acts for an anonymous browser ...
    assert scheduled_connections(settings, store, sign_in_configured=True) == []
    # ... nor for a viewer, but for an editor, with today's role.
    store.save(holder_for_user("vic@example.com"), key_connection())
    assert scheduled_connections(settings, store, sign_in_configured=True) == []
    store.save(holder_for_user("ana@example.com"), key_connection())
    chosen = scheduled_connections(settings, store, sign_in_configured=True)
    assert [(s.holder, s.principal.role) for s in chosen] == [("user:ana@example.com", "editor")]
    # A user taken off the list is no longer acted for.
    narrowed = settings.model_copy(update={"allowed_users": "vic@example.com"})
    assert scheduled_connections(narrowed, ConnectionStore(narrowed), sign_in_configured=True) == []


def test_an_account_held_twice_is_synced_once_and_the_schedule_does_not_count_as_use(fake, tmp_path):
    clock = [1_000_000.0]
    settings = settings_for(fake, tmp_path, session_idle_days=1)
    store = ConnectionStore(settings, now=lambda: clock[0])
    store.save(holder_for_browser("first"), key_connection())
    clock[0] += 10
    store.save(holder_for_browser("second"), key_connection())
    synced_once(settings, key_connection())
    started = []

    def start(*args, **kwargs):
        started.append(args[1].account_id)
        return start_connection(*args, **kwargs)

    result, _ = sync_connected(settings, store, sign_in_configured=False, start=start, timeout=120)
    assert result.outcome is Outcome.ok and started == [ACCOUNT]
    assert [s.holder for s in scheduled_connections(settings, store, sign_in_configured=False)] == \
        ["browser:second"]  # the one used most recently
    # Scheduled rounds do not keep a connection alive: a day after its last use it expires.
    clock[0] += 86400 + 5
    assert scheduled_connections(settings, store, sign_in_configured=False) == []
    assert store.load(holder_for_browser("second")).connection is None


def test_a_failing_connection_is_reported_by_account_and_backs_off(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    store = ConnectionStore(settings)
    store.save(holder_for_browser("a-browser-session"), key_connection())
    synced_once(settings, key_connection())
    fake.inject("server_error", times=None)
    clock = [5000.0]
    round_outcomes = {}

    def run():
        result, outcomes = sync_connected(settings, store, sign_in_configured=False, timeout=120)
        round_outcomes.update(outcomes)
        return result

    scheduler = SyncScheduler(900, run, clock=lambda: clock[0])
    result = scheduler.run_once()
    assert result.outcome is Outcome.failed and result.message.startswith(f"{ACCOUNT}: ")
    assert KEY not in result.message
    assert scheduler.state.failures == 1 and scheduler.state.next_run_at == 5030
    fake.clear_faults()
    assert scheduler.run_once().outcome is Outcome.ok and scheduler.state.failures == 0


def test_health_lists_connected_caches_and_flags_a_stale_scheduled_one(fake, tmp_path):
    settings = settings_for(fake, tmp_path, health_max_sync_age_minutes=30)
    synced_once(settings, key_connection())
    status, body = health.report(settings, connected_scheduled=frozenset({ACCOUNT}))
    entry = next(a for a in body["accounts"] if a["account"] == ACCOUNT)
    assert status == 200 and entry["connected"] and entry["scheduled_sync"] and entry["cache_readable"]
    assert body["connected_schedule"]["interval_minutes"] == 15
    later = time.time() + 3600
    status, body = health.report(settings, connected_scheduled=frozenset({ACCOUNT}), now=later)
    assert status == 503 and any(ACCOUNT in p and "older than 30 minutes" in p for p in body["problems"])
    # Not scheduled (nobody holds it any more): listed, but its age is not a failure of the server.
    status, body = health.report(settings, now=later)
    assert status == 200 and not body["accounts"][0]["scheduled_sync"]
