"""The demo's renderer (`stripe_analytics.demo.rendering`) only reads the records the simulation
decided: rendering any record at any time leaves every record as it was, and the event
envelope is made only of what the simulation passes it."""

from __future__ import annotations

from datetime import datetime, timezone

from stripe_analytics.demo import generate_account, records as records_module
from stripe_analytics.demo.rendering import event_object, request_from_bits
from stripe_analytics.demo.simulation import CustomerSimulation

AS_OF = datetime(2025, 6, 15, 12, 0, 0, tzinfo=timezone.utc)


def state(value, seen: set[int]):
    """Every field of every record reachable from ``value``, as plain data (a record met again
    is written as a reference to it)."""
    if isinstance(value, (list, tuple)):
        return [state(v, seen) for v in value]
    if isinstance(value, dict):
        return {k: state(v, seen) for k, v in value.items()}
    if type(value).__module__ != records_module.__name__:
        return value
    if id(value) in seen:
        return ("record", type(value).__name__, value.id)
    seen.add(id(value))
    return {name: state(getattr(value, name, None), seen) for name in type(value).__slots__}


def test_rendering_any_record_at_any_time_changes_no_record():
    account = generate_account(seed=1, customers=60, as_of=AS_OF)
    checked = 0
    for index in range(60):
        simulation = CustomerSimulation(account._ctx, index)
        simulation.simulate()
        before = state([simulation.customer, simulation.records], set())
        records = [(kind, rec) for *_order, kind, rec in simulation.records]
        times = sorted({rec.created for _kind, rec in records})
        for at in times[::max(1, len(times) // 6)] + [simulation.as_of, simulation.as_of + 86400]:
            for kind, rec in records:
                simulation.render.object(kind, rec, at)
                checked += 1
        assert state([simulation.customer, simulation.records], set()) == before, f"customer {index}"
    assert checked > 1000


def test_an_event_is_made_of_what_it_is_given():
    subscription = {"object": "subscription", "id": "sub_1", "discounts": [{"id": "di_1"}],
                    "items": {"object": "list", "data": [{"id": f"si_{n}"} for n in range(12)], "has_more": False}}
    request = request_from_bits((7 << 64) | 5)
    event = event_object("evt_1", 1_700_000_000, "customer.subscription.updated", subscription,
                         {"status": "past_due"}, request)
    assert event["id"] == "evt_1" and event["created"] == 1_700_000_000
    assert event["request"] == request == request_from_bits((7 << 64) | 5)
    assert request["id"].startswith("req_") and len(request["id"]) == 18
    assert event["data"]["previous_attributes"] == {"status": "past_due"}
    # as Stripe sends it: nothing expanded, embedded lists cut to 10 with has_more
    assert event["data"]["object"]["discounts"] == ["di_1"]
    assert len(event["data"]["object"]["items"]["data"]) == 10 and event["data"]["object"]["items"]["has_more"]
    unrequested = event_object("evt_2", 1, "invoice.paid", {"object": "invoice", "discounts": [],
                                                            "lines": {"data": []}}, None, None)
    assert unrequested["request"] == {"id": None, "idempotency_key": None}
    assert "previous_attributes" not in unrequested["data"]
