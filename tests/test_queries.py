"""Browse queries (`queries.py`) on hand-built caches."""

from __future__ import annotations

from stripe_analytics import queries
from tests.stripe_builders import charge, customer, make_cache


def test_lifetime_paid_is_captured_minus_refunded_per_currency_in_the_list_and_on_the_customer(tmp_path):
    objects = [customer("cus_1"), customer("cus_2"),
               charge("ch_1", 10_000, "2024-01-05"),                                   # $100
               charge("ch_2", 5_000, "2024-02-05", amount_refunded=1_500),              # $50, $15 back
               charge("ch_3", 7_000, "2024-02-06", amount_captured=4_000),              # $40 captured of $70
               charge("ch_4", 9_900, "2024-03-05", status="failed"),                    # never paid
               charge("ch_5", 2_000, "2024-03-06", currency="eur"),                     # €20
               charge("ch_6", 3_000, "2024-03-07", customer="cus_2")]
    with make_cache(tmp_path, objects) as cache:
        own = queries.customer_lifetime_paid(cache.con, "cus_1")
        assert dict(zip(own["currency"], own["lifetime_paid"])) == {"usd": 10_000 + 3_500 + 4_000, "eur": 2_000}
        assert dict(zip(own["currency"], own["payments"])) == {"usd": 3, "eur": 1}
        listed = queries.customers(cache.con, queries.Scope())
        row = listed.set_index("id").loc["cus_1"]
        assert (row["currency"], row["lifetime_paid"]) == ("usd", 17_500)


def test_a_stored_object_is_read_by_its_type_and_id_whatever_the_id_holds(tmp_path):
    objects = [customer("cus_1"), charge("ch_1", 10_000, "2024-01-05")]
    with make_cache(tmp_path, objects) as cache:
        found = queries.stored_object(cache.con, "charge", "ch_1")
        assert found["id"] == "ch_1" and found["amount"] == 10_000
        assert queries.stored_object(cache.con, "customer", "cus_1")["object"] == "customer"
        assert queries.stored_object(cache.con, "charge", "ch_none") is None
        assert queries.stored_object(cache.con, "charge", "ch_1' OR '1'='1") is None  # a parameter, not SQL
