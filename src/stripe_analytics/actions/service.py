"""The write actions: one function per action, each taking an `ActionContext`, a validated
input (a model or a dict, see `models`) and the submission's idempotency key.

Every action
- refuses live-mode writes unless `confirm_live=True` (nothing is sent);
- sends the submission's idempotency key (derived keys `<key>:<step>` for actions of several
  requests), so a double submit, a rerun or a retry after a timeout never creates twice;
- turns Stripe's errors into plain words saying what to do, and names the input field an
  invalid-parameter error is about;
- writes the created or updated objects into the account's cache at once, through
  `ingest.write_objects` (upserts by id, so the next sync does not duplicate them);
- records the attempt in the cache's `audit_log` (never a secret: messages are redacted).
It returns an `ActionResult` and raises only `models.InputError` (bad input, nothing sent)
or `ValueError` for a malformed idempotency key.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import stripe

from .. import ingest
from ..cache import Cache, CacheError, utcnow
from ..config import Settings
from ..money import format_amount
from ..resources import RESOURCE_BY_OBJECT
from ..stripe_client import StripeAccess, build_client, redact
from .models import (
    CancelSubscriptionInput, CustomerInput, PaymentInput, PriceInput, ProductInput, ResumeSubscriptionInput,
    SubscriptionInput, parse,
)

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,200}$")
AUDIT_MESSAGE_MAX = 1000
PENDING_SUFFIX = ".audit-pending.jsonl"

OUTCOME_SUCCEEDED = "succeeded"  # created / updated as asked
OUTCOME_REQUIRES_ACTION = "requires_action"  # payment created, the customer must authenticate
OUTCOME_PENDING = "pending"  # payment created and left for later, or processing
OUTCOME_UNCHANGED = "unchanged"  # nothing to do (already canceled, nothing to resume)
OUTCOME_DECLINED = "declined"
OUTCOME_FAILED = "failed"
OUTCOME_REFUSED = "refused"  # live mode without confirmation: nothing sent

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


def new_submission_key() -> str:
    """A fresh idempotency key for one form submission (reuse it for every retry of it)."""
    return f"sa_{uuid.uuid4().hex}"


def _check_key(key: str | None) -> str:
    if key is None:
        return new_submission_key()
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValueError("the idempotency key must be 8 to 200 characters: letters, digits, _ . : -")
    return key


# ----------------------------------------------------------------------------- context

@dataclass
class ActionContext:
    """Where actions act: a Stripe client, the account's cache and the key's mode.

    `cache` is an open writable Cache (the CLI, scripts, tests). The app instead gives
    `cache_path`: the cache is opened for writing only around each write, so its read-only
    readers and a sync can use the file the rest of the time."""

    access: StripeAccess
    mode: str = "test"
    cache: Cache | None = None
    cache_path: Path | None = None
    account_id: str | None = None
    open_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, *, cache: Cache | None = None, cache_path: str | Path | None = None,
                      access: StripeAccess | None = None, account_id: str | None = None) -> "ActionContext":
        access = access or build_client(settings)
        return cls(access=access, mode=access.api_key_mode or settings.mode or "test", cache=cache,
                   cache_path=Path(cache_path) if cache_path else (cache.path if cache else None),
                   account_id=account_id or (cache.account_id if cache else None))

    @property
    def client(self) -> stripe.StripeClient:
        return self.access.client

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @contextlib.contextmanager
    def writer(self) -> Iterator[Cache]:
        """The writable cache: the open one, or the file opened for this write only (retrying a
        few seconds while a reader of this process or another writer holds it)."""
        if self.cache is not None:
            yield self.cache
            return
        if self.cache_path is None:
            raise CacheError("No cache is set for this account.")
        deadline = time.monotonic() + self.open_timeout
        while True:
            try:
                cache = Cache.open(self.cache_path)
                break
            except (CacheError, duckdb.Error) as error:
                if time.monotonic() > deadline:
                    raise CacheError(str(error).splitlines()[0]) from None
                time.sleep(0.2)
        try:
            yield cache
        finally:
            cache.close()

    def read(self, sql: str, params: list | None = None) -> list[tuple]:
        """Rows from the cache (its open connection, or a short read-only one); [] if unreadable."""
        try:
            if self.cache is not None:
                return self.cache.con.execute(sql, params or []).fetchall()
            if self.cache_path is None or not Path(self.cache_path).exists():
                return []
            with Cache.open(self.cache_path, read_only=True) as cache:
                return cache.con.execute(sql, params or []).fetchall()
        except (CacheError, duckdb.Error):
            return []


@dataclass
class ActionResult:
    action: str
    outcome: str
    message: str  # plain words: what happened and what to do
    ok: bool
    object_type: str | None = None
    object_id: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    field: str | None = None  # the input field a Stripe error is about
    replayed: bool = False  # Stripe answered from an earlier request with the same key
    cached: bool = False  # written into the cache
    objects: list[dict] = dc_field(default_factory=list, repr=False)
    warnings: list[str] = dc_field(default_factory=list)

    @property
    def object(self) -> dict | None:
        return next((o for o in self.objects if o.get("id") == self.object_id), None)

    @property
    def errors(self) -> dict[str, str]:
        """{field: message} for a form when Stripe refused a parameter."""
        return {self.field: self.message} if self.field and not self.ok else {}

    def as_dict(self) -> dict:
        return {"action": self.action, "outcome": self.outcome, "ok": self.ok, "message": self.message,
                "object_type": self.object_type, "object_id": self.object_id,
                "idempotency_key": self.idempotency_key, "error_code": self.error_code, "field": self.field,
                "replayed": self.replayed, "cached": self.cached, "warnings": self.warnings}


# ----------------------------------------------------------------------------- errors in plain words

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


def _decline_reason(code: str | None) -> str:
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
        reason = _decline_reason(decline or (code if code != "card_declined" else None))
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


# ----------------------------------------------------------------------------- audit and cache

def _audit_row(ctx: ActionContext, result: ActionResult) -> dict:
    return {
        "id": f"aud_{uuid.uuid4().hex}", "at": utcnow().isoformat(), "mode": ctx.mode, "action": result.action,
        "object_type": result.object_type, "object_id": result.object_id,
        "idempotency_key": result.idempotency_key, "outcome": result.outcome, "error_code": result.error_code,
        "message": redact(result.message)[:AUDIT_MESSAGE_MAX],
    }


_AUDIT_COLUMNS = ("id", "at", "mode", "action", "object_type", "object_id", "idempotency_key", "outcome",
                  "error_code", "message")


def _insert_audit(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    con.executemany(
        f"INSERT OR IGNORE INTO audit_log ({', '.join(chr(34) + c + chr(34) for c in _AUDIT_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _AUDIT_COLUMNS)})",
        [[datetime.fromisoformat(r["at"]) if c == "at" else r[c] for c in _AUDIT_COLUMNS] for r in rows])


def _pending_path(ctx: ActionContext) -> Path | None:
    return Path(str(ctx.cache_path) + PENDING_SUFFIX) if ctx.cache_path else None


def _save_pending(ctx: ActionContext, row: dict) -> None:
    """Keep an audit row the cache could not take (a sync holds it) for the next write."""
    path = _pending_path(ctx)
    if path is None:
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def _take_pending(ctx: ActionContext) -> list[dict]:
    path = _pending_path(ctx)
    if path is None or not path.exists():
        return []
    rows = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    return rows


def _record(ctx: ActionContext, result: ActionResult) -> ActionResult:
    """Write the result's objects and its audit row in one transaction of the cache."""
    row = _audit_row(ctx, result)
    try:
        with ctx.writer() as cache:
            pending = _take_pending(ctx)
            with cache.transaction() as con:
                if result.objects:
                    ingest.write_objects(con, result.objects, history_source="action")
                _insert_audit(con, pending + [row])
            if pending:
                with contextlib.suppress(OSError):
                    _pending_path(ctx).unlink()
        result.cached = bool(result.objects)
    except (CacheError, duckdb.Error) as error:
        _save_pending(ctx, row)
        if result.objects:
            result.warnings.append(
                "It is saved in Stripe, but the app's cache could not be updated now "
                f"({redact(str(error).splitlines()[0])}); it will appear after the next sync.")
    return result


