"""POST/DELETE endpoints: validation, object builders and their side effects (charges, invoices, events).

Every handler validates all its parameters before touching the store, so a 400 leaves no trace.
"""

from __future__ import annotations

import calendar
import zlib
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import ApiError, invalid, missing, required_param, unknown_param
from .forms import to_bool, to_float, to_int, to_list, to_str
from .store import AccountStore

Request = dict[str, Any]  # {"id": "req_...", "idempotency_key": ...}, copied into events
Handler = Callable[[AccountStore, dict[str, Any], "str | None", Request], dict[str, Any]]

DAY = 86400
INTERVALS = ("day", "week", "month", "year")
# Stripe's test PaymentMethods: brand, last4, decline code (None: the payment succeeds).
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_amex": ("amex", "8431", None),
    "pm_card_chargeDeclined": ("visa", "0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required"),
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


# ------------------------------------------------------------------ helpers
def check(params: dict[str, Any], allowed: set[str], required: tuple[str, ...] = ()) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise unknown_param(name)
    for name in required:
        if params.get(name) in (None, ""):
            raise required_param(name)


def opt_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return None if value in (None, "") else to_str(value, name)


def metadata(value: Any, base: dict[str, str] | None = None, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata update: merge keys; an empty value deletes a key; `metadata=` clears all."""
    if value is None:
        return dict(base or {})
    if value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid("Invalid hash", param=param)
    merged = {**(base or {}), **value}
    return {k: v for k, v in merged.items() if v != ""}


def currency(params: dict[str, Any], name: str = "currency") -> str:
    value = to_str(params[name], name).lower()
    if len(value) != 3 or not value.isalpha():
        raise invalid(f"Invalid currency: {value}", param=name)
    return value


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """`ts` + count intervals, calendar-aware (Jan 31 + 1 month = Feb 28/29), in UTC."""
    if interval in ("day", "week"):
        return ts + count * DAY * (7 if interval == "week" else 1)
    dt = datetime.fromtimestamp(ts, timezone.utc)
    years, month0 = divmod(dt.month - 1 + count * (12 if interval == "year" else 1), 12)
    year, month = dt.year + years, month0 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` proportionally to `weights` (integer cents, remainder on the last share)."""
    if not weights or sum(weights) == 0:
        return [0] * len(weights)
    shares = [total * w // sum(weights) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


# ------------------------------------------------------------ simple creates
def create_customer(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"email", "name", "description", "phone", "metadata"})
    cid = store.new_id("cus")
    return store.create({
        "id": cid, "object": "customer", "address": None, "balance": 0, "currency": None,
        "default_source": None, "delinquent": False, "description": opt_str(p, "description"),
        "discount": None, "email": opt_str(p, "email"),
        "invoice_prefix": format(zlib.crc32(cid.encode()), "08X"),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "metadata": metadata(p.get("metadata")), "name": opt_str(p, "name"), "next_invoice_sequence": 1,
        "phone": opt_str(p, "phone"), "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        "test_clock": None,
    }, req)


def _product(store: AccountStore, p: dict[str, Any], req: Request, nested: bool = False) -> dict[str, Any]:
    check(p, {"name", "description", "active", "metadata", "unit_label"} | (set() if nested else {"id"}))
    if p.get("name") in (None, ""):
        raise required_param("product_data[name]" if nested else "name")
    pid = opt_str(p, "id")
    if pid and (store.get("product", pid) or store.get_deleted("product", pid)):
        raise invalid("Product already exists.", param="id", code="resource_already_exists")
    now = store.clock()
    return store.create({
        "id": pid or store.new_id("prod"), "object": "product",
        "active": to_bool(p.get("active", True), "active"), "default_price": None,
        "description": opt_str(p, "description"), "images": [], "marketing_features": [],
        "metadata": metadata(p.get("metadata")), "name": to_str(p["name"], "name"),
        "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
        "type": "service", "unit_label": opt_str(p, "unit_label"), "updated": now, "url": None,
    }, req)


def create_product(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    return _product(store, p, req)


def create_price(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"currency", "product", "product_data", "unit_amount", "recurring", "nickname", "lookup_key",
              "metadata", "active", "tax_behavior"}, ("currency",))
    cur, active = currency(p), to_bool(p.get("active", True), "active")
    if p.get("unit_amount") in (None, ""):
        raise required_param("unit_amount")
    amount = to_int(p["unit_amount"], "unit_amount")
    if amount < 0:
        raise invalid("This value must be greater than or equal to 0.", param="unit_amount")
    recurring = None
    if p.get("recurring") not in (None, ""):
        r = p["recurring"]
        if not isinstance(r, dict):
            raise invalid("Invalid hash", param="recurring")
        check(r, {"interval", "interval_count", "usage_type", "trial_period_days"})
        interval = r.get("interval")
        if interval is None:
            raise required_param("recurring[interval]")
        if interval not in INTERVALS:
            raise invalid("Invalid recurring[interval]: must be one of day, week, month, or year",
                          param="recurring[interval]")
        count = to_int(r.get("interval_count", 1), "recurring[interval_count]")
        if count < 1:
            raise invalid("This value must be greater than or equal to 1.", param="recurring[interval_count]")
        recurring = {"interval": interval, "interval_count": count, "meter": None,
                     "usage_type": r.get("usage_type", "licensed"), "trial_period_days": None}
    if p.get("product") not in (None, ""):
        if p.get("product_data") is not None:
            raise invalid("You may only specify one of these parameters: product, product_data.",
                          param="product_data")
        product_id = store.require("product", p["product"], param="product", status=400)["id"]
    elif isinstance(p.get("product_data"), dict):
        product_id = _product(store, p["product_data"], req, nested=True)["id"]  # last validation step
    else:
        raise required_param("product")
    return store.create({
        "id": store.new_id("price"), "object": "price", "active": active,
        "billing_scheme": "per_unit", "currency": cur, "custom_unit_amount": None,
        "lookup_key": opt_str(p, "lookup_key"), "metadata": metadata(p.get("metadata")),
        "nickname": opt_str(p, "nickname"), "product": product_id, "recurring": recurring,
        "tax_behavior": p.get("tax_behavior", "unspecified"), "tiers_mode": None, "transform_quantity": None,
        "type": "recurring" if recurring else "one_time", "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }, req)


def create_coupon(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"id", "amount_off", "currency", "percent_off", "duration", "duration_in_months",
              "max_redemptions", "name", "redeem_by", "metadata"})
    cid = opt_str(p, "id")
    if cid and (store.get("coupon", cid) or store.get_deleted("coupon", cid)):
        raise invalid("Coupon already exists.", param="id", code="resource_already_exists")
    has_amount, has_percent = p.get("amount_off") not in (None, ""), p.get("percent_off") not in (None, "")
    if has_amount == has_percent:
        raise invalid("You must pass exactly one of amount_off or percent_off.", param="percent_off")
    amount_off = percent_off = cur = None
    if has_amount:
        amount_off = to_int(p["amount_off"], "amount_off")
        if p.get("currency") in (None, ""):
            raise invalid("You must pass currency when passing amount_off", param="currency")
        cur = currency(p)
    else:
        percent_off = to_float(p["percent_off"], "percent_off")
        if not 0 < percent_off <= 100:
            raise invalid("percent_off must be between 0 and 100.", param="percent_off")
    duration = p.get("duration", "once")
    if duration not in ("once", "repeating", "forever"):
        raise invalid("Invalid duration: must be one of forever, once, or repeating", param="duration")
    months = None
    if duration == "repeating":
        if p.get("duration_in_months") in (None, ""):
            raise required_param("duration_in_months")
        months = to_int(p["duration_in_months"], "duration_in_months")
    return store.create({
        "id": cid or store.new_id("CPN", sep=""), "object": "coupon", "amount_off": amount_off, "currency": cur,
        "duration": duration, "duration_in_months": months,
        "max_redemptions": to_int(p["max_redemptions"], "max_redemptions") if p.get("max_redemptions") else None,
        "metadata": metadata(p.get("metadata")), "name": opt_str(p, "name"), "percent_off": percent_off,
        "redeem_by": to_int(p["redeem_by"], "redeem_by") if p.get("redeem_by") else None,
        "times_redeemed": 0, "valid": True,
    }, req)


def deleter(kind: str) -> Handler:
    def delete(store: AccountStore, p: dict[str, Any], oid: str | None, req: Request) -> dict[str, Any]:
        check(p, set())
        store.require(kind, oid)
        return store.delete(kind, oid, req)

    return delete


# ----------------------------------------------------------------- payments
def _charge(store: AccountStore, *, amount: int, cur: str, customer: str | None, pi: str | None,
            pm: str | None, card: tuple[str, str, str | None], req: Request,
            description: str | None = None) -> dict[str, Any]:
    brand, last4, decline = card
    now = store.clock()
    charge_id = store.new_id("ch")
    txn = None
    if decline is None:
        fee = round(amount * 0.029) + 30
        txn = store.create({
            "id": store.new_id("txn"), "object": "balance_transaction", "amount": amount,
            "available_on": now + 2 * DAY, "currency": cur, "description": description, "exchange_rate": None,
            "fee": fee, "fee_details": [{"amount": fee, "application": None, "currency": cur,
                                         "description": "Stripe processing fees", "type": "stripe_fee"}],
            "net": amount - fee, "reporting_category": "charge", "source": charge_id, "status": "pending",
            "type": "charge", "balance_type": "payments",
        }, req)["id"]
    outcome = (
        {"network_status": "approved_by_network", "reason": None, "risk_level": "normal", "risk_score": 20,
         "seller_message": "Payment complete.", "type": "authorized"}
        if decline is None else
        {"network_status": "declined_by_network", "reason": decline, "risk_level": "normal", "risk_score": 20,
         "seller_message": "The bank did not return any further details with this decline.",
         "type": "issuer_declined"}
    )
    return store.create({
        "id": charge_id, "object": "charge", "amount": amount,
        "amount_captured": amount if decline is None else 0, "amount_refunded": 0, "application": None,
        "application_fee": None, "application_fee_amount": None, "balance_transaction": txn,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "FAKE STRIPE", "captured": decline is None, "currency": cur,
        "customer": customer, "description": description, "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if decline is None else "card_declined",
        "failure_message": None if decline is None else DECLINE_MESSAGES.get(decline, "Your card was declined."),
        "fraud_details": {}, "metadata": {}, "on_behalf_of": None, "outcome": outcome,
        "paid": decline is None, "payment_intent": pi, "payment_method": pm,
        "payment_method_details": {"card": {"brand": brand, "country": "US", "exp_month": 12, "exp_year": 2034,
                                            "funding": "credit", "last4": last4, "network": brand},
                                   "type": "card"},
        "receipt_email": None, "receipt_number": None, "receipt_url": None, "refunded": False, "review": None,
        "shipping": None, "source_transfer": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "succeeded" if decline is None else "failed",
        "transfer_data": None, "transfer_group": None,
    }, req)


def create_payment_intent(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"amount", "currency", "customer", "payment_method", "confirm", "description", "metadata",
              "payment_method_types", "automatic_payment_methods", "off_session", "return_url",
              "receipt_email"}, ("amount", "currency"))
    amount, cur = to_int(p["amount"], "amount"), currency(p)
    if amount < 50:
        raise invalid("Amount must be at least $0.50 usd", param="amount", code="amount_too_small")
    customer = opt_str(p, "customer")
    if customer:
        store.require("customer", customer, param="customer", status=400)
    pm_name = opt_str(p, "payment_method")
    if pm_name and pm_name not in TEST_CARDS:
        raise missing("payment_method", pm_name, param="payment_method", status=400)
    confirm = to_bool(p.get("confirm", False), "confirm")
    if confirm and not pm_name:
        raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm "
                      "the PaymentIntent with this customer, pass a payment_method.", param="payment_method",
                      code="payment_intent_unexpected_state")
    pi_id, pm_id = store.new_id("pi"), store.new_id("pm") if pm_name else None
    store.create({
        "id": pi_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
        "application_fee_amount": None, "automatic_payment_methods": None, "canceled_at": None,
        "cancellation_reason": None, "capture_method": "automatic", "client_secret": f"{pi_id}_secret_fake",
        "confirmation_method": "automatic", "currency": cur, "customer": customer,
        "description": opt_str(p, "description"), "last_payment_error": None, "latest_charge": None,
        "metadata": metadata(p.get("metadata")), "next_action": None, "on_behalf_of": None,
        "payment_method": pm_id, "payment_method_options": {}, "payment_method_types": ["card"],
        "processing": None, "receipt_email": opt_str(p, "receipt_email"), "review": None,
        "setup_future_usage": None, "shipping": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_confirmation" if pm_name else "requires_payment_method",
        "transfer_data": None, "transfer_group": None,
    }, req)
    if not confirm:
        return store.get("payment_intent", pi_id)
    card = TEST_CARDS[pm_name]
    decline = card[2]
    if decline == "authentication_required":
        return store.update("payment_intent", pi_id, {
            "status": "requires_action",
            "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
        }, req, event="payment_intent.requires_action")
    charge = _charge(store, amount=amount, cur=cur, customer=customer, pi=pi_id, pm=pm_id, card=card, req=req,
                     description=opt_str(p, "description"))
    if decline is None:
        return store.update("payment_intent", pi_id,
                            {"status": "succeeded", "amount_received": amount, "latest_charge": charge["id"]},
                            req, event="payment_intent.succeeded")
    message = DECLINE_MESSAGES.get(decline, "Your card was declined.")
    payment_method = {"id": pm_id, "object": "payment_method", "type": "card",
                      "card": {"brand": card[0], "last4": card[1]}, "customer": customer}
    error = {"charge": charge["id"], "code": "card_declined", "decline_code": decline, "message": message,
             "payment_method": payment_method, "type": "card_error"}
    pi = store.update("payment_intent", pi_id, {"status": "requires_payment_method", "last_payment_error": error,
                                                "latest_charge": charge["id"], "payment_method": None},
                      req, event="payment_intent.payment_failed")
    raise ApiError(402, message, type="card_error", code="card_declined", decline_code=decline,
                   charge=charge["id"], payment_intent=store.render(pi), payment_method=payment_method)


