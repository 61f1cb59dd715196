"""Customer actions."""

from __future__ import annotations

from typing import Any

from .context import OUTCOME_SUCCEEDED, ActionContext, ActionResult
from .models import (
    CustomerInput,
    parse,
)
from .running import as_dict, idempotency, run_action, was_replayed


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
        created = ctx.client.v1.customers.create(params, idempotency(key))
        customer = as_dict(created)
        label = customer.get("name") or customer.get("email") or customer["id"]
        return ActionResult("create_customer", OUTCOME_SUCCEEDED, f"Customer {label} created ({customer['id']}).",
                            True, "customer", customer["id"], replayed=was_replayed(created), objects=[customer])

    return run_action(ctx, action="create_customer", object_type="customer", key=idempotency_key,
                confirm_live=confirm_live, what="creating a customer", send=send)
