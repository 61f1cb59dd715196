"""The fake Stripe server, exercised through the official SDK (and raw HTTP where the SDK hides details)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import stripe

from tests.conftest import FAKE_ACCOUNT, FAKE_KEY
from tests.fake_stripe import FakeStripe, fake_process
from tests.fake_stripe.forms import parse_form

T0 = 1_700_000_000


def sdk(url_or_fake, key: str = FAKE_KEY, retries: int = 0, **options) -> stripe.StripeClient:
    url = url_or_fake if isinstance(url_or_fake, str) else url_or_fake.url
    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=retries, **options)


def get(fake: FakeStripe, path: str, key: str | None = FAKE_KEY, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(fake.url + path, params=params, headers=headers, timeout=10)


def newest_first(objects):
    return [o["id"] for o in sorted(objects, key=lambda o: (o["created"], o["id"]), reverse=True)]


def customers(n: int, start: int = T0, per_second: int = 3):
    """n customers, `per_second` sharing each created second (ties are ordered by id)."""
    return [{"id": f"cus_{i:06d}", "object": "customer", "created": start + i // per_second,
             "email": f"c{i}@example.com", "metadata": {}} for i in range(n)]


def line(i: int, invoice: str) -> dict:
    return {"id": f"il_{invoice}_{i:03d}", "object": "line_item", "amount": 100 + i, "invoice": invoice,
            "discounts": []}


def subscription(sid: str, customer: str, status: str, created: int, n_items: int = 1, discounts=()) -> dict:
    items = [{"id": f"si_{sid}_{i:03d}", "object": "subscription_item", "created": created, "discounts": [],
              "price": {"id": "price_a", "object": "price", "product": "prod_a", "unit_amount": 1000},
              "quantity": 1, "subscription": sid, "current_period_start": created,
              "current_period_end": created + 30 * 86400} for i in range(n_items)]
    return {"id": sid, "object": "subscription", "customer": customer, "status": status, "created": created,
            "discounts": list(discounts), "latest_invoice": None,
            "items": {"object": "list", "data": items, "has_more": False,
                      "url": f"/v1/subscription_items?subscription={sid}"}}


# ------------------------------------------------------------------- listing
def test_sdk_auto_paging_lists_every_customer_newest_first(fake_stripe):
    objs = customers(250)
    fake_stripe.add_many(objs)
    client = stripe.StripeClient(FAKE_KEY, base_addresses={"api": fake_stripe.url}, max_network_retries=0)

    ids = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]

    assert ids == newest_first(objs)
    pages = [r for r in fake_stripe.requests if r.path == "/v1/customers"]
    assert [r.query.get("starting_after") for r in pages] == [None, ids[99], ids[199]]
    assert [r.status for r in pages] == [200, 200, 200]


def test_pagination_forward_then_backward_across_pages(fake_stripe):
    objs = customers(47, per_second=4)
    fake_stripe.add_many(objs)
    expected = newest_first(objs)

    forward, after = [], None
    while True:
        page = get(fake_stripe, "/v1/customers", limit=7, **({"starting_after": after} if after else {})).json()
        assert page["object"] == "list" and page["url"] == "/v1/customers"
        forward.append([c["id"] for c in page["data"]])
        if not page["has_more"]:
            break
        after = forward[-1][-1]
    assert [i for p in forward for i in p] == expected
    assert [len(p) for p in forward] == [7] * 6 + [5]

    backward, before = [], forward[-1][0]
    while True:
        page = get(fake_stripe, "/v1/customers", limit=7, ending_before=before).json()
        ids = [c["id"] for c in page["data"]]
        backward.append(ids)
        if not page["has_more"]:
            break
        before = ids[0]
    assert backward == forward[-2::-1]  # each page is the one just before, still newest first

    # the SDK walks backwards too (yielding the closest items first)
    mid = expected[20]
    walked = [c.id for c in sdk(fake_stripe).v1.customers.list({"ending_before": mid, "limit": 6})
              .auto_paging_iter()]
    assert walked == expected[:20][::-1]


@pytest.mark.parametrize("created", [
    {"gte": T0 + 5}, {"gt": T0 + 5}, {"lte": T0 + 5}, {"lt": T0 + 5}, {"gte": T0 + 3, "lt": T0 + 9},
    {"gt": T0 + 3, "lte": T0 + 9}, T0 + 7, {"gt": T0 + 100},
])
def test_created_filters_match_brute_force(fake_stripe, created):
    objs = [{"id": f"ch_{i:04d}", "object": "charge", "created": T0 + (i * 7) % 13, "customer": None}
            for i in range(60)]
    fake_stripe.add_many(objs)
    ops = {"gte": lambda c, v: c >= v, "gt": lambda c, v: c > v, "lte": lambda c, v: c <= v,
           "lt": lambda c, v: c < v}
    bounds = created if isinstance(created, dict) else {"gte": created, "lte": created}
    wanted = [o for o in objs if all(ops[op](o["created"], v) for op, v in bounds.items())]

    listed = [c.id for c in sdk(fake_stripe).v1.charges.list({"created": created, "limit": 4})
              .auto_paging_iter()]

    assert listed == newest_first(wanted)


def test_list_parameter_errors_like_stripe(fake_stripe):
    fake_stripe.add_many(customers(15))
    client = sdk(fake_stripe)
    page = client.v1.customers.list()
    assert len(page.data) == 10 and page.has_more  # default limit
    assert len(client.v1.customers.list({"limit": 100}).data) == 15
    for params, param in [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"limit": "x"}, "limit"),
                          ({"colour": "red"}, "colour"), ({"starting_after": "cus_nope"}, "starting_after"),
                          ({"created": {"gte": "soon"}}, "created[gte]")]:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.customers.list(params)
        assert (error.value.http_status, error.value.param) == (400, param)


def test_customer_and_status_filters(fake_stripe):
    statuses = ["active", "trialing", "canceled", "incomplete_expired", "past_due", "canceled"]
    subs = [subscription(f"sub_{i:03d}", f"cus_{i % 2}", statuses[i % 6], T0 + i) for i in range(30)]
    fake_stripe.add_many(subs)
    client = sdk(fake_stripe)

    def ids(params):
        return [s.id for s in client.v1.subscriptions.list({**params, "limit": 4}).auto_paging_iter()]

    live = [s for s in subs if s["status"] not in ("canceled", "incomplete_expired")]
    assert ids({}) == newest_first(live)
    assert ids({"status": "all"}) == newest_first(subs)
    assert ids({"status": "canceled"}) == newest_first([s for s in subs if s["status"] == "canceled"])
    assert ids({"customer": "cus_1", "status": "all"}) == newest_first([s for s in subs if s["customer"] == "cus_1"])
    assert ids({"customer": "cus_0"}) == newest_first([s for s in live if s["customer"] == "cus_0"])
    assert ids({"customer": "cus_unknown"}) == []

    invoices = [{"id": f"in_{i:03d}", "object": "invoice", "created": T0 + i, "customer": f"cus_{i % 2}",
                 "status": "paid", "parent": {"type": "subscription_details",
                                              "subscription_details": {"subscription": f"sub_{i % 3:03d}"}},
                 "lines": {"object": "list", "data": [], "has_more": False}} for i in range(12)]
    fake_stripe.add_many(invoices)
    listed = [i.id for i in client.v1.invoices.list({"subscription": "sub_001", "customer": "cus_1"})
              .auto_paging_iter()]
    assert listed == newest_first([i for i in invoices if i["id"] in ("in_001", "in_007")])


def test_embedded_invoice_lines_and_subscription_items_are_truncated_and_pageable(fake_stripe):
    lines = [line(i, "in_big") for i in range(25)]
    fake_stripe.add({"id": "in_big", "object": "invoice", "created": T0, "customer": "cus_1",
                     "lines": {"object": "list", "data": lines, "has_more": False, "url": "/v1/invoices/in_big/lines"}})
    fake_stripe.add({"id": "in_small", "object": "invoice", "created": T0 - 1, "customer": "cus_1",
                     "lines": {"object": "list", "data": lines[:3], "has_more": False}})
    fake_stripe.add(subscription("sub_big", "cus_1", "active", T0, n_items=13))
    client = sdk(fake_stripe)
    line_ids = [x["id"] for x in lines]

    invoice = client.v1.invoices.retrieve("in_big")
    assert [x.id for x in invoice.lines.data] == line_ids[:10]
    assert invoice.lines.has_more and invoice.lines.url == "/v1/invoices/in_big/lines"
    listed = {i.id: i for i in client.v1.invoices.list()}
    assert len(listed["in_big"].lines.data) == 10 and listed["in_big"].lines.has_more
    assert len(listed["in_small"].lines.data) == 3 and not listed["in_small"].lines.has_more
    assert [x.id for x in invoice.lines.auto_paging_iter()] == line_ids
    assert [x.id for x in client.v1.invoices.line_items.list("in_big", {"limit": 4}).auto_paging_iter()] == line_ids
    back = client.v1.invoices.line_items.list("in_big", {"ending_before": line_ids[12], "limit": 5})
    assert [x.id for x in back.data] == line_ids[7:12] and back.has_more

    sub = client.v1.subscriptions.retrieve("sub_big")
    item_ids = [f"si_sub_big_{i:03d}" for i in range(13)]
    assert [x.id for x in sub["items"].data] == item_ids[:10] and sub["items"].has_more
    assert sub["items"].url == "/v1/subscription_items?subscription=sub_big"
    assert [x.id for x in sub["items"].auto_paging_iter()] == item_ids
    assert [x.id for x in client.v1.subscription_items.list({"subscription": "sub_big", "limit": 5})
            .auto_paging_iter()] == item_ids
    assert client.v1.subscription_items.retrieve(item_ids[11]).subscription == "sub_big"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscription_items.list({})
    assert error.value.param == "subscription"
    # the store keeps the full lists
    assert len(fake_stripe.get("invoice", "in_big")["lines"]["data"]) == 25


def test_discounts_are_ids_unless_expanded(fake_stripe):
    discount = {"id": "di_1", "object": "discount", "source": {"coupon": "SAVE25", "type": "coupon"},
                "subscription": "sub_d", "start": T0, "end": None}
    fake_stripe.add(subscription("sub_d", "cus_1", "active", T0, discounts=[discount]))
    fake_stripe.add_many([
        {"id": "ch_1", "object": "charge", "created": T0, "amount": 500, "customer": "cus_1"},
        {"id": "pi_1", "object": "payment_intent", "created": T0, "latest_charge": "ch_1", "customer": "cus_1"},
    ])
    client = sdk(fake_stripe)

    assert client.v1.subscriptions.retrieve("sub_d").discounts == ["di_1"]
    expanded = client.v1.subscriptions.retrieve("sub_d", {"expand": ["discounts"]}).discounts[0]
    assert expanded.id == "di_1" and expanded.source.coupon == "SAVE25"
    assert client.v1.subscriptions.list().data[0].discounts == ["di_1"]
    assert client.v1.subscriptions.list({"expand": ["data.discounts"]}).data[0].discounts[0].source.type == "coupon"
    assert client.v1.payment_intents.retrieve("pi_1").latest_charge == "ch_1"
    assert client.v1.payment_intents.list({"expand": ["data.latest_charge"]}).data[0].latest_charge.amount == 500
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        client.v1.payment_intents.retrieve("pi_1", {"expand": ["no_such_field"]})


def test_deleted_and_missing_objects(fake_stripe):
    fake_stripe.add_many(customers(3))
    fake_stripe.delete("customer", "cus_000001")
    client = sdk(fake_stripe)

    assert [c.id for c in client.v1.customers.list()] == ["cus_000002", "cus_000000"]
    gone = get(fake_stripe, "/v1/customers/cus_000001").json()
    assert gone == {"id": "cus_000001", "object": "customer", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.retrieve("cus_missing")
    assert (error.value.http_status, error.value.code, error.value.param) == (404, "resource_missing", "id")
    assert "No such customer: 'cus_missing'" in str(error.value)
    assert get(fake_stripe, "/v1/widgets").status_code == 404


# ------------------------------------------------------------ events, clock
def test_python_mutations_append_stripe_events(fake_stripe):
    fake = fake_stripe
    fake.clock = T0
    fake.create({"object": "customer", "id": "cus_e", "email": "old@example.com", "metadata": {}})
    fake.advance(10)
    fake.update("customer", "cus_e", email="new@example.com")
    fake.update("customer", "cus_e", email="new@example.com")  # no change: no event
    fake.create(subscription("sub_e", "cus_e", "active", T0))
    fake.advance(10)
    fake.update("subscription", "sub_e", cancel_at_period_end=True)
    fake.delete("subscription", "sub_e")
    fake.create({"object": "charge", "id": "ch_e", "amount": 1000, "amount_refunded": 0, "refunded": False,
                 "status": "succeeded", "currency": "usd"})
    fake.create({"object": "refund", "charge": "ch_e", "amount": 1000, "status": "succeeded"})
    fake.delete("customer", "cus_e")

    events = list(sdk(fake).v1.events.list({"limit": 3}).auto_paging_iter())
    types = [e.type for e in reversed(events)]
    assert types == ["customer.created", "customer.updated", "customer.subscription.created",
                     "customer.subscription.updated", "customer.subscription.deleted", "charge.succeeded",
                     "refund.created", "charge.refunded", "customer.deleted"]
    ids = [e.id for e in reversed(events)]
    assert ids == sorted(ids)  # ids sort in creation order
    by_type = {e.type: e for e in events}
    assert by_type["customer.created"].created == T0 and by_type["customer.deleted"].created == T0 + 20
    assert by_type["customer.created"].data.object.email == "old@example.com"  # a snapshot
    assert by_type["customer.updated"].data.previous_attributes.to_dict() == {"email": "old@example.com"}
    assert by_type["customer.subscription.deleted"].data.object.status == "canceled"
    assert by_type["charge.refunded"].data.previous_attributes.to_dict() == {"amount_refunded": 0,
                                                                             "refunded": False}
    assert by_type["charge.refunded"].data.object.refunded is True
    assert by_type["refund.created"].data.object.id.startswith("re_")
    # a canceled subscription is still there (status=all), like Stripe
    assert sdk(fake).v1.subscriptions.retrieve("sub_e").ended_at == T0 + 20

    client = sdk(fake)
    recent = client.v1.events.list({"created": {"gt": T0}, "types": ["customer.updated", "customer.deleted"]})
    assert [e.type for e in recent] == ["customer.deleted", "customer.updated"]
    assert {e.type for e in client.v1.events.list({"type": "customer.subscription.*"})} == {
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"}


# --------------------------------------------------------------------- faults
def test_each_fault_kind_as_seen_by_the_sdk(fake_stripe):
    fake_stripe.add_many(customers(3))
    client = sdk(fake_stripe)

    fake_stripe.inject("rate_limit")
    with pytest.raises(stripe.RateLimitError) as error:
        client.v1.customers.list()
    assert error.value.http_status == 429 and error.value.json_body["error"]["code"] == "rate_limit"
    assert error.value.headers["Retry-After"] == "1"

    fake_stripe.inject("rate_limit_no_retry_after")
    with pytest.raises(stripe.RateLimitError) as error:
        client.v1.customers.list()
    assert "Retry-After" not in error.value.headers

    fake_stripe.inject("server_error")
    with pytest.raises(stripe.APIError) as error:
        client.v1.customers.list()
    assert error.value.http_status == 500 and error.value.headers["Stripe-Should-Retry"] == "true"
    assert error.value.json_body["error"]["type"] == "api_error"

    fake_stripe.inject("drop")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.list()

    fake_stripe.inject("slow", delay=0.3)
    started = time.monotonic()
    assert len(client.v1.customers.list().data) == 3
    assert time.monotonic() - started >= 0.3

    assert len(client.v1.customers.list().data) == 3  # every fault was used up
    assert [(r.fault, r.status) for r in fake_stripe.requests] == [
        ("rate_limit", 429), ("rate_limit_no_retry_after", 429), ("server_error", 500), ("drop", None),
        ("slow", 200), (None, 200)]


def test_fault_filters_counts_and_sdk_retry(fake_stripe):
    client = sdk(fake_stripe)
    fault = fake_stripe.inject("rate_limit", times=None, path=r"^/v1/invoices", method="GET")
    assert client.v1.customers.list().data == []
    for _ in range(3):
        with pytest.raises(stripe.RateLimitError):
            client.v1.invoices.list()
    assert fault.fired == 3
    fake_stripe.clear_faults()
    assert client.v1.invoices.list().data == []

    fake_stripe.inject("server_error", times=1)  # Stripe-Should-Retry: true -> the SDK retries
    assert sdk(fake_stripe, retries=1).v1.customers.list().data == []
    assert fake_stripe.request_count("/v1/customers") == 2 + 1


def test_random_faults_are_reproducible(fake_stripe):
    def run(seed):
        fake_stripe.clear_faults()
        fake_stripe.inject_random("rate_limit", 0.5, seed=seed)
        with requests.Session() as session:
            return [session.get(f"{fake_stripe.url}/v1/customers", timeout=5,
                                headers={"Authorization": f"Bearer {FAKE_KEY}"}).status_code for _ in range(40)]

    first, again, other = run(7), run(7), run(8)
    assert first == again != other
    assert set(first) == {200, 429} and 8 < first.count(429) < 32


def test_latency_does_not_serialize_concurrent_requests(fake_stripe):
    fake_stripe.latency = 0.3
    results = []

    def call():
        results.append(get(fake_stripe, "/v1/customers").status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 5
    assert 0.3 <= elapsed < 1.0  # 5 sequential requests would take 1.5 s


# ------------------------------------------------------------- auth, connect
def test_authentication_errors(fake_stripe):
    bad_key = "sk_test_51NotARealKeyButLongEnoughWXYZ"
    with pytest.raises(stripe.AuthenticationError) as error:
        sdk(fake_stripe, key=bad_key).v1.customers.list()
    assert error.value.http_status == 401
    assert error.value.json_body["error"]["type"] == "invalid_request_error"
    message = error.value.json_body["error"]["message"]
    assert message.startswith("Invalid API Key provided: sk_test_") and message.endswith("WXYZ")
    assert bad_key not in message

    missing = get(fake_stripe, "/v1/customers", key=None)
    assert missing.status_code == 401 and "did not provide an API key" in missing.json()["error"]["message"]
    basic = requests.get(f"{fake_stripe.url}/v1/customers", auth=(FAKE_KEY, ""), timeout=5)
    assert basic.status_code == 200 and basic.json()["object"] == "list"
    assert FAKE_KEY not in repr(fake_stripe.requests)


def test_restricted_key_permissions(fake_stripe):
    key = "rk_test_51RestrictedKeyForTests0042"
    fake_stripe.add_key(key, account=FAKE_ACCOUNT, denied={"disputes", "customers:write"})
    client = sdk(fake_stripe, key=key)

    assert client.v1.customers.list().data == []
    with pytest.raises(stripe.PermissionError) as error:
        client.v1.disputes.list()
    message = error.value.json_body["error"]["message"]
    assert error.value.http_status == 403
    assert "'rak_dispute_read'" in message and f"account '{FAKE_ACCOUNT}'" in message
    assert "rk_test_" in message and key not in message
    with pytest.raises(stripe.PermissionError, match="rak_customer_write"):
        client.v1.customers.create({"email": "x@example.com"})
    with pytest.raises(ValueError):
        fake_stripe.add_key("rk_test_typo", denied={"dispute"})


def test_connect_accounts_are_selected_by_stripe_account_header():
    with FakeStripe() as fake:
        fake.add_account({"id": "acct_platform", "business_profile": {"name": "Platform"}}, key="sk_test_platform_0001")
        fake.add_account("acct_connected", connected_to="acct_platform")
        fake.add_account("acct_stranger", key="sk_test_stranger_0001")
        fake.add_many(customers(2), account="acct_platform")
        fake.add_many(customers(5), account="acct_connected")
        client = sdk(fake, key="sk_test_platform_0001")

        assert len(client.v1.customers.list().data) == 2
        connected = {"stripe_account": "acct_connected"}
        assert len(client.v1.customers.list(options=connected).data) == 5
        assert client.v1.accounts.retrieve_current(options=connected).id == "acct_connected"
        assert client.v1.accounts.retrieve_current().business_profile.name == "Platform"
        with pytest.raises(stripe.PermissionError):
            client.v1.customers.list(options={"stripe_account": "acct_stranger"})
        assert [r.account for r in fake.requests] == ["acct_platform", "acct_connected", "acct_connected",
                                                      "acct_platform", None]


def test_request_log_records_requests_without_credentials(fake_stripe):
    client = sdk(fake_stripe)
    client.v1.customers.list({"limit": 3, "created": {"gte": T0}})
    client.v1.customers.create({"email": "a@example.com"}, options={"idempotency_key": "idem-1"})
    first, second = fake_stripe.requests

    assert (first.method, first.path, first.status, first.account) == ("GET", "/v1/customers", 200, FAKE_ACCOUNT)
    assert first.query == {"limit": "3", "created": {"gte": str(T0)}}
    assert (second.method, second.idempotency_key, second.form) == ("POST", "idem-1", {"email": "a@example.com"})
    assert fake_stripe.request_count("/v1/customers", method="POST") == 1
    assert fake_stripe.request_count("/v1/cust") == 2 and fake_stripe.request_count("/v1/invoices") == 0
    assert FAKE_KEY not in repr(fake_stripe.requests)


# --------------------------------------------------------------------- writes
def test_post_catalog_customers_and_subscriptions(fake_stripe):
    fake_stripe.clock = T0
    client = sdk(fake_stripe)
    product = client.v1.products.create({"name": "Pro plan"})
    monthly = client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 2000,
                                       "recurring": {"interval": "month"}})
    seats = client.v1.prices.create({"product_data": {"name": "Seats"}, "currency": "usd", "unit_amount": 500,
                                     "recurring": {"interval": "month", "interval_count": 1}})
    one_time = client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 999})
    coupon = client.v1.coupons.create({"percent_off": 25, "duration": "forever"})
    customer = client.v1.customers.create({"email": "ada@example.com", "metadata": {"plan": "pro"}})
    assert (monthly.type, monthly.recurring.interval, one_time.type) == ("recurring", "month", "one_time")
    assert customer.metadata.to_dict() == {"plan": "pro"} and customer.created == T0

    sub = client.v1.subscriptions.create({
        "customer": customer.id, "discounts": [{"coupon": coupon.id}],
        "items": [{"price": monthly.id}, {"price": seats.id, "quantity": 3}]})
    assert sub.status == "active" and len(sub["items"].data) == 2
    assert sub["items"].data[0].current_period_end == T0 + 30 * 86400  # Nov 14 -> Dec 14, 2023
    assert sub.discounts[0].startswith("di_")
    invoice = client.v1.invoices.retrieve(sub.latest_invoice, {"expand": ["discounts"]})
    assert (invoice.subtotal, invoice.total, invoice.status) == (3500, 2625, "paid")
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.discounts[0].source.coupon == coupon.id
    assert [x.parent.subscription_item_details.subscription_item for x in invoice.lines] == \
        [i.id for i in sub["items"].data]
    assert sum(d.amount for x in invoice.lines for d in x.discount_amounts) == 875
    assert [c.amount for c in client.v1.charges.list({"customer": customer.id})] == [2625]

    trial = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": monthly.id}],
                                            "trial_period_days": 14})
    assert (trial.status, trial.trial_end, trial.latest_invoice) == ("trialing", T0 + 14 * 86400, None)
    assert len(client.v1.invoices.list({"customer": customer.id}).data) == 1

    fake_stripe.advance(60)
    updated = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert updated.cancel_at_period_end and updated.cancel_at == T0 + 30 * 86400
    canceled = client.v1.subscriptions.cancel(trial.id)
    assert (canceled.status, canceled.ended_at) == ("canceled", T0 + 60)
    assert [s.id for s in client.v1.subscriptions.list()] == [sub.id]

    types = [e.type for e in client.v1.events.list({"limit": 100})][::-1]
    assert types == ["product.created", "price.created", "product.created", "price.created", "price.created",
                     "coupon.created", "customer.created", "customer.subscription.created", "invoice.created",
                     "charge.succeeded", "invoice.paid", "customer.subscription.created",
                     "customer.subscription.updated", "customer.subscription.deleted"]
    event = client.v1.events.list({"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes.cancel_at_period_end is False
    assert event.request.idempotency_key  # the SDK's automatic key is recorded


def test_payment_intents_with_test_payment_methods(fake_stripe):
    client = sdk(fake_stripe)
    paid = client.v1.payment_intents.create({"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa",
                                             "confirm": True})
    assert paid.status == "succeeded" and paid.amount_received == 4200
    charge = client.v1.charges.retrieve(paid.latest_charge, {"expand": ["balance_transaction"]})
    assert (charge.status, charge.payment_intent, charge.balance_transaction.amount) == ("succeeded", paid.id, 4200)
    assert charge.balance_transaction.fee == round(4200 * 0.029) + 30

    with pytest.raises(stripe.CardError) as error:
        client.v1.payment_intents.create({"amount": 1000, "currency": "usd", "confirm": True,
                                          "payment_method": "pm_card_chargeDeclined"})
    assert (error.value.http_status, error.value.code, error.value.error.decline_code) == (
        402, "card_declined", "generic_decline")
    failed = client.v1.payment_intents.retrieve(error.value.json_body["error"]["payment_intent"]["id"])
    assert failed.status == "requires_payment_method" and failed.last_payment_error.code == "card_declined"

    action = client.v1.payment_intents.create({"amount": 1000, "currency": "usd", "confirm": True,
                                               "payment_method": "pm_card_authenticationRequired"})
    assert action.status == "requires_action" and action.next_action.type == "use_stripe_sdk"
    types = {e.type for e in client.v1.events.list({"limit": 100})}
    assert {"payment_intent.succeeded", "charge.succeeded", "charge.failed", "payment_intent.payment_failed",
            "payment_intent.requires_action"} <= types


def test_refunds(fake_stripe):
    client = sdk(fake_stripe)
    pi = client.v1.payment_intents.create({"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa",
                                           "confirm": True})
    partial = client.v1.refunds.create({"charge": pi.latest_charge, "amount": 1500})
    assert (partial.status, partial.payment_intent) == ("succeeded", pi.id)
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 1500
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create({"payment_intent": pi.id, "amount": 4000})
    assert (error.value.code, error.value.param) == ("amount_too_large", "amount")
    rest = client.v1.refunds.create({"payment_intent": pi.id})
    assert rest.amount == 3500
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create({"charge": pi.latest_charge})
    assert error.value.code == "charge_already_refunded"
    assert [t.amount for t in client.v1.balance_transactions.list({"type": "refund"})] == [-3500, -1500]


def test_validation_errors_name_the_param(fake_stripe):
    client = sdk(fake_stripe)
    customer = client.v1.customers.create()
    cases = [
        (client.v1.products.create, {}, "name"),
        (client.v1.customers.create, {"favourite_colour": "blue"}, "favourite_colour"),
        (client.v1.prices.create, {"currency": "usd", "unit_amount": 5, "product": "prod_nope"}, "product"),
        (client.v1.prices.create, {"currency": "usd", "unit_amount": 5, "product_data": {"name": "x"},
                                   "recurring": {"interval": "fortnight"}}, "recurring[interval]"),
        (client.v1.subscriptions.create, {"customer": customer.id, "items": [{"price": "price_nope"}]},
         "items[0][price]"),
        (client.v1.subscriptions.create, {"customer": "cus_nope", "items": [{"price": "price_nope"}]}, "customer"),
        (client.v1.payment_intents.create, {"amount": 10, "currency": "usd"}, "amount"),
        (client.v1.coupons.create, {"duration": "repeating", "percent_off": 10}, "duration_in_months"),
    ]
    for create, params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as error:
            create(params)
        assert (error.value.http_status, error.value.param) == (400, param), params
    # nothing half-created by a rejected request
    assert [p.name for p in client.v1.products.list()] == []


# ----------------------------------------------------------------- idempotency
def test_idempotent_replay_and_conflict(fake_stripe):
    client = sdk(fake_stripe)
    first = client.v1.customers.create({"email": "a@example.com"}, options={"idempotency_key": "k1"})
    again = client.v1.customers.create({"email": "a@example.com"}, options={"idempotency_key": "k1"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response.body == first.last_response.body  # the first reply, byte for byte
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "b@example.com"}, options={"idempotency_key": "k1"})
    assert len(client.v1.customers.list().data) == 1
    assert len(client.v1.events.list({"type": "customer.created"}).data) == 1

    declined = {"amount": 1000, "currency": "usd", "confirm": True, "payment_method": "pm_card_chargeDeclined"}
    for _ in range(2):  # card errors are saved and replayed too
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(declined, options={"idempotency_key": "k2"})
    assert len(client.v1.payment_intents.list().data) == 1


def test_drop_after_processing_then_retry_with_same_key_creates_one_object(fake_stripe):
    client = sdk(fake_stripe)
    fake_stripe.inject("drop_after_processing", path="^/v1/customers$", method="POST")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create({"email": "once@example.com"}, options={"idempotency_key": "retry-me"})
    assert len(client.v1.customers.list().data) == 1  # it was applied, only the reply was lost
    retried = client.v1.customers.create({"email": "once@example.com"}, options={"idempotency_key": "retry-me"})
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"

    # the SDK's own retry reuses its automatic key
    fake_stripe.inject("drop_after_processing", path="^/v1/customers$", method="POST")
    sdk(fake_stripe, retries=1).v1.customers.create({"email": "twice@example.com"})
    emails = sorted(c.email for c in client.v1.customers.list())
    assert emails == ["once@example.com", "twice@example.com"]
    assert [r.status for r in fake_stripe.requests if r.method == "POST"] == [None, 200, None, 200]


# ------------------------------------------------------------------- internals
def test_parse_form_nested_syntax():
    form = parse_form("metadata[plan]=pro&items[1][price]=p2&items[0][price]=p1&items[0][quantity]=3"
                      "&expand[]=a&expand[]=b&created[gte]=5&email=x%40y.z&description=")
    assert form == {"metadata": {"plan": "pro"}, "items": [{"price": "p1", "quantity": "3"}, {"price": "p2"}],
                    "expand": ["a", "b"], "created": {"gte": "5"}, "email": "x@y.z", "description": ""}
    assert parse_form("expand[0]=x&expand[1]=y") == {"expand": ["x", "y"]}


class _CountingObjects(dict):
    """The store's id -> object map of one kind, counting the objects a listing looks at."""

    looked_at = 0

    def __getitem__(self, key):
        type(self).looked_at += 1
        return super().__getitem__(key)


