"""Reading fields out of Stripe objects: the extractors the cache's typed columns are built
with (`schema.py`), and the fingerprint of a subscription's billing state.

An extractor takes a Stripe dict and returns one value. A reference may come as an id string
or as an expanded object; both give the id. Timestamps stay epoch seconds and amounts the
currency's minor unit: the cache's column types say how they are stored.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

Extractor = Callable[[dict], Any]


def path(*keys: str) -> Extractor:
    """Extractor following nested keys; an id string or an expanded object both give the id."""
    if len(keys) == 1:  # most columns: the same result, without the loop (a hot path of every write)
        key = keys[0]

        def get_one(obj: dict) -> Any:
            value = obj.get(key)
            if isinstance(value, dict) and "id" in value:
                return value["id"]
            return value

        return get_one

    def get(obj: dict) -> Any:
        value: Any = obj
        for key in keys:
            if value is None:
                return None
            if isinstance(value, str):
                return None
            value = value.get(key)
        if isinstance(value, dict) and "id" in value and len(keys) == 1:
            return value["id"]
        return value

    return get


def ref(key: str) -> Extractor:
    """The id of a reference that may be an id string or an expanded object."""

    def get(obj: dict) -> Any:
        value = obj.get(key)
        if isinstance(value, dict):
            return value.get("id")
        return value

    return get


def as_json(*keys: str) -> Extractor:
    inner = path(*keys)

    def get(obj: dict) -> Any:
        value = inner(obj)
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    return get


def line_price(obj: dict) -> Any:
    pricing = obj.get("pricing") or {}
    details = pricing.get("price_details") or {}
    price = details.get("price") or obj.get("price")
    return price.get("id") if isinstance(price, dict) else price


def line_product(obj: dict) -> Any:
    details = (obj.get("pricing") or {}).get("price_details") or {}
    product = details.get("product")
    if product is None and isinstance(obj.get("price"), dict):
        product = obj["price"].get("product")
    return product.get("id") if isinstance(product, dict) else product


def _line_parent_details(obj: dict) -> dict:
    """The parent details named by `parent.type` (Stripe fills only that one)."""
    parent = obj.get("parent") or {}
    kind = parent.get("type")
    if kind:
        return parent.get(kind) or {}
    return parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}


def line_parent_detail(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        value = _line_parent_details(obj).get(key)
        if key == "subscription" and value is None:
            value = obj.get("subscription")
        return value.get("id") if isinstance(value, dict) else value

    return get


def line_is_proration(obj: dict) -> bool:
    return bool(_line_parent_details(obj).get("proration") or obj.get("proration"))


def line_is_subscription_line(obj: dict) -> bool:
    parent = obj.get("parent") or {}
    if parent.get("type"):
        return parent["type"] == "subscription_item_details"
    return bool(parent.get("subscription_item_details")) or obj.get("type") == "subscription"


def sum_amounts(key: str) -> Extractor:
    def get(obj: dict) -> int:
        return sum(int(item.get("amount") or 0) for item in (obj.get(key) or []))

    return get


def invoice_subscription(obj: dict) -> Any:
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    value = details.get("subscription") or obj.get("subscription")
    return value.get("id") if isinstance(value, dict) else value


def invoice_tax(obj: dict) -> int:
    taxes = obj.get("total_taxes")
    if taxes is not None:
        return sum(int(t.get("amount") or 0) for t in taxes)
    return int(obj.get("tax") or 0)


def item_price(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        price = obj.get("price") or obj.get("plan") or {}
        if isinstance(price, str):
            return price if key == "id" else None
        if key in ("interval", "interval_count", "usage_type"):
            return (price.get("recurring") or {}).get(key, price.get(key))
        value = price.get(key)
        return value.get("id") if isinstance(value, dict) else value

    return get


def charge_payment_method_type(obj: dict) -> Any:
    return (obj.get("payment_method_details") or {}).get("type")


def event_object(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        return ((obj.get("data") or {}).get("object") or {}).get(key)

    return get


def discount_coupon(obj: dict) -> Any:
    source = obj.get("source") or {}
    coupon = source.get("coupon") or obj.get("coupon")
    return coupon.get("id") if isinstance(coupon, dict) else coupon


def discount_subscription(obj: dict) -> Any:
    value = obj.get("subscription")
    return value.get("id") if isinstance(value, dict) else value


def subscription_fingerprint(sub: dict) -> tuple[str, list, list]:
    items = sorted(
        (
            {
                "id": item.get("id"),
                "price": ref("price")(item),
                "quantity": item.get("quantity"),
                "discounts": [d if isinstance(d, str) else d.get("id") for d in item.get("discounts") or []],
            }
            for item in ((sub.get("items") or {}).get("data") or [])
        ),
        key=lambda i: i["id"] or "",
    )
    discounts = sorted(
        (
            {
                "id": d.get("id"),
                "coupon": discount_coupon(d),
                "start": d.get("start"),
                "end": d.get("end"),
            } if isinstance(d, dict) else {"id": d}
            for d in sub.get("discounts") or []
        ),
        key=lambda d: d["id"] or "",
    )
    state = {
        "status": sub.get("status"), "items": items, "discounts": discounts,
        "cancel_at_period_end": sub.get("cancel_at_period_end"), "cancel_at": sub.get("cancel_at"),
        "trial_end": sub.get("trial_end"), "ended_at": sub.get("ended_at"),
        "pause_collection": sub.get("pause_collection"), "deleted": bool(sub.get("deleted")),
    }
    digest = hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return digest, items, discounts
