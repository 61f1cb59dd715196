"""The records of the demo's simulation: the decided timeline of each object a customer
has (the customer itself, a subscription, its items and discounts, invoices and their lines,
payment intents, charges, refunds, disputes, balance transactions). Only the simulation
(`simulation.py`) writes them; the renderer (`rendering.py`) reads them and turns them into
Stripe objects as they looked at a time.

Times are Unix seconds. Short field names follow the Stripe field they become: `ps`/`pe` a
period's start and end, `si` the subscription item id, `ii` the invoice item id, `sb`/`eb` the
starting and ending customer balance, `cad` the billing cadence, `k` the index of the current
period, `disc` the discount amounts of a line, `discs` a subscription's applied discounts.
"""

from __future__ import annotations

from ._catalog import CouponDef, PriceDef
from ._timeutil import add_months, split


class Customer:
    """Who the customer is (drawn once, at sign-up) and the running state the customer object
    shows: its credit balance, how many invoices got a number, since when it has a default card
    and a currency, and its invoices."""

    __slots__ = ("id", "created", "segment", "channel", "industry", "country", "currency", "locale", "name",
                 "email", "phone", "address", "invoice_prefix", "card", "payment_method", "balance",
                 "numbered_invoices", "card_since", "currency_since", "invoices")

    def __init__(self, id, created):
        self.id = id
        self.created = created
        self.balance = 0
        self.numbered_invoices = 0
        self.card_since = None
        self.currency_since = None
        self.invoices = []


class SubscriptionItem:
    __slots__ = ("id", "price", "quantity", "created", "metered", "last_debit", "usage_base")

    def __init__(self, id, price: PriceDef, quantity: int, created: int):
        self.id = id
        self.price = price
        self.quantity = quantity
        self.created = created
        self.metered = price.usage_type == "metered"
        self.last_debit = None  # (invoice id, line id) of the latest charge for the current period
        self.usage_base = 0.0


class AppliedDiscount:
    __slots__ = ("id", "coupon", "start", "end", "sub", "removed_at", "consumed")

    def __init__(self, id, coupon: CouponDef, start: int, sub):
        self.id = id
        self.coupon = coupon
        self.start = start
        self.sub = sub
        self.consumed = False
        if coupon.duration == "repeating":
            self.end = add_months(split(start), coupon.duration_in_months)
            self.removed_at = self.end
        else:
            self.end = None
            self.removed_at = None


class InvoiceLine:
    __slots__ = ("id", "amount", "desc", "pstart", "pend", "price", "quantity", "si", "proration", "discountable",
                 "disc", "ii", "credited", "unit_dec")

    def __init__(self, id, amount, desc, pstart, pend, price, quantity, si, proration=False, ii=None,
                 credited=None, unit_dec=None):
        self.id = id
        self.amount = amount
        self.desc = desc
        self.pstart = pstart
        self.pend = pend
        self.price = price
        self.quantity = quantity
        self.si = si
        self.proration = proration
        self.discountable = not proration
        self.disc = ()
        self.ii = ii
        self.credited = credited
        self.unit_dec = unit_dec


class Invoice:
    __slots__ = ("id", "sub", "created", "reason", "lines", "currency", "subtotal", "discounts", "disc_totals",
                 "total", "sb", "amount_due", "eb", "finalized_at", "number", "period_start", "period_end",
                 "attempt_plan", "charges", "paid_at", "voided_at", "uncollectible_at", "pi", "deleted",
                 "auto_advance", "first_attempt_at", "inpay_id", "hold", "carried")

    def __init__(self):
        self.deleted = False
        self.attempt_plan = []
        self.charges = []
        self.paid_at = self.voided_at = self.uncollectible_at = None
        self.pi = None
        self.first_attempt_at = None
        self.inpay_id = None
        self.hold = False
        self.carried = False


class PaymentIntent:
    __slots__ = ("id", "created", "amount", "currency", "charges", "succeeded_at", "canceled_at", "cancel_reason",
                 "description", "invoice", "metadata", "client_secret")

    def __init__(self, id, created, amount, currency, description, invoice=None, metadata=None, secret=""):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.charges = []
        self.succeeded_at = None
        self.canceled_at = None
        self.cancel_reason = None
        self.description = description
        self.invoice = invoice
        self.metadata = metadata or {}
        self.client_secret = f"{id}_secret_{secret}"


class BalanceTransaction:
    __slots__ = ("id", "created", "amount", "currency", "fee", "exchange_rate", "type", "category", "source",
                 "description", "available_on", "fee_desc")

    def __init__(self, id, created, amount, currency, fee, exchange_rate, type, category, source, description,
                 available_on, fee_desc):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.exchange_rate = exchange_rate
        self.type = type
        self.category = category
        self.source = source
        self.description = description
        self.available_on = available_on
        self.fee_desc = fee_desc


class Charge:
    __slots__ = ("id", "created", "amount", "currency", "pi", "ok", "failure", "bt", "refunds", "dispute",
                 "description", "settle", "risk", "receipt")

    def __init__(self, id, created, amount, currency, pi, ok, description):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.pi = pi
        self.ok = ok
        self.failure = None
        self.bt = None
        self.refunds = []
        self.dispute = None
        self.description = description
        self.settle = None
        self.risk = 0
        self.receipt = ""


class Refund:
    __slots__ = ("id", "created", "amount", "charge", "reason", "bt", "currency", "ref")

    def __init__(self, id, created, amount, charge, reason, currency, ref):
        self.id = id
        self.created = created
        self.amount = amount
        self.charge = charge
        self.reason = reason
        self.currency = currency
        self.bt = None
        self.ref = ref


class Dispute:
    __slots__ = ("id", "created", "amount", "currency", "charge", "reason", "code", "evidence_at", "closed_at",
                 "won", "bts", "due_by")

    def __init__(self):
        self.bts = []


class Subscription:
    __slots__ = ("id", "created", "currency", "items", "status", "trial_start", "trial_end", "cad", "k", "ps",
                 "pe", "cancel_at_period_end", "cancel_at", "canceled_at", "ended_at", "cancel_details", "discs",
                 "invoices", "converts", "dunning", "unpaid_left", "drafts", "trial_behavior", "metadata",
                 "interval", "interval_count", "heap", "seq", "lapsed")

    def __init__(self):
        self.items = []
        self.status = "incomplete"
        self.trial_start = self.trial_end = None
        self.cad = None
        self.k = 0
        self.ps = self.pe = 0
        self.cancel_at_period_end = False
        self.cancel_at = self.canceled_at = self.ended_at = None
        self.cancel_details = None
        self.discs = []
        self.invoices = []
        self.drafts = []
        self.unpaid_left = 0
        self.trial_behavior = "create_invoice"
        self.heap = []
        self.seq = 0
        self.lapsed = False


