"""The one pager (pager.Fetcher) against the fake Stripe server: Stripe's newest-first pages,
`created` filters, resuming after the last id read, and truncated child lists completed."""

from __future__ import annotations

import time

import pytest

from stripe_analytics.config import Settings
from stripe_analytics.pager import PAGE_SIZE, Fetcher, follow
from stripe_analytics.schema import RESOURCE_BY_NAME
from stripe_analytics.stripe_client import build_client
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import DAY, build_account, template

KEY = "sk_test_pager_tests_key_0001"
CUSTOMERS = RESOURCE_BY_NAME["customers"]


@pytest.fixture
def world():
    now = int(time.time())
    account, objects = build_account(now)
    # 250 customers in all, a second apart: three pages of 100, 100 and 50.
    objects += [template("customer", id=f"cus_extra_{i:03d}", created=now - 10 * DAY + i, discount=None)
                for i in range(210)]
    with FakeStripe() as server:
        server.add_account(account, key=KEY)
        server.add_many(objects)
        settings = Settings(stripe_api_key=KEY, stripe_api_base=server.url, stripe_max_requests_per_second=1000)
        yield server, Fetcher(build_client(settings)), now


def test_pages_are_newest_first_and_say_where_to_resume(world):
    fake, fetcher, _ = world
    pages = list(fetcher.resource_pages(CUSTOMERS))
    assert [len(p.objects) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 50]
    assert [p.last for p in pages] == [False, False, True]
    assert all(p.after == p.objects[-1]["id"] for p in pages)
    created = [c["created"] for p in pages for c in p.objects]
    assert created == sorted(created, reverse=True)
    assert len({c["id"] for p in pages for c in p.objects}) == 250
    assert fake.request_count("/v1/customers") == 3

    # Resuming after the first page's last id reads exactly the rest.
    rest = list(fetcher.resource_pages(CUSTOMERS, after=pages[0].after))
    assert [c["id"] for p in rest for c in p.objects] == [c["id"] for p in pages[1:] for c in p.objects]


def test_created_filters_and_limit(world):
    _, fetcher, now = world
    since = now - 10 * DAY + 200  # the ten newest extra customers and any newer
    pages = list(fetcher.resource_pages(CUSTOMERS, {"created": {"gte": since}, "limit": 4}))
    ids = [c["id"] for p in pages for c in p.objects]
    assert all(len(p.objects) <= 4 for p in pages) and pages[-1].last
    assert {f"cus_extra_{i:03d}" for i in range(200, 210)} <= set(ids)
    assert all(c["created"] >= since for p in pages for c in p.objects)


def test_an_empty_list_is_one_last_page(world):
    _, fetcher, now = world
    [page] = fetcher.resource_pages(CUSTOMERS, {"created": {"gte": now + 365 * DAY}})
    assert page.objects == [] and page.last and page.after is None


def test_truncated_child_lists_are_completed_through_their_own_endpoint(world):
    fake, fetcher, _ = world
    subscriptions = [s for p in fetcher.resource_pages(RESOURCE_BY_NAME["subscriptions"]) for s in p.objects]
    big = next(s for s in subscriptions if len(s["items"]["data"]) > 10)
    assert len(big["items"]["data"]) == 12 and big["items"]["has_more"] is False
    assert len({i["id"] for i in big["items"]["data"]}) == 12
    assert fake.request_count("/v1/subscription_items") == 1
    invoices = [i for p in fetcher.resource_pages(RESOURCE_BY_NAME["invoices"]) for i in p.objects]
    assert max(len(i["lines"]["data"]) for i in invoices) == 13


def test_several_truncated_lists_on_one_page_are_all_completed(world):
    """Several invoices of a page with more lines than Stripe embeds: their lines are read
    together, each list complete, in order, and once."""
    fake, fetcher, now = world
    big = next(o for o in build_account(now)[1] if o["object"] == "invoice" and len(o["lines"]["data"]) > 10)
    clones = []
    for k in range(4):
        clone = {**big, "id": f"in_big_{k}", "created": now - DAY + k}
        clone["lines"] = {**big["lines"], "data": [{**line, "id": f"{line['id']}_{k}", "invoice": clone["id"]}
                                                   for line in big["lines"]["data"]]}
        clones.append(clone)
    fake.add_many(clones)
    invoices = {i["id"]: i for p in fetcher.resource_pages(RESOURCE_BY_NAME["invoices"]) for i in p.objects}
    for clone in clones:
        lines = invoices[clone["id"]]["lines"]
        assert lines["has_more"] is False
        assert [line["id"] for line in lines["data"]] == [line["id"] for line in clone["lines"]["data"]]
    assert [fake.request_count(f"/v1/invoices/{clone['id']}/lines") for clone in clones] == [1, 1, 1, 1]


def test_one_loop_follows_a_range_that_narrows_between_pages(world):
    # The sync's ranges read through the same loop: each page is read with the range as it is
    # then (a split narrows it), and the page can carry the work done on it.
    _, fetcher, now = world
    bounds = {"gte": now - 10 * DAY}
    seen = []

    def read(after):
        page = fetcher.resource_page(CUSTOMERS, {"created": dict(bounds), "limit": 60}, after)
        seen.append(dict(bounds))
        bounds["gte"] = now - 10 * DAY + 100  # narrowed after the first page: the older customers go elsewhere
        return page

    pages = list(follow(read, None))
    ids = [c["id"] for p in pages for c in p.objects]
    assert seen[0] == {"gte": now - 10 * DAY} and all(b["gte"] == now - 10 * DAY + 100 for b in seen[1:])
    assert pages[-1].last and len(ids) == len(set(ids))
    assert {f"cus_extra_{i:03d}" for i in range(100, 210)} <= set(ids)
    assert not {f"cus_extra_{i:03d}" for i in range(0, 100)} & set(ids[60:])  # only the first page reached them
