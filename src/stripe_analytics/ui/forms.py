"""The write forms (issue 7): new customer, payment, product, price and subscription, and
cancel / resume a subscription. Each is a function a page calls with an
`actions.ActionContext` (`customer_form(ctx)`, ...); `page_actions(container, app_ctx, kind)`
puts the buttons that open them in dialogs on the Customers, Payments, Products and
Subscriptions pages.

Every form
- validates with the same models as the library and the CLI, and shows each error under its
  field; nothing is sent while any field is wrong, and what was typed stays;
- keeps its idempotency key in `st.session_state`: the same key for every resubmission of the
  same values (a double click, a rerun, a retry after a timeout), a new one when the values
  change or after a success ("Create another" starts a new submission);
- asks for an explicit confirmation in live mode;
- shows the outcome in plain words (payments: succeeded, requires action, declined and why).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Callable

import streamlit as st
import stripe

from .. import actions, queries
from ..actions import models
from ..actions.context import (
    OUTCOME_DECLINED, OUTCOME_FAILED, OUTCOME_PENDING, OUTCOME_REFUSED, OUTCOME_REQUIRES_ACTION, ActionContext,
    ActionResult,
)
from ..actions.payments import saved_cards
from ..actions.subscriptions import subscription_summary
from ..money import SUPPORTED_CURRENCIES, decimals, format_amount
from ..stripe_errors import describe

log = logging.getLogger(__name__)

STATE_PREFIX = "sa_form_"
ITEM_ROWS = 4  # price rows of the subscription form
INTERVALS = ["one_time", "day", "week", "month", "year"]
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "Test card: Visa, succeeds",
    "pm_card_mastercard": "Test card: Mastercard, succeeds",
    "pm_card_chargeDeclined": "Test card: declined",
    "pm_card_chargeDeclinedInsufficientFunds": "Test card: declined, insufficient funds",
    "pm_card_authenticationRequired": "Test card: needs 3-D Secure authentication",
}
LABELS = {
    "email": "Email", "name": "Name", "phone": "Phone", "description": "Description", "metadata": "Metadata",
    "address": "Address", "address.line1": "Address line 1", "address.line2": "Address line 2",
    "address.city": "City", "address.state": "State", "address.postal_code": "Postal code",
    "address.country": "Country", "customer": "Customer", "amount": "Amount", "currency": "Currency",
    "payment_method": "Payment method", "confirm": "Confirmation", "receipt_email": "Receipt email",
    "interval": "Billing", "interval_count": "Every", "product": "Product", "nickname": "Nickname",
    "items": "Prices", "trial_days": "Trial days", "coupon": "Coupon", "subscription": "Subscription",
    "when": "When", "confirm_live": "Live mode", "active": "Active",
}


# ----------------------------------------------------------------------------- submission state

def _state(form_id: str) -> dict:
    key = STATE_PREFIX + form_id
    if key not in st.session_state:
        st.session_state[key] = {"key": actions.new_submission_key(), "fingerprint": None, "done_fingerprint": None,
                                 "done_key": None, "errors": {}, "result": None}
    return st.session_state[key]


def _fingerprint(data: Any) -> str:
    dumped = data.model_dump(mode="json") if hasattr(data, "model_dump") else data
    return hashlib.sha256(json.dumps(dumped, sort_keys=True, default=str).encode()).hexdigest()


def submission_key(form_id: str, fingerprint: str) -> str:
    """The idempotency key of a submission of these values: the last successful one's key if
    the same values are sent again (so nothing is created twice), else the pending key, renewed
    when the values differ from those it was first sent with."""
    state = _state(form_id)
    if state["done_fingerprint"] == fingerprint and state["done_key"]:
        return state["done_key"]
    if state["fingerprint"] not in (None, fingerprint):
        state["key"] = actions.new_submission_key()
    state["fingerprint"] = fingerprint
    return state["key"]


def _after(form_id: str, fingerprint: str, key: str, result: ActionResult) -> None:
    state = _state(form_id)
    state["result"] = result
    state["errors"] = result.errors
    if result.ok:
        state["done_fingerprint"], state["done_key"] = fingerprint, key
        state["key"], state["fingerprint"] = actions.new_submission_key(), None
        state["reset_confirmations"] = True
    elif result.error_code == "idempotency":
        state["key"], state["fingerprint"] = actions.new_submission_key(), None


def new_submission(form_id: str) -> None:
    """Forget the last success: the same values create a new object next time."""
    state = _state(form_id)
    state.update(done_fingerprint=None, done_key=None, result=None, errors={}, fingerprint=None,
                 key=actions.new_submission_key())


# ----------------------------------------------------------------------------- errors next to fields

class _Slots:
    """A placeholder under each field, filled with that field's error (now, or after submit)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        self.places: list[tuple[Any, tuple[str, ...]]] = []

    def under(self, *fields: str) -> None:
        place = st.empty()
        self.places.append((place, fields))
        self._fill(place, fields)

    @staticmethod
    def _matches(field: str, fields: tuple[str, ...]) -> bool:
        return any(field == x or field.startswith(x + ".") for x in fields)

    def _fill(self, place, fields: tuple[str, ...]) -> None:
        mine = [(f, m) for f, m in self.errors.items() if self._matches(f, fields)]
        if mine:
            place.error("\n\n".join(m for _, m in mine), icon=":material/error:")
        else:
            place.empty()

    def show(self, errors: dict[str, str]) -> None:
        self.errors = errors
        for place, fields in self.places:
            self._fill(place, fields)

    def unplaced(self, errors: dict[str, str]) -> dict[str, str]:
        return {f: m for f, m in errors.items() if not any(self._matches(f, fields) for _, fields in self.places)}