def create_refund(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"charge", "payment_intent", "amount", "reason", "metadata"})
    if opt_str(p, "charge"):
        charge = store.require("charge", p["charge"], param="charge", status=400)
    elif opt_str(p, "payment_intent"):
        pi = store.require("payment_intent", p["payment_intent"], param="payment_intent", status=400)
        charge = store.get("charge", pi.get("latest_charge") or "")
        if charge is None or pi.get("status") != "succeeded":
            raise invalid(f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                          param="payment_intent")
    else:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
    if charge.get("status") != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge")
    refundable = charge["amount"] - (charge.get("amount_refunded") or 0)
    if refundable <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = refundable if p.get("amount") in (None, "") else to_int(p["amount"], "amount")
    if amount <= 0:
        raise invalid("This value must be greater than or equal to 1.", param="amount")
    if amount > refundable:
        raise invalid(f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge "
                      f"(${refundable / 100:.2f})", param="amount", code="amount_too_large")
    reason = opt_str(p, "reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                      param="reason")
    refund_id, cur = store.new_id("re"), charge["currency"]
    txn = store.create({
        "id": store.new_id("txn"), "object": "balance_transaction", "amount": -amount,
        "available_on": store.clock(), "currency": cur, "description": "REFUND FOR CHARGE",
        "exchange_rate": None, "fee": 0, "fee_details": [], "net": -amount, "reporting_category": "refund",
        "source": refund_id, "status": "available", "type": "refund", "balance_type": "payments",
    }, req)
    return store.create({
        "id": refund_id, "object": "refund", "amount": amount, "balance_transaction": txn["id"],
        "charge": charge["id"], "currency": cur,
        "destination_details": {"card": {"reference": None, "reference_status": "pending",
                                         "reference_type": "acquirer_reference_number", "type": "refund"},
                                "type": "card"},
        "metadata": metadata(p.get("metadata")), "payment_intent": charge.get("payment_intent"),
        "reason": reason, "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded",
        "transfer_reversal": None,
    }, req)


# ------------------------------------------------------------ subscriptions
def _plan(price: dict[str, Any]) -> dict[str, Any]:
    recurring = price["recurring"]
    return {
        "id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
        "amount_decimal": str(price["unit_amount"]), "billing_scheme": "per_unit", "created": price["created"],
        "currency": price["currency"], "interval": recurring["interval"],
        "interval_count": recurring["interval_count"], "livemode": False, "metadata": price.get("metadata", {}),
        "meter": None, "nickname": price.get("nickname"), "product": price["product"], "tiers_mode": None,
        "transform_usage": None, "trial_period_days": None, "usage_type": "licensed",
    }


def create_subscription(store: AccountStore, p: dict[str, Any], _: str | None, req: Request) -> dict[str, Any]:
    check(p, {"customer", "items", "trial_period_days", "discounts", "metadata", "cancel_at_period_end",
              "collection_method", "days_until_due", "default_payment_method", "description",
              "payment_behavior", "proration_behavior"}, ("customer",))
    customer = store.require("customer", p["customer"], param="customer", status=400)
    items_in = to_list(p.get("items"), "items")
    if not items_in:
        raise required_param("items")
    prices: list[tuple[dict[str, Any], int, dict[str, str]]] = []
    for i, item in enumerate(items_in):
        if not isinstance(item, dict):
            raise invalid("Invalid hash", param=f"items[{i}]")
        check(item, {"price", "quantity", "metadata"})
        if item.get("price") in (None, ""):
            raise required_param(f"items[{i}][price]")
        price = store.require("price", item["price"], param=f"items[{i}][price]", status=400)
        if price.get("type") != "recurring":
            raise invalid("The price specified is set to `type=one_time` but this field only accepts prices "
                          "with `type=recurring`.", param=f"items[{i}][price]")
        quantity = to_int(item.get("quantity", 1), f"items[{i}][quantity]")
        if quantity < 0:
            raise invalid("This value must be greater than or equal to 0.", param=f"items[{i}][quantity]")
        prices.append((price, quantity, metadata(item.get("metadata"), param=f"items[{i}][metadata]")))
    first = prices[0][0]
    for price, _q, _m in prices[1:]:
        for field, value in (("currency", price["currency"]), ("interval", price["recurring"]["interval"])):
            if value != (first["currency"] if field == "currency" else first["recurring"]["interval"]):
                raise invalid("Currency and interval fields must match across all plans on this subscription. "
                              f"Found mismatch in {field} field.", param="items")
    coupons = []
    for i, d in enumerate(to_list(p.get("discounts"), "discounts")):
        if not isinstance(d, dict) or d.get("coupon") in (None, ""):
            raise required_param(f"discounts[{i}][coupon]")
        coupon = store.require("coupon", d["coupon"], param=f"discounts[{i}][coupon]", status=400)
        if coupon.get("amount_off") is not None and coupon.get("currency") != first["currency"]:
            raise invalid("The coupon currency must match the subscription currency.",
                          param=f"discounts[{i}][coupon]")
        coupons.append(coupon)
    trial_days = None
    if p.get("trial_period_days") not in (None, ""):
        trial_days = to_int(p["trial_period_days"], "trial_period_days")
        if trial_days < 1:
            raise invalid("This value must be greater than or equal to 1.", param="trial_period_days")
    collection = p.get("collection_method", "charge_automatically")
    if collection not in ("charge_automatically", "send_invoice"):
        raise invalid("Invalid collection_method", param="collection_method")
    cancel_at_period_end = to_bool(p.get("cancel_at_period_end", False), "cancel_at_period_end")

    # -- everything validated: build the objects
    now, cur = store.clock(), first["currency"]
    recurring = first["recurring"]
    trial_end = now + trial_days * DAY if trial_days else None
    period_end = trial_end or add_interval(now, recurring["interval"], recurring["interval_count"])
    sub_id = store.new_id("sub")
    invoice_id = None if trial_end else store.new_id("in")
    discounts = [{
        "id": store.new_id("di"), "object": "discount", "checkout_session": None, "customer": customer["id"],
        "end": add_interval(now, "month", c["duration_in_months"]) if c["duration"] == "repeating" else None,
        "invoice": None, "invoice_item": None, "promotion_code": None,
        "source": {"coupon": c["id"], "type": "coupon"}, "start": now, "subscription": sub_id,
        "subscription_item": None, "customer_account": None,
    } for c in coupons]
    items = [{
        "id": store.new_id("si"), "object": "subscription_item", "billing_thresholds": None, "created": now,
        "current_period_end": period_end, "current_period_start": now, "discounts": [], "metadata": meta,
        "plan": _plan(price), "price": price, "quantity": quantity, "subscription": sub_id, "tax_rates": [],
    } for price, quantity, meta in prices]
    sub = store.create({
        "id": sub_id, "object": "subscription", "application": None, "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": trial_end or now, "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"}, "cancel_at": period_end if cancel_at_period_end else None,
        "cancel_at_period_end": cancel_at_period_end, "canceled_at": now if cancel_at_period_end else None,
        "cancellation_details": {"comment": None, "feedback": None,
                                 "reason": "cancellation_requested" if cancel_at_period_end else None},
        "collection_method": collection, "created": now, "currency": cur, "customer": customer["id"],
        "days_until_due": to_int(p["days_until_due"], "days_until_due") if p.get("days_until_due") else None,
        "default_payment_method": opt_str(p, "default_payment_method"), "default_source": None,
        "default_tax_rates": [], "description": opt_str(p, "description"), "discounts": discounts,
        "ended_at": None, "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {"object": "list", "data": items, "has_more": False,
                  "url": f"/v1/subscription_items?subscription={sub_id}"},
        "latest_invoice": invoice_id, "metadata": metadata(p.get("metadata")),
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
        "schedule": None, "start_date": now, "status": "trialing" if trial_end else "active",
        "test_clock": None, "transfer_data": None, "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": now if trial_end else None,
    }, req)
    if invoice_id:
        _first_invoice(store, invoice_id, sub, customer, coupons, req)
    return sub


