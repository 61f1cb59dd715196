"""One browser session's connection to one Stripe account, kept server-side.

A `Connection` lives in `st.session_state` (server memory of that browser tab's session),
never in a cookie, the URL, a file or the cache: closing the tab ends it, and no other
browser can reach it. Its `repr`/`str` hide every secret, and it refuses to be pickled or
copied. Three ways in: Stripe OAuth (Stripe Apps or Connect, see `oauth.py`), a restricted
key checked at once (`key_check.py`), or none (the demo account).

Each connected account's cache is `DATA_DIR/connected/<account id>.duckdb`, the id being
the one Stripe returned (never user input). The folder is apart from `DATA_DIR/acct_*.duckdb`
(the operator's own configured account), so a session's cache never shows up in another
session's account list.

Syncs run in a child process (`python -m stripe_analytics.session`), like the Data page's
"Sync now", so the app never opens a cache for writing; the child receives the key or token
on its stdin, never in its arguments or environment.

`ui/context.py` puts this session's account first in the account picker (`session_account`)
and takes the mode badge from the connection.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pydantic import SecretStr

from .config import OAuthMode, Settings
from .key_check import KeyReport, MissingPermission, connection_settings
from .oauth import OAuthConfig, OAuthError, OAuthFlow, OAuthGrant, config_from_settings

if TYPE_CHECKING:  # pragma: no cover
    from .stripe_client import StripeAccess
    from .ui.sync_runner import SyncJob

log = logging.getLogger(__name__)

SESSION_KEY = "_sa_connection"
FLOW_KEY = "_sa_oauth_flow"
NOTICE_KEY = "_sa_connect_notice"
SELECT_KEY = "_sa_select_account"
CONNECTED_DIR = "connected"
CALLBACK_PARAMS = ("code", "state", "scope", "error", "error_description")
KINDS = {"stripe_apps": "Stripe (OAuth)", "connect": "Stripe Connect (OAuth)", "restricted_key": "Restricted key"}


class Connection:
    """This session's access to one Stripe account. Secrets are private SecretStr fields;
    nothing here prints, pickles or copies them."""

    __slots__ = ("kind", "account_id", "livemode", "profile", "missing", "connected_at", "_key", "_grant", "_flow",
                 "_finalizer", "__weakref__")

    def __init__(self, *, kind: str, account_id: str, livemode: bool, profile: Mapping[str, Any] | None = None,
                 missing: Iterable[MissingPermission] = (), key: SecretStr | None = None,
                 grant: OAuthGrant | None = None, flow: OAuthFlow | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown connection kind {kind!r}")
        self.kind = kind
        self.account_id = account_id
        self.livemode = livemode
        self.profile = dict(profile or {})
        self.missing = list(missing)
        self.connected_at = time.time()
        self._key = key
        self._grant = grant
        self._flow = flow
        self._finalizer = None
        if kind == "connect" and grant is not None and flow is not None:
            # The session ending (tab closed) drops this object: deauthorize then, as on Disconnect.
            _hold(account_id)
            self._finalizer = weakref.finalize(self, _release_in_background, account_id, flow, grant)

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
    def open(self) -> bool:
        return self._key is not None or (self._grant is not None and not self._grant.revoked)

    # -- using it
    def credentials(self, settings: Settings) -> tuple[str, str | None]:
        """(API key, Stripe-Account header) to reach the account now. Stripe Apps tokens are
        refreshed first when they expire soon (raises OAuthError when Stripe refuses)."""
        if self.kind == "restricted_key":
            if self._key is None:
                raise OAuthError("This connection was closed. Connect again.", "revoked")
            return self._key.get_secret_value(), None
        if self._grant is None or self._flow is None or self._grant.revoked:
            raise OAuthError("This connection was closed. Click “Connect with Stripe” to connect again.", "revoked")
        if self.kind == "connect":
            secret = settings.stripe_client_secret
            if secret is None:
                raise OAuthError("STRIPE_CLIENT_SECRET (the platform's secret key) is no longer set, so the connected "
                                 "account cannot be reached.", "not_configured")
            return secret.get_secret_value(), self.account_id
        self._flow.ensure_fresh(self._grant)
        token = self._grant.access_token
        if token is None:
            raise OAuthError("This connection was closed. Click “Connect with Stripe” to connect again.", "revoked")
        return token.get_secret_value(), None

    def access(self, settings: Settings) -> "StripeAccess":
        from .stripe_client import build_client

        api_key, account = self.credentials(settings)
        return build_client(connection_settings(settings, live=self.livemode), api_key=api_key,
                            stripe_account=account)

    def close(self) -> str | None:
        """Forget every secret; for Connect, deauthorize the platform's access first (unless
        another session of this app still uses the same account: Stripe's authorization is
        per platform and account, not per session). Returns a plain warning when Stripe
        could not be told (the connection is closed here anyway)."""
        warning = None
        try:
            if self._finalizer is not None and self._finalizer.detach() is not None:
                if _release(self.account_id) and self._grant is not None and self._flow is not None:
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

    def __repr__(self) -> str:
        return (f"Connection({self.how}, account={self.account_id}, {self.mode} mode, "
                f"secrets={'<hidden>' if self.open else 'none'})")

    __str__ = __repr__

    def __reduce_ex__(self, protocol):  # pickle, copy and deepcopy
        raise TypeError("a Stripe connection holds secrets and is never serialized or copied")


# Connect OAuth authorizes the platform once per account, whichever session asked: count the
# sessions holding each account, and deauthorize when the last one lets go.
_HOLDERS: dict[str, int] = {}
_HOLDERS_LOCK = threading.Lock()


def _hold(account_id: str) -> None:
    with _HOLDERS_LOCK:
        _HOLDERS[account_id] = _HOLDERS.get(account_id, 0) + 1


def _release(account_id: str) -> bool:
    """One session let go of this Connect account; True when it was the last one."""
    with _HOLDERS_LOCK:
        left = _HOLDERS.get(account_id, 1) - 1
        if left > 0:
            _HOLDERS[account_id] = left
            return False
        _HOLDERS.pop(account_id, None)
        return True


def _release_in_background(account_id: str, flow: OAuthFlow, grant: OAuthGrant) -> None:
    """A Connect connection was dropped without Disconnect (its session ended): deauthorize
    in a thread, since this runs wherever the garbage collector happens to run."""
    if not _release(account_id):
        grant.forget()
        return

    def run() -> None:
        try:
            flow.deauthorize(grant)
        except OAuthError as error:
            log.warning("session: deauthorizing %s after its session ended failed (%s)", account_id, error.code)
        except Exception as error:  # noqa: BLE001 - never let a background thread die noisily
            log.warning("session: deauthorizing %s after its session ended failed (%s)", account_id,
                        type(error).__name__)

    threading.Thread(target=run, daemon=True, name="deauthorize").start()


# ----------------------------------------------------------------------------- paths

def cache_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / CONNECTED_DIR


def cache_path_for(settings: Settings, account_id: str) -> Path:
    """The cache of a connected account: from the id Stripe returned, checked by cache_path."""
    from .cache import cache_path

    return cache_path(cache_dir(settings), account_id)


# ----------------------------------------------------------------------------- Streamlit session

def _state() -> Any:
    import streamlit as st

    return st.session_state


def current() -> Connection | None:
    conn = _state().get(SESSION_KEY)
    if isinstance(conn, Connection) and conn.open:
        return conn
    return None


def select_account(account_id: str) -> None:
    """Make the account picker show this account on the next run (it cannot be changed once
    the picker is drawn in this run)."""
    _state()[SELECT_KEY] = account_id


def connect(conn: Connection) -> None:
    """Make `conn` this session's connection (closing any previous one)."""
    state = _state()
    previous = state.get(SESSION_KEY)
    if isinstance(previous, Connection) and previous is not conn:
        previous.close()
    state[SESSION_KEY] = conn
    select_account(conn.account_id)
    log.info("session: connected %s (%s, %s mode)", conn.account_id, conn.kind, conn.mode)


