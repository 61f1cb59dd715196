"""Declarative schema of the cache: one table per Stripe object type, typed columns for
what the product uses, plus the object's raw JSON so nothing Stripe sent is lost.

Each column is (name, DuckDB type, extractor). The extractor reads the Stripe dict.
Timestamps are epoch seconds from Stripe, stored as TIMESTAMPTZ; amounts are BIGINT
in the currency's minor unit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

Extractor = Callable[[dict], Any]


def path(*keys: str) -> Extractor:
    """Extractor following nested keys; an id string or an expanded object both give the id."""

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


def _line_price(obj: dict) -> Any:
    pricing = obj.get("pricing") or {}
    details = pricing.get("price_details") or {}
    price = details.get("price") or obj.get("price")
    return price.get("id") if isinstance(price, dict) else price


def _line_product(obj: dict) -> Any:
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


def _line_parent_detail(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        value = _line_parent_details(obj).get(key)
        if key == "subscription" and value is None:
            value = obj.get("subscription")
        return value.get("id") if isinstance(value, dict) else value

    return get


def _line_is_proration(obj: dict) -> bool:
    return bool(_line_parent_details(obj).get("proration") or obj.get("proration"))


def _line_is_subscription_line(obj: dict) -> bool:
    parent = obj.get("parent") or {}
    if parent.get("type"):
        return parent["type"] == "subscription_item_details"
    return bool(parent.get("subscription_item_details")) or obj.get("type") == "subscription"


def _sum_amounts(key: str) -> Extractor:
    def get(obj: dict) -> int:
        return sum(int(item.get("amount") or 0) for item in (obj.get(key) or []))

    return get


def _invoice_subscription(obj: dict) -> Any:
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    value = details.get("subscription") or obj.get("subscription")
    return value.get("id") if isinstance(value, dict) else value


def _invoice_tax(obj: dict) -> int:
    taxes = obj.get("total_taxes")
    if taxes is not None:
        return sum(int(t.get("amount") or 0) for t in taxes)
    return int(obj.get("tax") or 0)


def _item_price(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        price = obj.get("price") or obj.get("plan") or {}
        if isinstance(price, str):
            return price if key == "id" else None
        if key in ("interval", "interval_count", "usage_type"):
            return (price.get("recurring") or {}).get(key, price.get(key))
        value = price.get(key)
        return value.get("id") if isinstance(value, dict) else value

    return get


def _charge_payment_method_type(obj: dict) -> Any:
    return (obj.get("payment_method_details") or {}).get("type")


def _event_object(key: str) -> Extractor:
    def get(obj: dict) -> Any:
        return ((obj.get("data") or {}).get("object") or {}).get(key)

    return get


def _discount_coupon(obj: dict) -> Any:
    source = obj.get("source") or {}
    coupon = source.get("coupon") or obj.get("coupon")
    return coupon.get("id") if isinstance(coupon, dict) else coupon


def _discount_subscription(obj: dict) -> Any:
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
                "coupon": _discount_coupon(d),
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


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    extract: Extractor


@dataclass(frozen=True)
class Table:
    name: str
    object_type: str
    columns: tuple[Column, ...]
    # Embedded lists that are stored in their own table and cut out of `raw`.
    children: tuple[tuple[str, str, str], ...] = ()  # (field, child table, child's parent column)
    parent_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, extract: Extractor | None = None) -> Column:
    return Column(name, type_, extract or path(name))


TS = "TIMESTAMPTZ"

TABLES: tuple[Table, ...] = (
    Table("customers", "customer", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("email", "VARCHAR"), _c("name", "VARCHAR"),
        _c("description", "VARCHAR"), _c("phone", "VARCHAR"), _c("country", "VARCHAR", path("address", "country")),
        _c("currency", "VARCHAR"), _c("delinquent", "BOOLEAN"), _c("balance", "BIGINT"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    )),
    Table("products", "product", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("name", "VARCHAR"), _c("description", "VARCHAR"),
        _c("active", "BOOLEAN"), _c("default_price", "VARCHAR", ref("default_price")),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    )),
    Table("prices", "price", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("product", "VARCHAR", ref("product")),
        _c("currency", "VARCHAR"), _c("unit_amount", "BIGINT"), _c("billing_scheme", "VARCHAR"),
        _c("tiers_mode", "VARCHAR"), _c("tiers", "JSON", as_json("tiers")), _c("type", "VARCHAR"),
        _c("interval", "VARCHAR", path("recurring", "interval")),
        _c("interval_count", "INTEGER", path("recurring", "interval_count")),
        _c("usage_type", "VARCHAR", path("recurring", "usage_type")), _c("active", "BOOLEAN"),
        _c("nickname", "VARCHAR"), _c("lookup_key", "VARCHAR"), _c("metadata", "JSON", as_json("metadata")),
        _c("livemode", "BOOLEAN"),
    )),
    Table("coupons", "coupon", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("name", "VARCHAR"), _c("percent_off", "DOUBLE"),
        _c("amount_off", "BIGINT"), _c("currency", "VARCHAR"), _c("duration", "VARCHAR"),
        _c("duration_in_months", "INTEGER"), _c("valid", "BOOLEAN"), _c("livemode", "BOOLEAN"),
    )),
    Table("discounts", "discount", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("coupon", "VARCHAR", _discount_coupon),
        _c("customer", "VARCHAR", ref("customer")), _c("subscription", "VARCHAR", _discount_subscription),
        _c("subscription_item", "VARCHAR", ref("subscription_item")), _c("invoice", "VARCHAR", ref("invoice")),
        _c("start", TS), _c("end", TS),
    ), parent_column="subscription"),
    Table("subscriptions", "subscription", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("created", TS), _c("start_date", TS), _c("trial_start", TS),
        _c("trial_end", TS), _c("ended_at", TS), _c("canceled_at", TS), _c("cancel_at", TS),
        _c("cancel_at_period_end", "BOOLEAN"), _c("billing_cycle_anchor", TS), _c("collection_method", "VARCHAR"),
        _c("pause_collection", "JSON", as_json("pause_collection")),
        _c("latest_invoice", "VARCHAR", ref("latest_invoice")), _c("description", "VARCHAR"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
        _c("history_fingerprint", "VARCHAR", lambda o: subscription_fingerprint(o)[0]),
    ), children=(("items", "subscription_items", "subscription"), ("discounts", "discounts", "subscription"))),
    Table("subscription_items", "subscription_item", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("subscription", "VARCHAR", ref("subscription")),
        _c("price", "VARCHAR", _item_price("id")), _c("product", "VARCHAR", _item_price("product")),
        _c("quantity", "BIGINT"), _c("created", TS), _c("current_period_start", TS),
        _c("current_period_end", TS), _c("currency", "VARCHAR", _item_price("currency")),
        _c("unit_amount", "BIGINT", _item_price("unit_amount")),
        _c("billing_scheme", "VARCHAR", _item_price("billing_scheme")),
        _c("interval", "VARCHAR", _item_price("interval")),
        _c("interval_count", "INTEGER", _item_price("interval_count")),
        _c("usage_type", "VARCHAR", _item_price("usage_type")),
        _c("discounts", "JSON", as_json("discounts")),
        _c("metadata", "JSON", as_json("metadata")),
    ), parent_column="subscription"),
    Table("invoices", "invoice", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")),
        _c("subscription", "VARCHAR", _invoice_subscription), _c("status", "VARCHAR"), _c("currency", "VARCHAR"),
        _c("created", TS), _c("period_start", TS), _c("period_end", TS), _c("subtotal", "BIGINT"),
        _c("total", "BIGINT"), _c("tax", "BIGINT", _invoice_tax), _c("amount_due", "BIGINT"),
        _c("amount_paid", "BIGINT"), _c("amount_remaining", "BIGINT"), _c("billing_reason", "VARCHAR"),
        _c("number", "VARCHAR"), _c("paid_at", TS, path("status_transitions", "paid_at")),
        _c("hosted_invoice_url", "VARCHAR"), _c("customer_email", "VARCHAR"), _c("livemode", "BOOLEAN"),
    ), children=(("lines", "invoice_line_items", "invoice"),)),
    Table("invoice_line_items", "line_item", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("invoice", "VARCHAR", ref("invoice")),
        _c("subscription", "VARCHAR", _line_parent_detail("subscription")),
        _c("subscription_item", "VARCHAR", _line_parent_detail("subscription_item")),
        _c("price", "VARCHAR", _line_price), _c("product", "VARCHAR", _line_product),
        _c("amount", "BIGINT"), _c("currency", "VARCHAR"), _c("quantity", "BIGINT"),
        _c("period_start", TS, path("period", "start")), _c("period_end", TS, path("period", "end")),
        _c("proration", "BOOLEAN", _line_is_proration),
        _c("is_subscription_line", "BOOLEAN", _line_is_subscription_line),
        _c("discount_amount", "BIGINT", _sum_amounts("discount_amounts")),
        _c("description", "VARCHAR"),
    ), parent_column="invoice"),
    Table("charges", "charge", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"),
        _c("amount_captured", "BIGINT"), _c("amount_refunded", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("paid", "BOOLEAN"), _c("refunded", "BOOLEAN"), _c("disputed", "BOOLEAN"),
        _c("created", TS), _c("balance_transaction", "VARCHAR", ref("balance_transaction")),
        _c("failure_code", "VARCHAR"), _c("failure_message", "VARCHAR"),
        _c("payment_method_type", "VARCHAR", _charge_payment_method_type), _c("description", "VARCHAR"),
        _c("receipt_url", "VARCHAR"), _c("receipt_email", "VARCHAR"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    )),
    Table("refunds", "refund", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("charge", "VARCHAR", ref("charge")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("reason", "VARCHAR"), _c("created", TS),
        _c("balance_transaction", "VARCHAR", ref("balance_transaction")),
    )),
    Table("payment_intents", "payment_intent", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")), _c("amount", "BIGINT"),
        _c("amount_received", "BIGINT"), _c("currency", "VARCHAR"), _c("status", "VARCHAR"), _c("created", TS),
        _c("latest_charge", "VARCHAR", ref("latest_charge")), _c("description", "VARCHAR"),
        _c("receipt_email", "VARCHAR"), _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    )),
    Table("balance_transactions", "balance_transaction", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("type", "VARCHAR"), _c("source", "VARCHAR", ref("source")),
        _c("amount", "BIGINT"), _c("fee", "BIGINT"), _c("net", "BIGINT"), _c("currency", "VARCHAR"),
        _c("exchange_rate", "DOUBLE"), _c("created", TS), _c("available_on", TS), _c("status", "VARCHAR"),
        _c("reporting_category", "VARCHAR"),
    )),
    Table("disputes", "dispute", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("charge", "VARCHAR", ref("charge")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("reason", "VARCHAR"), _c("created", TS),
    )),
    Table("events", "event", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("type", "VARCHAR"), _c("created", TS),
        _c("object_type", "VARCHAR", _event_object("object")), _c("object_id", "VARCHAR", _event_object("id")),
        _c("api_version", "VARCHAR"),
    )),
)

TABLE_BY_OBJECT: dict[str, Table] = {t.object_type: t for t in TABLES}
TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# Older API objects that map onto a current table.
TABLE_BY_OBJECT["plan"] = TABLE_BY_OBJECT["price"]

COMMON_COLUMNS = (
    ("deleted", "BOOLEAN NOT NULL DEFAULT false"),
    ("raw", "JSON"),
    ("synced_at", "TIMESTAMPTZ"),
)

SUPPORT_TABLES_SQL = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS sync_state (
        resource VARCHAR PRIMARY KEY,
        backfill_complete BOOLEAN NOT NULL DEFAULT false,
        cursor JSON,
        last_sync_at TIMESTAMPTZ,
        last_full_sync_at TIMESTAMPTZ,
        last_event_id VARCHAR,
        last_event_created TIMESTAMPTZ,
        skipped_reason VARCHAR,
        last_error VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS subscription_history (
        subscription VARCHAR NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL,
        source VARCHAR NOT NULL,
        status VARCHAR,
        customer VARCHAR,
        currency VARCHAR,
        items JSON,
        discounts JSON,
        cancel_at_period_end BOOLEAN,
        cancel_at TIMESTAMPTZ,
        trial_end TIMESTAMPTZ,
        ended_at TIMESTAMPTZ,
        fingerprint VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sync_runs (
        id BIGINT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        kind VARCHAR,
        outcome VARCHAR,
        message VARCHAR,
        requests BIGINT,
        objects BIGINT
    )""",
    # Events applied to this cache (by a webhook or by a sync), so a redelivered event is skipped.
    """CREATE TABLE IF NOT EXISTS applied_events (
        id VARCHAR PRIMARY KEY,
        created BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        outcome VARCHAR NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL
    )""",
    # The event each object was last written from (`event_apply`'s ordering guard); written_at
    # tells it apart from a later list read of the same object.
    """CREATE TABLE IF NOT EXISTS object_versions (
        id VARCHAR PRIMARY KEY,
        object_type VARCHAR NOT NULL,
        event_created BIGINT NOT NULL,
        event_id VARCHAR NOT NULL,
        written_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        id VARCHAR PRIMARY KEY,
        "at" TIMESTAMPTZ NOT NULL,
        mode VARCHAR,
        action VARCHAR NOT NULL,
        object_type VARCHAR,
        object_id VARCHAR,
        idempotency_key VARCHAR,
        outcome VARCHAR NOT NULL,
        error_code VARCHAR,
        message VARCHAR
    )""",
)


def create_table_sql(table: Table) -> str:
    columns = [f'"{c.name}" {c.type}' for c in table.columns]
    columns += [f'"{name}" {type_}' for name, type_ in COMMON_COLUMNS]
    return f'CREATE TABLE IF NOT EXISTS {table.name} ({", ".join(columns)})'