def _first_invoice(store: AccountStore, invoice_id: str, sub: dict[str, Any], customer: dict[str, Any],
                   coupons: list[dict[str, Any]], req: Request) -> None:
    now, cur = sub["created"], sub["currency"]
    items = sub["items"]["data"]
    amounts = [item["price"]["unit_amount"] * item["quantity"] for item in items]
    subtotal = sum(amounts)
    remaining = list(amounts)
    line_discounts: list[list[dict[str, Any]]] = [[] for _ in items]
    total_discounts = []
    for discount, coupon in zip(sub["discounts"], coupons):
        base = sum(remaining)
        if coupon.get("percent_off") is not None:
            off = round(base * coupon["percent_off"] / 100)
        else:
            off = min(coupon["amount_off"], base)
        for i, share in enumerate(allocate(off, remaining)):
            line_discounts[i].append({"amount": share, "discount": discount["id"]})
            remaining[i] -= share
        total_discounts.append({"amount": off, "discount": discount["id"]})
    total = sum(remaining)
    lines = []
    for item, amount, discount_amounts in zip(items, amounts, line_discounts):
        price = item["price"]
        product = store.get("product", price["product"]) or {}
        interval = price["recurring"]["interval"]
        lines.append({
            "id": store.new_id("il"), "object": "line_item", "amount": amount, "currency": cur,
            "description": f"{item['quantity']} × {product.get('name', price['product'])} "
                           f"(at ${price['unit_amount'] / 100:.2f} / {interval})",
            "discount_amounts": discount_amounts, "discountable": True, "discounts": [], "invoice": invoice_id,
            "livemode": False, "metadata": {},
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"invoice_item": None, "proration": False,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub["id"], "subscription_item": item["id"]}},
            "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
            "pretax_credit_amounts": [], "pricing": {"type": "price_details",
                                                     "price_details": {"price": price["id"],
                                                                       "product": price["product"]},
                                                     "unit_amount_decimal": str(price["unit_amount"])},
            "quantity": item["quantity"], "subtotal": amount, "taxes": [],
        })
    paid = sub["collection_method"] == "charge_automatically"
    invoice = store.create({
        "id": invoice_id, "object": "invoice", "account_country": "US", "account_name": None,
        "account_tax_ids": None, "amount_due": total, "amount_overpaid": 0, "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid else total, "amount_shipping": 0, "application": None,
        "attempt_count": 1 if paid else 0, "attempted": paid, "auto_advance": not paid,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None,
                          "provider": None},
        "billing_reason": "subscription_create", "collection_method": sub["collection_method"],
        "currency": cur, "custom_fields": None, "customer": customer["id"], "customer_address": None,
        "customer_email": customer.get("email"), "customer_name": customer.get("name"), "customer_phone": None,
        "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
        "discounts": sub["discounts"], "due_date": None if paid else now + DAY * (sub["days_until_due"] or 30),
        "effective_at": now, "ending_balance": 0, "footer": None, "from_invoice": None,
        "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
        "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        "metadata": {}, "next_payment_attempt": None, "number": f"{customer['invoice_prefix']}-0001",
        "on_behalf_of": None,
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]}},
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": now, "period_start": now, "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
        "shipping_cost": None, "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
        "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": now, "marked_uncollectible_at": None,
                               "paid_at": now if paid else None, "voided_at": None},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None, "total": total,
        "total_discount_amounts": total_discounts, "total_excluding_tax": total,
        "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": now,
    }, req)
    if paid:
        if total > 0:
            _charge(store, amount=total, cur=cur, customer=customer["id"], pi=None, pm=None,
                    card=TEST_CARDS["pm_card_visa"], req=req, description="Subscription creation")
        store.emit("invoice.paid", invoice, request=req)


