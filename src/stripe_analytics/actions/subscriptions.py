"""Subscription actions: create, cancel, resume; and the summary the forms show."""

from __future__ import annotations

from typing import Any

import stripe

from .. import queries
from ..metrics import mrr as mrr_rules
from ..money import format_amount
from .context import (
    OUTCOME_FAILED,
    OUTCOME_PENDING,
    OUTCOME_SUCCEEDED,
    OUTCOME_UNCHANGED,
    ActionContext,
    ActionResult,
)
from .errors import explain
from .models import (
    CancelSubscriptionInput,
    ResumeSubscriptionInput,
    SubscriptionInput,
    parse,
)
from .running import (
    as_dict,
    collapse,
    complete_children,
    customer_label,
    day,
    idempotency,
    run_action,
    was_replayed,
)

def monthly_amount(unit_amount: int | None, quantity: int | None, interval: str | None,
                   interval_count: int | None) -> float:
    """An item's list price normalised to a month (minor units), by the metrics' one rule."""
    return mrr_rules.monthly_amount((unit_amount or 0) * (quantity or 0), interval, interval_count)


def subscription_mrr(sub: dict) -> tuple[str | None, float]:
    """(currency, MRR at list price before discounts, minor units) of a Stripe subscription dict."""
    total = 0.0
    for item in ((sub.get("items") or {}).get("data") or []):
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {}
        total += monthly_amount(price.get("unit_amount", price.get("amount")), item.get("quantity"),
                                recurring.get("interval", price.get("interval")),
                                recurring.get("interval_count", price.get("interval_count")))
    return sub.get("currency"), total


def subscription_summary(ctx: ActionContext, subscription_id: str) -> dict | None:
    """What a cancel confirmation names, from the cache: customer, status, MRR (list price)."""
    found = ctx.read(queries.subscription_to_cancel, subscription_id, unreadable=None)
    if found is None:
        return None
    customer, currency, name, email = found["customer"], found["currency"], found["name"], found["email"]
    mrr = sum(monthly_amount(i["unit_amount"], i["quantity"], i["interval"], i["interval_count"])
              for i in found["items"])
    label = f"{name} <{email}>" if name and email else (name or email or customer)
    return {"id": subscription_id, "customer": customer, "customer_label": label, "status": found["status"],
            "currency": currency, "mrr": mrr, "cancel_at_period_end": bool(found["cancel_at_period_end"]),
            "period_end": found["period_end"], "mrr_text": format_amount(round(mrr), currency) if currency else "—"}


def _subscription_objects(ctx: ActionContext, sub: dict) -> list[dict]:
    sub = complete_children(ctx, dict(sub))
    sub, invoices = collapse(sub, "latest_invoice")
    return [sub, *invoices]


ENDED = ("canceled", "incomplete_expired")  # statuses a subscription never leaves


def _subscription_and_holder(ctx: ActionContext, subscription_id: str) -> tuple[dict, str]:
    """The subscription as Stripe has it now, and its customer as the messages name them."""
    sub = _retrieve_subscription(ctx, subscription_id)
    customer = sub.get("customer")
    return sub, customer_label(ctx, customer if isinstance(customer, str) else (customer or {}).get("id"))


def _retrieve_subscription(ctx: ActionContext, subscription_id: str) -> dict:
    return complete_children(ctx, as_dict(ctx.client.v1.subscriptions.retrieve(subscription_id, {"expand": ["discounts"]})))


