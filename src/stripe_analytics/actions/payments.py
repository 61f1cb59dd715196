"""Payment actions (payment intents)."""

from __future__ import annotations

import contextlib
from typing import Any

import stripe

from ..money import format_amount
from ..pager import Fetcher
from ..stripe_errors import decline_reason
from .context import (
    OUTCOME_DECLINED,
    OUTCOME_PENDING,
    OUTCOME_REQUIRES_ACTION,
    OUTCOME_SUCCEEDED,
    ActionContext,
    ActionResult,
)
from .errors import explain
from .models import (
    PaymentInput,
    parse,
)
from .running import (
    as_dict,
    collapse,
    customer_label,
    idempotency,
    run_action,
    was_replayed,
)

_PI_EXPAND = ["latest_charge", "latest_charge.balance_transaction"]
SAVED_CARDS_SHOWN = 20


def saved_cards(ctx: ActionContext, customer: str) -> dict[str, str]:
    """The customer's saved cards to pay with (id -> "Saved Visa •••• 4242 (expires 12/2030)"),
    the newest SAVED_CARDS_SHOWN, read through the one pager. Raises stripe.StripeError."""
    page = Fetcher(ctx.access).page("/v1/payment_methods", {"customer": customer, "type": "card",
                                                           "limit": SAVED_CARDS_SHOWN})
    saved = {}
    for method in page.objects:
        card = method.get("card") or {}
        saved[method["id"]] = (f"Saved {str(card.get('brand') or 'card').title()} •••• {card.get('last4', '')}"
                               f" (expires {card.get('exp_month', '?')}/{card.get('exp_year', '?')})")
    return saved


def _payment_objects(ctx: ActionContext, pi: dict) -> list[dict]:
    """The PaymentIntent, its latest charge and the charge's balance transaction, each in the
    shape the sync stores (references as ids)."""
    pi, expanded = collapse(pi, "latest_charge")
    objects = [pi]
    for charge in expanded:
        charge, txns = collapse(charge, "balance_transaction")
        objects += [charge, *txns]
    return objects


def _retrieve_payment(ctx: ActionContext, pi_id: str) -> dict:
    try:
        return as_dict(ctx.client.v1.payment_intents.retrieve(pi_id, {"expand": _PI_EXPAND}))
    except stripe.InvalidRequestError:  # a Stripe-compatible server without nested expansion
        return as_dict(ctx.client.v1.payment_intents.retrieve(pi_id, {"expand": ["latest_charge"]}))


def _declined_payment_id(ctx: ActionContext, error: stripe.CardError) -> str | None:
    info = getattr(error, "error", None)
    pi = getattr(info, "payment_intent", None)
    if pi is not None:
        return pi.get("id") if isinstance(pi, dict) else getattr(pi, "id", None)
    charge_id = getattr(info, "charge", None) or (error.json_body or {}).get("error", {}).get("charge")
    if charge_id:
        with contextlib.suppress(stripe.StripeError):
            charge = as_dict(ctx.client.v1.charges.retrieve(charge_id))
            value = charge.get("payment_intent")
            return value.get("id") if isinstance(value, dict) else value
    return None


def create_payment(ctx: ActionContext, input: PaymentInput | dict, idempotency_key: str | None = None, *,
                   confirm_live: bool = False) -> ActionResult:
    """A PaymentIntent for a customer; confirmed now when `confirm` (and a payment method) is
    given. Outcome: succeeded, requires_action (the customer must authenticate), pending (left
    for later / processing) or declined (with the bank's reason)."""
    data: PaymentInput = parse(PaymentInput, input)
    amount = format_amount(data.amount_minor, data.currency)

    def send(key: str) -> ActionResult:
        who = customer_label(ctx, data.customer)
        params: dict[str, Any] = {"amount": data.amount_minor, "currency": data.currency, "customer": data.customer,
                                  "payment_method_types": ["card"], "expand": _PI_EXPAND}
        for name in ("description", "receipt_email", "payment_method"):
            if getattr(data, name) is not None:
                params[name] = getattr(data, name)
        if data.metadata:
            params["metadata"] = dict(data.metadata)
        if data.confirm:
            params["confirm"] = True
        try:
            created = ctx.client.v1.payment_intents.create(params, idempotency(key))
        except stripe.CardError as error:
            code, message, fld = explain(error, "payment_intent")
            pi_id = _declined_payment_id(ctx, error)
            objects: list[dict] = []
            if pi_id:
                with contextlib.suppress(stripe.StripeError):
                    objects = _payment_objects(ctx, _retrieve_payment(ctx, pi_id))
            outcome = OUTCOME_REQUIRES_ACTION if code == "authentication_required" else OUTCOME_DECLINED
            return ActionResult("create_payment", outcome, f"Payment of {amount} from {who}: {message}", False,
                                "payment_intent", pi_id, error_code=code, field=fld, objects=objects)
        pi = as_dict(created)
        objects = _payment_objects(ctx, pi)
        status = pi.get("status")
        ok, outcome = True, OUTCOME_PENDING
        if status == "succeeded":
            outcome, text = OUTCOME_SUCCEEDED, f"Payment of {amount} from {who} succeeded ({pi['id']})."
        elif status == "requires_action":
            outcome = OUTCOME_REQUIRES_ACTION
            text = (f"Payment of {amount} from {who} requires action: the customer's bank asks them to "
                    f"authenticate it (3-D Secure). It stays incomplete ({pi['id']}) until they do; send them a "
                    "payment link or invoice to complete it.")
        elif status == "processing":
            text = f"Payment of {amount} from {who} is processing ({pi['id']}); its result arrives later."
        elif status == "requires_capture":
            text = f"Payment of {amount} from {who} is authorized and waits to be captured ({pi['id']})."
        elif status == "requires_payment_method" and (pi.get("last_payment_error") or {}).get("code"):
            error = pi["last_payment_error"]
            ok, outcome = False, OUTCOME_DECLINED
            text = (f"Payment of {amount} from {who} was declined: "
                    f"{decline_reason(error.get('decline_code'))}. Ask the customer for another payment method.")
        else:
            text = (f"Payment of {amount} from {who} created and left for later ({pi['id']}, status "
                    f"{str(status).replace('_', ' ')}): confirm it with a payment method when ready.")
        return ActionResult("create_payment", outcome, text, ok, "payment_intent", pi["id"],
                            replayed=was_replayed(created), objects=objects)

    return run_action(ctx, action="create_payment", object_type="payment_intent", key=idempotency_key,
                confirm_live=confirm_live, what=f"a payment of {amount}", send=send)