def disconnect() -> str | None:
    """Forget this session's connection (deauthorizing it for Connect). Returns a plain
    warning when Stripe could not be told; the session is disconnected in any case."""
    state = _state()
    conn = state.pop(SESSION_KEY, None)
    select_account("demo")
    if not isinstance(conn, Connection):
        return None
    account = conn.account_id
    warning = conn.close()
    log.info("session: disconnected %s", account)
    return warning


def notice(message: str | None = None, kind: str = "error") -> tuple[str, str] | None:
    """Set (with a message) or pop (without) the plain message the Connect page shows once."""
    state = _state()
    if message is None:
        return state.pop(NOTICE_KEY, None)
    state[NOTICE_KEY] = (kind, message)
    return None


def oauth_flow(settings: Settings, *, redirect_uri: str | None = None) -> OAuthFlow:
    """This session's OAuth flow (its pending states live in it). Raises OAuthNotConfigured."""
    config = config_from_settings(settings, redirect_uri=redirect_uri)
    state = _state()
    flow = state.get(FLOW_KEY)
    if not isinstance(flow, OAuthFlow) or not _same_config(flow.config, config):
        flow = OAuthFlow(config)
        state[FLOW_KEY] = flow
    return flow


def _same_config(a: OAuthConfig, b: OAuthConfig) -> bool:
    return (a.mode, a.client_id, a.redirect_uri, a.authorize_url, a.token_url, a.deauthorize_url) == (
        b.mode, b.client_id, b.redirect_uri, b.authorize_url, b.token_url, b.deauthorize_url) and (
        a.client_secret.get_secret_value() == b.client_secret.get_secret_value())


