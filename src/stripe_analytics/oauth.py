"""Connecting a Stripe account with OAuth, in either of Stripe's two ways.

- **Stripe Apps OAuth 2.0** (`STRIPE_OAUTH_MODE=stripe_apps`, the default): the user installs
  the app at `https://marketplace.stripe.com/oauth/v2/authorize`; the code is exchanged at
  `POST {STRIPE_API_BASE}/v1/oauth/token` authenticated with the app's secret key. The access
  token is the API key and lasts one hour; it is refreshed before it expires, and every
  refresh returns a new refresh token that replaces the old one (which Stripe kills), so only
  the newest is ever kept.
- **Connect OAuth** (`STRIPE_OAUTH_MODE=connect`): authorize at
  `https://connect.stripe.com/oauth/authorize`, token at `https://connect.stripe.com/oauth/token`
  with the platform's secret key; the API is then called with the platform key and the
  `Stripe-Account` header set to the connected account (`stripe_user_id`), so no token of the
  connected account is kept at all. Disconnecting calls `POST /oauth/deauthorize`.

Every endpoint is a setting (STRIPE_OAUTH_AUTHORIZE_URL / _TOKEN_URL / _DEAUTHORIZE_URL,
STRIPE_API_BASE), so tests point them at a local server.

Safety: `state` is random per attempt, single use and expires after ten minutes; an answer
with a missing, unknown, reused or expired state, or without a code, is refused before
anything is exchanged or stored. Every failure is an `OAuthError` whose message is plain,
says what to do next, and never contains a token, a key, a code or a state. Tokens are
`SecretStr`, never logged, and `OAuthGrant` refuses to be pickled or copied. The clock is
injectable (`now=`), so expiry and refresh are tested without waiting.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from .config import OAuthMode, Settings, key_mode
from .stripe_client import redact

log = logging.getLogger(__name__)

APPS_AUTHORIZE_URL = "https://marketplace.stripe.com/oauth/v2/authorize"
APPS_TOKEN_PATH = "/v1/oauth/token"
CONNECT_AUTHORIZE_URL = "https://connect.stripe.com/oauth/authorize"
CONNECT_TOKEN_URL = "https://connect.stripe.com/oauth/token"
CONNECT_DEAUTHORIZE_URL = "https://connect.stripe.com/oauth/deauthorize"
CONNECT_SCOPE = "read_only"  # the dashboard only reads

STATE_TTL = 600.0  # seconds a connection attempt stays valid
ACCESS_TOKEN_LIFETIME = 3600.0  # Stripe Apps access tokens last one hour
REFRESH_MARGIN = 300.0  # refresh this long before expiry (at most a quarter of the lifetime)
HTTP_TIMEOUT = 20.0
MAX_PENDING_STATES = 5
_ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9_]{1,64}$")
_MODE_WORDS = re.compile(r"\b(live|test)[ _-]?mode\b", re.IGNORECASE)

Clock = Callable[[], float]

AGAIN = "Click “Connect with Stripe” to start again."


class OAuthError(Exception):
    """A connection attempt or a token operation failed. `code` is machine-readable
    (`access_denied`, `state_mismatch`, `invalid_grant`, `refresh_failed`, ...); the message
    is plain, says what to do next and never holds a secret."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code

    def __repr__(self) -> str:
        return f"OAuthError(code={self.code!r}, message={str(self)!r})"


class OAuthNotConfigured(OAuthError):
    def __init__(self, message: str):
        super().__init__(message, "not_configured")


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class OAuthConfig:
    mode: OAuthMode
    client_id: str
    client_secret: SecretStr  # the app's (Stripe Apps) or platform's (Connect) secret key
    redirect_uri: str
    authorize_url: str
    token_url: str
    deauthorize_url: str | None  # Connect only
    scope: str = CONNECT_SCOPE

    @property
    def key_mode(self) -> str | None:
        """'test' or 'live' from the secret key: the mode every connection must have."""
        return key_mode(self.client_secret.get_secret_value())

    @property
    def label(self) -> str:
        return "Stripe Apps OAuth" if self.mode == OAuthMode.stripe_apps else "Stripe Connect OAuth"


