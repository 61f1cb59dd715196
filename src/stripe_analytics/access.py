"""Who may see and change what: the one place that decides.

- `sign_in`: may this signed-in identity use the app, and as `viewer` or `editor`
  (`ALLOWED_USERS`, `ALLOWED_DOMAINS`, `EDITORS`)?
- `exposure`: is the server reachable by others (a listening address other than loopback)
  without sign-in? Then the console and the app warn, and the configured `STRIPE_API_KEY`
  may not write from the forms unless `ALLOW_ANONYMOUS_WRITES=true`.
- `may_sync` / `may_write`: may this user, with this connection, sync / write this account,
  and with which Stripe credentials (the user's own connection, or the configured key)?
- `may_annotate`: may this user change the account's notes and saved views?
- `operator_credentials`: which Stripe credentials may the command line use to sync / write?
- `cache_belongs_to`: is this cache that account's?

Forms, *Sync now*, the scheduled sync, the Connect page and the CLI ask here and show the plain `reason` of a
refusal; none of them decides on its own. The CLI runs as whoever runs it: it is the
`Principal.operator()`.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from .config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

Role = Literal["viewer", "editor"]
# Why a decision refused: the demo; the user's role; no key or connection reaches the account;
# the app is shared without sign-in; or something else (the reason says what).
Refusal = Literal["demo", "role", "no_credentials", "unguarded", "other"]
LOOPBACK_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")
ANONYMOUS_WRITES_REFUSED = (
    "This app listens on a shared address without sign-in, so the forms may not write with the configured "
    "STRIPE_API_KEY. The administrator can configure sign-in (see the README, Settings) or set "
    "ALLOW_ANONYMOUS_WRITES=true to accept writes from anyone who can reach the app."
)


# ----------------------------------------------------------------------------- who is asking

@dataclass(frozen=True)
class Principal:
    """Who uses the app: a signed-in user (`email`), or nobody signed in (`email` None: the
    person at this browser, or whoever runs the CLI)."""

    email: str | None
    role: Role
    signed_in: bool = False

    @classmethod
    def anonymous(cls) -> "Principal":
        return cls(email=None, role="editor")

    @classmethod
    def operator(cls) -> "Principal":
        """Whoever runs the CLI: it is not affected by sign-in."""
        return cls(email=None, role="editor")

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


@dataclass(frozen=True)
class SignIn:
    """The answer to a sign-in: `principal` when let in, else the plain `reason` (`expired`:
    signing in again would help)."""

    principal: Principal | None
    reason: str | None = None
    expired: bool = False

    @property
    def allowed(self) -> bool:
        return self.principal is not None


def _domain(email: str) -> str:
    return email.rpartition("@")[2]


def sign_in(settings: Settings, claims: Mapping[str, Any], *, now: float | None = None) -> SignIn:
    """May the identity the OpenID provider vouched for (`st.user`'s claims) use the app? A
    sign-in lasts SESSION_IDLE_DAYS from when the provider issued it (`iat`)."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email.strip() or len(email) > 320:
        return SignIn(None, "Your sign-in did not include an e-mail address, so the app cannot tell who you are. "
                            "Ask the administrator to request the `email` scope from the sign-in provider.")
    email = email.strip().lower()
    if claims.get("email_verified") is False:
        return SignIn(None, f"The sign-in provider has not verified {email}, so it cannot be used to sign in.")
    users, domains = settings.allowed_user_list, settings.allowed_domain_list
    if not users and not domains:
        return SignIn(None, "Nobody may use this app yet: the administrator must list who may sign in "
                            "(ALLOWED_USERS or ALLOWED_DOMAINS).")
    if email not in users and _domain(email) not in domains:
        return SignIn(None, f"{email} may not use this app. Ask the administrator to add you to ALLOWED_USERS "
                            "(or your domain to ALLOWED_DOMAINS), or sign in with another account.")
    issued = claims.get("iat") or claims.get("auth_time")
    age = (time.time() if now is None else now) - issued if isinstance(issued, (int, float)) else None
    if age is None or age > settings.session_idle_days * 86400:
        return SignIn(None, f"Your sign-in is older than {settings.session_idle_days:g} days and has expired: "
                            "sign in again.", expired=True)
    return SignIn(Principal(email=email, role=_role(settings, email), signed_in=True))


def _role(settings: Settings, email: str) -> Role:
    editors = settings.editor_list
    return "editor" if email in editors or _domain(email) in editors else "viewer"


def holder_principal(settings: Settings, holder: str, *, sign_in_configured: bool) -> Principal | None:
    """Who a stored connection's holder is today, for what the server does on their behalf
    (the scheduled sync): a signed-in user with today's role, or the person at a browser when
    nobody signs in. None when that holder could not use the app now (no longer listed, or a
    browser's connection on a server that now requires sign-in)."""
    kind, _, who = holder.partition(":")
    if kind == "user" and "@" in who:
        users, domains = settings.allowed_user_list, settings.allowed_domain_list
        if who not in users and _domain(who) not in domains:
            return None
        return Principal(email=who, role=_role(settings, who), signed_in=True)
    if kind == "browser" and who and not sign_in_configured:
        return Principal.anonymous()
    return None


# ----------------------------------------------------------------------------- where the app listens

def is_loopback(address: str | None) -> bool:
    """Does this listening address only accept connections from this machine? (An empty
    address means every interface.)"""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Exposure:
    """Where the server listens and whether sign-in guards it."""

    address: str | None
    sign_in_configured: bool

    @property
    def shared(self) -> bool:
        return not is_loopback(self.address)

    @property
    def unguarded(self) -> bool:
        """Others can reach the app and nobody has to sign in."""
        return self.shared and not self.sign_in_configured

    def warning(self) -> str | None:
        if not self.unguarded:
            return None
        where = self.address or "every network interface"
        return (f"This app listens on {where} without sign-in: anyone who can reach it sees the accounts' figures. "
                "Configure sign-in ([auth] in .streamlit/secrets.toml with ALLOWED_USERS or ALLOWED_DOMAINS), or "
                "listen on 127.0.0.1 (the default).")


# ----------------------------------------------------------------------------- accounts

@dataclass(frozen=True)
class Target:
    """The account a caller wants to use: its id (`demo` for the demo), its cache (None before
    the first sync), whether it is the generated demo."""

    account_id: str
    cache_path: Path | None
    demo: bool = False
    pending: bool = False  # the configured account before its first sync


@dataclass(frozen=True)
class Decision:
    """Allowed (with the credentials to use), or refused with a plain `reason`. `route` says
    whose credentials: "connection" (the user's own) or "configured" (STRIPE_API_KEY)."""

    allowed: bool
    reason: str | None = None
    route: Literal["connection", "configured"] | None = None
    connection: "Connection | None" = None
    because: Refusal | None = None

    @classmethod
    def refuse(cls, reason: str, because: Refusal = "other") -> "Decision":
        return cls(False, reason, because=because)


def _own(target: Target, connection: "Connection | None") -> bool:
    return connection is not None and connection.open and connection.account_id == target.account_id


def may_sync(principal: Principal, settings: Settings, target: Target,
             connection: "Connection | None") -> Decision:
    """May this user start a sync of this account, and with which credentials?"""
    if target.demo:
        return Decision.refuse("The demo account is generated locally; there is nothing to sync.", "demo")
    if not principal.can_edit:
        return Decision.refuse(f"You are signed in as a viewer ({principal.email}); syncing needs the editor role "
                               "(EDITORS).", "role")
    if _own(target, connection):
        return Decision(True, route="connection", connection=connection)
    if settings.stripe_api_key is not None:
        return Decision(True, route="configured")
    return Decision.refuse("Connect this account on the Connect page, or set STRIPE_API_KEY, to sync it.",
                           "no_credentials")


def may_write(principal: Principal, settings: Settings, target: Target, connection: "Connection | None",
              exposure: Exposure | None = None) -> Decision:
    """May this user write to this account from the forms, and with which credentials?"""
    if target.demo:
        return Decision.refuse("The demo account is generated locally and cannot be written to. Connect a Stripe "
                               "account (Connect page, or STRIPE_API_KEY with Write access) to create objects.",
                               "demo")
    if not principal.can_edit:
        return Decision.refuse(f"You are signed in as a viewer ({principal.email}); creating and changing objects "
                               "needs the editor role (EDITORS).", "role")
    if _own(target, connection):
        if target.cache_path is None:
            return Decision.refuse("Sync this account once (Connect or Data page) before creating objects from "
                                   "the app.")
        return Decision(True, route="connection", connection=connection)
    if settings.stripe_api_key is None:
        return Decision.refuse("Connect this account on the Connect page, or set STRIPE_API_KEY (a key with Write "
                               "access), to create objects in it.", "no_credentials")
    if exposure is not None and exposure.unguarded and not settings.allow_anonymous_writes:
        return Decision.refuse(ANONYMOUS_WRITES_REFUSED, "unguarded")
    if target.pending or target.cache_path is None:
        return Decision.refuse("Sync this account once (Data page) before creating objects from the app.")
    return Decision(True, route="configured")


def operator_credentials(settings: Settings, action: Literal["sync", "write"]) -> Decision:
    """May the command line sync / write, and with which credentials? It runs as whoever runs
    it (`Principal.operator()`: sign-in and roles do not apply), with the configured
    STRIPE_API_KEY only: connections made on the Connect page belong to the app's users."""
    if settings.stripe_api_key is None:
        enough = ("a restricted rk_ key with read access is enough" if action == "sync"
                  else "a key with Write access to what you create")
        return Decision.refuse("No Stripe key is set: put STRIPE_API_KEY in the environment, .env or "
                               f".streamlit/secrets.toml ({enough}).", "no_credentials")
    return Decision(True, route="configured")


def may_annotate(principal: Principal, settings: Settings, exposure: Exposure | None = None) -> Decision:
    """May this user add, change or delete an account's notes and saved views? They are the
    app's own records (kept beside the account's data, never sent to Stripe), so the demo takes
    them too; viewers read them; on a shared address without sign-in, anyone could rewrite
    them, so only with ALLOW_ANONYMOUS_WRITES=true."""
    if not principal.can_edit:
        return Decision.refuse(f"You are signed in as a viewer ({principal.email}); adding, changing and deleting "
                               "notes and saved views needs the editor role (EDITORS).", "role")
    if exposure is not None and exposure.unguarded and not settings.allow_anonymous_writes:
        return Decision.refuse("This app listens on a shared address without sign-in, so notes and saved views "
                               "cannot be changed from it. The administrator can configure sign-in (see the "
                               "README, Settings) or set ALLOW_ANONYMOUS_WRITES=true.", "unguarded")
    return Decision(True)


# The account id a key gets when the server cannot name its account (no /v1/account, e.g.
# localstripe): the cache's path then decides which account it is.
UNKNOWN_ACCOUNT = "acct_unknown"


def cache_belongs_to(cache_account: str | None, key_account: str | None) -> Decision:
    """Is a cache holding `cache_account` the account the key or token reads (`key_account`)?
    An empty cache (no account yet) and a key that cannot name its account are accepted:
    the first sync or write records the account."""
    if not cache_account or not key_account or key_account == UNKNOWN_ACCOUNT or cache_account == key_account:
        return Decision(True)
    return Decision.refuse(f"This cache holds account {cache_account}, but the key or token reads {key_account}, "
                           "so nothing was done: use that account's cache, or connect again.")
