"""The declarative table of resources served by the fake, and Stripe's event naming."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from stripe_analytics.stripe_client import STRIPE_API_VERSION

from .errors import invalid
from .forms import to_list, to_str

Predicate = Callable[[dict[str, Any]], bool]
# A "special" filter: called with the query value (None when absent) -> predicate or None (no filter).
SpecialFilter = Callable[[Any], "Predicate | None"]


def get_path(obj: Any, path: str) -> Any:
    """``get_path(invoice, "parent.subscription_details.subscription")``; None when any step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _subscription_status(value: Any) -> Predicate | None:
    if value is None:  # Stripe's default listing hides ended subscriptions
        return lambda o: o.get("status") not in ("canceled", "incomplete_expired")
    status = to_str(value, "status")
    if status == "all":
        return None
    if status not in SUBSCRIPTION_STATUSES:
        raise invalid(
            f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES | {'all'}))}",
            param="status",
        )
    return lambda o: o.get("status") == status


def _event_type(value: Any) -> Predicate | None:
    if value is None:
        return None
    wanted = to_str(value, "type")
    if wanted.endswith("*"):  # Stripe allows a wildcard: type=customer.*
        prefix = wanted[:-1]
        return lambda o: o["type"].startswith(prefix)
    return lambda o: o["type"] == wanted


def _event_types(value: Any) -> Predicate | None:
    if value is None:
        return None
    wanted = set(to_list(value, "types"))
    return lambda o: o["type"] in wanted


SUBSCRIPTION_STATUSES = {
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
}


@dataclass(frozen=True)
class Resource:
    path: str  # /v1/<path>
    object: str  # value of obj["object"]
    prefix: str  # id prefix for objects created through the fake
    filters: Mapping[str, str] = field(default_factory=dict)  # query param -> field path (equality)
    indexed: tuple[str, ...] = ()  # filters backed by a secondary sorted index
    special: Mapping[str, SpecialFilter] = field(default_factory=dict)
    permission: str = ""  # restricted-key permission name: rak_<permission>_read / _write

    @property
    def rak(self) -> str:
        return self.permission or self.object


RESOURCES: tuple[Resource, ...] = (
    Resource("customers", "customer", "cus", {"email": "email"}),
    Resource("products", "product", "prod", {"active": "active"}),
    Resource("prices", "price", "price",
             {"product": "product", "active": "active", "type": "type", "currency": "currency"}),
    Resource("coupons", "coupon", "coupon"),
    Resource("subscriptions", "subscription", "sub", {"customer": "customer"}, ("customer",),
             {"status": _subscription_status}),
    Resource("invoices", "invoice", "in",
             {"customer": "customer", "status": "status",
              "subscription": "parent.subscription_details.subscription"}, ("customer",)),
    Resource("charges", "charge", "ch", {"customer": "customer", "payment_intent": "payment_intent"},
             ("customer",)),
    Resource("refunds", "refund", "re", {"charge": "charge", "payment_intent": "payment_intent"}),
    Resource("payment_intents", "payment_intent", "pi", {"customer": "customer"}, ("customer",)),
    Resource("balance_transactions", "balance_transaction", "txn",
             {"type": "type", "source": "source", "payout": "payout", "currency": "currency"}),
    Resource("disputes", "dispute", "dp", {"charge": "charge", "payment_intent": "payment_intent"}),
    Resource("events", "event", "evt", special={"type": _event_type, "types": _event_types}),
)
BY_PATH = {r.path: r for r in RESOURCES}
BY_OBJECT = {r.object: r for r in RESOURCES}
INDEXED = {r.object: {p: r.filters[p] for p in r.indexed} for r in RESOURCES}

# Lists stored in full inside their parent, served truncated to 10 with a `url` to page through the rest.
EMBEDDED: dict[str, dict[str, str]] = {
    "invoice": {"lines": "/v1/invoices/{id}/lines"},
    "subscription": {"items": "/v1/subscription_items?subscription={id}"},
}
# Fields stored as expanded objects but served as ids unless requested with expand[].
COLLAPSED: dict[str, tuple[str, ...]] = {
    "subscription": ("discounts",),
    "subscription_item": ("discounts",),
    "invoice": ("discounts",),
    "line_item": ("discounts",),
}
# Fields Stripe leaves out unless asked for with expand[] ("includable" properties).
INCLUDABLE: dict[str, tuple[str, ...]] = {"price": ("tiers",)}
# Children retrievable on their own: object -> (parent object, parent field).
CHILDREN: dict[str, tuple[str, str]] = {"subscription_item": ("subscription", "items")}

EMBEDDED_PAGE = 10
API_VERSION = STRIPE_API_VERSION  # events carry the version the client pins

_EVENT_PREFIX = {"subscription": "customer.subscription", "discount": "customer.discount"}
_NO_EVENTS = {"balance_transaction", "event", "line_item", "subscription_item"}


def event_type(object_name: str, action: str) -> str:
    return f"{_EVENT_PREFIX.get(object_name, object_name)}.{action}"


def created_event_type(obj: dict[str, Any]) -> str | None:
    """The event Stripe emits when `obj` comes into existence (None: Stripe emits none)."""
    kind = obj["object"]
    if kind in _NO_EVENTS:
        return None
    if kind == "charge":
        return {"succeeded": "charge.succeeded", "failed": "charge.failed"}.get(obj.get("status"), "charge.pending")
    return event_type(kind, "created")