def config_from_settings(settings: Settings, *, redirect_uri: str | None = None) -> OAuthConfig:
    """The OAuth endpoints and credentials of these settings. `redirect_uri` is used when
    STRIPE_REDIRECT_URI is not set (the app passes its own origin + /connect). Raises
    OAuthNotConfigured with a plain message naming what is missing."""
    missing = []
    if not settings.stripe_client_id:
        missing.append("STRIPE_CLIENT_ID (the app's or platform's client id, ca_…)")
    if not settings.stripe_client_secret or not settings.stripe_client_secret.get_secret_value().strip():
        missing.append("STRIPE_CLIENT_SECRET (the app's or platform's secret key, sk_…)")
    redirect = settings.stripe_redirect_uri or redirect_uri
    if not redirect:
        missing.append("STRIPE_REDIRECT_URI (this app's address followed by /connect)")
    if missing:
        raise OAuthNotConfigured("Connecting with Stripe is not set up on this app: the administrator must set "
                                 + " and ".join(missing) + ". Meanwhile, use a restricted key or the demo account.")
    secret = settings.stripe_client_secret.get_secret_value().strip()
    if not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise OAuthNotConfigured("STRIPE_CLIENT_SECRET must be the secret key (sk_test_… or sk_live_…) of the Stripe "
                                 "app or Connect platform; the administrator must fix it.")
    if settings.stripe_oauth_mode == OAuthMode.connect:
        return OAuthConfig(
            mode=OAuthMode.connect, client_id=settings.stripe_client_id, client_secret=SecretStr(secret),
            redirect_uri=redirect,
            authorize_url=settings.stripe_oauth_authorize_url or CONNECT_AUTHORIZE_URL,
            token_url=settings.stripe_oauth_token_url or CONNECT_TOKEN_URL,
            deauthorize_url=settings.stripe_oauth_deauthorize_url or CONNECT_DEAUTHORIZE_URL,
        )
    return OAuthConfig(
        mode=OAuthMode.stripe_apps, client_id=settings.stripe_client_id, client_secret=SecretStr(secret),
        redirect_uri=redirect,
        authorize_url=settings.stripe_oauth_authorize_url or APPS_AUTHORIZE_URL,
        token_url=settings.stripe_oauth_token_url or settings.stripe_api_base.rstrip("/") + APPS_TOKEN_PATH,
        deauthorize_url=settings.stripe_oauth_deauthorize_url,
    )


# ----------------------------------------------------------------------------- state

def state_mismatch() -> OAuthError:
    return OAuthError("Stripe's answer does not belong to a connection started in this browser tab (its security "
                      f"token does not match), so it was ignored and nothing was connected. {AGAIN}", "state_mismatch")


class StateStore:
    """The `state` values of this session's connection attempts: random, single use,
    expiring. Thread-safe; a few attempts may be pending at once (the newest win)."""

    def __init__(self, ttl: float = STATE_TTL, *, now: Clock = time.time):
        self.ttl = ttl
        self._now = now
        self._pending: OrderedDict[str, float] = OrderedDict()  # state -> expires at
        self._used: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        state = secrets.token_urlsafe(32)
        with self._lock:
            self._pending[state] = self._now() + self.ttl
            while len(self._pending) > MAX_PENDING_STATES:
                self._pending.popitem(last=False)
        return state

    def is_pending(self, state: str | None, *, min_left: float = 0.0) -> bool:
        """The state is waiting for its answer and has at least `min_left` seconds to live."""
        with self._lock:
            expires = self._match(self._pending, state)
            return expires is not None and self._pending[expires] - self._now() > min_left

    def discard(self, state: str | None) -> None:
        with self._lock:
            found = self._match(self._pending, state)
            if found is not None:
                del self._pending[found]
                self._remember_used(found)

    def discard_all(self) -> None:
        with self._lock:
            for state in list(self._pending):
                self._remember_used(state)
            self._pending.clear()

    def consume(self, state: str | None) -> None:
        """Accept this state once; raise OAuthError (plain message) when it is missing,
        unknown, already used or expired. A consumed or expired state never works again."""
        if not state or not isinstance(state, str):
            raise OAuthError("Stripe's answer came back without the security token (state) this app sent, so it "
                             f"was ignored and nothing was connected. {AGAIN}", "state_missing")
        with self._lock:
            found = self._match(self._pending, state)
            if found is None:
                if self._match(self._used, state) is not None:
                    raise OAuthError("This answer from Stripe was already used once, so it was ignored. "
                                     f"{AGAIN}", "state_reused")
                raise state_mismatch()
            expires = self._pending.pop(found)
            self._remember_used(found)
        if self._now() >= expires:
            minutes = round(self.ttl / 60)
            raise OAuthError(f"The connection attempt took longer than {minutes} minutes, so it expired and nothing "
                             f"was connected. {AGAIN}", "state_expired")

    @staticmethod
    def _match(table: Mapping[str, Any], state: str | None) -> str | None:
        if not state:
            return None
        for candidate in table:
            if secrets.compare_digest(candidate.encode(), state.encode()):
                return candidate
        return None

    def _remember_used(self, state: str) -> None:
        self._used[state] = None
        while len(self._used) > 64:
            self._used.popitem(last=False)

    def __repr__(self) -> str:
        return f"StateStore(pending={len(self._pending)})"