def _dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict(for_json=True)


def _replayed(obj: Any) -> bool:
    response = getattr(obj, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        return str(headers.get("idempotent-replayed", "")).lower() == "true"
    except AttributeError:
        return False


def _options(key: str, step: str | None = None) -> dict:
    return {"idempotency_key": f"{key}:{step}" if step else key}


def _complete(ctx: ActionContext, obj: dict) -> dict:
    """Fill embedded lists Stripe truncated (subscription items, invoice lines), as the sync does."""
    from ..sync import Fetcher

    resource = RESOURCE_BY_OBJECT.get(obj.get("object", ""))
    if resource is not None and resource.children:
        Fetcher(ctx.access).complete_children(resource, obj)
    return obj


def _collapse(obj: dict, *fields: str) -> tuple[dict, list[dict]]:
    """The object with expanded references reduced to ids (Stripe's unexpanded shape, as the
    sync stores it), and the expanded objects."""
    out, found = dict(obj), []
    for name in fields:
        value = out.get(name)
        if isinstance(value, dict) and value.get("id"):
            found.append(value)
            out[name] = value["id"]
    return out, found


def _customer_label(ctx: ActionContext, customer_id: str | None) -> str:
    if not customer_id:
        return "no customer"
    rows = ctx.read("SELECT name, email FROM customers WHERE id = ?", [customer_id])
    if rows and (rows[0][0] or rows[0][1]):
        name, email = rows[0]
        return f"{name} <{email}>" if name and email else (name or email)
    return customer_id


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") if ts else "?"


def _run(ctx: ActionContext, *, action: str, object_type: str, key: str | None, confirm_live: bool,
         what: str, send: Callable[[str], ActionResult]) -> ActionResult:
    key = _check_key(key)
    if ctx.live and not confirm_live:
        result = ActionResult(action, OUTCOME_REFUSED, f"Live mode: {what} would be real. Nothing was sent; "
                              "confirm the live-mode write (the checkbox, or --yes) and submit again.", False,
                              object_type, idempotency_key=key, error_code="live_not_confirmed")
        return _record(ctx, result)
    try:
        result = send(key)
    except stripe.StripeError as error:
        code, message, fld = explain(error, object_type)
        result = ActionResult(action, OUTCOME_FAILED, message, False, object_type, idempotency_key=key,
                              error_code=code, field=fld)
    except Exception as error:  # a bug or an unexpected reply: still recorded, then raised
        _record(ctx, ActionResult(action, OUTCOME_FAILED, f"Unexpected error: {type(error).__name__}: {error}", False,
                                  object_type, idempotency_key=key, error_code=type(error).__name__))
        raise
    result.idempotency_key = key
    if result.replayed and result.ok:
        result.message += (" (Stripe had already received this submission, from a double click or a retry, and "
                           "returned the same object: nothing new was created.)")
    return _record(ctx, result)


# ----------------------------------------------------------------------------- customers

def create_customer(ctx: ActionContext, input: CustomerInput | dict, idempotency_key: str | None = None, *,
                    confirm_live: bool = False) -> ActionResult:
    data: CustomerInput = parse(CustomerInput, input)

    def send(key: str) -> ActionResult:
        params: dict[str, Any] = {k: v for k, v in {
            "email": data.email, "name": data.name, "phone": data.phone, "description": data.description,
        }.items() if v is not None}
        if data.address is not None:
            params["address"] = data.address.to_stripe()
        if data.metadata:
            params["metadata"] = dict(data.metadata)
        created = ctx.client.v1.customers.create(params, _options(key))
        customer = _dict(created)
        label = customer.get("name") or customer.get("email") or customer["id"]
        return ActionResult("create_customer", OUTCOME_SUCCEEDED, f"Customer {label} created ({customer['id']}).",
                            True, "customer", customer["id"], replayed=_replayed(created), objects=[customer])

    return _run(ctx, action="create_customer", object_type="customer", key=idempotency_key,
                confirm_live=confirm_live, what="creating a customer", send=send)


# ----------------------------------------------------------------------------- payments

_PI_EXPAND = ["latest_charge", "latest_charge.balance_transaction"]


def _payment_objects(ctx: ActionContext, pi: dict) -> list[dict]:
    """The PaymentIntent, its latest charge and the charge's balance transaction, each in the
    shape the sync stores (references as ids)."""
    pi, expanded = _collapse(pi, "latest_charge")
    objects = [pi]
    for charge in expanded:
        charge, txns = _collapse(charge, "balance_transaction")
        objects += [charge, *txns]
    return objects


def _retrieve_payment(ctx: ActionContext, pi_id: str) -> dict:
    try:
        return _dict(ctx.client.v1.payment_intents.retrieve(pi_id, {"expand": _PI_EXPAND}))
    except stripe.InvalidRequestError:  # a Stripe-compatible server without nested expansion
        return _dict(ctx.client.v1.payment_intents.retrieve(pi_id, {"expand": ["latest_charge"]}))


def _declined_payment_id(ctx: ActionContext, error: stripe.CardError) -> str | None:
    info = getattr(error, "error", None)
    pi = getattr(info, "payment_intent", None)
    if pi is not None:
        return pi.get("id") if isinstance(pi, dict) else getattr(pi, "id", None)
    charge_id = getattr(info, "charge", None) or (error.json_body or {}).get("error", {}).get("charge")
    if charge_id:
        with contextlib.suppress(stripe.StripeError):
            charge = _dict(ctx.client.v1.charges.retrieve(charge_id))
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
        who = _customer_label(ctx, data.customer)
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
            created = ctx.client.v1.payment_intents.create(params, _options(key))
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
        pi = _dict(created)
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
                    f"{_decline_reason(error.get('decline_code'))}. Ask the customer for another payment method.")
        else:
            text = (f"Payment of {amount} from {who} created and left for later ({pi['id']}, status "
                    f"{str(status).replace('_', ' ')}): confirm it with a payment method when ready.")
        return ActionResult("create_payment", outcome, text, ok, "payment_intent", pi["id"],
                            replayed=_replayed(created), objects=objects)

    return _run(ctx, action="create_payment", object_type="payment_intent", key=idempotency_key,
                confirm_live=confirm_live, what=f"a payment of {amount}", send=send)