def update_subscription(store: AccountStore, p: dict[str, Any], oid: str | None, req: Request) -> dict[str, Any]:
    check(p, {"cancel_at_period_end", "metadata", "description", "cancellation_details", "proration_behavior"})
    sub = store.require("subscription", oid)
    if sub["status"] in ("canceled", "incomplete_expired") and set(p) - {"metadata", "cancellation_details",
                                                                        "expand"}:
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    changes: dict[str, Any] = {}
    if "metadata" in p:
        changes["metadata"] = metadata(p["metadata"], sub.get("metadata"))
    if "description" in p:
        changes["description"] = opt_str(p, "description")
    details = dict(sub.get("cancellation_details") or {"comment": None, "feedback": None, "reason": None})
    if "cancel_at_period_end" in p:
        flag = to_bool(p["cancel_at_period_end"], "cancel_at_period_end")
        period_end = max(i["current_period_end"] for i in sub["items"]["data"])
        changes.update(cancel_at_period_end=flag, cancel_at=period_end if flag else None,
                       canceled_at=store.clock() if flag else None)
        details["reason"] = "cancellation_requested" if flag else None
    if isinstance(p.get("cancellation_details"), dict):
        check(p["cancellation_details"], {"comment", "feedback"})
        details.update(p["cancellation_details"])
    if details != sub.get("cancellation_details"):
        changes["cancellation_details"] = details
    return store.update("subscription", sub["id"], changes, req)