# ----------------------------------------------------------------------------- grants

class OAuthGrant:
    """What a completed connection gives: the account, its mode and, for Stripe Apps, the
    access and refresh tokens (SecretStr). Connect grants hold no token: the platform key and
    the `Stripe-Account` header reach the account. Never pickled, copied or printed."""

    def __init__(self, *, mode: OAuthMode, account_id: str, livemode: bool, scope: str | None,
                 access_token: SecretStr | None = None, refresh_token: SecretStr | None = None,
                 expires_at: float | None = None, lifetime: float | None = None):
        self.mode = mode
        self.account_id = account_id
        self.livemode = livemode
        self.scope = scope
        self._access_token = access_token
        self._refresh_token = refresh_token
        self.expires_at = expires_at
        self.lifetime = lifetime
        self.refreshes = 0
        self.revoked = False
        self.lock = threading.RLock()

    @property
    def access_token(self) -> SecretStr | None:
        return self._access_token

    @property
    def refresh_token(self) -> SecretStr | None:
        return self._refresh_token

    def _replace_tokens(self, access: SecretStr, refresh: SecretStr, expires_at: float, lifetime: float) -> None:
        self._access_token, self._refresh_token = access, refresh
        self.expires_at, self.lifetime = expires_at, lifetime
        self.refreshes += 1

    def adopt_if_newer(self, other: "OAuthGrant") -> bool:
        """Take `other`'s tokens when they are newer: another holder of the same stored
        connection (the scheduled sync) renewed them, and Stripe killed the refresh token this
        one still holds. True when taken."""
        with self.lock:
            if self.revoked or other.revoked or other.refresh_token is None or other.expires_at is None:
                return False
            if self.expires_at is not None and other.expires_at <= self.expires_at:
                return False
            self._access_token, self._refresh_token = other.access_token, other.refresh_token
            self.expires_at, self.lifetime = other.expires_at, other.lifetime
            return True

    def forget(self) -> None:
        """Drop every token (Disconnect, or a refresh Stripe refused)."""
        self._access_token = None
        self._refresh_token = None
        self.revoked = True

    def needs_refresh(self, now: float) -> bool:
        if self.mode != OAuthMode.stripe_apps or self.expires_at is None:
            return False
        lifetime = self.lifetime or ACCESS_TOKEN_LIFETIME
        return now >= self.expires_at - min(REFRESH_MARGIN, lifetime / 4)

    @property
    def mode_name(self) -> str:
        return "live" if self.livemode else "test"

    def __repr__(self) -> str:
        return (f"OAuthGrant(mode={self.mode.value}, account={self.account_id}, {self.mode_name} mode, "
                f"tokens={'<hidden>' if self._access_token else 'none'})")

    __str__ = __repr__

    def __reduce_ex__(self, protocol):  # pickle, copy, deepcopy
        raise TypeError("an OAuth grant holds secrets and is never serialized or copied")


