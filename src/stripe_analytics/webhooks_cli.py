"""`stripe-analytics webhooks`: what to configure in Stripe so the app receives webhooks."""

from __future__ import annotations

import argparse
import sys

from pydantic import BaseModel, ConfigDict, field_validator

from .cli_args import validated


class WebhooksArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("http://", "https://")) or len(value) < 10
                                  or any(c.isspace() for c in value)):
            raise ValueError("must be the app's public base URL, e.g. https://analytics.example.com")
        return value


def register(subparsers) -> None:
    """Add the `webhooks` command (called by cli.build_parser)."""

    def cmd_webhooks(ns: argparse.Namespace) -> int:
        from .config import load_settings
        from .webhooks import setup_text

        values = argparse.Namespace(**{k: v for k, v in vars(ns).items() if k != "func"})
        args = validated(WebhooksArgs, values)
        settings = load_settings()
        sys.stdout.write(setup_text(args.url) + "\n\n")
        count = len(settings.webhook_secrets)
        sys.stdout.write("STRIPE_WEBHOOK_SECRET: " + (f"set ({count} secret{'s' if count > 1 else ''})" if count
                                                       else "not set: the endpoint refuses every event") + "\n")
        return 0

    p = subparsers.add_parser("webhooks", help="what to configure in Stripe for live updates (URL, events, secret)")
    p.add_argument("--url", help="the app's public base URL, to print the full endpoint URL")
    p.set_defaults(func=cmd_webhooks)
