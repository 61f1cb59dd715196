"""The one step every action runs: the idempotency key checked, live-mode writes confirmed,
Stripe's errors explained, the result written to the cache and the audit log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import stripe

from .. import queries
from ..pager import Fetcher
from ..schema import RESOURCE_BY_OBJECT
from .audit import record
from .context import (
    OUTCOME_FAILED,
    OUTCOME_REFUSED,
    ActionContext,
    ActionResult,
    check_key,
)
from .errors import explain


def as_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict(for_json=True)


def was_replayed(obj: Any) -> bool:
    response = getattr(obj, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        return str(headers.get("idempotent-replayed", "")).lower() == "true"
    except AttributeError:
        return False


def idempotency(key: str, step: str | None = None) -> dict:
    return {"idempotency_key": f"{key}:{step}" if step else key}


def complete_children(ctx: ActionContext, obj: dict) -> dict:
    """Fill embedded lists Stripe truncated (subscription items, invoice lines), as the sync does."""
    resource = RESOURCE_BY_OBJECT.get(obj.get("object", ""))
    if resource is not None and resource.children:
        Fetcher(ctx.access).complete_children(resource, obj)
    return obj


def collapse(obj: dict, *fields: str) -> tuple[dict, list[dict]]:
    """The object with expanded references reduced to ids (Stripe's unexpanded shape, as the
    sync stores it), and the expanded objects."""
    out, found = dict(obj), []
    for name in fields:
        value = out.get(name)
        if isinstance(value, dict) and value.get("id"):
            found.append(value)
            out[name] = value["id"]
    return out, found


def customer_label(ctx: ActionContext, customer_id: str | None) -> str:
    if not customer_id:
        return "no customer"
    found = ctx.read(queries.customer, customer_id, unreadable=None) or {}
    name, email = found.get("name"), found.get("email")
    if name or email:
        return f"{name} <{email}>" if name and email else (name or email)
    return customer_id


def day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") if ts else "?"


def run_action(ctx: ActionContext, *, action: str, object_type: str, key: str | None, confirm_live: bool,
         what: str, send: Callable[[str], ActionResult]) -> ActionResult:
    key = check_key(key)
    if ctx.live and not confirm_live:
        result = ActionResult(action, OUTCOME_REFUSED, f"Live mode: {what} would be real. Nothing was sent; "
                              "confirm the live-mode write (the checkbox, or --yes) and submit again.", False,
                              object_type, idempotency_key=key, error_code="live_not_confirmed")
        return record(ctx, result)
    try:
        result = send(key)
    except stripe.StripeError as error:
        code, message, fld = explain(error, object_type)
        result = ActionResult(action, OUTCOME_FAILED, message, False, object_type, idempotency_key=key,
                              error_code=code, field=fld)
    except Exception as error:  # a bug or an unexpected reply: still recorded, then raised
        record(ctx, ActionResult(action, OUTCOME_FAILED, f"Unexpected error: {type(error).__name__}: {error}", False,
                                  object_type, idempotency_key=key, error_code=type(error).__name__))
        raise
    result.idempotency_key = key
    if result.replayed and result.ok:
        result.message += (" (Stripe had already received this submission, from a double click or a retry, and "
                           "returned the same object: nothing new was created.)")
    return record(ctx, result)
