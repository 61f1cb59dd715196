"""POST /webhooks/stripe on the served app (serve.py, as `make run`), against a fake Stripe
account synced first: signed events applied, every bad request refused with nothing written,
duplicates, a sync holding the cache, Connect routing, a 1,000-event burst, kill -9 while
applying, the scheduled sync, and the `webhooks` command."""

from __future__ import annotations

import os
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from stripe_analytics.cache import Cache, writer_lock
from stripe_analytics.config import Settings
from stripe_analytics.sync import sync_account
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import fake_with_account, template
from tests.webhook_support import (ACCOUNT, KEY, OLD_SECRET, SECRET, customer_event, live_env, live_server, post,
                                   query, sign, wait_until)


@pytest.fixture(scope="module")
def fake():
    with fake_with_account(KEY, customers=8) as server:
        yield server


def synced_data_dir(fake, root):
    data_dir = root / "data"
    sync_account(Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir,
                          stripe_max_requests_per_second=1000))
    return data_dir


@pytest.fixture(scope="module")
def live(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("webhooks")
    data_dir = synced_data_dir(fake, root)
    with live_server(live_env(data_dir, root, fake.url), root / "server.log") as app:
        app.cache = data_dir / f"{ACCOUNT}.duckdb"
        app.queue = data_dir / "webhooks" / "queue"
        yield app


def applied(app, *ids):
    """The ids among `ids` that were applied, once the queue has drained (and, if one is still
    missing then, after the applier had a few seconds more: a lost event fails with the facts)."""
    def found():
        rows = query(app.cache, "SELECT id FROM applied_events WHERE id IN (SELECT unnest(?))", [list(ids)])
        return {r[0] for r in rows}

    wait_until(lambda: app.account_health()["events_queued"] == 0, what="the queue to drain")
    deadline = time.monotonic() + 10
    while (seen := found()) != set(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    if seen != set(ids):
        print("health:", app.health().text)
        print("server log:", app.log_path.read_text(errors="replace")[-3000:])
    return seen


def data_version(app) -> int:
    return int(query(app.cache, "SELECT value FROM meta WHERE key = 'data_version'")[0][0])


def queued_files(app):
    return [p for p in app.queue.rglob("*") if p.is_file()] if app.queue.exists() else []


def test_a_signed_event_is_applied_with_either_rotating_secret(live):
    assert post(live.url, customer_event("new1")).json() == {"received": True, "id": "evt_test_new1"}
    assert post(live.url, customer_event("old1"), secret=OLD_SECRET).status_code == 200
    assert applied(live, "evt_test_new1", "evt_test_old1") == {"evt_test_new1", "evt_test_old1"}
    assert query(live.cache, "SELECT email FROM customers WHERE id = 'cus_hook_new1'") == [("hooknew1@example.com",)]
    entry = live.account_health()
    assert entry["last_webhook_received_at"] and entry["last_webhook_applied_at"]


def _bad_requests():
    event = customer_event("bad")
    body = json.dumps(event)
    json_type = {"Content-Type": "application/json"}
    return {
        "wrong secret": (400, dict(data=body, headers={**json_type, "Stripe-Signature": sign(body, "whsec_wrong_0000")})),
        "tampered body": (400, dict(data=body.replace("hookbad", "evil"), headers={**json_type,
                                                                                   "Stripe-Signature": sign(body)})),
        "expired timestamp": (400, dict(data=body, headers={**json_type, "Stripe-Signature": sign(
            body, timestamp=int(time.time()) - 301)})),
        "missing header": (400, dict(data=body, headers=json_type)),
        "oversized body": (413, dict(data=body + " " * (1 << 20), headers={**json_type,
                                                                           "Stripe-Signature": sign(body)})),
        # no Content-Length: the endpoint counts the bytes as they come
        "oversized chunked body": (413, dict(data=(part for part in [body.encode(), b" " * (1 << 20)]),
                                             headers={**json_type, "Stripe-Signature": sign(body)})),
        "not json": (400, dict(data="evt_test_bad, not json", headers={
            **json_type, "Stripe-Signature": sign("evt_test_bad, not json")})),
        "signed json that is no event": (400, dict(data='{"id": "evt_test_bad"}', headers={
            **json_type, "Stripe-Signature": sign('{"id": "evt_test_bad"}')})),
        "form encoded": (415, dict(data=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                        "Stripe-Signature": sign(body)})),
    }


@pytest.mark.parametrize("case", list(_bad_requests()))
def test_a_bad_request_is_refused_and_writes_nothing(live, case):
    status, request = _bad_requests()[case]
    # Read from the file itself: while the applier still holds the cache after earlier events,
    # /healthz answers the last facts it could read.
    before = data_version(live)
    response = requests.post(f"{live.url}/webhooks/stripe", timeout=10, **request)
    assert response.status_code == status
    assert "error" in response.json()
    assert queued_files(live) == []
    time.sleep(0.3)
    assert data_version(live) == before
    assert query(live.cache, "SELECT count(*) FROM customers WHERE id = 'cus_hook_bad' OR email LIKE 'evil%'") == [(0,)]


def test_only_post_is_served(live):
    for method in ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = requests.request(method, f"{live.url}/webhooks/stripe", timeout=10)
        assert response.status_code == 405, method
        assert "POST" in response.headers.get("Allow", ""), method
    assert queued_files(live) == []


def test_the_body_is_not_parsed_before_the_signature_holds():
    from stripe_analytics.webhooks import WebhookRejected, verify

    body = "{not json at all"
    with pytest.raises(WebhookRejected) as unsigned:  # a wrong signature on a body that is not JSON
        verify(body.encode(), sign(body, "whsec_someone_elses_0"), [SECRET])
    assert unsigned.value.status == 400 and "signature" in unsigned.value.reason
    with pytest.raises(WebhookRejected) as signed:  # the same body, signed: only then is it read
        verify(body.encode(), sign(body), [SECRET])
    assert signed.value.status == 400 and "not JSON" in signed.value.reason


def test_the_same_event_five_times_is_applied_once(live):
    event = customer_event("dup5")
    assert [post(live.url, event).status_code for _ in range(5)] == [200] * 5
    assert applied(live, "evt_test_dup5") == {"evt_test_dup5"}
    assert query(live.cache, "SELECT count(*) FROM applied_events WHERE id = 'evt_test_dup5'") == [(1,)]
    assert query(live.cache, "SELECT count(*) FROM events WHERE id = 'evt_test_dup5'") == [(1,)]


def test_an_older_snapshot_after_a_newer_one_keeps_the_newer(live):
    now = int(time.time()) + 30
    post(live.url, customer_event("order", created=now + 5, email="newer@example.com", type="customer.updated"))
    older = customer_event("order", created=now, email="older@example.com", type="customer.updated")
    older["id"] = "evt_test_order_older"
    post(live.url, older)
    applied(live, "evt_test_order", "evt_test_order_older")
    assert query(live.cache, "SELECT email FROM customers WHERE id = 'cus_hook_order'") == [("newer@example.com",)]


def test_an_event_arriving_while_a_sync_holds_the_cache_is_acknowledged_then_applied(live):
    with writer_lock(live.cache):  # what a running `stripe-analytics sync` holds
        started = time.monotonic()
        response = post(live.url, customer_event("locked"))
        answered = time.monotonic() - started
        assert response.status_code == 200
        time.sleep(1.0)
        assert live.account_health()["events_queued"] == 1
        assert len(queued_files(live)) == 1
    print(f"answered in {answered * 1000:.0f} ms while the cache was locked")
    assert applied(live, "evt_test_locked") == {"evt_test_locked"}


def test_an_event_arriving_while_a_real_sync_runs_is_answered_then_applied(live, fake):
    """A `stripe-analytics sync` child holds the cache (its /v1/events read made slow): the
    webhook is answered at once, waits in the queue, and lands once the sync finished."""
    # The sync's events read is answered only once the test has seen the event waiting (a fixed
    # delay was sometimes over before the checks ran, on a loaded machine).
    sync_may_go_on = threading.Event()
    fake.inject("slow", times=1, path="/v1/events", delay=120.0, release=sync_may_go_on)
    sync = subprocess.Popen([sys.executable, "-m", "stripe_analytics", "sync", "--db", str(live.cache)],
                            env=live.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: any(r.path == "/v1/events" and r.fault == "slow" for r in fake.requests),
                   interval=0.05, what="the sync to read its events")
        started = time.monotonic()
        response = post(live.url, customer_event("during_sync"))
        answered = time.monotonic() - started
        assert response.status_code == 200
        health = live.account_health()
        assert sync.poll() is None, "the sync ended before the event could be seen waiting"
        assert health["events_queued"] == 1
        # While the sync holds the file nobody else can open it, the applier included: the
        # event keeps waiting (the cache itself cannot be read until the sync lets go of it).
        time.sleep(1.0)
        assert live.account_health()["events_queued"] == 1
        assert sync.poll() is None
    finally:
        sync_may_go_on.set()
        output, _ = sync.communicate(timeout=120)
    assert sync.returncode == 0, output.decode(errors="replace")
    print(f"answered in {answered * 1000:.0f} ms while a sync ran")
    assert applied(live, "evt_test_during_sync") == {"evt_test_during_sync"}
    assert query(live.cache, "SELECT email FROM customers WHERE id = 'cus_hook_during_sync'") \
        == [("hookduring_sync@example.com",)]


def test_connect_events_go_to_their_account_and_unknown_accounts_are_counted(live):
    connected = live.cache.parent / "acct_connected_one.duckdb"
    with Cache.open(connected) as cache, cache.transaction():
        cache.set_meta("account_id", "acct_connected_one")
    assert post(live.url, customer_event("conn", account="acct_connected_one")).status_code == 200
    assert post(live.url, customer_event("nocache", account="acct_not_here")).status_code == 200
    wait_until(lambda: query(connected, "SELECT email FROM customers WHERE id = 'cus_hook_conn'"),
               what="the Connect event in its account's cache")
    assert query(live.cache, "SELECT count(*) FROM customers WHERE id IN ('cus_hook_conn', 'cus_hook_nocache')") \
        == [(0,)]
    body = wait_until(lambda: (b := live.health().json())["webhooks"]["events_for_accounts_without_cache"] and b,
                      what="the unrouted count")
    assert body["webhooks"]["events_for_accounts_without_cache"] == {"acct_not_here": 1}
    assert not list((live.cache.parent).glob("acct_not_here*"))


def test_a_burst_of_1000_events_is_applied_once_each(live):
    events = [customer_event(f"burst{i}") for i in range(1000)]
    with ThreadPoolExecutor(8) as pool, requests.Session() as session:
        statuses = list(pool.map(lambda e: post(live.url, e, session=session).status_code, events))
    assert statuses == [200] * 1000
    ids = [e["id"] for e in events]
    assert applied(live, *ids) == set(ids)
    stored = query(live.cache, "SELECT count(*), count(DISTINCT id) FROM customers WHERE id LIKE 'cus_hook_burst%'")
    if stored != [(1000, 1000)]:
        print("outcomes of the events whose customer is missing:", query(live.cache,
              "SELECT a.id, a.outcome, a.applied_at, v.event_id FROM applied_events a "
              "LEFT JOIN object_versions v ON v.id = replace(a.id, 'evt_test_', 'cus_hook_') "
              "WHERE a.id LIKE 'evt_test_burst%' AND replace(a.id, 'evt_test_', 'cus_hook_') "
              "NOT IN (SELECT id FROM customers)"))
        print("server log:", live.log_path.read_text(errors="replace")[-3000:])
    assert stored == [(1000, 1000)]


def test_healthz_answers_200_then_503_once_the_cache_is_unreadable(live):
    response = live.health()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"]
    text = response.text
    assert KEY not in text and "whsec_" not in text and "@example.com" not in text
    wait_until(lambda: live.account_health()["events_queued"] == 0, what="the queue to drain")
    saved = live.cache.with_suffix(".saved")
    live.cache.rename(saved)
    try:
        live.cache.write_bytes(b"this is not a DuckDB file " * 200)  # damaged on disk
        unhealthy = wait_until(lambda: (r := live.health()).status_code == 503 and r.json(), what="a 503")
        entry = next(a for a in unhealthy["accounts"] if a["account"] == ACCOUNT)
        assert entry["cache_readable"] is False and entry["problems"]
        assert unhealthy["status"] == "unhealthy"
    finally:
        saved.replace(live.cache)
    wait_until(lambda: live.health().status_code == 200, what="healthy again")


def test_killed_while_applying_the_next_start_loses_nothing(fake, tmp_path):
    data_dir = synced_data_dir(fake, tmp_path)
    cache = data_dir / f"{ACCOUNT}.duckdb"
    env = live_env(data_dir, tmp_path, fake.url)
    events = [customer_event(f"kill{i}") for i in range(600)]
    acknowledged: list[str] = []
    with live_server(env, tmp_path / "server.log") as app:
        stop = threading.Event()

        def send(event):
            if stop.is_set():
                return
            try:
                if post(app.url, event, timeout=5).status_code == 200:
                    acknowledged.append(event["id"])
            except requests.RequestException:
                pass  # the server was killed while answering: Stripe would send it again

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, e) for e in events]
            wait_until(lambda: len(acknowledged) >= 300, what="half the events acknowledged", interval=0.01)
            app.kill()
            stop.set()
            for future in futures:
                future.result()
    assert 300 <= len(acknowledged) < 600
    with Cache.open(cache, read_only=True) as opened:  # consistent after kill -9 (DuckDB's WAL)
        before = opened.con.execute("SELECT count(*) FROM applied_events WHERE id LIKE 'evt_test_kill%'").fetchall()
    print(f"{len(acknowledged)} acknowledged, {before[0][0]} applied when killed")
    with live_server(env, tmp_path / "server2.log") as app:
        wait_until(lambda: app.account_health()["events_queued"] == 0, what="the queue to drain after restart")
        rows = query(cache, "SELECT id FROM applied_events WHERE id LIKE 'evt_test_kill%'")
        customers = query(cache, "SELECT count(*), count(DISTINCT id) FROM customers WHERE id LIKE 'cus_hook_kill%'")
    applied_ids = {r[0] for r in rows}
    assert set(acknowledged) <= applied_ids
    assert len(rows) == len(applied_ids)
    assert customers[0][0] == customers[0][1] == len(applied_ids)