def message_for(field: str, message: str) -> str:
    """A model error as shown under its field: 'Email is not a valid email address …'."""
    parts = field.split(".")
    if parts[0] == "items" and len(parts) >= 2 and parts[1].isdigit():
        label = f"Price {int(parts[1]) + 1}" + (" quantity" if parts[-1] == "quantity" else "")
    else:
        label = LABELS.get(field) or LABELS.get(parts[-1]) or field.replace("_", " ").capitalize()
    return f"{label} {message}"


# ----------------------------------------------------------------------------- shared pieces

def _reset_confirmations(form_id: str, names: tuple[str, ...] = ("confirm_live",)) -> None:
    """Untick the confirmations after a success: each write needs its own (called before the
    widgets exist in the run)."""
    state = _state(form_id)
    if state.pop("reset_confirmations", False):
        for name in names:
            if f"{form_id}.{name}" in st.session_state:
                st.session_state[f"{form_id}.{name}"] = False


def _live_confirmation(ctx: ActionContext, form_id: str, what: str) -> bool:
    if ctx.live:
        return st.checkbox(f"Live mode: I confirm that this {what} is real", key=f"{form_id}.confirm_live",
                           help="Writes to a live Stripe account need this confirmation every time.")
    st.caption(":material/construction: Test mode: nothing real is charged or created.")
    return False


def _metadata_input(form_id: str) -> str:
    return st.text_area("Metadata", key=f"{form_id}.metadata", height=80, placeholder="key=value, one per line",
                        help="Up to 50 keys; keys up to 40 characters without square brackets, values up to 500.")


def _begin(form_id: str, confirmations: tuple[str, ...] = ("confirm_live",)) -> "_Slots":
    """A form's start on each run: untick its confirmations after a submission, and the
    slots that place its last errors under their fields."""
    _reset_confirmations(form_id, confirmations)
    return _Slots(_state(form_id)["errors"])


def _show_result(form_id: str, slots: _Slots, *, again_label: str = "Create another") -> None:
    """Below the form: errors no field shows, then the last result in plain words."""
    state = _state(form_id)
    rest = slots.unplaced(state["errors"])
    if rest:
        st.error("\n\n".join(rest.values()), icon=":material/error:")
    result: ActionResult | None = state["result"]
    if result is None:
        return
    if result.ok and result.outcome not in (OUTCOME_REQUIRES_ACTION, OUTCOME_PENDING):
        st.success(result.message, icon=":material/check_circle:")
    elif result.outcome in (OUTCOME_REQUIRES_ACTION, OUTCOME_PENDING, OUTCOME_REFUSED):
        st.warning(result.message, icon=":material/pending:")
    elif result.outcome in (OUTCOME_DECLINED, OUTCOME_FAILED) and not result.errors:
        st.error(result.message, icon=":material/error:")  # with a field, it is shown with the errors
    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    if result.ok:
        st.button(again_label, key=f"{form_id}.again", on_click=new_submission, args=(form_id,),
                  icon=":material/add:", type="tertiary")


