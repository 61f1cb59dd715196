"""`stripe-analytics create|cancel|resume ...`: the write actions from the command line.

    stripe-analytics create customer --email ann@example.com [--name Ann] [--metadata plan=pro ...]
    stripe-analytics create payment --customer cus_... --amount 19.99 --currency usd [--payment-method pm_card_visa] [--confirm]
    stripe-analytics create product --name Pro [--amount 49 --currency usd [--interval month --interval-count 1]]
    stripe-analytics create price --product prod_... --amount 490 --currency usd [--interval year]
    stripe-analytics create subscription --customer cus_... --price price_...:QTY [--price ...] [--trial-days N] [--coupon ID]
    stripe-analytics cancel subscription sub_... [--at-period-end]
    stripe-analytics resume subscription sub_...

Every command takes `--idempotency-key` (reuse it to retry safely; one is made otherwise and
printed), `--yes` (needed for live-mode writes), `--db` (default DATA_DIR/<account id>.duckdb)
and `--json`. Exit codes: 0 done, 1 Stripe refused or failed, or the cache cannot be used
(message on stderr), 2 bad input, a DATA_DIR or --db that cannot be written or another
account's cache, or live mode without --yes (nothing sent), 3 the key was refused, 4 a
payment was created but needs the customer's action (authentication) or was left for later.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from .cli_args import CliError

# Exit codes
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_AUTH, EXIT_INCOMPLETE = 0, 1, 2, 3, 4

_FLAG_NAMES = {"subscription": "SUBSCRIPTION_ID", "when": "--at-period-end", "items": "--price"}


def flag_for(field: str) -> str:
    """The option a model field comes from (`items.1.quantity` -> `--price (item 2) quantity`)."""
    match = re.fullmatch(r"items\.(\d+)\.(\w+)", field)
    if match:
        part = "" if match.group(2) == "price" else f" {match.group(2)}"
        return f"--price (item {int(match.group(1)) + 1}){part}"
    if field in _FLAG_NAMES:
        return _FLAG_NAMES[field]
    return "--" + field.replace(".", "-").replace("_", "-")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--idempotency-key", dest="idempotency_key",
                   help="key of this submission; give the same one to retry without creating twice")
    p.add_argument("--yes", action="store_true", help="confirm a live-mode write")
    p.add_argument("--db", help="cache file (default DATA_DIR/<account id>.duckdb)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _metadata(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE", help="repeat for several keys")


def _items(values: list[str] | None) -> list[dict]:
    items = []
    for value in values or []:
        price, sep, quantity = value.rpartition(":") if ":" in value else (value, "", "")
        items.append({"price": price, "quantity": quantity if sep else 1})
    return items


def _inputs(ns: argparse.Namespace) -> dict[str, Any]:
    """The model's input from the parsed options (None values are left out)."""
    kind = ns.action_kind
    if kind == "create_customer":
        address = {k: getattr(ns, f"address_{k}") for k in ("line1", "line2", "city", "state", "postal_code",
                                                              "country")}
        data = {"email": ns.email, "name": ns.name, "phone": ns.phone, "description": ns.description,
                "metadata": ns.metadata, "address": address if any(address.values()) else None}
    elif kind == "create_payment":
        data = {"customer": ns.customer, "amount": ns.amount, "currency": ns.currency,
                "description": ns.description, "metadata": ns.metadata, "payment_method": ns.payment_method,
                "confirm": ns.confirm, "receipt_email": ns.receipt_email}
    elif kind == "create_product":
        data = {"name": ns.name, "description": ns.description, "active": not ns.inactive, "metadata": ns.metadata,
                "amount": ns.amount, "currency": ns.currency, "interval": ns.interval,
                "interval_count": ns.interval_count}
    elif kind == "add_price":
        data = {"product": ns.product, "amount": ns.amount, "currency": ns.currency, "interval": ns.interval,
                "interval_count": ns.interval_count, "nickname": ns.nickname, "metadata": ns.metadata}
    elif kind == "create_subscription":
        data = {"customer": ns.customer, "items": _items(ns.price), "trial_days": ns.trial_days,
                "coupon": ns.coupon, "metadata": ns.metadata}
    elif kind == "cancel_subscription":
        data = {"subscription": ns.subscription, "when": "at_period_end" if ns.at_period_end else "immediately"}
    else:
        data = {"subscription": ns.subscription}
    return {k: v for k, v in data.items() if v is not None}