def create_subscription(ctx: ActionContext, input: SubscriptionInput | dict, idempotency_key: str | None = None,
                        *, confirm_live: bool = False) -> ActionResult:
    """A subscription with one or more prices (quantities), an optional trial and coupon. Its
    items are embedded; its first invoice, if any, is fetched and cached too."""
    data: SubscriptionInput = parse(SubscriptionInput, input)

    def send(key: str) -> ActionResult:
        params: dict[str, Any] = {
            "customer": data.customer,
            "items": [{"price": item.price, "quantity": item.quantity} for item in data.items],
            "expand": ["discounts"],
        }
        if data.trial_days:
            params["trial_period_days"] = data.trial_days
        if data.coupon:
            params["discounts"] = [{"coupon": data.coupon}]
        if data.metadata:
            params["metadata"] = dict(data.metadata)
        created = ctx.client.v1.subscriptions.create(params, idempotency(key))
        sub = complete_children(ctx, as_dict(created))
        objects = [sub]
        invoice_id = sub.get("latest_invoice")
        invoice_id = invoice_id.get("id") if isinstance(invoice_id, dict) else invoice_id
        warnings = []
        if invoice_id:
            try:
                objects.append(complete_children(ctx, as_dict(ctx.client.v1.invoices.retrieve(invoice_id))))
            except stripe.StripeError as error:
                warnings.append(f"Its first invoice {invoice_id} could not be read now ({explain(error)[1]}); "
                                "it will appear after the next sync.")
        objects[0], _ = collapse(sub, "latest_invoice")  # as the sync stores it, expanded or not
        who = customer_label(ctx, data.customer)
        currency, mrr = subscription_mrr(sub)
        status = sub.get("status")
        text = f"Subscription {sub['id']} for {who} "
        if status == "trialing":
            text += f"started with a trial until {day(sub.get('trial_end'))}"
        elif status == "active":
            text += "started"
        elif status == "incomplete":
            text += ("was created but its first payment has not gone through (status incomplete): the customer "
                     "needs a working payment method, or to pay the first invoice, within 23 hours")
        else:
            text += f"was created (status {str(status).replace('_', ' ')})"
        if currency and mrr:
            text += (f"; MRR {format_amount(round(mrr), currency)} at list price"
                     + (" once the trial ends" if status == "trialing" else ""))
        ok = status in ("active", "trialing")
        return ActionResult("create_subscription", OUTCOME_SUCCEEDED if ok else OUTCOME_PENDING, text + ".", True,
                            "subscription", sub["id"], replayed=was_replayed(created), objects=objects,
                            warnings=warnings)

    return run_action(ctx, action="create_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="starting a subscription", send=send)


def cancel_subscription(ctx: ActionContext, input: CancelSubscriptionInput | dict,
                        idempotency_key: str | None = None, *, confirm_live: bool = False) -> ActionResult:
    """Cancel now (`when="immediately"`) or at the end of the current period."""
    data: CancelSubscriptionInput = parse(CancelSubscriptionInput, input)

    def send(key: str) -> ActionResult:
        sub, who = _subscription_and_holder(ctx, data.subscription)
        currency, mrr = subscription_mrr(sub)
        lost = f" MRR lost: {format_amount(round(mrr), currency)} (list price)." if currency and mrr else ""
        base = dict(action="cancel_subscription", object_type="subscription", object_id=sub["id"])
        if sub.get("status") in ENDED:
            return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                message=f"Subscription {sub['id']} of {who} was already canceled; nothing changed.",
                                **base)
        if data.when == "at_period_end":
            if sub.get("cancel_at_period_end"):
                return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                    message=f"Subscription {sub['id']} of {who} was already set to cancel at the "
                                            "end of its period; nothing changed.", **base)
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at_period_end": True, "expand": ["discounts"]}, idempotency(key))
            new = complete_children(ctx, as_dict(updated))
            ends = new.get("cancel_at") or max((i.get("current_period_end") or 0 for i in
                                                 (new.get("items") or {}).get("data") or []), default=None)
            return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                                replayed=was_replayed(updated),
                                message=f"Subscription {sub['id']} of {who} will cancel at the end of its period, "
                                        f"on {day(ends)}.{lost}", **base)
        try:
            canceled = ctx.client.v1.subscriptions.cancel(sub["id"], {"expand": ["discounts"]}, idempotency(key))
            new = complete_children(ctx, as_dict(canceled))
            replayed = was_replayed(canceled)
        except stripe.InvalidRequestError:
            # A retry after a lost reply finds it canceled already: that is the asked outcome.
            new = _retrieve_subscription(ctx, sub["id"])
            if new.get("status") != "canceled":
                raise
            replayed = False
        return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                            replayed=replayed,
                            message=f"Subscription {sub['id']} of {who} canceled immediately.{lost}", **base)

    return run_action(ctx, action="cancel_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="canceling a subscription", send=send)


def resume_subscription(ctx: ActionContext, input: ResumeSubscriptionInput | dict,
                        idempotency_key: str | None = None, *, confirm_live: bool = False) -> ActionResult:
    """Undo a scheduled cancellation (or resume a paused subscription)."""
    data: ResumeSubscriptionInput = parse(ResumeSubscriptionInput, input)

    def send(key: str) -> ActionResult:
        sub, who = _subscription_and_holder(ctx, data.subscription)
        base = dict(action="resume_subscription", object_type="subscription", object_id=sub["id"])
        status = sub.get("status")
        if status in ENDED:
            return ActionResult(outcome=OUTCOME_FAILED, ok=False, error_code="already_canceled", objects=[sub],
                                message=f"Subscription {sub['id']} of {who} is already canceled and cannot be "
                                        "resumed; start a new subscription instead.", **base)
        if status == "paused":
            updated = ctx.client.v1.subscriptions.resume(sub["id"], {"expand": ["discounts"]}, idempotency(key))
        elif sub.get("cancel_at_period_end"):
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at_period_end": False, "expand": ["discounts"]}, idempotency(key))
        elif sub.get("cancel_at"):
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at": "", "expand": ["discounts"]}, idempotency(key))
        else:
            return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                message=f"Subscription {sub['id']} of {who} is {str(status).replace('_', ' ')} "
                                        "with no cancellation scheduled; nothing to resume.", **base)
        new = complete_children(ctx, as_dict(updated))
        return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                            replayed=was_replayed(updated),
                            message=f"Subscription {sub['id']} of {who} resumed: it renews as before "
                                    f"(status {str(new.get('status')).replace('_', ' ')}).", **base)

    return run_action(ctx, action="resume_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="resuming a subscription", send=send)