def _submit(ctx: ActionContext, form_id: str, slots: _Slots, model: type, data: dict,
            action: Callable[..., ActionResult], confirm_live: bool, extra_errors: dict[str, str] | None = None,
            spinner: str = "Sending to Stripe…") -> ActionResult | None:
    """Validate, then send once per submission; errors go under their fields."""
    state = _state(form_id)
    errors: dict[str, str] = {}
    parsed = None
    try:
        parsed = models.parse(model, data)
    except models.InputError as error:
        errors.update({f: message_for(f, m) for f, m in error.errors.items()})
    errors.update(extra_errors or {})  # whole sentences
    if parsed is not None and ctx.live and not confirm_live:
        errors["confirm_live"] = "Tick the live-mode confirmation to send this to your live Stripe account."
    if errors:
        state["errors"], state["result"] = errors, None
        slots.show(errors)
        return None
    fingerprint = _fingerprint(parsed)
    key = submission_key(form_id, fingerprint)
    with st.spinner(spinner):
        result = action(ctx, parsed, key, confirm_live=confirm_live)
    _after(form_id, fingerprint, key, result)
    slots.show(result.errors)
    return result


def _customers(ctx: ActionContext) -> dict[str, str]:
    rows = ctx.read(queries.customer_choices, unreadable=[])
    return {r["id"]: " · ".join(x for x in (r["name"], r["email"], r["id"]) if x) for r in rows}


def _default_currency(ctx: ActionContext) -> str:
    currency = ctx.read(queries.account_profile, unreadable={}).get("default_currency")
    return currency if currency in SUPPORTED_CURRENCIES else "usd"


def _currency_input(ctx: ActionContext, form_id: str, label: str = "Currency") -> str:
    options = sorted(SUPPORTED_CURRENCIES)
    default = _default_currency(ctx)
    return st.selectbox(label, options, index=options.index(default), key=f"{form_id}.currency",
                        format_func=lambda c: f"{c.upper()} ({decimals(c)} decimals)")


def _customer_input(ctx: ActionContext, form_id: str, preset: str | None, container=None) -> str | None:
    where = container or st
    known = _customers(ctx)
    if preset and preset not in known:
        known = {preset: preset, **known}
    if not known:
        return where.text_input("Customer", key=f"{form_id}.customer", placeholder="cus_…",
                                help="No customer is in the cache yet: give a customer id.")
    options = list(known)
    index = options.index(preset) if preset in known else None
    return where.selectbox("Customer", options, index=index, key=f"{form_id}.customer",
                           format_func=lambda c: known.get(c, c), placeholder="Choose a customer")


# ----------------------------------------------------------------------------- customers

def customer_form(ctx: ActionContext, *, form_id: str = "customer") -> ActionResult | None:
    """New customer: email, name, phone, description, address, metadata."""
    slots = _begin(form_id)
    result = None
    with st.form(form_id, enter_to_submit=False):
        st.text_input("Email", key=f"{form_id}.email", placeholder="name@example.com")
        slots.under("email")
        st.text_input("Name", key=f"{form_id}.name")
        slots.under("name")
        cols = st.columns(2)
        with cols[0]:
            st.text_input("Phone", key=f"{form_id}.phone", placeholder="+1 555 0100")
            slots.under("phone")
        with cols[1]:
            st.text_input("Description", key=f"{form_id}.description")
            slots.under("description")
        with st.expander("Address"):
            st.text_input("Address line 1", key=f"{form_id}.line1")
            st.text_input("Address line 2", key=f"{form_id}.line2")
            cols = st.columns(2)
            cols[0].text_input("City", key=f"{form_id}.city")
            cols[1].text_input("Postal code", key=f"{form_id}.postal_code")
            cols = st.columns(2)
            cols[0].text_input("State", key=f"{form_id}.state")
            cols[1].text_input("Country", key=f"{form_id}.country", placeholder="US", max_chars=2)
        slots.under("address")
        _metadata_input(form_id)
        slots.under("metadata")
        confirm_live = _live_confirmation(ctx, form_id, "new customer")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Create customer", type="primary", icon=":material/person_add:")
    if submitted:
        s = st.session_state
        data = {
            "email": s.get(f"{form_id}.email"), "name": s.get(f"{form_id}.name"),
            "phone": s.get(f"{form_id}.phone"), "description": s.get(f"{form_id}.description"),
            "address": {k: s.get(f"{form_id}.{k}") for k in ("line1", "line2", "city", "state", "postal_code",
                                                              "country")},
            "metadata": models.parse_metadata_text(s.get(f"{form_id}.metadata")),
        }
        result = _submit(ctx, form_id, slots, models.CustomerInput, data, actions.create_customer, confirm_live)
    _show_result(form_id, slots)
    return result