def register(sub) -> None:
    """Add `create`, `cancel` and `resume` to the CLI (called by cli.py)."""

    create = sub.add_parser("create", help="create a customer, payment, product, price or subscription in Stripe")
    what = create.add_subparsers(dest="what", required=True)

    p = what.add_parser("customer", help="a customer")
    p.add_argument("--email")
    p.add_argument("--name")
    p.add_argument("--phone")
    p.add_argument("--description")
    for part in ("line1", "line2", "city", "state", "postal-code", "country"):
        p.add_argument(f"--address-{part}", dest=f"address_{part.replace('-', '_')}")
    _metadata(p)
    _common(p)
    p.set_defaults(func=run, action_kind="create_customer")

    p = what.add_parser("payment", help="a PaymentIntent for a customer (confirmed with --confirm)")
    p.add_argument("--customer", required=True, help="cus_…")
    p.add_argument("--amount", required=True, help="in major units, e.g. 19.99")
    p.add_argument("--currency", required=True, help="e.g. usd")
    p.add_argument("--payment-method", dest="payment_method", help="pm_… (test mode: pm_card_visa, …)")
    p.add_argument("--confirm", action="store_true", help="confirm now (otherwise the payment is left for later)")
    p.add_argument("--description")
    p.add_argument("--receipt-email", dest="receipt_email")
    _metadata(p)
    _common(p)
    p.set_defaults(func=run, action_kind="create_payment")

    p = what.add_parser("product", help="a product, with its default price when --amount is given")
    p.add_argument("--name", required=True)
    p.add_argument("--description")
    p.add_argument("--inactive", action="store_true", help="create it archived")
    p.add_argument("--amount", help="default price in major units, e.g. 49")
    p.add_argument("--currency")
    p.add_argument("--interval", help="day, week, month or year (omit for a one-time price)")
    p.add_argument("--interval-count", dest="interval_count")
    _metadata(p)
    _common(p)
    p.set_defaults(func=run, action_kind="create_product")

    p = what.add_parser("price", help="one more price of an existing product")
    p.add_argument("--product", required=True, help="prod_…")
    p.add_argument("--amount", required=True)
    p.add_argument("--currency", required=True)
    p.add_argument("--interval")
    p.add_argument("--interval-count", dest="interval_count")
    p.add_argument("--nickname")
    _metadata(p)
    _common(p)
    p.set_defaults(func=run, action_kind="add_price")

    p = what.add_parser("subscription", help="a subscription of a customer to one or more prices")
    p.add_argument("--customer", required=True)
    p.add_argument("--price", action="append", required=True, metavar="PRICE[:QTY]",
                   help="price id and quantity (default 1); repeat for several items")
    p.add_argument("--trial-days", dest="trial_days")
    p.add_argument("--coupon")
    _metadata(p)
    _common(p)
    p.set_defaults(func=run, action_kind="create_subscription")

    cancel = sub.add_parser("cancel", help="cancel a subscription")
    cancel_what = cancel.add_subparsers(dest="what", required=True)
    p = cancel_what.add_parser("subscription", help="now, or at the end of the period with --at-period-end")
    p.add_argument("subscription", metavar="SUBSCRIPTION_ID")
    p.add_argument("--at-period-end", dest="at_period_end", action="store_true")
    _common(p)
    p.set_defaults(func=run, action_kind="cancel_subscription")

    resume = sub.add_parser("resume", help="undo a subscription's scheduled cancellation")
    resume_what = resume.add_subparsers(dest="what", required=True)
    p = resume_what.add_parser("subscription")
    p.add_argument("subscription", metavar="SUBSCRIPTION_ID")
    _common(p)
    p.set_defaults(func=run, action_kind="resume_subscription")