def default_redirect_uri() -> str | None:
    """This app's own origin + /connect (the popup must come back to the app's origin)."""
    import streamlit as st

    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        return None
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/connect"


def callback_params() -> dict[str, str]:
    """Stripe's answer in this page's URL (`code`/`state` or `error`), if any."""
    import streamlit as st

    return {k: st.query_params[k] for k in CALLBACK_PARAMS if k in st.query_params}


def clear_callback_params() -> None:
    """Remove Stripe's answer from the URL (the browser's address bar and history entry)."""
    import streamlit as st

    for name in CALLBACK_PARAMS:
        if name in st.query_params:
            del st.query_params[name]


_POPUP_CLIENT: list[type] = []


def popup_component(flow: OAuthFlow):
    """streamlit-oauth's `OAuth2Component` driven by this session's flow.

    streamlit-oauth opens the authorize URL in a popup, watches it come back to the
    redirect URI (which must be on the app's own origin, or the popup cannot be read) and
    returns the callback's query parameters. We pass our own httpx_oauth client (its
    constructor otherwise builds a generic one, and fails when given a revoke endpoint
    without an auth method): it builds Stripe's authorize URL from *our* state, and it does
    not exchange the code — streamlit-oauth would do so before any expiry or reuse check and
    with the wrong client authentication for Stripe; `OAuthFlow.complete` does it after
    checking the state."""
    from streamlit_oauth import OAuth2Component

    if not _POPUP_CLIENT:
        from httpx_oauth.oauth2 import BaseOAuth2

        class StripePopupClient(BaseOAuth2):
            def __init__(self, flow: OAuthFlow):
                cfg = flow.config
                super().__init__(cfg.client_id, "", cfg.authorize_url, cfg.token_url,
                                 revoke_token_endpoint=cfg.deauthorize_url,
                                 revocation_endpoint_auth_method="client_secret_basic" if cfg.deauthorize_url
                                 else None, name="stripe")
                self._flow = flow

            async def get_authorization_url(self, redirect_uri, state=None, scope=None, code_challenge=None,
                                            code_challenge_method=None, extras_params=None):
                return self._flow.authorization_url(state)

            async def get_access_token(self, code, redirect_uri, code_verifier=None):
                return {"exchanged": False}  # OAuthFlow.complete exchanges it, after the state check

            async def refresh_token(self, refresh_token):  # pragma: no cover - OAuthFlow.refresh does it
                raise NotImplementedError("tokens are refreshed by stripe_analytics.oauth")

            async def revoke_token(self, token, token_type_hint=None):  # pragma: no cover - Connection.close
                raise NotImplementedError("Disconnect goes through stripe_analytics.session.disconnect")

            def __repr__(self) -> str:
                return "StripePopupClient()"

        _POPUP_CLIENT.append(StripePopupClient)
    return OAuth2Component(client=_POPUP_CLIENT[0](flow))


def connect_oauth(settings: Settings, flow: OAuthFlow, grant: OAuthGrant) -> Connection:
    """Make a completed OAuth grant this session's connection, after reading the account's
    profile with it (which also proves the grant reaches the account Stripe named)."""
    conn = Connection.from_grant(grant, flow)
    try:
        from .sync import fetch_account

        account = fetch_account(conn.access(settings))
    except OAuthError:
        conn.close()
        raise
    except Exception as error:  # noqa: BLE001 - the SyncError message is plain
        log.warning("session: reading the profile of %s failed (%s)", grant.account_id, type(error).__name__)
        account = {"id": grant.account_id}
    if account.get("id") != grant.account_id:
        conn.close()
        raise OAuthError("Stripe's token reads another account than the one that was authorized, so nothing was "
                         "connected. Click “Connect with Stripe” to start again.", "account_mismatch")
    from .key_check import _profile

    conn.profile = _profile(account)
    connect(conn)
    return conn


def connect_key(settings: Settings, raw_key: str) -> tuple[Connection | None, KeyReport]:
    """Check a pasted restricted key and, when it can read its account, connect it.
    Raises key_check.KeyCheckError (plain) when it cannot be used at all."""
    from .key_check import check_restricted_key, restricted_key_shape

    key = restricted_key_shape(raw_key)
    report = check_restricted_key(settings, key)
    if not report.usable:
        return None, report
    conn = Connection.from_key(report, key)
    connect(conn)
    return conn, report


# ----------------------------------------------------------------------------- the app's account list

