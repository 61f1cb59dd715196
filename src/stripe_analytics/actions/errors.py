"""Stripe's errors in plain words: what happened, what to do, and the input field concerned."""

from __future__ import annotations

import re

from ..schema import permission_of
from ..stripe_errors import Failure, access_needed, describe

_PARAM_FIELDS = {
    "unit_amount": "amount", "recurring[interval]": "interval", "recurring[interval_count]": "interval_count",
    "trial_period_days": "trial_days", "product_data[name]": "name", "id": None,
}


def param_field(param: str | None) -> str | None:
    """The input field a Stripe parameter name stands for (`items[1][price]` -> `items.1.price`)."""
    if not param:
        return None
    if param in _PARAM_FIELDS:
        return _PARAM_FIELDS[param]
    if param.startswith("discounts"):
        return "coupon"
    if param.startswith("metadata"):
        return "metadata"
    match = re.fullmatch(r"items\[(\d+)\]\[(\w+)\]", param)
    if match:
        return f"items.{match.group(1)}.{match.group(2)}"
    match = re.fullmatch(r"(\w+)\[(\w+)\]", param)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    return param


def explain(error: Exception, object_type: str | None = None) -> tuple[str, str, str | None]:
    """(error code, plain message with what to do, input field) of an error from Stripe."""
    retry_safe = "Submitting the same form again is safe: it cannot create a duplicate."
    failure = describe(error)
    code, stripe_message = failure.code, failure.stripe_message
    if failure.kind is Failure.CARD:
        decline = failure.decline_code
        if code == "authentication_required" or decline == "authentication_required":
            return ("authentication_required", "The customer's bank requires them to authenticate this payment "
                    "(3-D Secure), which cannot be done from here. Send them a payment link or invoice so they "
                    "can pay and authenticate themselves.", "payment_method")
        return (decline or code or "card_declined",
                f"{failure.what}. Ask the customer for another payment method (or to contact "
                "their bank), then submit with the new payment method.", "payment_method")
    if failure.kind is Failure.AUTHENTICATION:
        return ("authentication", f"{failure.what}. Check STRIPE_API_KEY (or connect the account again), then "
                "submit again.", None)
    if failure.kind is Failure.PERMISSION:
        what = permission_of(object_type) or "this resource"
        return ("permission", f"This API key is a restricted key that may not do this: in the Stripe Dashboard "
                f"(Developers → API keys), {access_needed(what, 'Write')}, or use a key that has it, then submit "
                "again." + (f" (Stripe said: {stripe_message})" if stripe_message else ""), None)
    if failure.kind is Failure.RATE_LIMIT:
        return ("rate_limit", f"{failure.what}. Wait a minute, then submit again. {retry_safe}", None)
    if failure.kind is Failure.IDEMPOTENCY:
        return ("idempotency", f"{failure.what}. Submit again with a new key (the form makes one when its values "
                "change).", None)
    if failure.kind is Failure.CONNECTION:
        return ("connection", f"{failure.what}. Check the connection and submit again. {retry_safe}", None)
    if failure.kind is Failure.INVALID_REQUEST:
        fld = param_field(failure.param)
        if code == "resource_missing":
            text = f"{stripe_message or 'That object does not exist in Stripe'}."
            return (code, f"{text} Check the id (it may belong to another account or mode), then submit "
                    "again.", fld)
        where = f" (field: {fld})" if fld else ""
        return (code or "invalid_request", f"Stripe refused this request{where}: "
                f"{stripe_message or 'invalid request'}. Correct it and submit again.", fld)
    if failure.kind is Failure.STRIPE_INTERNAL:
        return ("api_error", f"{failure.what}. Wait a moment and submit again. {retry_safe}", None)
    if failure.kind is Failure.OTHER_STRIPE:
        return (code or failure.error_type, f"{failure.what}. Submit again; if it keeps failing, check the Stripe "
                "Dashboard.", None)
    return (failure.error_type, f"Unexpected error: {failure.what}", None)