# ----------------------------------------------------------------------------- errors

def _authorize_error(code: str, description: str) -> OAuthError:
    if code == "access_denied":
        return OAuthError("You declined the connection on Stripe, so nothing was connected. If that was a mistake, "
                          "click “Connect with Stripe” again; otherwise you can paste a restricted key or use the demo "
                          "account.", code)
    if code == "invalid_scope":
        return OAuthError("Stripe refused the permissions this app asked for (invalid scope), so nothing was "
                          "connected. The app's administrator must fix the OAuth setup (Connect platforms: scope "
                          "read_only or read_write). Meanwhile, paste a restricted key or use the demo account.", code)
    if code == "invalid_redirect_uri":
        return OAuthError("Stripe refused this app's return address (redirect URI), so nothing was connected. The "
                          "administrator must add STRIPE_REDIRECT_URI to the allowed redirect URIs of the Stripe app "
                          "or Connect platform.", code)
    if _MODE_WORDS.search(description):
        return _mode_mismatch()
    detail = f" Stripe said: “{_clean(description)}”." if description else ""
    return OAuthError(f"Stripe could not connect the account ({code}).{detail} {AGAIN}", code or "oauth_error")


def _token_error(code: str, description: str, *, refreshing: bool) -> OAuthError:
    if _MODE_WORDS.search(description):
        return _mode_mismatch()
    if refreshing:
        return OAuthError("Stripe no longer accepts this connection (renewing its access was refused"
                          + (f": {code}" if code else "") + "). The app may have been uninstalled or the access "
                          "revoked in Stripe. Nothing is stored any more: click “Connect with Stripe” to connect "
                          "again.", "refresh_failed")
    if code == "invalid_grant":
        return OAuthError("Stripe did not accept the authorization code: it expired (codes last a few minutes), "
                          f"was already used, or belongs to another app, so nothing was connected. {AGAIN}", code)
    if code == "invalid_client":
        return OAuthError("Stripe did not recognise this app's client id or secret key, so nothing was connected. "
                          "The administrator must check STRIPE_CLIENT_ID and STRIPE_CLIENT_SECRET.", code)
    if code in ("access_denied", "invalid_scope", "invalid_redirect_uri"):
        return _authorize_error(code, description)
    detail = f" Stripe said: “{_clean(description)}”." if description else ""
    return OAuthError(f"Stripe refused to finish the connection ({code or 'error'}).{detail} {AGAIN}",
                      code or "oauth_error")


def _mode_mismatch() -> OAuthError:
    return OAuthError("The account was authorized in one mode (test or live) but this app's secret key is for the "
                      "other, so nothing was connected. Use the test-mode authorize link with a test key (sk_test_…) "
                      "or the live-mode link with a live key (sk_live_…): the administrator sets "
                      f"STRIPE_CLIENT_SECRET accordingly. {AGAIN}", "mode_mismatch")


def _clean(text: str) -> str:
    """A Stripe description fit to show: secrets and codes masked, one short line."""
    text = re.sub(r"\bac_[A-Za-z0-9]+", "ac_***", redact(str(text)))
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


# ----------------------------------------------------------------------------- the flow