# ----------------------------------------------------------------------------- products and prices

def _price_params(data: ProductInput | PriceInput, product_id: str) -> dict[str, Any]:
    params = {"product": product_id, **data.price_params()}
    nickname = getattr(data, "nickname", None)
    if nickname:
        params["nickname"] = nickname
    if isinstance(data, PriceInput) and data.metadata:
        params["metadata"] = dict(data.metadata)
    return params


def create_product(ctx: ActionContext, input: ProductInput | dict, idempotency_key: str | None = None, *,
                   confirm_live: bool = False) -> ActionResult:
    """A product and, when an amount is given, its default price: three requests (product,
    price, default price) with keys `<key>:product`, `<key>:price`, `<key>:default_price`, so a
    retry of the submission finishes what is missing without creating anything twice."""
    data: ProductInput = parse(ProductInput, input)

    def send(key: str) -> ActionResult:
        params: dict[str, Any] = {"name": data.name, "active": data.active}
        if data.description:
            params["description"] = data.description
        if data.metadata:
            params["metadata"] = dict(data.metadata)
        created = ctx.client.v1.products.create(params, _options(key, "product"))
        product = _dict(created)
        replayed = _replayed(created)
        if not data.has_price:
            return ActionResult("create_product", OUTCOME_SUCCEEDED,
                                f"Product {product['name']} created ({product['id']}).", True, "product",
                                product["id"], replayed=replayed, objects=[product])
        try:
            price = _dict(ctx.client.v1.prices.create(_price_params(data, product["id"]), _options(key, "price")))
        except stripe.StripeError as error:
            code, message, fld = explain(error, "price")
            return ActionResult("create_product", OUTCOME_FAILED,
                                f"Product {product['name']} was created ({product['id']}), but its price was not: "
                                f"{message} Submitting again adds only the price.", False, "product",
                                product["id"], error_code=code, field=fld, objects=[product])
        warnings = []
        try:
            product = _dict(ctx.client.v1.products.update(product["id"], {"default_price": price["id"]},
                                                          _options(key, "default_price")))
        except stripe.StripeError as error:
            _, message, _ = explain(error, "product")
            warnings.append(f"The price {price['id']} was created but could not be made the product's default "
                            f"price: {message}")
        return ActionResult("create_product", OUTCOME_SUCCEEDED,
                            f"Product {product['name']} created ({product['id']}) with its price "
                            f"{data.describe_price()} ({price['id']}).", True, "product", product["id"],
                            replayed=replayed, objects=[product, price], warnings=warnings)

    return _run(ctx, action="create_product", object_type="product", key=idempotency_key,
                confirm_live=confirm_live, what="creating a product", send=send)


