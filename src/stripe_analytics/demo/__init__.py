"""Demo mode: a deterministic, seeded, synthetic Stripe account.

    from stripe_analytics.demo import generate_account
    acc = generate_account(seed=0, customers=2000, as_of=None)
    acc.account          # the Stripe `account` object ("acct_demo...")
    acc.iter_objects()   # every object of the account, as Stripe API dicts

Shapes follow the current API (2025-03-31.basil and later): billing periods on
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
   each ``data.object`` being the object as it was at that moment.

Everything about customer *i* is drawn from an RNG seeded with ``(seed, i)``: the output is
identical for the same ``(seed, customers, as_of)`` and is produced one customer at a time.
"""

from ._account import DemoAccount, generate_account
from ._catalog import CURRENCY_DECIMALS
from ._core import API_VERSION

__all__ = ["API_VERSION", "CURRENCY_DECIMALS", "DemoAccount", "generate_account"]
