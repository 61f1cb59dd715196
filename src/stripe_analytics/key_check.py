"""Checking a pasted restricted key (`rk_test_…` / `rk_live_…`) at once, with harmless reads.

`check_restricted_key` reads the account (`GET /v1/account`), then asks every resource the
sync copies for one object (`limit=1`), and reports exactly which Read permissions are
missing and which pages need them, in the Dashboard's words:

    Subscriptions: Read is needed for MRR, churn and retention

A key Stripe does not recognise, a secret (`sk_`) or publishable (`pk_`) key, or a network
failure is refused with a plain `KeyCheckError`; nothing here ever prints the key.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import stripe

from .config import LIVE_MODE_REQUESTS_PER_SECOND, Settings, key_mode
from .schema import ACCOUNT, RESOURCES, Resource
from .stripe_client import StripeAccess, build_client
from .stripe_errors import Failure, describe, plain

log = logging.getLogger(__name__)

CREATE_KEY_HINT = ("Create one in the Stripe Dashboard: Developers → API keys → Create restricted key, with Read "
                   "access to the resources listed there.")
COPY_KEY_AGAIN = "Copy a current key from the Stripe Dashboard (Developers → API keys) and paste it again."


class KeyCheckError(Exception):
    """The key cannot be used at all; the message is plain and never contains the key."""


@dataclass(frozen=True)
class MissingPermission:
    permission: str  # as the Dashboard names it ("Subscriptions")
    needed_for: str  # what in the app needs it ("MRR, churn and retention")
    resource: str  # the cache table / resource name ("subscriptions", or "account")

    def __str__(self) -> str:
        return f"{self.permission}: Read is needed for {self.needed_for}"


@dataclass
class KeyReport:
    """What a restricted key can read. `usable`: the account can be read, so its cache can
    be named; missing permissions only leave the pages that need them empty."""

    mode: str  # "test" or "live"
    account_id: str | None
    account: dict[str, Any] = field(default_factory=dict)
    missing: list[MissingPermission] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.account_id is not None

    @property
    def complete(self) -> bool:
        return self.usable and not self.missing

    @property
    def messages(self) -> list[str]:
        return [str(m) for m in self.missing]

    def summary(self) -> str:
        if not self.usable:
            return ("This key cannot read the account itself, so the app cannot tell which account it belongs to. "
                    f"Give it Read access to {ACCOUNT.name} as well, then paste it again.")
        if not self.missing:
            return "This key can read everything the app uses."
        return ("This key works, but it cannot read everything: the pages that need these permissions stay empty "
                "until you add them to the key in the Stripe Dashboard (Developers → API keys → edit the key):")


def restricted_key_shape(raw: str | None) -> str:
    """The key, trimmed, when it looks like a restricted key; else KeyCheckError saying
    what was pasted instead (a secret key is refused: the app never takes one here)."""
    key = (raw or "").strip()
    if not key:
        raise KeyCheckError("Paste a restricted key (it starts with rk_test_ or rk_live_). " + CREATE_KEY_HINT)
    if key.startswith(("sk_test_", "sk_live_")):
        raise KeyCheckError("That is a secret key (sk_…): it can change anything in the account, so this app does "
                            "not take it. Use a restricted key (rk_…) with Read access instead. " + CREATE_KEY_HINT)
    if key.startswith(("pk_test_", "pk_live_")):
        raise KeyCheckError("That is a publishable key (pk_…): it cannot read the account's data. Use a restricted "
                            "key (rk_…) with Read access instead. " + CREATE_KEY_HINT)
    if not key.startswith(("rk_test_", "rk_live_")) or len(key) < 16 or any(c.isspace() for c in key):
        raise KeyCheckError("That is not a complete Stripe restricted key: it should start with rk_test_ or rk_live_ "
                            "and be copied whole. " + CREATE_KEY_HINT)
    return key


def connection_settings(settings: Settings, *, live: bool) -> Settings:
    """These settings for a per-session connection: no configured key or Stripe-Account
    header leaks into it, and the request budget follows the connection's mode."""
    rate = settings.stripe_max_requests_per_second
    if rate is None and live:
        rate = LIVE_MODE_REQUESTS_PER_SECOND
    return settings.model_copy(update={"stripe_api_key": None, "stripe_account": None,
                                       "stripe_max_requests_per_second": rate})


def check_restricted_key(settings: Settings, raw_key: str, *,
                         build: Callable[..., StripeAccess] = build_client) -> KeyReport:
    """Validate a pasted restricted key with harmless reads and report what it may read.
    Raises KeyCheckError (plain) when the key is malformed, unknown to Stripe, or Stripe
    cannot be reached."""
    key = restricted_key_shape(raw_key)
    mode = key_mode(key) or "test"
    access = build(connection_settings(settings, live=mode == "live"), api_key=key, max_network_retries=1)
    client = access.client
    report = KeyReport(mode=mode, account_id=None)
    try:
        account = client.v1.accounts.retrieve_current().to_dict(for_json=True)
        report.account_id = account.get("id")
        report.account = _profile(account)
    except stripe.AuthenticationError as error:
        raise KeyCheckError(f"{plain(error)} {COPY_KEY_AGAIN}") from None
    except stripe.PermissionError:
        report.missing.append(MissingPermission(ACCOUNT.name, ACCOUNT.needed_for, "account"))
    except stripe.StripeError as error:
        raise KeyCheckError(f"The key could not be checked: {plain(error)} Try again.") from None

    def probe(resource: Resource) -> MissingPermission | None | Exception:
        try:
            resource.service_of(client).list(params={"limit": 1})
            return None
        except stripe.PermissionError:
            return MissingPermission(resource.permission, resource.needed_for or f"the {resource.name} data",
                                     resource.name)
        except Exception as error:  # noqa: BLE001 - reported plainly below
            return error

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="key-check") as pool:
        results = list(pool.map(probe, RESOURCES))
    for resource, result in zip(RESOURCES, results):
        if isinstance(result, stripe.AuthenticationError):  # rolled or deleted while it was being checked
            raise KeyCheckError(f"{plain(result)} {COPY_KEY_AGAIN}")
        if isinstance(result, Exception):
            if describe(result).kind is Failure.NOT_STRIPE:  # a bug, not Stripe's answer: keep its traceback
                log.error("key check: reading %s failed", resource.name, exc_info=result)
            raise KeyCheckError(f"The key could not be checked (reading {resource.name.replace('_', ' ')}): "
                                f"{plain(result)} Try again.")
        if result is not None:
            report.missing.append(result)
    log.info("key check: %s key for %s, %d permission(s) missing", mode, report.account_id or "an unreadable account",
             len(report.missing))
    return report


def _profile(account: dict[str, Any]) -> dict[str, Any]:
    """The parts of the account object the Connect page shows (nothing secret is in it anyway)."""
    business = account.get("business_profile") or {}
    settings = account.get("settings") or {}
    dashboard = settings.get("dashboard") or {} if isinstance(settings, dict) else {}
    return {"id": account.get("id"), "email": account.get("email"), "country": account.get("country"),
            "name": business.get("name") or dashboard.get("display_name")}