# ----------------------------------------------------------------------------- payments

def _payment_methods(ctx: ActionContext, customer: str | None) -> tuple[dict[str, str], str | None]:
    """The customer's saved cards (read from Stripe once per session), then in test mode
    Stripe's test payment methods; and why the saved cards could not be listed, if so (a
    payment id can still be typed, and the test methods still work)."""
    options: dict[str, str] = {}
    problem = None
    if customer and models.ID_PATTERNS["customer"][0].match(customer):
        memo = st.session_state.setdefault(STATE_PREFIX + "payment_methods", {})
        if customer not in memo:
            saved: dict[str, str] = {}
            try:
                saved = saved_cards(ctx, customer)
            except stripe.StripeError as error:
                failure = describe(error)
                log.warning("listing the saved cards of %s failed: %s %s", customer, failure.kind, failure.code or "")
                problem = f"This customer's saved cards could not be listed: {failure.what}."
            memo[customer] = (saved, problem)
        saved, problem = memo[customer]
        options.update(saved)
    if not ctx.live:
        options.update(TEST_PAYMENT_METHODS)
    return options, problem


def payment_form(ctx: ActionContext, *, customer: str | None = None, form_id: str = "payment") -> ActionResult | None:
    """New payment (PaymentIntent) for a customer, confirmed now or left for later."""
    slots = _begin(form_id)
    result = None
    # Outside the form, so that choosing a customer refreshes their saved payment methods.
    chosen = _customer_input(ctx, form_id, customer)
    slots.under("customer")
    methods, methods_problem = _payment_methods(ctx, chosen)
    if methods_problem:
        st.warning(methods_problem, icon=":material/credit_card_off:")
    with st.form(form_id, enter_to_submit=False):
        cols = st.columns([2, 1])
        with cols[0]:
            st.text_input("Amount", key=f"{form_id}.amount", placeholder="19.99",
                          help="In the currency's major unit: 19.99 USD, 5000 JPY, 1.234 KWD.")
            slots.under("amount")
        with cols[1]:
            _currency_input(ctx, form_id)
            slots.under("currency")
        st.text_input("Description", key=f"{form_id}.description")
        slots.under("description")
        options = [""] + list(methods)
        st.selectbox("Payment method", options, key=f"{form_id}.payment_method",
                     format_func=lambda m: methods.get(m, m) if m else "None: leave the payment for later")
        slots.under("payment_method")
        st.checkbox("Confirm now (charge the payment method)", value=True, key=f"{form_id}.confirm")
        st.text_input("Receipt email", key=f"{form_id}.receipt_email", placeholder="optional")
        slots.under("receipt_email")
        _metadata_input(form_id)
        slots.under("metadata")
        confirm_live = _live_confirmation(ctx, form_id, "payment")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Create payment", type="primary", icon=":material/payments:")
    if submitted:
        s = st.session_state
        method = s.get(f"{form_id}.payment_method") or None
        data = {
            "customer": chosen, "amount": s.get(f"{form_id}.amount"), "currency": s.get(f"{form_id}.currency"),
            "description": s.get(f"{form_id}.description"), "payment_method": method,
            "confirm": bool(s.get(f"{form_id}.confirm")) and method is not None,
            "receipt_email": s.get(f"{form_id}.receipt_email"),
            "metadata": models.parse_metadata_text(s.get(f"{form_id}.metadata")),
        }
        extra = {}
        if s.get(f"{form_id}.confirm") and method is None:
            extra["payment_method"] = "Choose a payment method to confirm the payment now, or untick Confirm now."
        result = _submit(ctx, form_id, slots, models.PaymentInput, data, actions.create_payment, confirm_live,
                         extra_errors=extra, spinner="Sending the payment to Stripe…")
    _show_result(form_id, slots, again_label="New payment")
    return result