class OAuthFlow:
    """One browser session's OAuth: its pending states, the code exchange, refreshes and,
    for Connect, deauthorization. Holds the app's secret key only as SecretStr."""

    def __init__(self, config: OAuthConfig, *, now: Clock = time.time, state_ttl: float = STATE_TTL,
                 timeout: float = HTTP_TIMEOUT):
        self.config = config
        self._now = now
        self.states = StateStore(state_ttl, now=now)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OAuthFlow({self.config.mode.value}, client_id={self.config.client_id}, {self.states!r})"

    def __reduce_ex__(self, protocol):
        raise TypeError("an OAuth flow holds the app's secret key and is never serialized or copied")

    # -- authorize
    def new_state(self) -> str:
        return self.states.issue()

    def authorization_url(self, state: str | None = None) -> str:
        """Where to send the user. `state` must be one this flow issued (default: a new one)."""
        if state is None:
            state = self.states.issue()
        elif not self.states.is_pending(state):
            raise OAuthError(f"This connection attempt is no longer valid. {AGAIN}", "state_unknown")
        cfg = self.config
        if cfg.mode == OAuthMode.connect:
            params = {"response_type": "code", "client_id": cfg.client_id, "scope": cfg.scope, "state": state,
                      "redirect_uri": cfg.redirect_uri}
        else:
            params = {"client_id": cfg.client_id, "redirect_uri": cfg.redirect_uri, "state": state}
        return f"{cfg.authorize_url}?{urlencode(params)}"

    # -- callback
    def complete(self, answer: Mapping[str, Any]) -> OAuthGrant:
        """Check Stripe's answer (the callback's query parameters: `code` and `state`, or
        `error`, `error_description` and `state`) and exchange the code. The state is
        checked first and used up whatever happens next; nothing is stored on any failure."""
        answer = {k: (v[0] if isinstance(v, list) and v else v) for k, v in dict(answer or {}).items()}
        self.states.consume(answer.get("state"))
        if answer.get("error"):
            error = _authorize_error(str(answer["error"]), str(answer.get("error_description") or ""))
            log.info("OAuth: Stripe answered %s; nothing connected", error.code)
            raise error
        code = answer.get("code")
        if not code or not isinstance(code, str):
            raise OAuthError(f"Stripe's answer had no authorization code, so nothing was connected. {AGAIN}",
                             "code_missing")
        data = self._token_request({"grant_type": "authorization_code", "code": code}, refreshing=False)
        grant = self._grant(data)
        log.info("OAuth: connected %s (%s mode) with %s", grant.account_id, grant.mode_name, self.config.label)
        return grant

    def _grant(self, data: Mapping[str, Any]) -> OAuthGrant:
        account = data.get("stripe_user_id")
        if not isinstance(account, str) or not _ACCOUNT_ID.match(account):
            raise OAuthError(f"Stripe's answer did not name a Stripe account, so nothing was connected. {AGAIN}",
                             "bad_response")
        livemode = bool(data.get("livemode"))
        self._check_mode(livemode)
        if self.config.mode == OAuthMode.connect:
            # The connected account is reached with the platform key + Stripe-Account: keep no token.
            return OAuthGrant(mode=OAuthMode.connect, account_id=account, livemode=livemode,
                              scope=data.get("scope"))
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise OAuthError(f"Stripe's answer had no access token, so nothing was connected. {AGAIN}", "bad_response")
        lifetime = _lifetime(data)
        return OAuthGrant(mode=OAuthMode.stripe_apps, account_id=account, livemode=livemode, scope=data.get("scope"),
                          access_token=SecretStr(access), refresh_token=SecretStr(refresh),
                          expires_at=self._now() + lifetime, lifetime=lifetime)

    def _check_mode(self, livemode: bool) -> None:
        expected = self.config.key_mode
        if expected is not None and expected != ("live" if livemode else "test"):
            raise _mode_mismatch()

    # -- refresh (Stripe Apps)
    def ensure_fresh(self, grant: OAuthGrant) -> bool:
        """Refresh the access token when it expires within the margin; True when refreshed.
        Raises OAuthError('refresh_failed') and forgets the tokens when Stripe refuses."""
        with grant.lock:
            if grant.revoked:
                raise OAuthError("This connection was closed. Click “Connect with Stripe” to connect again.",
                                 "revoked")
            if not grant.needs_refresh(self._now()):
                return False
            self.refresh(grant)
            return True

    def refresh(self, grant: OAuthGrant) -> None:
        """Swap the refresh token for a new access token and a new refresh token; keep only
        the newest (Stripe kills the old one). On failure every token is forgotten."""
        if grant.mode != OAuthMode.stripe_apps:
            return
        with grant.lock:
            token = grant.refresh_token
            if token is None:
                raise OAuthError("This connection was closed. Click “Connect with Stripe” to connect again.",
                                 "revoked")
            try:
                data = self._token_request({"grant_type": "refresh_token",
                                            "refresh_token": token.get_secret_value()}, refreshing=True)
                access, refresh = data.get("access_token"), data.get("refresh_token")
                if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
                    raise OAuthError("Stripe's answer to renewing the connection had no token. Click “Connect with "
                                     "Stripe” to connect again.", "refresh_failed")
                if data.get("stripe_user_id") not in (None, grant.account_id):
                    raise OAuthError("Stripe renewed the connection for another account; it was closed. Click "
                                     "“Connect with Stripe” to connect again.", "refresh_failed")
            except OAuthError as error:
                if error.code in ("network", "server_error"):
                    # Stripe may not have seen the request: the tokens may still be good, keep them.
                    log.warning("OAuth: renewing the access of %s failed (%s); will try again", grant.account_id,
                                error.code)
                    raise
                grant.forget()
                log.warning("OAuth: renewing the access of %s was refused (%s); its tokens were forgotten",
                            grant.account_id, error.code)
                if error.code != "refresh_failed":
                    raise OAuthError(str(error), "refresh_failed") from None
                raise
            lifetime = _lifetime(data)
            grant._replace_tokens(SecretStr(access), SecretStr(refresh), self._now() + lifetime, lifetime)
            log.info("OAuth: renewed the access of %s (valid %d s)", grant.account_id, int(lifetime))

    # -- disconnect (Connect)
    def deauthorize(self, grant: OAuthGrant) -> None:
        """Connect: revoke the platform's access to the account (`POST /oauth/deauthorize`).
        Stripe Apps: forget the tokens (the user uninstalls the app in Stripe to revoke it).
        The grant's tokens are forgotten in every case, even when Stripe cannot be told."""
        try:
            if grant.mode == OAuthMode.connect and self.config.deauthorize_url and not grant.revoked:
                self._post(self.config.deauthorize_url,
                           {"client_id": self.config.client_id, "stripe_user_id": grant.account_id},
                           refreshing=False, deauthorizing=True)
                log.info("OAuth: deauthorized %s", grant.account_id)
        finally:
            grant.forget()

    # -- HTTP
    def _token_request(self, form: dict[str, str], *, refreshing: bool) -> dict[str, Any]:
        return self._post(self.config.token_url, form, refreshing=refreshing)

    def _post(self, url: str, form: dict[str, str], *, refreshing: bool, deauthorizing: bool = False) -> dict:
        secret = self.config.client_secret.get_secret_value()
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(url, data=form, auth=(secret, ""), headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            log.warning("OAuth: %s could not be reached (%s)", _origin(url), type(error).__name__)
            what = "disconnect the account" if deauthorizing else (
                "renew the connection" if refreshing else "finish the connection")
            raise OAuthError(f"Stripe could not be reached to {what} (network error). Check the connection and try "
                             "again.", "network") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
            code, description = _error_fields(data)
            log.info("OAuth: %s answered HTTP %s (%s)", _origin(url), response.status_code, code or "no error code")
            if deauthorizing:
                raise OAuthError("Stripe could not be told to disconnect the account"
                                 + (f" ({code})" if code else "") + ". It is disconnected here; to revoke the access "
                                 "in Stripe too, remove the app under Settings → Connected accounts / Installed apps "
                                 "in the Stripe Dashboard.", code or "deauthorize_failed")
            if response.status_code >= 500 or (not code and response.status_code < 400):
                raise OAuthError(f"Stripe had a problem (HTTP {response.status_code}). Try again in a minute.",
                                 "server_error")
            raise _token_error(code, description, refreshing=refreshing)
        return data


def _lifetime(data: Mapping[str, Any]) -> float:
    try:
        value = float(data.get("expires_in") or ACCESS_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        value = ACCESS_TOKEN_LIFETIME
    return max(1.0, min(value, 24 * 3600.0))


def _error_fields(data: Any) -> tuple[str, str]:
    """(code, description) of an OAuth error (`{"error": "invalid_grant", ...}`) or of a
    Stripe API error (`{"error": {"type": ..., "code": ..., "message": ...}}`)."""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, dict):
        return (str(error.get("code") or error.get("type") or ""), str(error.get("message") or ""))
    return (str(error or ""), str(data.get("error_description") or ""))


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