def run(ns: argparse.Namespace) -> int:
    from . import actions
    from .access import operator_credentials
    from .actions import models
    from .cache import Cache, CacheAccountError, CacheError, CachePlaceError, cache_path, check_existing
    from .config import load_settings
    from .sync import (UNKNOWN_ACCOUNT, SyncAuthError, SyncError, SyncPlaceError, check_cache_place,
                       fetch_account, refuse_another_account)
    from .stripe_client import build_client

    kind = ns.action_kind
    model = {
        "create_customer": models.CustomerInput, "create_payment": models.PaymentInput,
        "create_product": models.ProductInput, "add_price": models.PriceInput,
        "create_subscription": models.SubscriptionInput, "cancel_subscription": models.CancelSubscriptionInput,
        "resume_subscription": models.ResumeSubscriptionInput,
    }[kind]
    # 1. the input, before anything is sent
    try:
        data = models.parse(model, _inputs(ns))
    except models.InputError as error:
        raise CliError("\n".join(f"{flag_for(f)} {m}" for f, m in error.errors.items()), EXIT_INPUT) from None
    db = Path(ns.db) if ns.db else None
    if db is not None and db.suffix != ".duckdb":
        raise CliError("--db must be a path to a .duckdb file", EXIT_INPUT)
    key = ns.idempotency_key
    if key is not None and not actions.context.KEY_RE.match(key):
        raise CliError("--idempotency-key must be 8 to 200 characters: letters, digits, _ . : -", EXIT_INPUT)
    key = key or actions.new_submission_key()

    # 2. the account and its cache (its place checked before anything is sent)
    settings = load_settings()
    allowed = operator_credentials(settings, "write")
    if not allowed.allowed:
        raise CliError(allowed.reason, EXIT_INPUT)
    try:
        check_cache_place(settings, db)
    except SyncPlaceError as error:
        raise CliError(str(error), EXIT_INPUT) from None
    except SyncError as error:
        raise CliError(str(error), EXIT_FAILED) from None
    access = build_client(settings)
    try:
        account = fetch_account(access, allow_unknown=db is not None)
    except SyncAuthError as error:
        raise CliError(str(error), EXIT_AUTH) from None
    except SyncError as error:
        raise CliError(str(error), EXIT_FAILED) from None
    account_id = account["id"]
    try:
        path = db or cache_path(settings.data_dir, account_id)
        refuse_another_account(check_existing(path, verify=True), account_id)
        cache = Cache.open(path)
    except (CacheAccountError, CachePlaceError) as error:
        raise CliError(str(error), EXIT_INPUT) from None
    except CacheError as error:
        raise CliError(str(error), EXIT_FAILED) from None
    try:
        stored = cache.account_id
        if not stored and account_id != UNKNOWN_ACCOUNT:
            with cache.transaction():
                cache.set_meta("account_id", account_id)
        ctx = actions.ActionContext(access=access, mode=access.api_key_mode or settings.mode or "test", cache=cache,
                                    cache_path=path, account_id=stored or account_id)
        function = getattr(actions, kind)
        result = function(ctx, data, key, confirm_live=ns.yes)
    finally:
        cache.close()

    # 3. the result
    if ns.json:
        print(json.dumps(result.as_dict(), indent=2))
    elif result.ok:
        print(result.message)
    else:
        print(result.message, file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not ns.json and not result.ok and result.outcome not in ("refused",):
        print(f"(idempotency key {key}: give it with --idempotency-key to retry this same submission)",
              file=sys.stderr)
    if result.outcome == "refused":
        if ns.json:
            return EXIT_INPUT
        raise CliError("Add --yes to confirm this live-mode write.", EXIT_INPUT)
    if kind == "create_payment" and (result.outcome == "requires_action"
                                     or (result.outcome == "pending" and ns.confirm)):
        return EXIT_INCOMPLETE
    return EXIT_OK if result.ok else EXIT_FAILED
