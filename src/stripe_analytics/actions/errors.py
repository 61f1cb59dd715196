"""Stripe's errors in plain words: what happened, what to do, and the input field concerned."""

from __future__ import annotations

import re

import stripe

from ..stripe_client import redact

# The restricted-key permission each object type's writes need, as the Dashboard names it.
PERMISSIONS = {
    "customer": "Customers", "payment_intent": "PaymentIntents", "product": "Products", "price": "Prices",
    "subscription": "Subscriptions",
}
DECLINE_REASONS = {
    "generic_decline": "the bank declined it without giving a reason",
    "insufficient_funds": "insufficient funds",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the security code (CVC) is incorrect",
    "incorrect_number": "the card number is incorrect",
    "processing_error": "an error occurred while processing the card",
    "do_not_honor": "the bank declined it (do not honor)",
    "fraudulent": "the payment was flagged as likely fraudulent",
    "card_velocity_exceeded": "the card's limit or number of attempts was exceeded",
    "card_not_supported": "the card does not support this kind of purchase",
    "currency_not_supported": "the card does not support this currency",
    "authentication_required": "the bank requires the customer to authenticate (3-D Secure)",
}





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


def decline_reason(code: str | None) -> str:
    if not code:
        return DECLINE_REASONS["generic_decline"]
    return DECLINE_REASONS.get(code, code.replace("_", " "))


def explain(error: Exception, object_type: str | None = None) -> tuple[str, str, str | None]:
    """(error code, plain message with what to do, input field) of an error from Stripe."""
    retry_safe = "Submitting the same form again is safe: it cannot create a duplicate."
    info = getattr(error, "error", None)
    code = getattr(info, "code", None) or getattr(error, "code", None)
    stripe_message = redact(((getattr(info, "message", None) or getattr(error, "user_message", None)
                              or "").strip())).rstrip(".")
    if isinstance(error, stripe.CardError):
        decline = getattr(info, "decline_code", None)
        if code == "authentication_required" or decline == "authentication_required":
            return ("authentication_required", "The customer's bank requires them to authenticate this payment "
                    "(3-D Secure), which cannot be done from here. Send them a payment link or invoice so they "
                    "can pay and authenticate themselves.", "payment_method")
        reason = decline_reason(decline or (code if code != "card_declined" else None))
        return (decline or code or "card_declined",
                f"The card was declined: {reason}. Ask the customer for another payment method (or to contact "
                "their bank), then submit with the new payment method.", "payment_method")
    if isinstance(error, stripe.AuthenticationError):
        return ("authentication", "Stripe refused the API key (invalid, expired or revoked). Check STRIPE_API_KEY "
                "(or connect the account again), then submit again.", None)
    if isinstance(error, stripe.PermissionError):
        what = PERMISSIONS.get(object_type or "", "this resource")
        return ("permission", f"This API key is not allowed to do this: it is a restricted key without Write "
                f"access to {what}. In the Stripe Dashboard (Developers → API keys), give the key Write access "
                f"to {what}, or use a key that has it, then submit again." +
                (f" (Stripe said: {stripe_message})" if stripe_message else ""), None)
    if isinstance(error, stripe.RateLimitError):
        return ("rate_limit", "Stripe is receiving too many requests from this account right now and refused "
                f"this one even after retrying. Wait a minute, then submit again. {retry_safe}", None)
    if isinstance(error, stripe.IdempotencyError):
        return ("idempotency", "This submission's key was already used with different values. Submit again "
                "with a new key (the form makes one when its values change).", None)
    if isinstance(error, stripe.APIConnectionError):
        return ("connection", "Stripe could not be reached (network error), even after retrying. Check the "
                f"connection and submit again. {retry_safe}", None)
    if isinstance(error, stripe.InvalidRequestError):
        param = getattr(error, "param", None) or getattr(info, "param", None)
        fld = param_field(param)
        if code == "resource_missing":
            text = f"{stripe_message or 'That object does not exist in Stripe'}."
            return (code, f"{text} Check the id (it may belong to another account or mode), then submit "
                    "again.", fld)
        where = f" (field: {fld})" if fld else ""
        return (code or "invalid_request", f"Stripe refused this request{where}: "
                f"{stripe_message or 'invalid request'}. Correct it and submit again.", fld)
    if isinstance(error, stripe.APIError):
        return ("api_error", "Stripe had an internal error, even after retrying. Wait a moment and submit "
                f"again. {retry_safe}", None)
    if isinstance(error, stripe.StripeError):
        return (code or type(error).__name__, (stripe_message or type(error).__name__) +
                ". Submit again; if it keeps failing, check the Stripe Dashboard.", None)
    return (type(error).__name__, redact(f"Unexpected error: {error}"), None)
