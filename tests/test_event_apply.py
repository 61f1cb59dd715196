"""The shared event path (event_apply): ordering guard, duplicates, re-read on a tie, and the
same cache whether an event came by webhook or by the incremental sync."""

import time

import pytest

from stripe_analytics import event_apply
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from stripe_analytics.stripe_client import build_client
from stripe_analytics.pager import Fetcher
from stripe_analytics.sync import sync_account
from tests.sync_accounts import fake_with_account, template
from tests.test_sync import snapshot

KEY = "sk_test_event_apply_key_0001"


@pytest.fixture
def synced(tmp_path):
    """(fake, settings, cache path) of a small account synced once."""
    with fake_with_account(KEY, customers=6) as fake:
        settings = Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=tmp_path / "data",
                            stripe_max_requests_per_second=1000)
        report = sync_account(settings)
        yield fake, settings, report.db_path


def event(id, type, obj, created):
    return {"id": id, "object": "event", "type": type, "created": created, "data": {"object": obj},
            "livemode": False, "api_version": "2025-01-01"}


def apply(path, events, *, fetcher=None, ordered=False):
    with Cache.open(path) as cache:
        planned = event_apply.plan(cache.con, events, fetcher=fetcher, ordered=ordered)
        with cache.transaction() as con:
            event_apply.write(con, planned, source="sync" if ordered else "webhook")
    return planned


def email(path, customer):
    with Cache.open(path, read_only=True) as cache:
        rows = cache.con.execute("SELECT email FROM customers WHERE id = ?", [customer]).fetchall()
    return rows[0][0] if rows else None


def customer(id, email, created):
    return template("customer", id=id, email=email, created=created, discount=None)


def test_an_older_snapshot_arriving_after_a_newer_one_is_not_written(synced):
    _, _, path = synced
    now = int(time.time()) + 60  # after the sync's list read
    newer = event("evt_new", "customer.updated", customer("cus_0001", "new@example.com", now - 500), now + 10)
    older = event("evt_old", "customer.updated", customer("cus_0001", "old@example.com", now - 500), now)
    apply(path, [newer])
    planned = apply(path, [older])
    assert [d.outcome for d in planned.decisions] == [event_apply.STALE]
    assert email(path, "cus_0001") == "new@example.com"


def test_a_batch_out_of_order_keeps_the_newest_snapshot(synced):
    _, _, path = synced
    now = int(time.time()) + 60
    events = [event(f"evt_{i}", "customer.updated", customer("cus_0002", f"v{i}@example.com", now - 500), now + i)
              for i in (3, 1, 2)]
    apply(path, events)
    assert email(path, "cus_0002") == "v3@example.com"


def test_the_same_event_five_times_is_applied_once(synced):
    _, _, path = synced
    now = int(time.time()) + 60
    same = event("evt_same", "customer.created", customer("cus_dup", "dup@example.com", now), now)
    first = apply(path, [same, same])
    assert [d.outcome for d in first.decisions] == [event_apply.APPLIED]
    for _ in range(3):
        assert [d.outcome for d in apply(path, [same]).decisions] == [event_apply.DUPLICATE]
    with Cache.open(path, read_only=True) as cache:
        assert cache.con.execute("SELECT count(*) FROM applied_events WHERE id = 'evt_same'").fetchall() == [(1,)]
        assert cache.con.execute("SELECT count(*) FROM events WHERE id = 'evt_same'").fetchall() == [(1,)]


def test_a_tie_in_the_same_second_is_settled_by_reading_the_object_again(synced):
    fake, settings, path = synced
    fake.update("customer", "cus_0003", email="truth@example.com")
    now = int(time.time()) + 60
    apply(path, [event("evt_a", "customer.updated", customer("cus_0003", "a@example.com", now - 900), now)])
    fetcher = Fetcher(build_client(settings))
    fake.clear_requests()
    planned = apply(path, [event("evt_b", "customer.updated", customer("cus_0003", "b@example.com", now - 900), now)],
                    fetcher=fetcher)
    assert [d.outcome for d in planned.decisions] == [event_apply.REREAD]
    assert fake.request_count("/v1/customers/cus_0003") == 1
    assert email(path, "cus_0003") == "truth@example.com"


def test_an_event_older_than_the_last_list_read_does_not_undo_it(synced):
    _, _, path = synced
    synced_email = email(path, "cus_0004")
    late = event("evt_late", "customer.updated", customer("cus_0004", "late@example.com", 0), int(time.time()) - 3600)
    planned = apply(path, [late])
    assert [d.outcome for d in planned.decisions] == [event_apply.STALE]
    assert email(path, "cus_0004") == synced_email