# ----------------------------------------------------------------------------- products and prices

def _price_inputs(ctx: ActionContext, form_id: str, slots: _Slots, *, optional: bool) -> None:
    cols = st.columns([2, 1])
    with cols[0]:
        st.text_input("Price amount" + (" (optional)" if optional else ""), key=f"{form_id}.amount",
                      placeholder="49.00", help="Leave empty to create the product without a price."
                      if optional else "In the currency's major unit.")
        slots.under("amount")
    with cols[1]:
        _currency_input(ctx, form_id)
        slots.under("currency")
    cols = st.columns(2)
    with cols[0]:
        st.selectbox("Billing", INTERVALS, index=INTERVALS.index("month"), key=f"{form_id}.interval",
                     format_func=lambda i: "One-time" if i == "one_time" else f"Recurring, by {i}")
        slots.under("interval")
    with cols[1]:
        st.number_input("Every", min_value=1, max_value=1000, value=1, step=1, key=f"{form_id}.interval_count",
                        help="Billing period in intervals: every 3 months, every 2 weeks… at most one year.")
        slots.under("interval_count")


def _price_data(form_id: str) -> dict:
    s = st.session_state
    interval = s.get(f"{form_id}.interval")
    return {"amount": s.get(f"{form_id}.amount"), "currency": s.get(f"{form_id}.currency"),
            "interval": None if interval in (None, "one_time") else interval,
            "interval_count": s.get(f"{form_id}.interval_count") if interval not in (None, "one_time") else 1}


def product_form(ctx: ActionContext, *, form_id: str = "product") -> ActionResult | None:
    """New product with its default price (one-time or recurring)."""
    slots = _begin(form_id)
    result = None
    with st.form(form_id, enter_to_submit=False):
        st.text_input("Name", key=f"{form_id}.name")
        slots.under("name")
        st.text_input("Description", key=f"{form_id}.description")
        slots.under("description")
        st.checkbox("Active (can be sold)", value=True, key=f"{form_id}.active")
        _price_inputs(ctx, form_id, slots, optional=True)
        _metadata_input(form_id)
        slots.under("metadata")
        confirm_live = _live_confirmation(ctx, form_id, "product")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Create product", type="primary", icon=":material/add_box:")
    if submitted:
        s = st.session_state
        price = _price_data(form_id)
        if not (price["amount"] or "").strip():
            price = {}
        data = {"name": s.get(f"{form_id}.name"), "description": s.get(f"{form_id}.description"),
                "active": bool(s.get(f"{form_id}.active", True)),
                "metadata": models.parse_metadata_text(s.get(f"{form_id}.metadata")), **price}
        result = _submit(ctx, form_id, slots, models.ProductInput, data, actions.create_product, confirm_live)
    _show_result(form_id, slots)
    return result


def price_form(ctx: ActionContext, *, product: str | None = None, form_id: str = "price") -> ActionResult | None:
    """One more price for an existing product."""
    slots = _begin(form_id)
    result = None
    products = {r["id"]: f"{r['name']} · {r['id']}" for r in ctx.read(queries.product_choices, unreadable=[])}
    if product and product not in products:
        products = {product: product, **products}
    with st.form(form_id, enter_to_submit=False):
        if products:
            options = list(products)
            st.selectbox("Product", options, index=options.index(product) if product in products else None,
                         key=f"{form_id}.product", format_func=lambda p: products.get(p, p),
                         placeholder="Choose a product")
        else:
            st.text_input("Product", key=f"{form_id}.product", placeholder="prod_…")
        slots.under("product")
        _price_inputs(ctx, form_id, slots, optional=False)
        st.text_input("Nickname", key=f"{form_id}.nickname", placeholder="optional, e.g. Annual")
        slots.under("nickname")
        _metadata_input(form_id)
        slots.under("metadata")
        confirm_live = _live_confirmation(ctx, form_id, "price")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Add price", type="primary", icon=":material/sell:")
    if submitted:
        s = st.session_state
        data = {"product": s.get(f"{form_id}.product"), "nickname": s.get(f"{form_id}.nickname"),
                "metadata": models.parse_metadata_text(s.get(f"{form_id}.metadata")), **_price_data(form_id)}
        result = _submit(ctx, form_id, slots, models.PriceInput, data, actions.add_price, confirm_live)
    _show_result(form_id, slots, again_label="Add another price")
    return result


