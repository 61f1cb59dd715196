"""Stripe's errors as a typed result and in plain words, for every caller: the sync, the key
check and the actions (which add what to do next in their own context).

`describe` reads the SDK's exception class and its error object, never the words of its
message; the message is only shown (with any secret redacted).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import stripe

from .stripe_client import redact

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


class Failure(StrEnum):
    """What kind of failure an error is (the values are the actions' error codes)."""

    CARD = "card_declined"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    RATE_LIMIT = "rate_limit"
    IDEMPOTENCY = "idempotency"
    CONNECTION = "connection"
    INVALID_REQUEST = "invalid_request"
    STRIPE_INTERNAL = "api_error"
    OTHER_STRIPE = "stripe_error"
    NOT_STRIPE = "unexpected"


@dataclass(frozen=True)
class StripeFailure:
    kind: Failure
    code: str | None  # Stripe's error code ("resource_missing", "card_declined", ...)
    decline_code: str | None
    param: str | None  # the request parameter Stripe named
    http_status: int | None
    stripe_message: str  # Stripe's own words, redacted, without the final full stop
    error_type: str  # the exception's class name

    @property
    def what(self) -> str:
        """What happened, in plain words (one clause, no advice, no final full stop)."""
        if self.kind is Failure.RATE_LIMIT:
            return "Stripe kept answering 'too many requests', even after retrying"
        if self.kind is Failure.CONNECTION:
            return "Stripe could not be reached (network error), even after retrying"
        if self.kind is Failure.AUTHENTICATION:
            return "Stripe refused the API key (invalid, expired or revoked)"
        if self.kind is Failure.STRIPE_INTERNAL:
            return "Stripe had an internal error, even after retrying"
        if self.kind is Failure.IDEMPOTENCY:
            return "Stripe refused a repeated submission: its idempotency key was already used with other values"
        if self.kind is Failure.CARD:
            return f"The card was declined: {decline_reason(self.decline_code or self.code)}"
        if self.kind is Failure.NOT_STRIPE:
            return self.stripe_message
        return self.stripe_message or self.error_type


def access_needed(permission: str, access: str = "Read", needed_for: str | None = None) -> str:
    """What to grant a restricted key that lacks a permission (one clause, no final full stop):
    the sync (Read, per resource) and the actions (Write) say it the same way."""
    return f"give it {access} access to {permission}" + (f" (needed for {needed_for})" if needed_for else "")


def decline_reason(code: str | None) -> str:
    if not code or code == "card_declined":
        return DECLINE_REASONS["generic_decline"]
    return DECLINE_REASONS.get(code, code.replace("_", " "))


_KINDS: tuple[tuple[type[Exception], Failure], ...] = (
    (stripe.CardError, Failure.CARD),
    (stripe.AuthenticationError, Failure.AUTHENTICATION),
    (stripe.PermissionError, Failure.PERMISSION),
    (stripe.RateLimitError, Failure.RATE_LIMIT),
    (stripe.IdempotencyError, Failure.IDEMPOTENCY),
    (stripe.APIConnectionError, Failure.CONNECTION),
    (stripe.InvalidRequestError, Failure.INVALID_REQUEST),
    (stripe.APIError, Failure.STRIPE_INTERNAL),
    (stripe.StripeError, Failure.OTHER_STRIPE),
)


def describe(error: BaseException) -> StripeFailure:
    """The typed result of any exception met while talking to Stripe."""
    kind = next((k for cls, k in _KINDS if isinstance(error, cls)), Failure.NOT_STRIPE)
    if kind is Failure.NOT_STRIPE:
        return StripeFailure(kind, None, None, None, None, redact(f"{type(error).__name__}: {error}"),
                             type(error).__name__)
    info = getattr(error, "error", None)
    message = (getattr(info, "message", None) or getattr(error, "user_message", None) or str(error)).strip()
    return StripeFailure(
        kind,
        code=getattr(info, "code", None) or getattr(error, "code", None),
        decline_code=getattr(info, "decline_code", None),
        param=getattr(error, "param", None) or getattr(info, "param", None),
        http_status=getattr(error, "http_status", None),
        stripe_message=redact(message).rstrip("."),
        error_type=type(error).__name__,
    )


def plain(error: BaseException) -> str:
    """What happened, in plain words, as a sentence."""
    return describe(error).what + "."