def session_account(settings: Settings):
    """This session's connected account as a `ui.context.Account` (path None before its
    first sync), or None."""
    from .ui.context import Account

    conn = current()
    if conn is None:
        return None
    path = cache_path_for(settings, conn.account_id)
    label = f"{conn.label} · connected" if conn.label != conn.account_id else f"{conn.account_id} · connected"
    return Account(conn.account_id, label, path if path.exists() else None)


# ----------------------------------------------------------------------------- syncing

_JOBS: dict[str, "SyncJob"] = {}
_JOBS_LOCK = threading.Lock()


def sync_job(settings: Settings, account_id: str) -> "SyncJob | None":
    with _JOBS_LOCK:
        return _JOBS.get(str(cache_path_for(settings, account_id)))


def start_sync(settings: Settings, conn: Connection, *, full: bool = False) -> "SyncJob":
    """Sync this session's account into its cache in a child process (one job per cache).
    The key or token goes to the child on stdin. Raises OAuthError when a Stripe Apps token
    cannot be renewed (the caller disconnects and says so)."""
    from .ui.sync_runner import SyncJob

    path = cache_path_for(settings, conn.account_id)
    with _JOBS_LOCK:
        existing = _JOBS.get(str(path))
        if existing is not None and existing.running:
            return existing
        api_key, account = conn.credentials(settings)
        command = [sys.executable, "-m", "stripe_analytics.session", "--data-dir", str(Path(settings.data_dir)),
                   "--account", conn.account_id] + (["--full"] if full else [])
        env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "STRIPE_ACCOUNT")}
        job = SyncJob(command)
        job.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        _JOBS[str(path)] = job
    assert job.process.stdin is not None
    try:
        job.process.stdin.write(json.dumps({"api_key": api_key, "stripe_account": account, "live": conn.livemode,
                                            "settings": _child_settings(settings)}) + "\n")
        job.process.stdin.close()
    except OSError:
        pass
    del api_key

    job.follow("session-sync")
    log.info("session: sync of %s started", conn.account_id)
    return job


_CHILD_SETTINGS = ("stripe_api_base", "stripe_max_requests_per_second", "stripe_max_network_retries",
                   "sync_concurrency")


def _child_settings(settings: Settings) -> dict[str, Any]:
    """The parent's (non-secret) settings the sync child must use, so it reaches the same
    Stripe with the same budget whatever its own environment says."""
    return {name: getattr(settings, name) for name in _CHILD_SETTINGS}


def _progress_printer():
    last = {"message": None, "bucket": -1}

    def show(progress) -> None:
        bucket = int(progress.fraction * 20)
        if progress.message == last["message"] or (progress.phase == "backfill" and bucket == last["bucket"]
                                                   and progress.fraction not in (0, 1)):
            return
        last["message"], last["bucket"] = progress.message, bucket
        print(f"{progress.phase}: {progress.message} ({progress.fraction:.0%})", file=sys.stderr, flush=True)

    return show


def _child_main(argv: list[str] | None = None) -> int:
    """`python -m stripe_analytics.session --data-dir D --account acct_… [--full]`, with
    {"api_key": …, "stripe_account": …, "live": …, "settings": {…}} on stdin: sync that account into
    D/connected/<account>.duckdb. Exit codes as the CLI: 0 ok, 1 failed, 2 bad input, 3 auth."""
    parser = argparse.ArgumentParser(prog="python -m stripe_analytics.session")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    try:
        secret = json.loads(sys.stdin.readline() or "{}")
        api_key = secret.get("api_key")
    except ValueError:
        api_key = None
    if not api_key:
        print("No credentials were given to the sync.", file=sys.stderr)
        return 2
    from .config import SettingsError, load_settings
    from .stripe_client import build_client
    from .sync import SyncAuthError, SyncError, fetch_account, sync_account

    overrides = {k: v for k, v in (secret.get("settings") or {}).items() if k in _CHILD_SETTINGS}
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    settings = connection_settings(settings, live=bool(secret.get("live")))
    settings = settings.model_copy(update={"data_dir": Path(args.data_dir) / CONNECTED_DIR})
    access = build_client(settings, api_key=api_key, stripe_account=secret.get("stripe_account"))
    del secret, api_key
    try:
        account = fetch_account(access)
        if account.get("id") != args.account:
            print("The connection now reads another Stripe account than the one connected; nothing was synced. "
                  "Disconnect and connect again.", file=sys.stderr)
            return 1
        report = sync_account(settings, access=access, full=args.full, progress=_progress_printer())
    except SyncAuthError as error:
        print(str(error), file=sys.stderr)
        return 3
    except SyncError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"synced {report.objects} objects ({report.kind} sync)")
    for name, message in report.skipped.items():
        print(f"skipped {name}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