def test_the_server_syncs_on_its_own_schedule(fake, tmp_path):
    data_dir = synced_data_dir(fake, tmp_path)
    env = live_env(data_dir, tmp_path, fake.url, SYNC_INTERVAL_MINUTES="0.05")
    with live_server(env, tmp_path / "server.log") as app:
        fake.create(template("customer", id="cus_scheduled", email="scheduled@example.com", created=fake.clock,
                             discount=None))
        cache = data_dir / f"{ACCOUNT}.duckdb"
        wait_until(lambda: query(cache, "SELECT 1 FROM customers WHERE id = 'cus_scheduled'"), timeout=60,
                   interval=1.0, what="the scheduled sync to pick up the new customer")
        schedule = app.health().json()["schedule"]
        assert schedule["running"] and schedule["interval_minutes"] == 0.05
        wait_until(lambda: app.health().json()["schedule"]["last_ok_at"], what="the schedule's last success")


def test_health_judges_the_configured_account_even_while_stripe_cannot_say_which_it_is(fake, tmp_path):
    """The server started while Stripe could not be reached (the key's account unknown): the
    one cache here is still judged by its age, and with no cache at all /healthz says so."""
    data_dir = synced_data_dir(fake, tmp_path)
    fake.inject("server_error", times=None, path="/v1/account")
    try:
        env = live_env(data_dir, tmp_path, fake.url, HEALTH_MAX_SYNC_AGE_MINUTES="0.05", STRIPE_MAX_NETWORK_RETRIES="0")
        with live_server(env, tmp_path / "server.log") as app:
            body = wait_until(lambda: (r := app.health()).status_code == 503 and r.json(), timeout=30,
                              what="a 503 once the last sync is older than 3 s")
            assert body["problems"] == [f"{ACCOUNT}: last successful sync is older than 0.05 minutes"]
            cache = data_dir / f"{ACCOUNT}.duckdb"
            cache.rename(tmp_path / "kept.duckdb")
            try:
                body = wait_until(lambda: (r := app.health()).status_code == 503 and not r.json()["accounts"]
                                  and r.json(), what="a 503 with no cache")
                assert body["problems"] == ["the configured key's account is not known yet and has no cache here"]
            finally:
                (tmp_path / "kept.duckdb").rename(cache)
    finally:
        fake.clear_faults()