# ----------------------------------------------------------------------------- subscriptions

def _recurring_prices(ctx: ActionContext) -> dict[str, str]:
    out = {}
    for price in ctx.read(queries.recurring_price_choices, unreadable=[]):
        interval, count, amount, currency = (price["interval"], price["interval_count"], price["unit_amount"],
                                             price["currency"])
        every = interval if (count or 1) == 1 else f"{count} {interval}s"
        money = format_amount(amount, currency) if amount is not None and currency else "—"
        out[price["id"]] = f"{price['product_name'] or 'Price'} · {money} / {every} · {price['id']}"
    return out


def subscription_form(ctx: ActionContext, *, customer: str | None = None,
                      form_id: str = "subscription") -> ActionResult | None:
    """New subscription: customer, one or more prices with quantities, trial, coupon."""
    slots = _begin(form_id)
    result = None
    prices = _recurring_prices(ctx)
    with st.form(form_id, enter_to_submit=False):
        _customer_input(ctx, form_id, customer)
        slots.under("customer")
        st.markdown("**Prices**")
        for row in range(ITEM_ROWS):
            cols = st.columns([4, 1], vertical_alignment="bottom")
            if prices:
                cols[0].selectbox(f"Price {row + 1}", [""] + list(prices), key=f"{form_id}.price{row}",
                                  format_func=lambda p: prices.get(p, p) if p else "—",
                                  label_visibility="visible" if row == 0 else "collapsed")
            else:
                cols[0].text_input(f"Price {row + 1}", key=f"{form_id}.price{row}", placeholder="price_…",
                                   label_visibility="visible" if row == 0 else "collapsed")
            cols[1].number_input("Quantity", min_value=1, max_value=models.MAX_QUANTITY, value=1, step=1,
                                 key=f"{form_id}.quantity{row}",
                                 label_visibility="visible" if row == 0 else "collapsed")
        slots.under("items")
        cols = st.columns(2)
        with cols[0]:
            st.number_input("Trial days", min_value=0, max_value=10_000, value=0, step=1, key=f"{form_id}.trial_days",
                            help="0 for no trial; at most 730 days.")
            slots.under("trial_days")
        with cols[1]:
            st.text_input("Coupon", key=f"{form_id}.coupon", placeholder="optional coupon id")
            slots.under("coupon")
        _metadata_input(form_id)
        slots.under("metadata")
        confirm_live = _live_confirmation(ctx, form_id, "subscription")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Start subscription", type="primary", icon=":material/autorenew:")
    if submitted:
        s = st.session_state
        items = [{"price": s.get(f"{form_id}.price{row}"), "quantity": s.get(f"{form_id}.quantity{row}")}
                 for row in range(ITEM_ROWS) if (s.get(f"{form_id}.price{row}") or "").strip()]
        data = {"customer": s.get(f"{form_id}.customer"), "items": items, "trial_days": s.get(f"{form_id}.trial_days"),
                "coupon": s.get(f"{form_id}.coupon"),
                "metadata": models.parse_metadata_text(s.get(f"{form_id}.metadata"))}
        result = _submit(ctx, form_id, slots, models.SubscriptionInput, data, actions.create_subscription,
                         confirm_live)
    _show_result(form_id, slots, again_label="New subscription")
    return result


def _subscriptions(ctx: ActionContext, *, scheduled_only: bool = False) -> dict[str, str]:
    rows = ctx.read(queries.subscription_choices, unreadable=[], scheduled_only=scheduled_only)
    return {r["id"]: " · ".join(x for x in (r["name"] or r["email"], r["status"].replace("_", " ") if r["status"]
                                            else None, r["id"]) if x)
            for r in rows}


def _subscription_input(ctx: ActionContext, form_id: str, preset: str | None, known: dict[str, str]) -> str | None:
    if preset and preset not in known:
        known = {preset: preset, **known}
    if not known:
        return st.text_input("Subscription", key=f"{form_id}.subscription", placeholder="sub_…")
    options = list(known)
    return st.selectbox("Subscription", options, index=options.index(preset) if preset in known else None,
                        key=f"{form_id}.subscription", format_func=lambda s: known.get(s, s),
                        placeholder="Choose a subscription")