def test_listing_scales_with_bisect_not_full_scans():
    """A page of a `created` range or of one customer's charges looks at about the objects it
    returns, not at all 200,000 (counted, not timed: the count does not depend on the machine's load)."""
    n = 200_000
    with FakeStripe() as fake, requests.Session() as session:
        fake.add_account("acct_big", key="sk_test_big_0000001")
        fake.add_many({"id": f"ch_{(i * 7919) % n:07d}", "object": "charge", "created": T0 + (i * 7919) % n // 2,
                       "customer": f"cus_{i % 5000}"} for i in range(n))
        store = fake.account_store("acct_big")
        store.objects["charge"] = _CountingObjects(store.objects["charge"])
        session.auth = ("sk_test_big_0000001", "")

        def page(**params):
            return session.get(f"{fake.url}/v1/charges", params=params, timeout=30).json()

        assert len(page(limit=1)["data"]) == 1  # sorts the bulk-loaded index once
        _CountingObjects.looked_at = 0
        for j in range(100):
            low = T0 + (j * 311) % (n // 2)
            listed = page(limit=100, **{"created[gte]": low, "created[lt]": low + 1000})
            assert len(listed["data"]) == 100 and listed["has_more"]
            assert all(low <= c["created"] < low + 1000 for c in listed["data"])
            listed = page(limit=100, customer=f"cus_{j}")
            assert len(listed["data"]) == n // 5000 and not listed["has_more"]
        returned = 100 * (100 + n // 5000)
    # each page reads what it returns, one more to know has_more, and the rendering's own reads
    assert _CountingObjects.looked_at <= 3 * returned, _CountingObjects.looked_at
    assert _CountingObjects.looked_at < n  # a single full scan would already be 200,000


# ------------------------------------------------------------- other servers
def test_localstripe_fixture_serves_the_sdk(localstripe):
    client = sdk(localstripe, key="sk_test_localstripe")
    created = client.v1.customers.create({"email": "local@example.com"})
    assert created.id.startswith("cus_")
    assert created.id in [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]


def test_fake_runs_in_its_own_process_with_an_objects_file(tmp_path):
    objects = [{"id": "acct_file", "object": "account", "business_profile": {"name": "From file"}}, *customers(12)]
    path = tmp_path / "objects.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in objects) + "\n")
    with fake_process(objects_file=path, latency=0.01, key="sk_test_from_file") as (url, key):
        client = sdk(url, key=key)
        assert key == "sk_test_from_file" and url.startswith("http://127.0.0.1:")
        assert client.v1.accounts.retrieve_current().id == "acct_file"
        assert len(list(client.v1.customers.list({"limit": 5}).auto_paging_iter())) == 12


def test_fake_process_serves_the_demo_account():
    from stripe_analytics.demo import generate_account

    demo = generate_account(seed=1, customers=5, as_of=None)
    expected = {o["id"] for o in demo.iter_objects() if o["object"] == "customer"}
    with fake_process(demo_customers=5, seed=1) as (url, key):
        client = sdk(url, key=key)
        assert client.v1.accounts.retrieve_current().id == demo.account["id"]
        assert {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()} == expected


def test_stopped_fake_refuses_connections():
    fake = FakeStripe().start()
    fake.add_account("acct_x", key="sk_test_stop_000001")
    with requests.Session() as session:  # keep-alive connection, closed by stop()
        url = f"{fake.url}/v1/customers"
        assert session.get(url, auth=("sk_test_stop_000001", ""), timeout=5).status_code == 200
        fake.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, auth=("sk_test_stop_000001", ""), timeout=5)
