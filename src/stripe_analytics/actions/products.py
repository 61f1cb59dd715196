"""Product and price actions."""

from __future__ import annotations

from typing import Any

import stripe

from .context import OUTCOME_FAILED, OUTCOME_SUCCEEDED, ActionContext, ActionResult
from .errors import explain
from .models import (
    PriceInput,
    ProductInput,
    parse,
)
from .running import as_dict, idempotency, run_action, was_replayed


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
        created = ctx.client.v1.products.create(params, idempotency(key, "product"))
        product = as_dict(created)
        replayed = was_replayed(created)
        if not data.has_price:
            return ActionResult("create_product", OUTCOME_SUCCEEDED,
                                f"Product {product['name']} created ({product['id']}).", True, "product",
                                product["id"], replayed=replayed, objects=[product])
        try:
            price = as_dict(ctx.client.v1.prices.create(_price_params(data, product["id"]), idempotency(key, "price")))
        except stripe.StripeError as error:
            code, message, fld = explain(error, "price")
            return ActionResult("create_product", OUTCOME_FAILED,
                                f"Product {product['name']} was created ({product['id']}), but its price was not: "
                                f"{message} Submitting again adds only the price.", False, "product",
                                product["id"], error_code=code, field=fld, objects=[product])
        warnings = []
        try:
            product = as_dict(ctx.client.v1.products.update(product["id"], {"default_price": price["id"]},
                                                          idempotency(key, "default_price")))
        except stripe.StripeError as error:
            _, message, _ = explain(error, "product")
            warnings.append(f"The price {price['id']} was created but could not be made the product's default "
                            f"price: {message}")
        return ActionResult("create_product", OUTCOME_SUCCEEDED,
                            f"Product {product['name']} created ({product['id']}) with its price "
                            f"{data.describe_price()} ({price['id']}).", True, "product", product["id"],
                            replayed=replayed, objects=[product, price], warnings=warnings)

    return run_action(ctx, action="create_product", object_type="product", key=idempotency_key,
                confirm_live=confirm_live, what="creating a product", send=send)


def add_price(ctx: ActionContext, input: PriceInput | dict, idempotency_key: str | None = None, *,
              confirm_live: bool = False) -> ActionResult:
    data: PriceInput = parse(PriceInput, input)

    def send(key: str) -> ActionResult:
        created = ctx.client.v1.prices.create(_price_params(data, data.product), idempotency(key))
        price = as_dict(created)
        return ActionResult("add_price", OUTCOME_SUCCEEDED,
                            f"Price {data.describe_price()} added to {data.product} ({price['id']}).", True,
                            "price", price["id"], replayed=was_replayed(created), objects=[price])

    return run_action(ctx, action="add_price", object_type="price", key=idempotency_key, confirm_live=confirm_live,
                what="adding a price", send=send)