def cancel_subscription_form(ctx: ActionContext, *, subscription: str | None = None,
                             form_id: str = "cancel_subscription") -> ActionResult | None:
    """Cancel a subscription at period end or immediately, after a confirmation naming the
    customer and the MRR that will be lost."""
    slots = _begin(form_id, ("confirm_live", "confirm"))
    result = None
    chosen = _subscription_input(ctx, form_id, subscription, _subscriptions(ctx))
    slots.under("subscription")
    summary = subscription_summary(ctx, chosen) if chosen else None
    who = summary["customer_label"] if summary else (chosen or "")
    if summary:
        ends = summary["period_end"].strftime("%Y-%m-%d") if summary.get("period_end") else "the period end"
        st.info(f"Canceling **{chosen}** of **{who}** loses **{summary['mrr_text']}** of MRR (list price, before "
                f"discounts). At period end, it stays active until {ends}.", icon=":material/info:")
    with st.form(form_id, enter_to_submit=False):
        st.radio("When", ["at_period_end", "immediately"], key=f"{form_id}.when", horizontal=True,
                 format_func=lambda w: "At the end of the current period" if w == "at_period_end" else "Immediately")
        slots.under("when")
        st.checkbox(f"Yes, cancel this subscription{' of ' + who if who else ''}", key=f"{form_id}.confirm")
        slots.under("confirm")
        confirm_live = _live_confirmation(ctx, form_id, "cancellation")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Cancel subscription", type="primary", icon=":material/cancel:")
    if submitted:
        s = st.session_state
        extra = {} if s.get(f"{form_id}.confirm") else {"confirm": "Tick the confirmation to cancel the subscription."}
        data = {"subscription": chosen, "when": s.get(f"{form_id}.when") or "at_period_end"}
        result = _submit(ctx, form_id, slots, models.CancelSubscriptionInput, data, actions.cancel_subscription,
                         confirm_live, extra_errors=extra)
    _show_result(form_id, slots, again_label="Cancel another")
    return result


def resume_subscription_form(ctx: ActionContext, *, subscription: str | None = None,
                             form_id: str = "resume_subscription") -> ActionResult | None:
    """Undo a scheduled cancellation."""
    slots = _begin(form_id)
    result = None
    chosen = _subscription_input(ctx, form_id, subscription, _subscriptions(ctx, scheduled_only=True))
    slots.under("subscription")
    with st.form(form_id, enter_to_submit=False):
        st.caption("Removes the scheduled cancellation: the subscription renews as before.")
        confirm_live = _live_confirmation(ctx, form_id, "change")
        slots.under("confirm_live")
        submitted = st.form_submit_button("Resume subscription", type="primary", icon=":material/play_arrow:")
    if submitted:
        result = _submit(ctx, form_id, slots, models.ResumeSubscriptionInput, {"subscription": chosen},
                         actions.resume_subscription, confirm_live)
    _show_result(form_id, slots, again_label="Resume another")
    return result


# ----------------------------------------------------------------------------- pages

_CTX_KEY = STATE_PREFIX + "action_context"


def action_context(app_ctx) -> tuple[ActionContext | None, str | None]:
    """(context, None) when the access policy lets this user write to the page's account,
    else (None, why not)."""
    from .. import access
    from . import signin

    account = getattr(app_ctx, "account", None)
    settings = getattr(app_ctx, "settings", None)
    if account is None or settings is None:
        return None, "No account is open."
    target = access.Target(account.id, account.path, demo=account.demo, pending=account.pending)
    who = getattr(app_ctx, "principal", None) or signin.principal_or_anonymous()
    decision = access.may_write(who, settings, target, getattr(app_ctx, "connection", None), signin.exposure())
    if not decision.allowed:
        return None, decision.reason
    if decision.route == "connection":
        return _connection_context(settings, account, decision.connection)
    memo = st.session_state.get(_CTX_KEY)
    if memo and memo[0] == (account.id, str(account.path), settings.stripe_api_base):
        return memo[1], memo[2]
    from ..stripe_client import build_client
    from ..sync import SyncError, fetch_account

    access_ = build_client(settings)
    reason = None
    ctx: ActionContext | None = None
    try:
        key_account = fetch_account(access_, allow_unknown=True)["id"]
    except SyncError as error:
        key_account, reason = None, str(error)
    if key_account is not None:
        belongs = access.cache_belongs_to(account.id, key_account)
        if not belongs.allowed:
            reason = (f"The configured key belongs to {key_account}, not to {account.id}: switch to that account "
                      "to create objects.")
        else:
            ctx = ActionContext(access=access_, mode=access_.api_key_mode or settings.mode or "test",
                                cache_path=account.path, account_id=account.id)
    st.session_state[_CTX_KEY] = ((account.id, str(account.path), settings.stripe_api_base), ctx, reason)
    return ctx, reason


