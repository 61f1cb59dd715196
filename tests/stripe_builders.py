"""Small builders of Stripe-shaped dicts (current API shape, as in
tests/fixtures/stripe/fixtures3.json) for scenario tests, and a helper that ingests them
into a temporary cache through `ingest.write_objects` -- the only way objects enter a cache.

Times are given as 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]' strings (UTC) or epoch seconds.
Amounts are minor units, as in Stripe.

    p = price("price_basic", 1000)                       # $10.00 / month
    s = subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-01")
    objs = [customer("cus_1"), p, s, *invoices_for(s, until="2024-04-01")]
    cache = make_cache(tmp_path, objs)
"""

from __future__ import annotations

import calendar as _calendar
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from stripe_analytics import ingest
from stripe_analytics.cache import Cache

Time = str | int | datetime | None


def ts(value: Time) -> int | None:
    """Epoch seconds of 'YYYY-MM-DD[THH:MM[:SS]]' (UTC), a datetime or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return int(value.timestamp())
    text = value.replace(" ", "T")
    fmt = "%Y-%m-%d" if "T" not in text else ("%Y-%m-%dT%H:%M:%S" if text.count(":") == 2 else "%Y-%m-%dT%H:%M")
    return int(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp())


def add_interval(moment: int, interval: str, count: int = 1) -> int:
    """Stripe-like period arithmetic: months keep the day of month (clamped to the month's end)."""
    start = datetime.fromtimestamp(moment, timezone.utc)
    if interval in ("month", "year"):
        months = count * (12 if interval == "year" else 1)
        total = start.month - 1 + months
        year, month = start.year + total // 12, total % 12 + 1
        day = min(start.day, _calendar.monthrange(year, month)[1])
        return int(start.replace(year=year, month=month, day=day).timestamp())
    seconds = {"week": 7 * 86400, "day": 86400}[interval]
    return moment + seconds * count


# -- catalog ------------------------------------------------------------------------------------
def product(id: str = "prod_1", name: str | None = None, created: Time = "2023-01-01") -> dict:
    return {"id": id, "object": "product", "name": name or id, "active": True, "created": ts(created),
            "metadata": {}, "livemode": False}


def price(id: str, unit_amount: int | None, currency: str = "usd", interval: str | None = "month",
          interval_count: int = 1, product: str = "prod_1", usage_type: str = "licensed",
          tiers: list[dict] | None = None, tiers_mode: str | None = None, created: Time = "2023-01-01") -> dict:
    """A price; `interval=None` gives a one-time price; `tiers` makes it tiered."""
    return {
        "id": id, "object": "price", "active": True, "currency": currency, "product": product,
        "created": ts(created), "livemode": False, "metadata": {}, "nickname": None, "lookup_key": None,
        "billing_scheme": "tiered" if tiers else "per_unit", "tiers_mode": tiers_mode if tiers else None,
        "tiers": tiers, "unit_amount": None if tiers else unit_amount,
        "unit_amount_decimal": None if tiers or unit_amount is None else str(unit_amount),
        "type": "recurring" if interval else "one_time",
        "recurring": ({"interval": interval, "interval_count": interval_count, "usage_type": usage_type,
                       "meter": None, "trial_period_days": None} if interval else None),
        "tax_behavior": "unspecified",
    }


def tier(up_to: int | None, unit_amount: int = 0, flat_amount: int | None = None) -> dict:
    return {"up_to": up_to, "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
            "flat_amount": flat_amount, "flat_amount_decimal": None if flat_amount is None else str(flat_amount)}


def coupon(id: str, percent_off: float | None = None, amount_off: int | None = None, currency: str | None = None,
           duration: str = "forever", duration_in_months: int | None = None) -> dict:
    return {"id": id, "object": "coupon", "percent_off": percent_off, "amount_off": amount_off,
            "currency": currency if amount_off is not None else None, "duration": duration,
            "duration_in_months": duration_in_months, "valid": True, "created": ts("2023-01-01"),
            "livemode": False, "name": id, "metadata": {}}


def discount(id: str, coupon_obj: dict, start: Time, end: Time = None, customer: str | None = None,
             subscription: str | None = None, subscription_item: str | None = None) -> dict:
    """A discount object (embedded in `subscription.discounts` as Stripe does with expand)."""
    return {"id": id, "object": "discount", "source": {"type": "coupon", "coupon": coupon_obj},
            "start": ts(start), "end": ts(end), "customer": customer, "subscription": subscription,
            "subscription_item": subscription_item, "invoice": None, "invoice_item": None,
            "promotion_code": None, "checkout_session": None}


# -- customers and subscriptions ----------------------------------------------------------------
def customer(id: str, created: Time = "2023-01-01", metadata: dict | None = None, name: str | None = None,
             email: str | None = None, currency: str | None = None) -> dict:
    return {"id": id, "object": "customer", "created": ts(created), "name": name or id,
            "email": email or f"{id}@example.com", "metadata": metadata or {}, "currency": currency,
            "delinquent": False, "balance": 0, "livemode": False, "address": None}


def item(id: str, price_obj: dict, quantity: int = 1, period_start: Time = None, period_end: Time = None,
         discounts: list | None = None, created: Time = None) -> dict:
    """A subscription item with its embedded price. Periods default to the subscription's."""
    return {"id": id, "object": "subscription_item", "price": price_obj, "quantity": quantity,
            "current_period_start": ts(period_start), "current_period_end": ts(period_end),
            "discounts": discounts or [], "metadata": {}, "created": ts(created), "tax_rates": []}


def subscription(id: str, customer: str, items: list[dict], start: Time, status: str = "active",
                 currency: str | None = None, created: Time = None, trial_start: Time = None, trial_end: Time = None,
                 ended_at: Time = None, canceled_at: Time = None, cancel_at_period_end: bool = False,
                 cancel_at: Time = None, discounts: list[dict] | None = None, pause_collection: dict | None = None,
                 period_start: Time = None, period_end: Time = None, metadata: dict | None = None) -> dict:
    """A subscription with `items.data` (item periods default to period_start/period_end, or the
    item price's interval counted from `start`)."""
    start_ts = ts(start)
    data = []
    for it in items:
        it = dict(it)
        interval = ((it["price"].get("recurring") or {}).get("interval")) or "month"
        count = ((it["price"].get("recurring") or {}).get("interval_count")) or 1
        if it["current_period_start"] is None:
            it["current_period_start"] = ts(period_start) if period_start else start_ts
        if it["current_period_end"] is None:
            it["current_period_end"] = ts(period_end) if period_end else add_interval(
                it["current_period_start"], interval, count)
        it["subscription"] = id
        data.append(it)
    disc = [dict(d, subscription=id, customer=customer) for d in (discounts or [])]
    return {
        "id": id, "object": "subscription", "customer": customer, "status": status,
        "currency": currency or (data[0]["price"]["currency"] if data else "usd"),
        "created": ts(created) or start_ts, "start_date": start_ts, "billing_cycle_anchor": start_ts,
        "trial_start": ts(trial_start), "trial_end": ts(trial_end), "ended_at": ts(ended_at),
        "canceled_at": ts(canceled_at), "cancel_at": ts(cancel_at), "cancel_at_period_end": cancel_at_period_end,
        "collection_method": "charge_automatically", "pause_collection": pause_collection,
        "discounts": disc, "items": {"object": "list", "data": data, "has_more": False},
        "latest_invoice": None, "livemode": False, "metadata": metadata or {}, "description": None,
    }


# -- invoices --------------------------------------------------------------------------------------
def line(id: str, amount: int, price_obj: dict | str, period_start: Time, period_end: Time,
         subscription: str | None = None, subscription_item: str | None = None, proration: bool = False,
         discount_amounts: list[dict] | None = None, quantity: int = 1, currency: str | None = None,
         taxes: list[dict] | None = None) -> dict:
    """An invoice line. With `subscription` it is a subscription-item line (parent
    `subscription_item_details`); without, an invoice-item line."""
    price_id = price_obj["id"] if isinstance(price_obj, dict) else price_obj
    product_id = price_obj.get("product") if isinstance(price_obj, dict) else None
    cur = currency or (price_obj.get("currency") if isinstance(price_obj, dict) else "usd")
    if subscription:
        parent = {"type": "subscription_item_details", "invoice_item_details": None,
                  "subscription_item_details": {"subscription": subscription, "subscription_item": subscription_item,
                                                "proration": proration, "proration_details": None,
                                                "invoice_item": None}}
    else:
        parent = {"type": "invoice_item_details", "subscription_item_details": None,
                  "invoice_item_details": {"invoice_item": "ii_" + id, "proration": proration,
                                           "subscription": None, "proration_details": None}}
    return {
        "id": id, "object": "line_item", "amount": amount, "currency": cur, "description": None,
        "discount_amounts": discount_amounts or [], "discountable": True, "discounts": [
            d["discount"] for d in (discount_amounts or [])],
        "livemode": False, "metadata": {}, "period": {"start": ts(period_start), "end": ts(period_end)},
        "quantity": quantity, "parent": parent, "taxes": taxes or [],
        "pricing": {"type": "price_details", "price_details": {"price": price_id, "product": product_id},
                    "unit_amount_decimal": None},
    }


def invoice(id: str, customer: str, lines: list[dict], created: Time, subscription: str | None = None,
            status: str = "paid", currency: str | None = None, tax: int = 0,
            billing_reason: str = "subscription_cycle") -> dict:
    subtotal = sum(l["amount"] for l in lines)
    discounts = sum(d["amount"] for l in lines for d in l["discount_amounts"])
    total = subtotal - discounts + tax
    cur = currency or (lines[0]["currency"] if lines else "usd")
    data = [dict(l, invoice=id) for l in lines]
    return {
        "id": id, "object": "invoice", "customer": customer, "status": status, "currency": cur,
        "created": ts(created), "period_start": ts(created), "period_end": ts(created),
        "subtotal": subtotal, "total": total, "amount_due": total, "amount_paid": total if status == "paid" else 0,
        "amount_remaining": 0 if status == "paid" else total, "billing_reason": billing_reason,
        "total_taxes": [{"amount": tax, "tax_behavior": "exclusive"}] if tax else [],
        "status_transitions": {"paid_at": ts(created) if status == "paid" else None},
        "parent": ({"type": "subscription_details", "subscription_details": {"subscription": subscription,
                                                                             "metadata": {}}}
                   if subscription else None),
        "lines": {"object": "list", "data": data, "has_more": False}, "livemode": False,
        "number": None, "hosted_invoice_url": None, "customer_email": None,
    }


def invoices_for(sub: dict, until: Time, status: str = "paid", prefix: str | None = None, since: Time = None,
                 discount_amounts: dict[str, list[dict]] | None = None) -> list[dict]:
    """One invoice per billing period of `sub` (its current items, repeated from the first item's
    `current_period_start` backwards to `start_date`... simply: from `since` or start_date, every
    interval, while the period starts before `until`), each with one line per licensed item."""
    first = sub["items"]["data"][0]
    recurring = first["price"]["recurring"]
    interval, count = recurring["interval"], recurring.get("interval_count") or 1
    start = ts(since) if since is not None else sub["start_date"]
    if sub.get("trial_end") and since is None:
        start = sub["trial_end"]
    end_limit = ts(until)
    out, n = [], 0
    while start < end_limit:
        end = add_interval(start, interval, count)
        n += 1
        inv_id = f"{prefix or 'in_' + sub['id']}_{n}"
        lines = []
        for it in sub["items"]["data"]:
            p = it["price"]
            if (p.get("recurring") or {}).get("usage_type") == "metered":
                continue
            amount = (p["unit_amount"] or 0) * it["quantity"]
            da = (discount_amounts or {}).get(it["id"])
            lines.append(line(f"il_{inv_id}_{it['id']}", amount, p, start, end, subscription=sub["id"],
                              subscription_item=it["id"], quantity=it["quantity"], discount_amounts=da))
        out.append(invoice(inv_id, sub["customer"], lines, start, subscription=sub["id"], status=status))
        start = end
    return out


# -- payments -------------------------------------------------------------------------------------
def charge(id: str, amount: int, created: Time, customer: str | None = "cus_1", currency: str = "usd",
           status: str = "succeeded", amount_captured: int | None = None, balance_transaction: str | None = None,
           amount_refunded: int = 0) -> dict:
    captured = (amount if status == "succeeded" else 0) if amount_captured is None else amount_captured
    return {"id": id, "object": "charge", "amount": amount, "amount_captured": captured,
            "amount_refunded": amount_refunded, "currency": currency, "status": status,
            "paid": status == "succeeded", "refunded": False, "disputed": False, "created": ts(created),
            "customer": customer, "balance_transaction": balance_transaction, "payment_intent": None,
            "failure_code": None if status == "succeeded" else "card_declined", "metadata": {},
            "livemode": False, "payment_method_details": {"type": "card"}}


def refund(id: str, charge_id: str, amount: int, created: Time, currency: str = "usd",
           status: str = "succeeded", balance_transaction: str | None = None) -> dict:
    return {"id": id, "object": "refund", "charge": charge_id, "amount": amount, "currency": currency,
            "status": status, "created": ts(created), "balance_transaction": balance_transaction,
            "payment_intent": None, "reason": None, "metadata": {}}


def balance_transaction(id: str, type: str, amount: int, fee: int, created: Time, source: str | None,
                        currency: str = "usd", net: int | None = None) -> dict:
    return {"id": id, "object": "balance_transaction", "type": type, "amount": amount, "fee": fee,
            "net": amount - fee if net is None else net, "currency": currency, "created": ts(created),
            "available_on": ts(created), "source": source, "status": "available", "exchange_rate": None,
            "reporting_category": type, "fee_details": []}


# -- cache -----------------------------------------------------------------------------------------
def make_cache(directory: Path, objects: Iterable[dict], name: str = "test.duckdb",
               account_id: str = "acct_test") -> Cache:
    """A new cache in `directory` holding `objects`, written through `ingest.write_objects`."""
    cache = Cache.open(Path(directory) / name)
    with cache.transaction() as con:
        cache.set_meta("account_id", account_id)
        ingest.write_objects(con, list(objects))
    return cache


def add_objects(cache: Cache, objects: Iterable[dict], seen_at: Time = None, source: str = "sync") -> None:
    """Write more objects (a later sync, or an event when `source='event'`) into `cache`."""
    seen = datetime.fromtimestamp(ts(seen_at), timezone.utc) if seen_at is not None else None
    with cache.transaction() as con:
        ingest.write_objects(con, list(objects), seen_at=seen, history_source=source)
