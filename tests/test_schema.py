"""One declaration per Stripe object (schema.RESOURCES): the cache's tables, the child lists,
the permissions and the event rules all come from it."""

from __future__ import annotations

import pytest

from stripe_analytics import schema
from stripe_analytics.cache import Cache
from stripe_analytics.event_apply import is_deletion
from stripe_analytics.ingest import write_objects
from stripe_analytics.stripe_fields import subscription_fingerprint
from tests.stripe_fixtures import resources

FIXTURES = resources()


def test_every_table_comes_from_a_resource_or_one_of_its_child_lists():
    children = {c.table.name for r in schema.RESOURCES for c in r.children}
    assert {t.name for t in schema.TABLES} == {r.name for r in schema.RESOURCES} | children
    assert len({t.name for t in schema.TABLES}) == len(schema.TABLES)  # each declared once
    for resource in schema.RESOURCES:
        for child in resource.children:
            assert child.parent_column in child.table.column_names
            if child.list_path is not None:  # its endpoint names the parent, as a parameter or in the path
                assert bool(child.parent_param) != ("{id}" in child.list_path)
            else:
                assert child.parent_param is None


def test_a_new_cache_has_the_declared_tables_and_columns(tmp_path):
    with Cache.open(tmp_path / "c.duckdb") as cache:
        for table in schema.TABLES:
            have = [r[0] for r in cache.con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [table.name]).fetchall()]
            assert have == table.column_names + [name for name, _ in schema.COMMON_COLUMNS]


def test_child_lists_are_stored_in_their_tables_and_cut_out_of_raw(tmp_path):
    subscription = FIXTURES["subscription"]
    with Cache.open(tmp_path / "c.duckdb") as cache:
        with cache.transaction() as con:
            counts = write_objects(con, [subscription])
        assert counts["subscription_items"] == len(subscription["items"]["data"])
        raw = cache.con.execute("SELECT raw->>'$.items.stored_in' FROM subscriptions").fetchone()[0]
        assert raw == "subscription_items"
        fingerprint = cache.con.execute("SELECT history_fingerprint FROM subscriptions").fetchone()[0]
        assert fingerprint == subscription_fingerprint(subscription)[0]


def test_permissions_are_the_dashboards_names_from_the_declaration():
    assert schema.permission_of("customer") == "Customers"
    assert schema.permission_of("payment_intent") == "PaymentIntents"
    assert schema.permission_of("subscription_item") is None  # not listed on its own
    assert schema.BALANCE.name == schema.RESOURCE_BY_NAME["balance_transactions"].permission


@pytest.mark.parametrize("event_type, object_type, deletes", [
    ("customer.deleted", "customer", True),
    ("plan.deleted", "plan", True),  # an older object type read as a price
    ("customer.discount.deleted", "discount", True),
    ("customer.subscription.deleted", "subscription", False),  # a cancellation: the object says canceled
    ("charge.refunded", "charge", False),
    ("payment_intent.canceled", "payment_intent", False),
])
def test_which_events_delete_their_object(event_type, object_type, deletes):
    assert is_deletion(event_type, object_type) is deletes


def test_select_names_unknown_resources():
    assert [r.name for r in schema.select(["customers", "events"])] == ["customers", "events"]
    assert schema.select(None) == list(schema.RESOURCES)
    with pytest.raises(ValueError, match="unknown resource.*customer\\b"):
        schema.select(["customer"])


def test_each_object_names_its_own_event_types_and_the_webhook_endpoint_selects_them_all():
    from stripe_analytics.webhooks import EVENT_TYPES

    # The name an event type starts with for each object (Stripe nests a few under another's).
    prefixes = {"subscription": ("customer.subscription.",), "dispute": ("charge.dispute.",),
                "refund": ("refund.", "charge.refund."), "customer": ("customer.",)}
    for resource in schema.RESOURCES:
        assert bool(resource.event_types) == resource.has_events, resource.name
        own = prefixes.get(resource.object_type, (f"{resource.object_type}.",))
        assert all(t.startswith(own) for t in resource.event_types), resource.name
        assert len(set(resource.event_types)) == len(resource.event_types), resource.name
    declared = [t for r in schema.RESOURCES for t in r.event_types]
    assert list(EVENT_TYPES) == declared and len(set(declared)) == len(declared)  # each type belongs to one object
    # Subscriptions' events are not the customer's: customer.subscription.* sits with subscriptions only.
    assert not any(t.startswith("customer.subscription.") for t in schema.RESOURCE_BY_NAME["customers"].event_types)