def _connection_context(settings, account, own) -> tuple[ActionContext | None, str | None]:
    """Writes through this user's own connection (its restricted key, OAuth token or the
    platform key with Stripe-Account). Not memoised: a Stripe Apps token is renewed here when
    it is about to expire. Stripe named the account, so no key check is needed."""
    from ..oauth import OAuthError

    try:
        access_ = own.access(settings)
    except OAuthError as error:
        return None, str(error)
    return ActionContext(access=access_, mode=own.mode, cache_path=account.path, account_id=account.id), None


_OPEN_KEY = STATE_PREFIX + "open_dialog"


def dialog_open() -> bool:
    """A form's dialog is open in this session (the page should not be rerun under it)."""
    return bool(st.session_state.get(_OPEN_KEY))


def _forget_open() -> None:
    st.session_state.pop(_OPEN_KEY, None)


def _dialog_body(form: Callable[..., Any], ctx: ActionContext, **kwargs: Any) -> None:
    result = form(ctx, **kwargs)
    if result is not None and result.ok:
        st.caption("The tables update when this window is closed.")
    if st.button("Close", key=f"{STATE_PREFIX}close_{form.__name__}", icon=":material/close:"):
        _forget_open()
        st.rerun()


def _dialog(title: str, form: Callable[..., Any]) -> Callable[..., None]:
    """`form` in a modal dialog titled `title`, with a Close button; presets pass through."""
    def show(ctx: ActionContext, **presets: Any) -> None:
        _dialog_body(form, ctx, **presets)

    # Streamlit identifies a dialog (a fragment) by its function's qualified name: one per form.
    show.__qualname__ = show.__name__ = f"{form.__name__}_dialog"
    return st.dialog(title, width="large", on_dismiss=_forget_open)(show)


# kind -> (label, icon, dialog, the presets its form takes)
PAGE_BUTTONS: dict[str, list[tuple[str, str, Callable, tuple[str, ...]]]] = {
    "customer": [("New customer", ":material/person_add:", _dialog("New customer", customer_form), ())],
    "payment": [("New payment", ":material/add_card:", _dialog("New payment", payment_form), ("customer",))],
    "product": [("New product", ":material/add_box:", _dialog("New product", product_form), ()),
                ("Add a price", ":material/sell:", _dialog("Add a price", price_form), ("product",))],
    "subscription": [
        ("New subscription", ":material/autorenew:", _dialog("New subscription", subscription_form), ("customer",)),
        ("Cancel…", ":material/cancel:", _dialog("Cancel a subscription", cancel_subscription_form),
         ("subscription",)),
        ("Resume…", ":material/play_arrow:", _dialog("Resume a subscription", resume_subscription_form),
         ("subscription",))],
}


def page_actions(container, app_ctx, kind: str, **preset: Any) -> None:
    """The buttons of a page (`kind`: customer, payment, product or subscription) that open its
    forms in dialogs, disabled with the reason when the account cannot be written to.
    `preset` (e.g. customer="cus_…") preselects in the forms that take it. The open dialog is
    kept in the session, so it stays open across reruns until closed."""
    ctx, reason = action_context(app_ctx)
    for label, icon, _, takes in PAGE_BUTTONS[kind]:
        if container.button(label, key=f"{STATE_PREFIX}open_{kind}_{label}", icon=icon, disabled=ctx is None,
                            help=reason):
            st.session_state[_OPEN_KEY] = (kind, label, {k: v for k, v in preset.items() if k in takes})
    opened = st.session_state.get(_OPEN_KEY)
    if ctx is None or not opened or opened[0] != kind:
        return
    dialog = next((d for label, _, d, _ in PAGE_BUTTONS[kind] if label == opened[1]), None)
    if dialog is not None:
        dialog(ctx, **opened[2])
