"""The records of the demo's simulation: the decided timeline of each object a customer
has (the customer itself, a subscription, its items and discounts, invoices and their lines,
payment intents, charges, refunds, disputes, balance transactions). Only the simulation
(`simulation.py`) writes them; the renderer (`rendering.py`) reads them and turns them into
Stripe objects as they looked at a time.

Times are Unix seconds. A field named like a Stripe field holds what that field shows (a
related object may be held as its record instead of its id); the others are the simulation's own: a
subscription's `agenda` (a heap of what happens to it next), `cadence` and `period_index` (its
billing periods), `when_retries_fail` ("cancel" or "unpaid"); an invoice's `attempt_plan`,
`hold` (kept open while its subscription is unpaid) and `carried` (an amount below the minimum
charge, carried to the customer's balance).
"""

from __future__ import annotations

from ._catalog import CouponDef, PriceDef
from ._timeutil import add_months, split


class Customer:
    """Who the customer is (drawn once, at sign-up) and the running state the customer object
    shows: its credit balance, how many invoices got a number, since when it has a default card
    and a currency, and its invoices."""

    __slots__ = ("id", "created", "segment", "channel", "industry", "country", "currency", "locale", "name", "email",
                 "phone", "address", "invoice_prefix", "card", "payment_method", "balance", "numbered_invoices",
                 "card_since", "currency_since", "invoices")

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
    __slots__ = ("id", "coupon", "start", "end", "subscription", "removed_at", "consumed")

    def __init__(self, id, coupon: CouponDef, start: int, subscription):
        self.id = id
        self.coupon = coupon
        self.start = start
        self.subscription = subscription
        self.consumed = False
        if coupon.duration == "repeating":
            self.end = add_months(split(start), coupon.duration_in_months)
            self.removed_at = self.end
        else:
            self.end = None
            self.removed_at = None


class InvoiceLine:
    __slots__ = ("id", "amount", "description", "period_start", "period_end", "price", "quantity", "subscription_item",
                 "proration", "discountable", "discount_amounts", "invoice_item", "credited_items",
                 "unit_amount_decimal")

    def __init__(self, id, amount, description, period_start, period_end, price, quantity, subscription_item,
                 proration=False, invoice_item=None, credited_items=None, unit_amount_decimal=None):
        self.id = id
        self.amount = amount
        self.description = description
        self.period_start = period_start
        self.period_end = period_end
        self.price = price
        self.quantity = quantity
        self.subscription_item = subscription_item
        self.proration = proration
        self.discountable = not proration
        self.discount_amounts = ()
        self.invoice_item = invoice_item
        self.credited_items = credited_items
        self.unit_amount_decimal = unit_amount_decimal


class Invoice:
    __slots__ = ("id", "subscription", "created", "reason", "lines", "currency", "subtotal", "discounts",
                 "total_discount_amounts", "total", "starting_balance", "amount_due", "ending_balance", "finalized_at",
                 "number", "period_start", "period_end", "attempt_plan", "charges", "paid_at", "voided_at",
                 "uncollectible_at", "payment_intent", "deleted", "auto_advance", "first_attempt_at",
                 "invoice_payment_id", "hold", "carried")

    def __init__(self):
        self.deleted = False
        self.attempt_plan = []
        self.charges = []
        self.paid_at = self.voided_at = self.uncollectible_at = None
        self.payment_intent = None
        self.first_attempt_at = None
        self.invoice_payment_id = None
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
    __slots__ = ("id", "created", "amount", "currency", "fee", "exchange_rate", "type", "reporting_category", "source",
                 "description", "available_on", "fee_description")

    def __init__(self, id, created, amount, currency, fee, exchange_rate, type, reporting_category, source,
                 description, available_on, fee_description):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.exchange_rate = exchange_rate
        self.type = type
        self.reporting_category = reporting_category
        self.source = source
        self.description = description
        self.available_on = available_on
        self.fee_description = fee_description


class Charge:
    __slots__ = ("id", "created", "amount", "currency", "payment_intent", "ok", "failure", "balance_transaction",
                 "refunds", "dispute", "description", "settlement_currency", "risk_score", "receipt_token")

    def __init__(self, id, created, amount, currency, payment_intent, ok, description):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.payment_intent = payment_intent
        self.ok = ok
        self.failure = None
        self.balance_transaction = None
        self.refunds = []
        self.dispute = None
        self.description = description
        self.settlement_currency = None
        self.risk_score = 0
        self.receipt_token = ""


class Refund:
    __slots__ = ("id", "created", "amount", "charge", "reason", "balance_transaction", "currency", "acquirer_reference")

    def __init__(self, id, created, amount, charge, reason, currency, acquirer_reference):
        self.id = id
        self.created = created
        self.amount = amount
        self.charge = charge
        self.reason = reason
        self.currency = currency
        self.balance_transaction = None
        self.acquirer_reference = acquirer_reference


class Dispute:
    __slots__ = ("id", "created", "amount", "currency", "charge", "reason", "network_reason_code", "evidence_at",
                 "closed_at", "won", "balance_transactions", "due_by")

    def __init__(self):
        self.balance_transactions = []


class Subscription:
    __slots__ = ("id", "created", "currency", "items", "status", "trial_start", "trial_end", "cadence", "period_index",
                 "current_period_start", "current_period_end", "cancel_at_period_end", "cancel_at", "canceled_at",
                 "ended_at", "cancel_details", "discounts", "invoices", "trial_converts", "when_retries_fail",
                 "unpaid_renewals_left", "drafts", "trial_behavior", "metadata", "interval", "interval_count", "agenda",
                 "agenda_seq", "lapsed")

    def __init__(self):
        self.items = []
        self.status = "incomplete"
        self.trial_start = self.trial_end = None
        self.cadence = None
        self.period_index = 0
        self.current_period_start = self.current_period_end = 0
        self.cancel_at_period_end = False
        self.cancel_at = self.canceled_at = self.ended_at = None
        self.cancel_details = None
        self.discounts = []
        self.invoices = []
        self.drafts = []
        self.unpaid_renewals_left = 0
        self.trial_behavior = "create_invoice"
        self.agenda = []
        self.agenda_seq = 0
        self.lapsed = False


