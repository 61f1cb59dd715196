"""The Stripe objects the app keeps: one declaration each, read by the sync, the cache, the
webhooks and the key check (the way dlt's Stripe source is one tuple of endpoints).

A `Resource` is an object the sync lists: its endpoint and list parameters, the restricted-key
permission that reads it (as the Dashboard names it) and what needs it, whether its changes
arrive as events, its cache table and typed columns, and its embedded child lists. A child
list (subscription items, invoice lines, expanded discounts) is stored in a table of its own,
cut out of the parent's `raw`; when Stripe truncates it, its own list endpoint completes it.

Each column is (name, DuckDB type, extractor); the extractors are in `stripe_fields`. Every
table also keeps the object's raw JSON, so nothing Stripe sent is lost. Timestamps are epoch
seconds from Stripe, stored as TIMESTAMPTZ; amounts are BIGINT in the currency's minor unit.
The cache's own tables (`meta`, `sync_state`, ...) follow the objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .stripe_fields import (
    Extractor, as_json, charge_payment_method_type, discount_coupon, discount_subscription, event_object,
    invoice_subscription, invoice_tax, item_price, line_is_proration, line_is_subscription_line, line_parent_detail,
    line_price, line_product, path, ref, subscription_fingerprint, sum_amounts,
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    extract: Extractor


@dataclass(frozen=True)
class Table:
    """A Stripe object type stored in a cache table of the same name."""

    name: str
    object_type: str
    columns: tuple[Column, ...]
    children: tuple["Child", ...] = ()
    parent_column: str | None = None  # for a child list's table: the column naming its parent
    deleted_by_event: bool = False  # a `<type>.deleted` event removes the object (others only change state)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Child:
    """An embedded list stored in its own table. Stripe truncates one to 10 entries; `list_path`
    (`{id}` standing for the parent's id) then reads the rest, naming the parent with
    `parent_param`, or in the path when that is None. No `list_path`: Stripe embeds it whole."""

    field: str
    table: Table
    list_path: str | None = None
    parent_param: str | None = None

    @property
    def parent_column(self) -> str:
        assert self.table.parent_column is not None
        return self.table.parent_column


@dataclass(frozen=True, kw_only=True)
class Resource(Table):
    """A Stripe object the sync lists from its own endpoint (`/v1/<service...>`)."""

    service: tuple[str, ...]  # attribute path under the SDK's client.v1 (and the endpoint's path)
    permission: str  # the restricted-key permission to grant, as the Dashboard names it
    needed_for: str  # what in the app needs it, for the key check and skipped resources
    params: dict = field(default_factory=dict)  # list parameters (expansions, filters)
    split_by_created: bool = True  # the backfill reads `created` ranges in parallel
    has_events: bool = True  # changes arrive through /v1/events; otherwise by `created` watermark
    # The event types Stripe sends for it (what a webhook endpoint selects): every one but reminders
    # (`invoice.upcoming`, `.overdue`, `.will_be_due`), whose object does not change.
    event_types: tuple[str, ...] = ()
    # Event payloads omit "includable" fields (like a price's tiers): when this says an object
    # from an event lacks what we need, it is retrieved again with `expand`.
    refetch_from_event: Callable[[dict], bool] | None = None

    @property
    def path(self) -> str:
        return "/v1/" + "/".join(self.service)

    def service_of(self, client) -> object:
        """The SDK service (`client.v1.<name>`) of this resource."""
        target = client.v1
        for name in self.service:
            target = getattr(target, name)
        return target


@dataclass(frozen=True)
class Permission:
    """A permission the app needs beyond the listed resources."""

    name: str  # as the Dashboard names it
    needed_for: str


ACCOUNT = Permission("Account", "naming this account's local copy (the key cannot be used without it)")
BALANCE = Permission("Balance", "the Account page")


def _events(name: str, *actions: str) -> tuple[str, ...]:
    return tuple(f"{name}.{action}" for action in actions)


CHANGES = ("created", "updated", "deleted")


def _c(name: str, type_: str, extract: Extractor | None = None) -> Column:
    return Column(name, type_, extract or path(name))


TS = "TIMESTAMPTZ"

# ----------------------------------------------------------------------------- child lists

DISCOUNTS = Table("discounts", "discount", (
    _c("id", "VARCHAR PRIMARY KEY"), _c("coupon", "VARCHAR", discount_coupon),
    _c("customer", "VARCHAR", ref("customer")), _c("subscription", "VARCHAR", discount_subscription),
    _c("subscription_item", "VARCHAR", ref("subscription_item")), _c("invoice", "VARCHAR", ref("invoice")),
    _c("start", TS), _c("end", TS),
), parent_column="subscription", deleted_by_event=True)

SUBSCRIPTION_ITEMS = Table("subscription_items", "subscription_item", (
    _c("id", "VARCHAR PRIMARY KEY"), _c("subscription", "VARCHAR", ref("subscription")),
    _c("price", "VARCHAR", item_price("id")), _c("product", "VARCHAR", item_price("product")),
    _c("quantity", "BIGINT"), _c("created", TS), _c("current_period_start", TS),
    _c("current_period_end", TS), _c("currency", "VARCHAR", item_price("currency")),
    _c("unit_amount", "BIGINT", item_price("unit_amount")),
    _c("billing_scheme", "VARCHAR", item_price("billing_scheme")),
    _c("interval", "VARCHAR", item_price("interval")),
    _c("interval_count", "INTEGER", item_price("interval_count")),
    _c("usage_type", "VARCHAR", item_price("usage_type")),
    _c("discounts", "JSON", as_json("discounts")),
    _c("metadata", "JSON", as_json("metadata")),
), parent_column="subscription", deleted_by_event=True)

INVOICE_LINE_ITEMS = Table("invoice_line_items", "line_item", (
    _c("id", "VARCHAR PRIMARY KEY"), _c("invoice", "VARCHAR", ref("invoice")),
    _c("subscription", "VARCHAR", line_parent_detail("subscription")),
    _c("subscription_item", "VARCHAR", line_parent_detail("subscription_item")),
    _c("price", "VARCHAR", line_price), _c("product", "VARCHAR", line_product),
    _c("amount", "BIGINT"), _c("currency", "VARCHAR"), _c("quantity", "BIGINT"),
    _c("period_start", TS, path("period", "start")), _c("period_end", TS, path("period", "end")),
    _c("proration", "BOOLEAN", line_is_proration),
    _c("is_subscription_line", "BOOLEAN", line_is_subscription_line),
    _c("discount_amount", "BIGINT", sum_amounts("discount_amounts")),
    _c("description", "VARCHAR"),
), parent_column="invoice")

# ----------------------------------------------------------------------------- listed objects

RESOURCES: tuple[Resource, ...] = (
    Resource("products", "product", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("name", "VARCHAR"), _c("description", "VARCHAR"),
        _c("active", "BOOLEAN"), _c("default_price", "VARCHAR", ref("default_price")),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    ), deleted_by_event=True, service=("products",), permission="Products", needed_for="the Products page",
        split_by_created=False, event_types=_events("product", *CHANGES)),
    Resource("prices", "price", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("product", "VARCHAR", ref("product")),
        _c("currency", "VARCHAR"), _c("unit_amount", "BIGINT"), _c("billing_scheme", "VARCHAR"),
        _c("tiers_mode", "VARCHAR"), _c("tiers", "JSON", as_json("tiers")), _c("type", "VARCHAR"),
        _c("interval", "VARCHAR", path("recurring", "interval")),
        _c("interval_count", "INTEGER", path("recurring", "interval_count")),
        _c("usage_type", "VARCHAR", path("recurring", "usage_type")), _c("active", "BOOLEAN"),
        _c("nickname", "VARCHAR"), _c("lookup_key", "VARCHAR"), _c("metadata", "JSON", as_json("metadata")),
        _c("livemode", "BOOLEAN"),
    ), deleted_by_event=True, service=("prices",), permission="Prices",
        needed_for="MRR by product and the Products page", params={"expand": ["data.tiers"]}, split_by_created=False,
        refetch_from_event=lambda p: p.get("billing_scheme") == "tiered" and not p.get("tiers"),
        event_types=_events("price", *CHANGES)),
    Resource("coupons", "coupon", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("name", "VARCHAR"), _c("percent_off", "DOUBLE"),
        _c("amount_off", "BIGINT"), _c("currency", "VARCHAR"), _c("duration", "VARCHAR"),
        _c("duration_in_months", "INTEGER"), _c("valid", "BOOLEAN"), _c("livemode", "BOOLEAN"),
    ), deleted_by_event=True, service=("coupons",), permission="Coupons", needed_for="discounts in MRR",
        split_by_created=False, event_types=_events("coupon", *CHANGES)),
    Resource("customers", "customer", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("created", TS), _c("email", "VARCHAR"), _c("name", "VARCHAR"),
        _c("description", "VARCHAR"), _c("phone", "VARCHAR"), _c("country", "VARCHAR", path("address", "country")),
        _c("currency", "VARCHAR"), _c("delinquent", "BOOLEAN"), _c("balance", "BIGINT"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    ), deleted_by_event=True, service=("customers",), permission="Customers", needed_for="every customer metric",
        # A discount's events name the customer (its own discount or one of its subscriptions').
        event_types=_events("customer", *CHANGES) + _events("customer.discount", *CHANGES)),
    Resource("subscriptions", "subscription", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("created", TS), _c("start_date", TS), _c("trial_start", TS),
        _c("trial_end", TS), _c("ended_at", TS), _c("canceled_at", TS), _c("cancel_at", TS),
        _c("cancel_at_period_end", "BOOLEAN"), _c("billing_cycle_anchor", TS), _c("collection_method", "VARCHAR"),
        _c("pause_collection", "JSON", as_json("pause_collection")),
        _c("latest_invoice", "VARCHAR", ref("latest_invoice")), _c("description", "VARCHAR"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
        _c("history_fingerprint", "VARCHAR", lambda o: subscription_fingerprint(o)[0]),
    ), children=(
        Child("items", SUBSCRIPTION_ITEMS, "/v1/subscription_items", "subscription"),
        Child("discounts", DISCOUNTS),  # expanded by the list parameters; a subscription has a few at most
    ), service=("subscriptions",), permission="Subscriptions", needed_for="MRR, churn and retention",
        params={"status": "all", "expand": ["data.discounts"]},
        event_types=_events("customer.subscription", "created", "updated", "deleted", "paused", "resumed",
                            "trial_will_end", "pending_update_applied", "pending_update_expired")),
    Resource("invoices", "invoice", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")),
        _c("subscription", "VARCHAR", invoice_subscription), _c("status", "VARCHAR"), _c("currency", "VARCHAR"),
        _c("created", TS), _c("period_start", TS), _c("period_end", TS), _c("subtotal", "BIGINT"),
        _c("total", "BIGINT"), _c("tax", "BIGINT", invoice_tax), _c("amount_due", "BIGINT"),
        _c("amount_paid", "BIGINT"), _c("amount_remaining", "BIGINT"), _c("billing_reason", "VARCHAR"),
        _c("number", "VARCHAR"), _c("paid_at", TS, path("status_transitions", "paid_at")),
        _c("hosted_invoice_url", "VARCHAR"), _c("customer_email", "VARCHAR"), _c("livemode", "BOOLEAN"),
    ), children=(Child("lines", INVOICE_LINE_ITEMS, "/v1/invoices/{id}/lines"),), deleted_by_event=True,
        service=("invoices",), permission="Invoices", needed_for="MRR history",
        event_types=_events("invoice", *CHANGES, "finalized", "paid", "payment_failed", "payment_succeeded",
                            "voided", "marked_uncollectible", "finalization_failed", "payment_action_required",
                            "payment_attempt_required", "overpaid", "sent")),
    Resource("payment_intents", "payment_intent", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")), _c("amount", "BIGINT"),
        _c("amount_received", "BIGINT"), _c("currency", "VARCHAR"), _c("status", "VARCHAR"), _c("created", TS),
        _c("latest_charge", "VARCHAR", ref("latest_charge")), _c("description", "VARCHAR"),
        _c("receipt_email", "VARCHAR"), _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    ), service=("payment_intents",), permission="PaymentIntents", needed_for="the Payments page",
        event_types=_events("payment_intent", "created", "succeeded", "payment_failed", "canceled", "processing",
                            "requires_action", "amount_capturable_updated", "partially_funded")),
    Resource("charges", "charge", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("customer", "VARCHAR", ref("customer")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"),
        _c("amount_captured", "BIGINT"), _c("amount_refunded", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("paid", "BOOLEAN"), _c("refunded", "BOOLEAN"), _c("disputed", "BOOLEAN"),
        _c("created", TS), _c("balance_transaction", "VARCHAR", ref("balance_transaction")),
        _c("failure_code", "VARCHAR"), _c("failure_message", "VARCHAR"),
        _c("payment_method_type", "VARCHAR", charge_payment_method_type), _c("description", "VARCHAR"),
        _c("receipt_url", "VARCHAR"), _c("receipt_email", "VARCHAR"),
        _c("metadata", "JSON", as_json("metadata")), _c("livemode", "BOOLEAN"),
    ), service=("charges",), permission="Charges", needed_for="revenue and payments",
        event_types=_events("charge", "succeeded", "failed", "pending", "expired", "updated", "captured",
                            "refunded")),
    Resource("refunds", "refund", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("charge", "VARCHAR", ref("charge")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("reason", "VARCHAR"), _c("created", TS),
        _c("balance_transaction", "VARCHAR", ref("balance_transaction")),
    ), service=("refunds",), permission="Refunds", needed_for="refunds and net volume",
        event_types=_events("charge.refund", "updated") + _events("refund", "created", "updated", "failed")),
    Resource("disputes", "dispute", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("charge", "VARCHAR", ref("charge")),
        _c("payment_intent", "VARCHAR", ref("payment_intent")), _c("amount", "BIGINT"), _c("currency", "VARCHAR"),
        _c("status", "VARCHAR"), _c("reason", "VARCHAR"), _c("created", TS),
    ), service=("disputes",), permission="Disputes", needed_for="disputes on the Revenue page",
        event_types=_events("charge.dispute", "created", "updated", "closed", "funds_withdrawn", "funds_reinstated")),
    Resource("balance_transactions", "balance_transaction", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("type", "VARCHAR"), _c("source", "VARCHAR", ref("source")),
        _c("amount", "BIGINT"), _c("fee", "BIGINT"), _c("net", "BIGINT"), _c("currency", "VARCHAR"),
        _c("exchange_rate", "DOUBLE"), _c("created", TS), _c("available_on", TS), _c("status", "VARCHAR"),
        _c("reporting_category", "VARCHAR"),
    ), service=("balance_transactions",), permission=BALANCE.name, needed_for="fees and net volume",
        has_events=False),
    Resource("events", "event", (
        _c("id", "VARCHAR PRIMARY KEY"), _c("type", "VARCHAR"), _c("created", TS),
        _c("object_type", "VARCHAR", event_object("object")), _c("object_id", "VARCHAR", event_object("id")),
        _c("api_version", "VARCHAR"),
    ), service=("events",), permission="Events", needed_for="incremental sync", has_events=False),
)


def _with_children(tables: tuple[Table, ...]) -> tuple[Table, ...]:
    out: list[Table] = []
    for table in tables:
        for found in (table, *_with_children(tuple(child.table for child in table.children))):
            if found not in out:
                out.append(found)
    return tuple(out)


TABLES: tuple[Table, ...] = _with_children(RESOURCES)  # every cache table of a Stripe object
TABLE_BY_OBJECT: dict[str, Table] = {t.object_type: t for t in TABLES}
TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# Older API objects that map onto a current table.
TABLE_BY_OBJECT["plan"] = TABLE_BY_OBJECT["price"]
RESOURCE_BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
RESOURCE_BY_OBJECT: dict[str, Resource] = {r.object_type: r for r in RESOURCES}


def select(names: list[str] | None) -> list[Resource]:
    """The resources named (all when none is), or ValueError naming the unknown ones."""
    if not names:
        return list(RESOURCES)
    unknown = [n for n in names if n not in RESOURCE_BY_NAME]
    if unknown:
        raise ValueError(f"unknown resource(s): {', '.join(unknown)}; choose from {', '.join(RESOURCE_BY_NAME)}")
    return [RESOURCE_BY_NAME[n] for n in names]


def permission_of(object_type: str | None) -> str | None:
    """The restricted-key permission, as the Dashboard names it, covering an object type."""
    table = RESOURCE_BY_OBJECT.get(object_type or "")
    return table.permission if table else None


# ----------------------------------------------------------------------------- the cache's own tables

COMMON_COLUMNS = (
    ("deleted", "BOOLEAN NOT NULL DEFAULT false"),
    ("raw", "JSON"),
    ("synced_at", "TIMESTAMPTZ"),
)

# Analysts' dated notes (notes.py): written by the app only, never by a sync. A cache made
# before them gets the table with its first note (readers take a missing table as no notes),
# so adding it needed no new schema version, which would make every reader wait for an upgrade.
ANNOTATIONS_TABLE_SQL = """CREATE TABLE IF NOT EXISTS annotations (
        id VARCHAR PRIMARY KEY,
        day DATE NOT NULL,
        text VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by VARCHAR,
        updated_at TIMESTAMPTZ
    )"""

SUPPORT_TABLES_SQL = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS sync_state (
        resource VARCHAR PRIMARY KEY,
        backfill_complete BOOLEAN NOT NULL DEFAULT false,
        cursor JSON,
        last_sync_at TIMESTAMPTZ,
        last_full_sync_at TIMESTAMPTZ,
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
    ANNOTATIONS_TABLE_SQL,
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


def create_table_sql(table: Table, *, primary_key: bool = True, raw_compression: str | None = None) -> str:
    """The table's DDL; without its primary key for a bulk load that adds it afterwards, and
    with `raw` stored in DuckDB's `raw_compression` method instead of the one it would choose."""
    columns = [f'"{c.name}" {c.type if primary_key else c.type.replace(" PRIMARY KEY", "")}' for c in table.columns]
    columns += [f'"{name}" {type_}' + (f" USING COMPRESSION {raw_compression}" if name == "raw" and raw_compression else "")
                for name, type_ in COMMON_COLUMNS]
    return f'CREATE TABLE IF NOT EXISTS {table.name} ({", ".join(columns)})'
