"""A small, deterministic Stripe account for sync tests, built from Stripe's own example
objects (fixtures3.json) so every object has the current API's shape."""

from __future__ import annotations

import contextlib
import copy
import random
import time
from typing import Iterator

from tests.fake_stripe import FakeStripe
from tests.stripe_fixtures import resources

FIXTURES = resources()
DAY = 86400


def template(kind: str, **changes) -> dict:
    obj = copy.deepcopy(FIXTURES[kind])
    obj.update(changes)
    return obj


def _list(data: list[dict], url: str) -> dict:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def build_account(now: int, customers: int = 40, seed: int = 1) -> tuple[dict, list[dict]]:
    """(account, objects). Objects span the last ~400 days; one subscription has 12 items
    and its invoice 13 lines, so both exceed Stripe's 10 embedded entries."""
    rng = random.Random(seed)
    start = now - 420 * DAY
    account = template("account", id="acct_synctest", created=start - 30 * DAY)
    objects: list[dict] = []
    products = [template("product", id=f"prod_{i}", name=f"Plan {i}", created=start + i, default_price=f"price_{i}",
                         updated=start + i) for i in range(4)]
    prices = [template("price", id=f"price_{i}", product=f"prod_{i}", unit_amount=1000 * (i + 1), created=start + i,
                       transform_quantity=None) for i in range(4)]
    coupons = [template("coupon", id="TENOFF", percent_off=10.0, created=start, redeem_by=None)]
    objects += products + prices + coupons
    for c in range(customers):
        created = start + int((c + 1) * (400 * DAY) / (customers + 1))
        cus_id = f"cus_{c:04d}"
        objects.append(template("customer", id=cus_id, email=f"user{c}@example.com", name=f"User {c}",
                                created=created, discount=None, metadata={"segment": rng.choice(["smb", "ent"])}))
        n_items = 12 if c == 3 else 1
        sub_id = f"sub_{c:04d}"
        items = []
        for k in range(n_items):
            price = prices[(c + k) % 4]
            items.append(template("subscription_item", id=f"si_{c:04d}_{k:02d}", subscription=sub_id,
                                  price=copy.deepcopy(price), plan=None, quantity=1 + k % 3, created=created,
                                  current_period_start=now - 10 * DAY, current_period_end=now + 20 * DAY,
                                  discounts=[]))
        status = "canceled" if c % 7 == 0 else "active"
        objects.append(template(
            "subscription", id=sub_id, customer=cus_id, created=created, start_date=created,
            status=status, ended_at=created + 30 * DAY if status == "canceled" else None,
            canceled_at=created + 30 * DAY if status == "canceled" else None, cancel_at=None,
            trial_start=None, trial_end=None, discounts=[], latest_invoice=f"in_{c:04d}",
            items=_list(items, f"/v1/subscription_items?subscription={sub_id}")))
        n_lines = 13 if c == 3 else 1
        lines = [template("line_item", id=f"il_{c:04d}_{k:02d}", invoice=f"in_{c:04d}", amount=1000 * (k + 1),
                          period={"start": created, "end": created + 30 * DAY},
                          parent={"type": "subscription_item_details", "invoice_item_details": None,
                                  "subscription_item_details": {"invoice_item": None, "proration": False,
                                                                "proration_details": None,
                                                                "subscription": sub_id,
                                                                "subscription_item": f"si_{c:04d}_{k % n_items:02d}"}})
                 for k in range(n_lines)]
        total = sum(line["amount"] for line in lines)
        objects.append(template(
            "invoice", id=f"in_{c:04d}", customer=cus_id, created=created + 60, status="paid", total=total,
            subtotal=total, amount_due=total, amount_paid=total, amount_remaining=0,
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"metadata": {}, "subscription": sub_id}},
            lines=_list(lines, f"/v1/invoices/in_{c:04d}/lines")))
        objects.append(template("payment_intent", id=f"pi_{c:04d}", customer=cus_id, amount=total,
                                amount_received=total, status="succeeded", created=created + 61,
                                latest_charge=f"ch_{c:04d}", client_secret=None))
        objects.append(template("charge", id=f"ch_{c:04d}", customer=cus_id, payment_intent=f"pi_{c:04d}",
                                amount=total, amount_captured=total, status="succeeded", captured=True,
                                created=created + 62, balance_transaction=f"txn_{c:04d}"))
        fee = round(total * 0.029) + 30
        objects.append(template("balance_transaction", id=f"txn_{c:04d}", source=f"ch_{c:04d}", amount=total,
                                fee=fee, net=total - fee, created=created + 62, type="charge"))
        if c % 5 == 0:
            objects.append(template("refund", id=f"re_{c:04d}", charge=f"ch_{c:04d}", amount=total // 2,
                                    created=created + 3 * DAY, balance_transaction=f"txn_re_{c:04d}"))
            objects.append(template("balance_transaction", id=f"txn_re_{c:04d}", source=f"re_{c:04d}",
                                    amount=-(total // 2), fee=0, net=-(total // 2), created=created + 3 * DAY,
                                    type="refund"))
        if c % 11 == 0:
            objects.append(template("dispute", id=f"dp_{c:04d}", charge=f"ch_{c:04d}", amount=total,
                                    created=created + 5 * DAY))
    return account, objects


@contextlib.contextmanager
def fake_with_account(key: str, customers: int) -> Iterator[FakeStripe]:
    """The fake Stripe serving `build_account`'s account as of now, reached with `key`."""
    acct, objects = build_account(int(time.time()), customers=customers)
    with FakeStripe() as fake:
        fake.add_account(acct, key=key)
        fake.add_many(objects)
        yield fake
