"""Links to the same object in Stripe's Dashboard.

The path follows the mode the object was created in: `https://dashboard.stripe.com/test/customers/cus_…`
for test-mode data, without `/test` for live data. When the account's id is known (a synced
account, `acct_…`), the path starts with it (`https://dashboard.stripe.com/acct_…/test/…`): the
Dashboard then opens that account even when the analyst's login reaches several (their own
accounts, or a platform's connected accounts), instead of whichever account was last open.
The demo account is generated locally: its objects exist nowhere in Stripe, so it has no links.
"""

from __future__ import annotations

import re

from .access import UNKNOWN_ACCOUNT

DASHBOARD = "https://dashboard.stripe.com"
_ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9_]{1,64}$")
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")

# The Dashboard's page for each object type (charges and payment intents are both "payments").
COLLECTIONS = {
    "customer": "customers", "subscription": "subscriptions", "invoice": "invoices", "charge": "payments",
    "payment_intent": "payments", "refund": "refunds", "dispute": "disputes", "product": "products",
    "price": "prices", "coupon": "coupons",
}


def dashboard_url(object_type: str, object_id: str | None, *, livemode: bool, account_id: str | None = None,
                  demo: bool = False) -> str | None:
    """The Dashboard address of one object, or None when it has none (the demo, an unknown type,
    an id that is not a Stripe id)."""
    collection = COLLECTIONS.get(object_type)
    if demo or collection is None or not object_id or not _OBJECT_ID.match(object_id):
        return None
    parts = [DASHBOARD]
    if account_id and account_id != UNKNOWN_ACCOUNT and _ACCOUNT_ID.match(account_id):
        parts.append(account_id)
    if not livemode:
        parts.append("test")
    parts += [collection, object_id]
    return "/".join(parts)
