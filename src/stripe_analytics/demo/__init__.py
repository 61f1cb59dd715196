"""Demo mode: a deterministic, seeded, synthetic Stripe account.

    from stripe_analytics.demo import generate_account
    acc = generate_account(seed=0, customers=2000, as_of=None)
    acc.account          # the Stripe `account` object ("acct_demo...")
    acc.iter_objects()   # every object of the account, as Stripe API dicts

Shapes follow the API version the client pins (`stripe_client.STRIPE_API_VERSION`): billing periods on
subscription items, ``invoice.parent.subscription_details``, ``line_item.parent.
subscription_item_details``, ``line_item.pricing.price_details``, ``discount.source.coupon``,
``invoice.payments`` (payment intents) instead of ``invoice.charge``.

``iter_objects()`` streams, in this order:

1. the catalogue: products, prices, coupons;
2. for each customer (in sign-up order), its whole graph sorted by ``created`` (ties: customer,
   subscription, invoice, payment_intent, charge, refund, dispute, balance_transaction):
   ``customer``; ``subscription`` (all items embedded in ``items.data``, discounts embedded as
   full ``discount`` objects, as with ``expand[]=discounts``); ``invoice`` (all lines in
   ``lines.data``, discounts expanded, ``payments`` included); ``payment_intent``; ``charge``
   (refunds embedded); ``refund``; ``dispute``; ``balance_transaction``;
3. ``event`` objects for the changes of the last 30 days before ``as_of``, in created order,
   each ``data.object`` being the object as it was at that moment, in webhook form (as Stripe
   sends it: nothing expanded -- ``discounts`` are ids -- and ``lines`` / ``items`` truncated
   to 10 with ``has_more: true``).

Everything about customer *i* is drawn from an RNG seeded with ``(seed, i)``: the output is
identical for the same ``(seed, customers, as_of)`` and is produced one customer at a time
(memory stays bounded; events are parked compressed in a spooled temporary file).

Conventions worth knowing when consuming the data (all as Stripe does it):

* Line periods are the billing truth.  ``invoice.period_start/end`` follow Stripe's meaning
  (the window in which pending items were collected: the *previous* period for renewals).
* Licensed items are billed in advance for ``[current_period_start, current_period_end)``;
  the metered item (``recurring.usage_type = metered``) in arrears, on the next renewal.
* A trial starts with a $0 ``subscription_create`` invoice whose lines cover the trial.
* Mid-period plan / seat / add-on changes use ``proration_behavior=always_invoice``: an
  immediate ``subscription_update`` invoice holding only proration lines
  (``parent.subscription_item_details.proration = true``; credits are negative and carry
  ``proration_details.credited_items``); the next renewal bills the new price/quantity.
  Prorations are not discountable.  A negative invoice total becomes customer credit
  (``customer.balance`` < 0, ``starting_balance``/``ending_balance`` on invoices); an amount
  due below Stripe's minimum charge is marked paid and carried to the balance instead.
* ``invoice.discounts`` are expanded ``discount`` objects; ``lines.data[].discount_amounts
  [].discount`` are ids; ``discount.source.coupon`` is a coupon id.
* ``invoice.payments`` is included (as with ``expand[]=payments``): one ``invoice_payment``
  pointing at the invoice's payment intent; retries are further charges on the same intent.
* ``charge.refunds`` embeds the charge's refunds; ``dispute.balance_transactions`` embeds full
  balance transactions (which are also streamed on their own).
* The account settles in USD; EUR charges settle in EUR once the EUR bank account exists
  (10 months before ``as_of``), GBP and JPY charges are always converted to USD
  (``balance_transaction.exchange_rate``: amount_in_settlement_major = amount_major * rate).
* Referenced but not streamed: ``pm_`` payment methods, ``ii_`` invoice items, the billing
  meter ``mtr_``.  ``coupon.times_redeemed`` is 0 (coupons are streamed before customers).
"""

from ._account import DemoAccount, generate_account
from ._catalog import CURRENCY_DECIMALS
from .rendering import API_VERSION

__all__ = ["API_VERSION", "CURRENCY_DECIMALS", "DemoAccount", "generate_account"]
