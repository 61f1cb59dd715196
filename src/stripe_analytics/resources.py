"""The declarative list of Stripe resources the sync copies. One generic paginator
(sync.py) is driven by this table; nothing is written per endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ChildList:
    """An embedded list Stripe truncates (10 entries) and its own list endpoint."""

    field: str
    path: str  # list endpoint; `{id}` stands for the parent's id
    parent_param: str | None  # query parameter naming the parent, or None when the id is in the path


@dataclass(frozen=True)
class Resource:
    name: str  # cache table name and the name used on the command line
    object_type: str
    service: tuple[str, ...]  # attribute path under client.v1 (also gives the endpoint: /v1/<name>)
    permission: str  # the restricted-key permission to grant, as the Dashboard names it
    params: dict = field(default_factory=dict)
    children: tuple[ChildList, ...] = ()
    split_by_created: bool = True
    has_events: bool = True  # changes arrive through /v1/events; otherwise by `created` watermark
    needed_for: str = ""

    @property
    def path(self) -> str:
        return "/v1/" + "/".join(self.service)

    def service_of(self, client) -> object:
        """The SDK service (`client.v1.<name>`) of this resource."""
        target = client.v1
        for name in self.service:
            target = getattr(target, name)
        return target
    # Event payloads omit "includable" fields (like a price's tiers): when this says an object
    # from an event lacks what we need, it is retrieved again with `expand`.
    refetch_from_event: Callable[[dict], bool] | None = None


RESOURCES: tuple[Resource, ...] = (
    Resource("products", "product", ("products",), "Products", split_by_created=False,
             needed_for="the Products page"),
    Resource("prices", "price", ("prices",), "Prices", params={"expand": ["data.tiers"]}, split_by_created=False,
             needed_for="MRR by product and the Products page",
             refetch_from_event=lambda p: p.get("billing_scheme") == "tiered" and not p.get("tiers")),
    Resource("coupons", "coupon", ("coupons",), "Coupons", split_by_created=False,
             needed_for="discounts in MRR"),
    Resource("customers", "customer", ("customers",), "Customers", needed_for="every customer metric"),
    Resource("subscriptions", "subscription", ("subscriptions",), "Subscriptions",
             params={"status": "all", "expand": ["data.discounts"]},
             children=(ChildList("items", "/v1/subscription_items", "subscription"),),
             needed_for="MRR, churn and retention"),
    Resource("invoices", "invoice", ("invoices",), "Invoices",
             children=(ChildList("lines", "/v1/invoices/{id}/lines", None),),
             needed_for="MRR history"),
    Resource("payment_intents", "payment_intent", ("payment_intents",), "PaymentIntents",
             needed_for="the Payments page"),
    Resource("charges", "charge", ("charges",), "Charges", needed_for="revenue and payments"),
    Resource("refunds", "refund", ("refunds",), "Refunds", needed_for="refunds and net volume"),
    Resource("disputes", "dispute", ("disputes",), "Disputes", needed_for="disputes on the Revenue page"),
    Resource("balance_transactions", "balance_transaction", ("balance_transactions",), "Balance",
             has_events=False, needed_for="fees and net volume"),
    Resource("events", "event", ("events",), "Events", has_events=False,
             needed_for="incremental sync"),
)

RESOURCE_BY_NAME = {r.name: r for r in RESOURCES}
RESOURCE_BY_OBJECT = {r.object_type: r for r in RESOURCES}


def select(names: list[str] | None) -> list[Resource]:
    if not names:
        return list(RESOURCES)
    unknown = [n for n in names if n not in RESOURCE_BY_NAME]
    if unknown:
        raise ValueError(f"unknown resource(s): {', '.join(unknown)}; choose from {', '.join(RESOURCE_BY_NAME)}")
    return [RESOURCE_BY_NAME[n] for n in names]