def add_price(ctx: ActionContext, input: PriceInput | dict, idempotency_key: str | None = None, *,
              confirm_live: bool = False) -> ActionResult:
    data: PriceInput = parse(PriceInput, input)

    def send(key: str) -> ActionResult:
        created = ctx.client.v1.prices.create(_price_params(data, data.product), _options(key))
        price = _dict(created)
        return ActionResult("add_price", OUTCOME_SUCCEEDED,
                            f"Price {data.describe_price()} added to {data.product} ({price['id']}).", True,
                            "price", price["id"], replayed=_replayed(created), objects=[price])

    return _run(ctx, action="add_price", object_type="price", key=idempotency_key, confirm_live=confirm_live,
                what="adding a price", send=send)


# ----------------------------------------------------------------------------- subscriptions

_MONTHS_PER = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}


def monthly_amount(unit_amount: int | None, quantity: int | None, interval: str | None,
                   interval_count: int | None) -> float:
    """An item's list price normalised to a month (minor units), as metrics.md normalises it."""
    if not unit_amount or not interval or interval not in _MONTHS_PER:
        return 0.0
    return float(unit_amount) * (quantity or 0) / (_MONTHS_PER[interval] * (interval_count or 1))


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
    rows = ctx.read(
        "SELECT s.customer, s.status, s.currency, s.cancel_at_period_end, c.name, c.email, "
        "(SELECT max(current_period_end) FROM subscription_items i WHERE i.subscription = s.id AND NOT i.deleted) "
        "FROM subscriptions s LEFT JOIN customers c ON c.id = s.customer WHERE s.id = ?", [subscription_id])
    if not rows:
        return None
    customer, status, currency, at_end, name, email, period_end = rows[0]
    items = ctx.read("SELECT unit_amount, quantity, interval, interval_count FROM subscription_items "
                     "WHERE subscription = ? AND NOT deleted", [subscription_id])
    mrr = sum(monthly_amount(*row) for row in items)
    label = f"{name} <{email}>" if name and email else (name or email or customer)
    return {"id": subscription_id, "customer": customer, "customer_label": label, "status": status,
            "currency": currency, "mrr": mrr, "cancel_at_period_end": bool(at_end), "period_end": period_end,
            "mrr_text": format_amount(round(mrr), currency) if currency else "—"}