def test_the_webhooks_command_says_what_to_configure(capsys, monkeypatch, tmp_path):
    from stripe_analytics.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))
    assert main(["webhooks", "--url", "https://analytics.example.com/"]) == 0
    out = capsys.readouterr().out
    assert "https://analytics.example.com/webhooks/stripe" in out
    assert "customer.subscription.updated" in out and "invoice.paid" in out
    assert "stripe listen --forward-to localhost:8501/webhooks/stripe" in out
    assert "STRIPE_WEBHOOK_SECRET: not set" in out
    assert main(["webhooks", "--url", "not a url"]) == 2


def test_the_event_types_to_select_are_stripe_s_and_cover_every_object_the_cache_keeps():
    """`webhooks` lists only real event types (the SDK's own list), and every type Stripe sends
    for an object kept from events but reminders, so no change waits for the scheduled sync."""
    import typing

    from stripe._event import Event
    from stripe_analytics.schema import RESOURCES
    from stripe_analytics.webhooks import EVENT_TYPES

    known = set(typing.get_args(typing.get_type_hints(Event)["type"]))
    assert set(EVENT_TYPES) <= known, set(EVENT_TYPES) - known
    reminders = {"invoice.upcoming", "invoice.overdue", "invoice.will_be_due"}  # the object does not change
    prefix = {"subscription": "customer.subscription", "dispute": "charge.dispute"}
    for resource in RESOURCES:
        if resource.has_events:
            name = prefix.get(resource.object_type, resource.object_type)
            sent = {t for t in known if t.startswith(f"{name}.") and t.count(".") == name.count(".") + 1}
            assert sent, resource.name
            assert sent - reminders <= set(EVENT_TYPES), (resource.name, sent - reminders - set(EVENT_TYPES))


