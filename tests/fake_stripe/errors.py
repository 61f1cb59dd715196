"""Stripe-shaped API errors: ``{"error": {"type": ..., "message": ..., "code": ..., "param": ...}}``."""

from __future__ import annotations

import re
from typing import Any


class ApiError(Exception):
    """An error response. Raise it anywhere below the HTTP handler; it becomes the reply."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        error: dict[str, Any] = {"type": type, "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        error.update(extra)
        self.body = {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def missing(object_name: str, id: str, param: str | None = "id", status: int = 404) -> ApiError:
    label = {"payment_intent": "PaymentIntent", "payment_method": "PaymentMethod"}.get(
        object_name, object_name.replace("_", " ")
    )
    return ApiError(status, f"No such {label}: '{id}'", code="resource_missing", param=param)


def unknown_param(name: str) -> ApiError:
    return invalid(f"Received unknown parameter: {name}", param=name)


def required_param(name: str) -> ApiError:
    return invalid(f"Missing required param: {name}.", param=name)


_KEY_PREFIX = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")


def mask_key(key: str) -> str:
    """Mask an API key the way Stripe does in error messages: prefix, stars, last four (if long)."""
    match = _KEY_PREFIX.match(key)
    prefix = match.group(0) if match else ""
    rest = key[len(prefix) :]
    if len(rest) > 8:
        return prefix + "*" * (len(rest) - 4) + rest[-4:]
    return prefix + "*" * max(len(rest), 4)
