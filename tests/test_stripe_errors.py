"""Stripe's errors as a typed result: the kind comes from the SDK's exception class, never
from the words of the message, and the words shown never carry a key."""

from __future__ import annotations

import pytest
import stripe

from stripe_analytics.stripe_errors import Failure, decline_reason, describe, plain


def _card_error(decline_code: str | None) -> stripe.CardError:
    body = {"error": {"type": "card_error", "code": "card_declined", "decline_code": decline_code,
                      "message": "Your card was declined."}}
    return stripe.CardError("Your card was declined.", None, "card_declined", json_body=body, http_status=402)


@pytest.mark.parametrize("error, kind", [
    (_card_error("insufficient_funds"), Failure.CARD),
    (stripe.AuthenticationError("Invalid API Key provided", http_status=401), Failure.AUTHENTICATION),
    (stripe.PermissionError("The provided key does not have the required permissions", http_status=403),
     Failure.PERMISSION),
    (stripe.RateLimitError("Request rate limit exceeded", http_status=429), Failure.RATE_LIMIT),
    (stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters"),
     Failure.IDEMPOTENCY),
    (stripe.APIConnectionError("Network error"), Failure.CONNECTION),
    (stripe.InvalidRequestError("No such customer: 'cus_x'", "customer", code="resource_missing",
                                http_status=404), Failure.INVALID_REQUEST),
    (stripe.APIError("An unknown error occurred", http_status=500), Failure.STRIPE_INTERNAL),
    (stripe.SignatureVerificationError("No signatures found", "t=1,v1=x"), Failure.OTHER_STRIPE),
    (ValueError("not JSON"), Failure.NOT_STRIPE),
])
def test_the_kind_comes_from_the_class(error, kind):
    assert describe(error).kind is kind


def test_the_same_class_with_other_words_is_the_same_kind():
    # Stripe rewords its messages; nothing here depends on them.
    one = describe(stripe.RateLimitError("Too many requests hit the API too quickly."))
    other = describe(stripe.RateLimitError("Request rate limit exceeded. Learn more about rate limits here."))
    assert one.kind is other.kind is Failure.RATE_LIMIT and one.what == other.what


def test_stripe_fields_and_plain_words():
    failure = describe(stripe.InvalidRequestError("No such customer: 'cus_x'.", "customer", code="resource_missing",
                                                  http_status=404))
    assert (failure.code, failure.param, failure.http_status) == ("resource_missing", "customer", 404)
    assert failure.stripe_message == "No such customer: 'cus_x'"  # the final full stop is the caller's
    assert plain(stripe.APIConnectionError("boom")) == \
        "Stripe could not be reached (network error), even after retrying."
    card = describe(_card_error("insufficient_funds"))
    assert card.decline_code == "insufficient_funds" and card.what == "The card was declined: insufficient funds"
    assert describe(_card_error(None)).what == "The card was declined: the bank declined it without giving a reason"
    assert decline_reason("velocity_weird_thing") == "velocity weird thing"


def test_no_key_reaches_the_words():
    secret = "sk_test_" + "a" * 24
    for error in (stripe.InvalidRequestError(f"Invalid API Key provided: {secret}", None),
                  RuntimeError(f"failed with {secret}")):
        failure = describe(error)
        assert secret not in failure.what and secret not in plain(error)


@pytest.mark.parametrize("error", [
    _card_error("insufficient_funds"),
    stripe.AuthenticationError("Invalid API Key provided", http_status=401),
    stripe.RateLimitError("Request rate limit exceeded", http_status=429),
    stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters"),
    stripe.APIConnectionError("Network error"),
    stripe.APIError("An unknown error occurred", http_status=500),
    stripe.SignatureVerificationError("No signatures found", "t=1,v1=x"),
])
def test_the_actions_say_what_happened_in_the_shared_words(error):
    # One wording of what happened (the sync and the key check use `plain`); the actions only
    # add what to do next in a form.
    from stripe_analytics.actions.errors import explain

    _, message, _ = explain(error)
    assert message.startswith(describe(error).what + ".")


def test_a_missing_permission_is_worded_once_for_reading_and_writing():
    from stripe_analytics.actions.errors import explain
    from stripe_analytics.schema import RESOURCE_BY_NAME
    from stripe_analytics.stripe_errors import access_needed
    from stripe_analytics.sync import permission_message

    disputes = RESOURCE_BY_NAME["disputes"]
    assert access_needed("Disputes", "Read", disputes.needed_for) in permission_message(disputes)
    _, message, _ = explain(stripe.PermissionError("The provided key does not have the required permissions",
                                                   http_status=403), "customer")
    assert access_needed("Customers", "Write") in message