def test_routing_with_a_platform_key_and_stripe_account(tmp_path):
    from stripe_analytics.schema import RESOURCE_BY_NAME
    from stripe_analytics.webhooks import PLATFORM, Router

    with FakeStripe() as server:
        server.add_account("acct_platform_one", key=KEY)
        server.add_account("acct_connected_two", connected_to="acct_platform_one")
        server.create(template("customer", id="cus_on_connected", email="c@example.com", discount=None),
                      account="acct_connected_two")
        (tmp_path / "acct_connected_two.duckdb").touch()
        router = Router(Settings(stripe_api_key=KEY, stripe_api_base=server.url, data_dir=tmp_path,
                                 stripe_account="acct_connected_two", stripe_max_requests_per_second=1000))
        assert router.configured_account() == "acct_connected_two"  # what the schedule syncs
        assert router.resolve(PLATFORM) == "acct_platform_one"  # events without `account`
        assert router.cache_for("acct_connected_two") == tmp_path / "acct_connected_two.duckdb"
        assert router.cache_for("acct_platform_one") is None
        fetched = router.fetcher_for("acct_connected_two").retrieve(RESOURCE_BY_NAME["customers"], "cus_on_connected")
        assert fetched["email"] == "c@example.com"


def test_the_queue_makes_its_missing_folders_owner_only_and_leaves_existing_ones_as_they_are(tmp_path):
    import stat

    from stripe_analytics.webhooks import EventQueue, VerifiedEvent

    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    queue = EventQueue(sticky / "data" / "webhooks" / "queue")
    queue.put(VerifiedEvent(id="evt_1", account="acct_1Queue", created=1, body=b'{"id": "evt_1"}'))
    modes = {p.relative_to(sticky).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in sticky.rglob("*")}
    assert stat.S_IMODE(sticky.stat().st_mode) == 0o1777
    assert {k: v for k, v in modes.items() if not k.endswith(".json")} == {
        "data": 0o700, "data/webhooks": 0o700, "data/webhooks/queue": 0o700, "data/webhooks/queue/acct_1Queue": 0o700}
    assert {v for k, v in modes.items() if k.endswith(".json")} == {0o600}


