"""How a customer's records (`records.py`) look as Stripe API objects at a given time.

A `StripeRenderer` is given one customer's records and the account's facts (its id, name,
country and statement descriptor); each method ``kind(record, at)`` gives the object as it
looked at ``at``, which yields both the final objects (``at = as_of``) and the ``data.object``
of events. It only reads: the event envelope (`event_object`) and the request of an event
(`request_from_bits`) are pure functions of what the simulation passes them (the event's id,
random bits the simulation drew). Shapes follow the API version the client pins
(`stripe_client.STRIPE_API_VERSION`).
"""

from __future__ import annotations

from typing import Protocol

from ..stripe_client import STRIPE_API_VERSION as API_VERSION  # one version: the one the client pins
from ._ids import b62
from ._timeutil import HOUR
from .records import (AppliedDiscount, BalanceTransaction, Charge, Customer, Dispute, Invoice, InvoiceLine,
                      PaymentIntent, Refund, Subscription, SubscriptionItem)


class AccountFacts(Protocol):
    """What the renderer reads of the account (`_account._Ctx` has them)."""

    account_id: str
    account_name: str
    account_country: str
    statement_descriptor: str


class StripeRenderer:
    """One customer's records as Stripe objects at a time ``at``. Reads the records the
    simulation decided; changes nothing."""

    __slots__ = ("customer_record", "account")

    def __init__(self, customer: Customer, account: AccountFacts):
        self.customer_record = customer
        self.account = account

    def object(self, kind: str, rec, at: int) -> dict:
        """The record ``rec`` of ``kind`` (a Stripe object type) as it looked at ``at``."""
        if kind == "invoice":
            return self.invoice(rec, at)
        if kind == "charge":
            return self.charge(rec, at)
        if kind == "balance_transaction":
            return self.balance_transaction(rec, at)
        if kind == "payment_intent":
            return self.payment_intent(rec, at)
        if kind == "subscription":
            return self.subscription(rec, at)
        if kind == "refund":
            return self.refund(rec, at)
        if kind == "dispute":
            return self.dispute(rec, at)
        if kind == "customer":
            return self.customer(at)
        raise ValueError(kind)

    # -- renderers -----------------------------------------------------------------------------
    def customer(self, at: int) -> dict:
        customer = self.customer_record
        initial = at <= customer.created
        delinquent = False
        if not initial:
            for inv in customer.invoices:
                if inv.deleted or inv.finalized_at is None or inv.finalized_at > at:
                    continue
                if inv.paid_at is not None and inv.paid_at <= at:
                    continue
                if inv.voided_at is not None and inv.voided_at <= at:
                    continue
                if inv.uncollectible_at is not None and inv.uncollectible_at <= at:
                    continue
                if any(c.created <= at for c in inv.charges):
                    delinquent = True
                    break
        return {
            "id": customer.id,
            "object": "customer",
            "address": dict(customer.address),
            "balance": 0 if initial else customer.balance,
            "created": customer.created,
            "currency": customer.currency if (customer.currency_since is not None
                                              and customer.currency_since <= at) else None,
            "default_source": None,
            "delinquent": delinquent,
            "description": None,
            "discount": None,
            "email": customer.email,
            "invoice_prefix": customer.invoice_prefix,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": customer.payment_method if (customer.card_since is not None
                                                                      and customer.card_since <= at) else None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {"segment": customer.segment, "channel": customer.channel, "industry": customer.industry},
            "name": customer.name,
            "next_invoice_sequence": 1 if initial else customer.numbered_invoices + 1,
            "phone": customer.phone,
            "preferred_locales": [customer.locale],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def discount(self, d: AppliedDiscount) -> dict:
        customer = self.customer_record
        return {
            "id": d.id,
            "object": "discount",
            "checkout_session": None,
            "customer": customer.id,
            "customer_account": None,
            "end": d.end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": d.coupon.id, "type": "coupon"},
            "start": d.start,
            "subscription": d.subscription.id,
            "subscription_item": None,
        }

    def item(self, sub: Subscription, it: SubscriptionItem) -> dict:
        price = it.price
        return {
            "id": it.id,
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": it.created,
            "current_period_end": sub.current_period_end,
            "current_period_start": sub.current_period_start,
            "discounts": [],
            "metadata": {},
            "plan": price.plan_dict(),
            "price": price.as_dict(),
            "quantity": None if it.metered else it.quantity,
            "subscription": sub.id,
            "tax_rates": [],
        }

    def subscription(self, sub: Subscription, at: int) -> dict:
        customer = self.customer_record
        items = [self.item(sub, it) for it in sub.items]
        latest = None
        for inv in reversed(sub.invoices):
            if not inv.deleted and inv.created <= at:
                latest = inv.id
                break
        discs = [self.discount(d) for d in sub.discounts
                 if d.start <= at and (d.removed_at is None or d.removed_at > at)]
        anchor = sub.cadence.anchor if sub.cadence is not None else (sub.trial_end or sub.created)
        cd = sub.cancel_details or {"comment": None, "feedback": None, "reason": None}
        return {
            "id": sub.id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_schedules": [],
            "billing_thresholds": None,
            "cancel_at": sub.cancel_at,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "cancellation_details": dict(cd),
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": sub.currency,
            "customer": customer.id,
            "customer_account": None,
            "days_until_due": None,
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": discs,
            "ended_at": sub.ended_at,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={sub.id}",
            },
            "latest_invoice": latest,
            "livemode": False,
            "managed_payments": {"enabled": False},
            "metadata": dict(sub.metadata),
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": sub.created,
            "status": sub.status,
            "test_clock": None,
            "transfer_data": None,
            "trial_end": sub.trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": sub.trial_behavior}},
            "trial_start": sub.trial_start,
        }

    def line(self, inv: Invoice, ln: InvoiceLine) -> dict:
        disc = ln.discount_amounts
        price = ln.price
        sid = inv.subscription.id
        return {
            "id": ln.id,
            "object": "line_item",
            "amount": ln.amount,
            "currency": inv.currency,
            "description": ln.description,
            "discount_amounts": [{"amount": a, "discount": did} for a, did in disc],
            "discountable": ln.discountable,
            "discounts": [],
            "invoice": inv.id,
            "livemode": False,
            "metadata": {},
            "parent": {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": ln.invoice_item,
                    "proration": ln.proration,
                    "proration_details": {"credited_items": ln.credited_items},
                    "subscription": sid,
                    "subscription_item": ln.subscription_item,
                },
                "type": "subscription_item_details",
            },
            "period": {"end": ln.period_end, "start": ln.period_start},
            "pretax_credit_amounts": [{"amount": a, "credit_balance_transaction": None, "discount": did,
                                       "type": "discount"} for a, did in disc],
            "pricing": {
                "price_details": {"price": price.id, "product": price.product.id},
                "type": "price_details",
                "unit_amount_decimal": ln.unit_amount_decimal,
            },
            "quantity": ln.quantity,
            "quantity_decimal": str(ln.quantity),
            "subscription": sid,
            "subtotal": ln.amount,
            "taxes": [],
        }

    def invoice(self, inv: Invoice, at: int, stage: str | None = None) -> dict:
        """``stage`` ("created" / "finalized") renders the invoice as it was right after that
        step, even when it was paid within the same second."""
        customer = self.customer_record
        fin = inv.finalized_at is not None and inv.finalized_at <= at and stage != "created"
        paid = inv.paid_at is not None and inv.paid_at <= at and stage is None
        void = inv.voided_at is not None and inv.voided_at <= at and stage is None
        unc = inv.uncollectible_at is not None and inv.uncollectible_at <= at and stage is None
        if not fin:
            status = "draft"
        elif void:
            status = "void"
        elif paid:
            status = "paid"
        elif unc:
            status = "uncollectible"
        else:
            status = "open"
        attempts = 0
        if stage is None:
            for c in inv.charges:
                if c.created <= at:
                    attempts += 1
        next_attempt = None
        if status == "open" and not inv.hold:
            for ta in inv.attempt_plan:
                if ta > at or (stage is not None and ta >= at):
                    next_attempt = ta
                    break
        amount_paid = inv.amount_due if (paid and not inv.carried) else 0
        amount_remaining = 0 if inv.carried else inv.amount_due - amount_paid
        payments = []
        pi = inv.payment_intent
        if pi is not None and pi.created <= at and fin:
            pstatus = "paid" if paid else ("canceled" if (pi.canceled_at is not None and pi.canceled_at <= at)
                                           else "open")
            payments.append({
                "id": inv.invoice_payment_id,
                "object": "invoice_payment",
                "amount_paid": inv.amount_due if paid else None,
                "amount_requested": inv.amount_due,
                "created": pi.created,
                "currency": inv.currency,
                "invoice": inv.id,
                "is_default": True,
                "livemode": False,
                "payment": {"payment_intent": pi.id, "type": "payment_intent"},
                "status": pstatus,
                "status_transitions": {
                    "canceled_at": pi.canceled_at if pstatus == "canceled" else None,
                    "paid_at": inv.paid_at if paid else None,
                },
            })
        account = self.account
        lines = [self.line(inv, ln) for ln in inv.lines]
        url_token = inv.id[3:]
        discounts = [self.discount(d) for d in inv.discounts]
        return {
            "id": inv.id,
            "object": "invoice",
            "account_country": account.account_country,
            "account_name": account.account_name,
            "account_tax_ids": None,
            "amount_due": inv.amount_due,
            "amount_overpaid": 0,
            "amount_paid": amount_paid,
            "amount_remaining": amount_remaining,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": attempts,
            "attempted": attempts > 0 or paid,
            "auto_advance": inv.auto_advance and status in ("draft", "open") and not inv.hold,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                              "status": None},
            "automatically_finalizes_at": (inv.created + HOUR) if (status == "draft" and inv.auto_advance) else None,
            "billing_reason": inv.reason,
            "collection_method": "charge_automatically",
            "created": inv.created,
            "currency": inv.currency,
            "custom_fields": None,
            "customer": customer.id,
            "customer_account": None,
            "customer_address": dict(customer.address),
            "customer_email": customer.email,
            "customer_name": customer.name,
            "customer_phone": customer.phone,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": discounts,
            "due_date": None,
            "effective_at": inv.finalized_at if fin else None,
            "ending_balance": inv.ending_balance if fin else None,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": (f"https://invoice.stripe.com/i/{account.account_id}/test_{url_token}"
                                   if fin else None),
            "invoice_pdf": f"https://pay.stripe.com/invoice/{account.account_id}/test_{url_token}/pdf" if fin else None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{inv.id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": next_attempt,
            "number": inv.number if fin else None,
            "on_behalf_of": None,
            "parent": {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": inv.subscription.id},
                "type": "subscription_details",
            },
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "payments": {
                "object": "list",
                "data": payments,
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={inv.id}",
            },
            "period_end": inv.period_end,
            "period_start": inv.period_start,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "rendering": {"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None,
                          "template_version": None},
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": inv.starting_balance,
            "statement_descriptor": None,
            "status": status,
            "status_transitions": {
                "finalized_at": inv.finalized_at if fin else None,
                "marked_uncollectible_at": inv.uncollectible_at if unc else None,
                "paid_at": inv.paid_at if paid else None,
                "voided_at": inv.voided_at if void else None,
            },
            "subscription": None,
            "subtotal": inv.subtotal,
            "subtotal_excluding_tax": inv.subtotal,
            "test_clock": None,
            "total": inv.total,
            "total_discount_amounts": [{"amount": a, "discount": d.id} for a, d in inv.total_discount_amounts],
            "total_excluding_tax": inv.total,
            "total_pretax_credit_amounts": [{"amount": a, "credit_balance_transaction": None, "discount": d.id,
                                             "type": "discount"} for a, d in inv.total_discount_amounts],
            "total_taxes": [],
            "webhooks_delivered_at": inv.created if inv.created < at else None,
        }

    def payment_intent(self, pi: PaymentIntent, at: int) -> dict:
        customer = self.customer_record
        charges = [c for c in pi.charges if c.created <= at]
        latest = charges[-1] if charges else None
        succeeded = pi.succeeded_at is not None and pi.succeeded_at <= at
        canceled = pi.canceled_at is not None and pi.canceled_at <= at and not succeeded
        if succeeded:
            status = "succeeded"
        elif canceled:
            status = "canceled"
        else:
            status = "requires_payment_method"
        err = None
        if latest is not None and not latest.ok and not succeeded:
            code, decline, msg, _w = latest.failure
            err = {"charge": latest.id, "code": code, "decline_code": decline if code == "card_declined" else None,
                   "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                   "message": msg,
                   "payment_method": {"id": customer.payment_method, "object": "payment_method", "type": "card"},
                   "type": "card_error"}
        return {
            "id": pi.id,
            "object": "payment_intent",
            "amount": pi.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": pi.amount if succeeded else 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": pi.canceled_at if canceled else None,
            "cancellation_reason": pi.cancel_reason if canceled else None,
            "capture_method": "automatic",
            "client_secret": pi.client_secret,
            "confirmation_method": "automatic",
            "created": pi.created,
            "currency": pi.currency,
            "customer": customer.id,
            "customer_account": None,
            "description": pi.description,
            "excluded_payment_method_types": None,
            "last_payment_error": err,
            "latest_charge": latest.id if latest is not None else None,
            "livemode": False,
            "managed_payments": {"enabled": False},
            "metadata": dict(pi.metadata),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": customer.payment_method if latest is not None else None,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": "off_session" if pi.invoice is not None else None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": status,
            "transfer_data": None,
            "transfer_group": None,
        }

    def charge(self, ch: Charge, at: int) -> dict:
        customer = self.customer_record
        refunds = [rf for rf in ch.refunds if rf.created <= at]
        refunded_amount = sum(rf.amount for rf in refunds)
        card = customer.card
        ok = ch.ok
        if ok:
            outcome = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                       "network_status": "approved_by_network", "reason": None,
                       "risk_level": "normal" if ch.risk_score < 65 else "elevated", "risk_score": ch.risk_score,
                       "seller_message": "Payment complete.", "type": "authorized"}
            failure_code = failure_message = None
        else:
            code, decline, msg, _w = ch.failure
            outcome = {"advice_code": "try_again_later" if decline == "insufficient_funds" else None,
                       "network_advice_code": None, "network_decline_code": None,
                       "network_status": "declined_by_network", "reason": decline,
                       "risk_level": "normal", "risk_score": ch.risk_score,
                       "seller_message": f"The bank returned the decline code `{decline}`.",
                       "type": "issuer_declined"}
            failure_code, failure_message = code, msg
        disputed = ch.dispute is not None and ch.dispute.created <= at
        return {
            "id": ch.id,
            "object": "charge",
            "amount": ch.amount,
            "amount_captured": ch.amount if ok else 0,
            "amount_refunded": refunded_amount,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": ch.balance_transaction.id if ch.balance_transaction is not None else None,
            "billing_details": {"address": dict(customer.address), "email": customer.email, "name": customer.name,
                                "phone": customer.phone, "tax_id": None},
            "calculated_statement_descriptor": self.account.statement_descriptor,
            "captured": ok,
            "created": ch.created,
            "currency": ch.currency,
            "customer": customer.id,
            "description": ch.description,
            "disputed": disputed,
            "failure_balance_transaction": None,
            "failure_code": failure_code,
            "failure_message": failure_message,
            "fraud_details": {},
            "livemode": False,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": outcome,
            "paid": ok,
            "payment_intent": ch.payment_intent.id,
            "payment_method": customer.payment_method,
            "payment_method_details": {
                "card": {
                    "amount_authorized": ch.amount if ok else None,
                    "authorization_code": None,
                    "brand": card["brand"],
                    "checks": {"address_line1_check": None, "address_postal_code_check": "pass",
                               "cvc_check": "pass"},
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "extended_authorization": {"status": "disabled"},
                    "fingerprint": card["fingerprint"],
                    "funding": card["funding"],
                    "incremental_authorization": {"status": "unavailable"},
                    "installments": None,
                    "last4": card["last4"],
                    "mandate": None,
                    "multicapture": {"status": "unavailable"},
                    "network": card["brand"],
                    "network_token": {"used": False},
                    "network_transaction_id": None,
                    "overcapture": {"maximum_amount_capturable": ch.amount, "status": "unavailable"},
                    "regulated_status": "unregulated",
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "radar_options": {},
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": (f"https://pay.stripe.com/receipts/payment/{self.account.account_id}/{ch.receipt_token}"
                            if ok else None),
            "refunded": refunded_amount >= ch.amount and ok,
            "refunds": {
                "object": "list",
                "data": [self.refund(rf, at) for rf in refunds],
                "has_more": False,
                "total_count": len(refunds),
                "url": f"/v1/charges/{ch.id}/refunds",
            },
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if ok else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }

    def refund(self, rf: Refund, at: int) -> dict:
        customer = self.customer_record
        return {
            "id": rf.id,
            "object": "refund",
            "amount": rf.amount,
            "balance_transaction": rf.balance_transaction.id,
            "charge": rf.charge.id,
            "created": rf.created,
            "currency": rf.currency,
            "customer": customer.id,
            "customer_account": None,
            "destination_details": {
                "card": {"reference": rf.acquirer_reference, "reference_status": "available",
                         "reference_type": "acquirer_reference_number",
                         "type": "refund"},
                "type": "card",
            },
            "metadata": {},
            "payment_intent": rf.charge.payment_intent.id,
            "payment_method": customer.payment_method,
            "reason": rf.reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }

    def dispute(self, d: Dispute, at: int) -> dict:
        customer = self.customer_record
        closed = d.closed_at <= at
        if closed:
            status = "won" if d.won else "lost"
        elif d.evidence_at is not None and d.evidence_at <= at:
            status = "under_review"
        else:
            status = "needs_response"
        has_ev = d.evidence_at is not None and d.evidence_at <= at
        ev = dict(_EMPTY_EVIDENCE)
        ev["enhanced_evidence"] = {}
        if has_ev:
            ev["customer_email_address"] = customer.email
            ev["customer_name"] = customer.name
            ev["product_description"] = "Subscription to Lumen Metrics analytics software."
            ev["uncategorized_text"] = "Customer used the service during the billing period."
        brand = customer.card["brand"]
        return {
            "id": d.id,
            "object": "dispute",
            "amount": d.amount,
            "balance_transactions": [self.balance_transaction(b, at) for b in d.balance_transactions
                                     if b.created <= at],
            "charge": d.charge.id,
            "created": d.created,
            "currency": d.currency,
            "enhanced_eligibility_types": [],
            "evidence": ev,
            "evidence_details": {
                "due_by": d.due_by,
                "enhanced_eligibility": {},
                "has_evidence": has_ev,
                "past_due": (not has_ev) and at > d.due_by,
                "submission_count": 1 if has_ev else 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": d.charge.payment_intent.id,
            "payment_method_details": {
                "card": {"brand": brand, "case_type": "chargeback", "network_reason_code": d.network_reason_code},
                "type": "card",
            },
            "reason": d.reason,
            "status": status,
        }

    def balance_transaction(self, b: BalanceTransaction, at: int) -> dict:
        fee_details = []
        if b.fee:
            fee_details.append({"amount": b.fee, "application": None, "currency": b.currency,
                                "description": b.fee_description, "type": "stripe_fee"})
        return {
            "id": b.id,
            "object": "balance_transaction",
            "amount": b.amount,
            "available_on": b.available_on,
            "balance_type": "payments",
            "created": b.created,
            "currency": b.currency,
            "description": b.description,
            "exchange_rate": b.exchange_rate,
            "fee": b.fee,
            "fee_details": fee_details,
            "net": b.amount - b.fee,
            "reporting_category": b.reporting_category,
            "source": b.source,
            "status": "available" if b.available_on <= at else "pending",
            "type": b.type,
        }


_EMPTY_EVIDENCE = {k: None for k in (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
    "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier",
    "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file",
    "uncategorized_text")}


def event_object(event_id: str, created: int, event_type: str, obj: dict, previous: dict | None,
                 request: dict | None) -> dict:
    """The ``event`` carrying ``obj`` (made webhook-shaped here), with ``previous_attributes``
    when given; ``request`` as made by `request_from_bits`, None for a change no API call made."""
    data = {"object": webhook_view(obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": request if request is not None else {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def request_from_bits(bits: int) -> dict:
    """An event's ``request``: its id and idempotency key, written from 192 random bits that the
    caller drew."""
    return {"id": "req_" + b62(bits & ((1 << 84) - 1), 14), "idempotency_key": uuid_from_bits(bits >> 64)}


def uuid_from_bits(bits: int) -> str:
    h = f"{bits & ((1 << 128) - 1):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


EMBEDDED_PAGE = 10


def list_page(lst: dict) -> dict:
    """An embedded list as Stripe sends it inside an event: at most 10 entries, has_more."""
    data = lst["data"]
    if len(data) > EMBEDDED_PAGE:
        lst["data"] = data[:EMBEDDED_PAGE]
        lst["has_more"] = True
    return lst


def webhook_view(obj: dict) -> dict:
    """``event.data.object`` is never expanded and its embedded lists are truncated (unlike the
    listed objects, whose discounts are expanded and lists complete)."""
    kind = obj.get("object")
    if kind == "subscription":
        obj["discounts"] = [d["id"] if isinstance(d, dict) else d for d in obj["discounts"]]
        list_page(obj["items"])
    elif kind == "invoice":
        obj["discounts"] = [d["id"] if isinstance(d, dict) else d for d in obj["discounts"]]
        list_page(obj["lines"])
    return obj