def _subscription_objects(ctx: ActionContext, sub: dict) -> list[dict]:
    sub = _complete(ctx, dict(sub))
    sub, invoices = _collapse(sub, "latest_invoice")
    return [sub, *invoices]


def _retrieve_subscription(ctx: ActionContext, subscription_id: str) -> dict:
    return _complete(ctx, _dict(ctx.client.v1.subscriptions.retrieve(subscription_id, {"expand": ["discounts"]})))


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
        created = ctx.client.v1.subscriptions.create(params, _options(key))
        sub = _complete(ctx, _dict(created))
        objects = [sub]
        invoice_id = sub.get("latest_invoice")
        invoice_id = invoice_id.get("id") if isinstance(invoice_id, dict) else invoice_id
        warnings = []
        if invoice_id:
            try:
                objects.append(_complete(ctx, _dict(ctx.client.v1.invoices.retrieve(invoice_id))))
            except stripe.StripeError as error:
                warnings.append(f"Its first invoice {invoice_id} could not be read now ({explain(error)[1]}); "
                                "it will appear after the next sync.")
        objects[0], _ = _collapse(sub, "latest_invoice")  # as the sync stores it, expanded or not
        who = _customer_label(ctx, data.customer)
        currency, mrr = subscription_mrr(sub)
        status = sub.get("status")
        text = f"Subscription {sub['id']} for {who} "
        if status == "trialing":
            text += f"started with a trial until {_day(sub.get('trial_end'))}"
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
                            "subscription", sub["id"], replayed=_replayed(created), objects=objects,
                            warnings=warnings)

    return _run(ctx, action="create_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="starting a subscription", send=send)


def cancel_subscription(ctx: ActionContext, input: CancelSubscriptionInput | dict,
                        idempotency_key: str | None = None, *, confirm_live: bool = False) -> ActionResult:
    """Cancel now (`when="immediately"`) or at the end of the current period."""
    data: CancelSubscriptionInput = parse(CancelSubscriptionInput, input)

    def send(key: str) -> ActionResult:
        sub = _retrieve_subscription(ctx, data.subscription)
        who = _customer_label(ctx, sub.get("customer") if isinstance(sub.get("customer"), str)
                              else (sub.get("customer") or {}).get("id"))
        currency, mrr = subscription_mrr(sub)
        lost = f" MRR lost: {format_amount(round(mrr), currency)} (list price)." if currency and mrr else ""
        base = dict(action="cancel_subscription", object_type="subscription", object_id=sub["id"])
        if sub.get("status") in ("canceled", "incomplete_expired"):
            return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                message=f"Subscription {sub['id']} of {who} was already canceled; nothing changed.",
                                **base)
        if data.when == "at_period_end":
            if sub.get("cancel_at_period_end"):
                return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                    message=f"Subscription {sub['id']} of {who} was already set to cancel at the "
                                            "end of its period; nothing changed.", **base)
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at_period_end": True, "expand": ["discounts"]}, _options(key))
            new = _complete(ctx, _dict(updated))
            ends = new.get("cancel_at") or max((i.get("current_period_end") or 0 for i in
                                                 (new.get("items") or {}).get("data") or []), default=None)
            return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                                replayed=_replayed(updated),
                                message=f"Subscription {sub['id']} of {who} will cancel at the end of its period, "
                                        f"on {_day(ends)}.{lost}", **base)
        try:
            canceled = ctx.client.v1.subscriptions.cancel(sub["id"], {"expand": ["discounts"]}, _options(key))
            new = _complete(ctx, _dict(canceled))
            replayed = _replayed(canceled)
        except stripe.InvalidRequestError:
            # A retry after a lost reply finds it canceled already: that is the asked outcome.
            new = _retrieve_subscription(ctx, sub["id"])
            if new.get("status") != "canceled":
                raise
            replayed = False
        return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                            replayed=replayed,
                            message=f"Subscription {sub['id']} of {who} canceled immediately.{lost}", **base)

    return _run(ctx, action="cancel_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="canceling a subscription", send=send)


def resume_subscription(ctx: ActionContext, input: ResumeSubscriptionInput | dict,
                        idempotency_key: str | None = None, *, confirm_live: bool = False) -> ActionResult:
    """Undo a scheduled cancellation (or resume a paused subscription)."""
    data: ResumeSubscriptionInput = parse(ResumeSubscriptionInput, input)

    def send(key: str) -> ActionResult:
        sub = _retrieve_subscription(ctx, data.subscription)
        who = _customer_label(ctx, sub.get("customer") if isinstance(sub.get("customer"), str)
                              else (sub.get("customer") or {}).get("id"))
        base = dict(action="resume_subscription", object_type="subscription", object_id=sub["id"])
        status = sub.get("status")
        if status in ("canceled", "incomplete_expired"):
            return ActionResult(outcome=OUTCOME_FAILED, ok=False, error_code="already_canceled", objects=[sub],
                                message=f"Subscription {sub['id']} of {who} is already canceled and cannot be "
                                        "resumed; start a new subscription instead.", **base)
        if status == "paused":
            updated = ctx.client.v1.subscriptions.resume(sub["id"], {"expand": ["discounts"]}, _options(key))
        elif sub.get("cancel_at_period_end"):
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at_period_end": False, "expand": ["discounts"]}, _options(key))
        elif sub.get("cancel_at"):
            updated = ctx.client.v1.subscriptions.update(
                sub["id"], {"cancel_at": "", "expand": ["discounts"]}, _options(key))
        else:
            return ActionResult(outcome=OUTCOME_UNCHANGED, ok=True, objects=[sub],
                                message=f"Subscription {sub['id']} of {who} is {str(status).replace('_', ' ')} "
                                        "with no cancellation scheduled; nothing to resume.", **base)
        new = _complete(ctx, _dict(updated))
        return ActionResult(outcome=OUTCOME_SUCCEEDED, ok=True, objects=_subscription_objects(ctx, new),
                            replayed=_replayed(updated),
                            message=f"Subscription {sub['id']} of {who} resumed: it renews as before "
                                    f"(status {str(new.get('status')).replace('_', ' ')}).", **base)

    return _run(ctx, action="resume_subscription", object_type="subscription", key=idempotency_key,
                confirm_live=confirm_live, what="resuming a subscription", send=send)