def test_a_deletion_is_final_against_older_updates(synced):
    _, _, path = synced
    now = int(time.time()) + 60
    gone = customer("cus_0005", "gone@example.com", now - 900)
    apply(path, [event("evt_del", "customer.deleted", gone, now + 5),
                 event("evt_upd", "customer.updated", {**gone, "email": "back@example.com"}, now)])
    with Cache.open(path, read_only=True) as cache:
        assert cache.con.execute("SELECT deleted, email FROM customers WHERE id = 'cus_0005'").fetchall() == \
            [(True, "gone@example.com")]


def test_a_webhook_and_a_sync_of_the_same_events_give_the_same_cache(synced, tmp_path):
    fake, settings, path = synced
    other = tmp_path / "other.duckdb"
    other.write_bytes(path.read_bytes())
    time.sleep(1.1)  # the changes come after the sync's list read, as in life
    fake.create(customer("cus_hook", "hook@example.com", fake.clock))
    fake.update("customer", "cus_0001", email="changed@example.com")
    fake.delete("product", "prod_2")
    events = sorted(fake.account_store().objects["event"].values(), key=lambda e: e["id"])
    apply(path, events, fetcher=Fetcher(build_client(settings)))  # as webhooks (any order)
    sync_account(settings, db_path=other)  # the incremental sync reads the same events
    sync_account(settings)  # and, after the webhooks, finds nothing left to change
    assert snapshot(path, history=False) == snapshot(other, history=False)
    assert email(path, "cus_hook") == "hook@example.com"


def test_subscription_history_keeps_each_events_own_time(synced):
    """Webhooks of one subscription, delivered late and out of order in one batch: each change
    is dated by its event's `created`, not by when it was applied; the older one after the
    newer (its own batch) adds nothing."""
    import json
    from datetime import datetime, timezone

    _, _, path = synced
    with Cache.open(path, read_only=True) as cache:
        sub = json.loads(cache.con.execute("SELECT raw FROM subscriptions WHERE id = 'sub_0001'").fetchone()[0])
    start = int(time.time()) + 60  # after the sync's list read
    paused = {**sub, "cancel_at_period_end": True}
    canceled = {**paused, "status": "canceled", "ended_at": start + 120}
    apply(path, [event("evt_sub_cancel", "customer.subscription.deleted", canceled, start + 120),
                 event("evt_sub_pause", "customer.subscription.updated", paused, start + 30)])
    late = apply(path, [event("evt_sub_old", "customer.subscription.updated", {**sub, "status": "past_due"}, start)])
    assert [d.outcome for d in late.decisions] == [event_apply.STALE]
    with Cache.open(path, read_only=True) as cache:
        rows = cache.con.execute(
            "SELECT seen_at, source, status, cancel_at_period_end FROM subscription_history "
            "WHERE subscription = 'sub_0001' AND source = 'event' ORDER BY seen_at").fetchall()
        assert cache.con.execute("SELECT status FROM subscriptions WHERE id = 'sub_0001'").fetchone() == ("canceled",)
    at = lambda t: datetime.fromtimestamp(t, timezone.utc)  # noqa: E731
    assert [(r[0], r[2], r[3]) for r in rows] == [(at(start + 30), sub["status"], True),
                                                 (at(start + 120), "canceled", True)]


def test_a_tie_is_settled_by_the_objects_own_version_without_a_request(synced):
    """Objects carrying their own `updated` time (products) need no re-read on a tie: the
    snapshot with the later `updated` wins, whichever event arrives last."""
    fake, settings, path = synced
    now = int(time.time()) + 60
    newer = template("product", id="prod_1", name="Renamed later", created=now - 900, updated=now - 5)
    older = template("product", id="prod_1", name="Renamed first", created=now - 900, updated=now - 50)
    fetcher = Fetcher(build_client(settings))
    apply(path, [event("evt_prod_new", "product.updated", newer, now)], fetcher=fetcher)
    fake.clear_requests()
    planned = apply(path, [event("evt_prod_old", "product.updated", older, now)], fetcher=fetcher)
    assert [d.outcome for d in planned.decisions] == [event_apply.STALE]
    assert fake.request_count("/v1/products") == 0
    with Cache.open(path, read_only=True) as cache:
        assert cache.con.execute("SELECT name FROM products WHERE id = 'prod_1'").fetchone() == ("Renamed later",)
