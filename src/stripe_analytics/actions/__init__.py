"""Write actions: create customers, payments, products, prices and subscriptions, cancel or
resume subscriptions, from the forms, the CLI or a script.

    from stripe_analytics.actions import ActionContext, CustomerInput, create_customer, new_submission_key

    ctx = ActionContext.from_settings(settings, cache=cache)
    result = create_customer(ctx, CustomerInput(email="a@example.com"), new_submission_key())

Inputs are validated before anything is sent (`models`); each call sends an idempotency key
tied to the submission, writes the new object into the cache at once, and records the
attempt in the cache's `audit_log` (`service`).
"""

from .models import (
    AddressInput, CancelSubscriptionInput, CustomerInput, InputError, PaymentInput, PriceInput, ProductInput,
    ResumeSubscriptionInput, SubscriptionInput, SubscriptionItemInput, field_errors, parse,
)
from .service import (
    ActionContext, ActionResult, add_price, cancel_subscription, create_customer, create_payment, create_product,
    create_subscription, new_submission_key, resume_subscription,
)

__all__ = [
    "ActionContext", "ActionResult", "AddressInput", "CancelSubscriptionInput", "CustomerInput", "InputError",
    "PaymentInput", "PriceInput", "ProductInput", "ResumeSubscriptionInput", "SubscriptionInput",
    "SubscriptionItemInput", "add_price", "cancel_subscription", "create_customer", "create_payment",
    "create_product", "create_subscription", "field_errors", "new_submission_key", "parse", "resume_subscription",
]