def cancel_subscription(store: AccountStore, p: dict[str, Any], oid: str | None, req: Request) -> dict[str, Any]:
    check(p, {"cancellation_details", "invoice_now", "prorate"})
    store.require("subscription", oid)
    return store.cancel_subscription(oid, req)


def update_product(store: AccountStore, p: dict[str, Any], oid: str | None, req: Request) -> dict[str, Any]:
    check(p, {"default_price", "name", "description", "active", "metadata"})
    product = store.require("product", oid)
    changes: dict[str, Any] = {}
    if p.get("default_price") not in (None, ""):
        changes["default_price"] = store.require("price", p["default_price"], param="default_price", status=400)["id"]
    for name in ("name", "description"):
        if name in p:
            changes[name] = opt_str(p, name)
    if "active" in p:
        changes["active"] = to_bool(p["active"], "active")
    if "metadata" in p:
        changes["metadata"] = metadata(p["metadata"], product.get("metadata"))
    return store.update("product", oid, changes, req)


# (method, resource path, has id) -> handler
WRITES: dict[tuple[str, str, bool], Handler] = {
    ("POST", "customers", False): create_customer,
    ("POST", "products", False): create_product,
    ("POST", "products", True): update_product,
    ("POST", "prices", False): create_price,
    ("POST", "coupons", False): create_coupon,
    ("POST", "payment_intents", False): create_payment_intent,
    ("POST", "subscriptions", False): create_subscription,
    ("POST", "subscriptions", True): update_subscription,
    ("DELETE", "subscriptions", True): cancel_subscription,
    ("POST", "refunds", False): create_refund,
    ("DELETE", "customers", True): deleter("customer"),
    ("DELETE", "products", True): deleter("product"),
    ("DELETE", "coupons", True): deleter("coupon"),
}
