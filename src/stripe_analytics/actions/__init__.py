"""Write actions: create customers, payments, products, prices and subscriptions, cancel or
resume subscriptions, from the forms, the CLI or a script.

    from stripe_analytics.actions import ActionContext, CustomerInput, create_customer, new_submission_key

    ctx = ActionContext.from_settings(settings, cache=cache)
    result = create_customer(ctx, CustomerInput(email="a@example.com"), new_submission_key())

Inputs are validated before anything is sent (`models`). Every action, one module per
resource (`customers`, `payments`, `products`, `subscriptions`), runs through the same step
(`running.run_action`):
- it refuses live-mode writes unless `confirm_live=True` (nothing is sent);
- it sends the submission's idempotency key (derived keys `<key>:<step>` for actions of several
  requests), so a double submit, a rerun or a retry after a timeout never creates twice;
- Stripe's errors become plain words saying what to do, naming the input field an
  invalid-parameter error is about (`errors`);
- the created or updated objects are written into the account's cache at once, through
  `ingest.write_objects` (upserts by id, so the next sync does not duplicate them), together with
  the attempt's row of the cache's `audit_log` (`audit`; never a secret: messages are redacted).
It returns an `ActionResult` (`context`) and raises only `models.InputError` (bad input, nothing
sent) or `ValueError` for a malformed idempotency key.
"""

from .context import ActionContext, ActionResult, new_submission_key
from .customers import create_customer
from .models import (
    AddressInput, CancelSubscriptionInput, CustomerInput, InputError, PaymentInput, PriceInput, ProductInput,
    ResumeSubscriptionInput, SubscriptionInput, SubscriptionItemInput, field_errors, parse,
)
from .payments import create_payment
from .products import add_price, create_product
from .subscriptions import cancel_subscription, create_subscription, resume_subscription

__all__ = [
    "ActionContext", "ActionResult", "AddressInput", "CancelSubscriptionInput", "CustomerInput", "InputError",
    "PaymentInput", "PriceInput", "ProductInput", "ResumeSubscriptionInput", "SubscriptionInput",
    "SubscriptionItemInput", "add_price", "cancel_subscription", "create_customer", "create_payment",
    "create_product", "create_subscription", "field_errors", "new_submission_key", "parse", "resume_subscription",
]