def test_a_queue_this_user_cannot_read_is_reported_once_not_as_a_traceback_per_retry(tmp_path):
    """DATA_DIR out of reach of the server's user (file modes do not stop root: the applier runs
    as another user): one plain line in the log, no traceback, no line per retry."""
    import shutil
    import subprocess
    import sys

    from tests.test_bad_inputs import NOBODY, _other_users_can_run_the_package

    if os.geteuid() != 0 or shutil.which("setpriv") is None or not _other_users_can_run_the_package():
        pytest.skip("needs root with setpriv and a checkout other users can read, to run as another user")
    data_dir = tmp_path / "private" / "data"
    (data_dir / "webhooks" / "queue").mkdir(parents=True)
    os.chmod(tmp_path / "private", 0o700)
    child = ("import logging, sys, time\n"
             "from stripe_analytics.config import load_settings\n"
             "from stripe_analytics.webhooks import WebhookApplier\n"
             "logging.basicConfig(level=logging.INFO)\n"
             "applier = WebhookApplier(load_settings(data_dir=sys.argv[1])).start()\n"
             "time.sleep(2.5)\n"
             "applier.stop()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATA_DIR", "SECRET_KEY"))}
    proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                           "-c", child, str(data_dir)], cwd="/", env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[:2000]
    lines = [line for line in proc.stderr.splitlines() if "webhook" in line.lower()]
    assert len(lines) == 1 and "DATA_DIR" in lines[0] and "permission denied" in lines[0].lower(), lines
