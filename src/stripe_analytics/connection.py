"""One Stripe connection: the access a user or browser has to one Stripe account.

Three kinds: Stripe OAuth (Stripe Apps: access + refresh token; Connect: the platform key with
the `Stripe-Account` header, no token), or a restricted key checked at once (`key_check.py`).
A `Connection` keeps its secrets in private `SecretStr` fields: its `repr`/`str` hide them,
and it refuses to be pickled or copied. The only way its secrets leave it is `to_record`, for
the encrypted connection store (`connection_store.py`), which rebuilds it with `from_record`.

Each connected account's cache is `DATA_DIR/connected/<account id>.duckdb`, the id being the
one Stripe returned (never user input). The folder is apart from `DATA_DIR/acct_*.duckdb`
(the operator's own configured account), so a connection's cache never shows up in another
user's account list.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from pydantic import SecretStr

from .config import OAuthMode, Settings
from .key_check import KeyReport, MissingPermission, connection_settings
from .oauth import OAuthError, OAuthFlow, OAuthGrant, OAuthNotConfigured, config_from_settings

if TYPE_CHECKING:  # pragma: no cover
    from .stripe_client import StripeAccess

log = logging.getLogger(__name__)

CONNECTED_DIR = "connected"
KINDS = {"stripe_apps": "Stripe (OAuth)", "connect": "Stripe Connect (OAuth)", "restricted_key": "Restricted key"}
CLOSED = "This connection was closed. Click “Connect with Stripe” to connect again."


class Connection:
    """Access to one Stripe account. Secrets are private SecretStr fields; nothing here prints,
    pickles or copies them."""

    __slots__ = ("kind", "account_id", "livemode", "profile", "missing", "connected_at", "_key", "_grant", "_flow",
                 "on_refresh")

    def __init__(self, *, kind: str, account_id: str, livemode: bool, profile: Mapping[str, Any] | None = None,
                 missing: Iterable[MissingPermission] = (), key: SecretStr | None = None,
                 grant: OAuthGrant | None = None, flow: OAuthFlow | None = None, connected_at: float | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown connection kind {kind!r}")
        self.kind = kind
        self.account_id = account_id
        self.livemode = livemode
        self.profile = dict(profile or {})
        self.missing = list(missing)
        self.connected_at = connected_at or time.time()
        self._key = key
        self._grant = grant
        self._flow = flow
        # Called after a Stripe Apps token was renewed, so the store keeps only the newest one.
        self.on_refresh: Callable[[Connection], None] | None = None

    @classmethod
    def from_key(cls, report: KeyReport, key: str) -> "Connection":
        if not report.usable or not report.account_id:
            raise ValueError("a restricted key that cannot read its account cannot be connected")
        return cls(kind="restricted_key", account_id=report.account_id, livemode=report.mode == "live",
                   profile=report.account, missing=report.missing, key=SecretStr(key))

    @classmethod
    def from_grant(cls, grant: OAuthGrant, flow: OAuthFlow, profile: Mapping[str, Any] | None = None) -> "Connection":
        kind = "connect" if grant.mode == OAuthMode.connect else "stripe_apps"
        return cls(kind=kind, account_id=grant.account_id, livemode=grant.livemode, profile=profile, grant=grant,
                   flow=flow)

    # -- what the page shows
    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def how(self) -> str:
        return KINDS[self.kind]

    @property
    def label(self) -> str:
        return self.profile.get("name") or self.profile.get("email") or self.account_id

    @property
    def grant(self) -> OAuthGrant | None:
        return self._grant

    @property
    def flow(self) -> OAuthFlow | None:
        return self._flow

    @property
    def open(self) -> bool:
        return self._key is not None or (self._grant is not None and not self._grant.revoked)

    def adopt_newer_tokens(self, stored: "Connection") -> bool:
        """Take the stored copy's tokens when another holder renewed them since this object
        was loaded (see `OAuthGrant.adopt_if_newer`)."""
        if self._grant is None or stored.grant is None:
            return False
        return self._grant.adopt_if_newer(stored.grant)

    # -- using it
    def credentials(self, settings: Settings) -> tuple[str, str | None]:
        """(API key, Stripe-Account header) to reach the account now. Stripe Apps tokens are
        refreshed first when they expire soon (raises OAuthError when Stripe refuses)."""
        if self.kind == "restricted_key":
            if self._key is None:
                raise OAuthError("This connection was closed. Connect again.", "revoked")
            return self._key.get_secret_value(), None
        if self._grant is None or self._flow is None or self._grant.revoked:
            raise OAuthError(CLOSED, "revoked")
        if self.kind == "connect":
            secret = settings.stripe_client_secret
            if secret is None:
                raise OAuthError("STRIPE_CLIENT_SECRET (the platform's secret key) is no longer set, so the connected "
                                 "account cannot be reached.", "not_configured")
            return secret.get_secret_value(), self.account_id
        if self._flow.ensure_fresh(self._grant) and self.on_refresh is not None:
            self.on_refresh(self)
        token = self._grant.access_token
        if token is None:
            raise OAuthError(CLOSED, "revoked")
        return token.get_secret_value(), None

    def access(self, settings: Settings) -> "StripeAccess":
        from .stripe_client import build_client

        api_key, account = self.credentials(settings)
        return build_client(connection_settings(settings, live=self.livemode), api_key=api_key,
                            stripe_account=account)

    def close(self, *, deauthorize: bool = True) -> str | None:
        """Forget every secret; for Connect, deauthorize the platform's access first when
        `deauthorize` (the caller knows whether another user still holds the same account:
        Stripe's authorization is per platform and account, not per user). Returns a plain
        warning when Stripe could not be told (the connection is closed here anyway)."""
        warning = None
        try:
            if deauthorize and self.kind == "connect" and self._grant is not None and self._flow is not None:
                self._flow.deauthorize(self._grant)
        except OAuthError as error:
            warning = str(error)
        finally:
            if self._grant is not None:
                self._grant.forget()
            self._key = None
            self._grant = None
            self._flow = None
        return warning

    # -- the encrypted store's view (the only place secrets leave this object)
    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": self.kind, "account_id": self.account_id, "livemode": self.livemode, "profile": self.profile,
            "missing": [[m.permission, m.needed_for, m.resource] for m in self.missing],
            "connected_at": self.connected_at,
        }
        if self._key is not None:
            record["key"] = self._key.get_secret_value()
        if self._grant is not None:
            grant = self._grant
            record["grant"] = {
                "mode": grant.mode.value, "scope": grant.scope, "expires_at": grant.expires_at,
                "lifetime": grant.lifetime,
                "access_token": grant.access_token.get_secret_value() if grant.access_token else None,
                "refresh_token": grant.refresh_token.get_secret_value() if grant.refresh_token else None,
            }
        if self._flow is not None:
            record["redirect_uri"] = self._flow.config.redirect_uri
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any], settings: Settings) -> "Connection":
        """Rebuild a stored connection. Raises ValueError when the record is not one, and
        OAuthNotConfigured when its OAuth settings are gone (it cannot be used any more)."""
        kind = record["kind"]
        account_id = record["account_id"]
        if kind not in KINDS or not isinstance(account_id, str) or not account_id.startswith("acct_"):
            raise ValueError("not a stored connection")
        missing = [MissingPermission(*item) for item in record.get("missing") or []]
        common = dict(kind=kind, account_id=account_id, livemode=bool(record["livemode"]),
                      profile=record.get("profile") or {}, missing=missing, connected_at=record.get("connected_at"))
        if kind == "restricted_key":
            if not isinstance(record.get("key"), str):
                raise ValueError("a stored key connection without its key")
            return cls(**common, key=SecretStr(record["key"]))
        stored = record.get("grant") or {}
        mode = OAuthMode(stored["mode"])
        if mode.value != kind:
            raise ValueError("a stored grant of another kind")
        config = config_from_settings(settings, redirect_uri=record.get("redirect_uri") or "http://localhost/connect")
        if config.mode != mode:
            raise OAuthNotConfigured("This app now connects with another kind of Stripe OAuth; connect again.")
        grant = OAuthGrant(mode=mode, account_id=account_id, livemode=common["livemode"], scope=stored.get("scope"),
                           access_token=_secret(stored.get("access_token")),
                           refresh_token=_secret(stored.get("refresh_token")),
                           expires_at=stored.get("expires_at"), lifetime=stored.get("lifetime"))
        if mode == OAuthMode.stripe_apps and grant.refresh_token is None:
            raise ValueError("a stored Stripe Apps grant without its refresh token")
        return cls(**common, grant=grant, flow=OAuthFlow(config))

    def __repr__(self) -> str:
        return (f"Connection({self.how}, account={self.account_id}, {self.mode} mode, "
                f"secrets={'<hidden>' if self.open else 'none'})")

    __str__ = __repr__

    def __reduce_ex__(self, protocol):  # pickle, copy and deepcopy
        raise TypeError("a Stripe connection holds secrets and is never serialized or copied")


def _secret(value: Any) -> SecretStr | None:
    return SecretStr(value) if isinstance(value, str) and value else None


# ----------------------------------------------------------------------------- paths

def cache_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / CONNECTED_DIR


def cache_path_for(settings: Settings, account_id: str) -> Path:
    """The cache of a connected account: from the id Stripe returned, checked by cache_path."""
    from .cache import cache_path

    return cache_path(cache_dir(settings), account_id)


__all__ = ["CONNECTED_DIR", "Connection", "KINDS", "OAuthNotConfigured", "cache_dir", "cache_path_for"]
