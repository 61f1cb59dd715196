"""This user's Stripe connection, as the pages see it.

The connection is kept server-side, encrypted (`connection_store.py`), under its holder: the
signed-in user when sign-in is configured, else this browser's session id (the `sa_session`
cookie the server sets, read from `st.context.cookies`). So reloads and new tabs of the same
browser keep it, and another browser never sees it. Without a cookie (AppTest, a bare
script run) the connection lives in this tab's `st.session_state` only, as before.

Also here: the plain notice the Connect page shows once, the OAuth flow of this session and
streamlit-oauth's popup, Stripe's answer in the URL, and *Sync now* through the access policy.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from .. import access, server_session
from ..config import Settings
from ..connection import Connection, cache_path_for
from ..connection_store import ConnectionStore, StoreKeyError, holder_for_browser, holder_for_user
from ..key_check import KeyReport
from ..oauth import OAuthConfig, OAuthError, OAuthFlow, OAuthGrant, config_from_settings
from ..sync import SyncError, fetch_account
from ..sync_jobs import SyncJob, job_for, start_configured, start_connection
from . import signin

log = logging.getLogger(__name__)

SESSION_KEY = "_sa_connection"  # (holder, Connection) of this run, or the tab-only connection
SESSION_ID_KEY = "_sa_session_id"  # this tab's session id once the cookie was rotated
FLOW_KEY = "_sa_oauth_flow"
NOTICE_KEY = "_sa_connect_notice"
SELECT_KEY = "_sa_select_account"
ROTATE_KEY = "_sa_rotate_ticket"
CALLBACK_PARAMS = ("code", "state", "scope", "error", "error_description")
_STORES: dict[tuple, ConnectionStore] = {}
_LIVE: dict[str, Connection] = {}  # holder -> the connection object all its tabs share (one grant lock)


def _state() -> Any:
    return st.session_state


# ----------------------------------------------------------------------------- the holder

def store(settings: Settings) -> ConnectionStore | None:
    key = (str(settings.data_dir), settings.secret_key.get_secret_value() if settings.secret_key else None,
           settings.session_idle_days)
    if key not in _STORES:
        try:
            _STORES[key] = ConnectionStore(settings)
        except StoreKeyError as error:
            notice(str(error))
            return None
    return _STORES[key]


def browser_session_id(settings: Settings) -> str | None:
    """This browser's session id: from the server's signed cookie, or the new id this tab
    was given when it connected."""
    state = _state()
    known = state.get(SESSION_ID_KEY)
    if isinstance(known, str):
        return known
    connection_store = store(settings)
    if connection_store is None:
        return None
    raw = st.context.cookies.get(server_session.COOKIE)  # no browser (bare mode): no cookies
    session_id = connection_store.keys.session_id_from_cookie(raw)
    if session_id is not None:
        state[SESSION_ID_KEY] = session_id
    return session_id


def holder(settings: Settings) -> str | None:
    """Whose connection this run uses: the signed-in user's, else this browser's; None when
    neither can be told (the connection then lives in this tab only)."""
    who = signin.principal()
    if who is not None and who.signed_in and who.email:
        return holder_for_user(who.email)
    session_id = browser_session_id(settings)
    return holder_for_browser(session_id) if session_id else None


def current(settings: Settings) -> Connection | None:
    """This holder's open connection, or None (a stored one that expired or no longer
    decrypts is dropped here, and the Connect page says so once)."""
    state = _state()
    who = holder(settings)
    if who is None:
        kept = state.get(SESSION_KEY)
        conn = kept[1] if isinstance(kept, tuple) and kept[0] is None else None
        return conn if isinstance(conn, Connection) and conn.open else None
    kept = state.get(SESSION_KEY)
    connection_store = store(settings)
    if connection_store is None:
        return None
    loaded = connection_store.load(who, settings)
    if loaded.problem:
        notice(loaded.problem, "warning")
    conn = loaded.connection
    if conn is None:
        _LIVE.pop(who, None)
        state.pop(SESSION_KEY, None)
        return None
    live = _LIVE.get(who)
    if live is not None and live.open and (live.account_id, live.kind, live.connected_at) == (
            conn.account_id, conn.kind, conn.connected_at):
        live.adopt_newer_tokens(conn)  # the scheduled sync may have renewed them meanwhile
        conn = live
    _LIVE[who] = conn
    state[SESSION_KEY] = (who, conn) if not isinstance(kept, tuple) or kept[1] is not conn else kept
    return conn


def select_account(account_id: str) -> None:
    """Make the account picker show this account on the next run (it cannot be changed once
    the picker is drawn in this run)."""
    _state()[SELECT_KEY] = account_id


def connect(settings: Settings, conn: Connection) -> None:
    """Make `conn` this holder's connection (closing any previous one) and, for a browser,
    replace its session id so an id known before connecting is worthless after."""
    state = _state()
    who = holder(settings)
    previous = current(settings)
    connection_store = store(settings) if who else None
    if connection_store is not None and who is not None:
        if previous is not None and previous is not conn:
            connection_store.delete(who, previous)
        if who.startswith("browser:"):
            # A new id for this browser: whoever knew the old one (planted or seen) gets nothing.
            connection_store.delete(who)
            new_id, state[ROTATE_KEY] = server_session.issue_rotation(who.removeprefix("browser:"))
            state[SESSION_ID_KEY] = new_id
            who = holder_for_browser(new_id)
        connection_store.save(who, conn)
        _LIVE[who] = conn
    elif previous is not None and previous is not conn:
        previous.close()
    state[SESSION_KEY] = (who if connection_store is not None else None, conn)
    select_account(conn.account_id)
    log.info("session: connected %s (%s, %s mode)", conn.account_id, conn.kind, conn.mode)


def rotation_ticket() -> str | None:
    """The pending session-id rotation the page must load once (see `show_rotation`)."""
    return _state().pop(ROTATE_KEY, None)


def show_rotation() -> None:
    """Load the rotation URL in the browser (a 1-pixel image): its answer sets the new cookie.
    The URL is relative to the page, so it reaches this app under `server.baseUrlPath` or
    behind a proxy's sub-path too."""
    ticket = rotation_ticket()
    if ticket:
        src = f"{server_session.ROTATE_PATH.lstrip('/')}?ticket={ticket}"
        st.markdown(f'<img src="{src}" width="1" height="1" alt="" style="position:absolute;opacity:0">',
                    unsafe_allow_html=True)


def disconnect(settings: Settings) -> str | None:
    """Forget this holder's connection: its stored key or token is deleted (and Connect
    deauthorized unless another user holds the account). Returns a plain warning when Stripe
    could not be told; the holder is disconnected in any case."""
    state = _state()
    conn = current(settings)
    who = holder(settings)
    state.pop(SESSION_KEY, None)
    select_account("demo")
    if conn is None:
        return None
    _LIVE.pop(who or "", None)
    connection_store = store(settings) if who else None
    if connection_store is not None and who is not None:
        warning = connection_store.delete(who, conn)
    else:
        warning = conn.close()
    log.info("session: disconnected %s", conn.account_id)
    return warning


def notice(message: str | None = None, kind: str = "error") -> tuple[str, str] | None:
    """Set (with a message) or pop (without) the plain message the Connect page shows once."""
    state = _state()
    if message is None:
        return state.pop(NOTICE_KEY, None)
    state[NOTICE_KEY] = (kind, message)
    return None


# ----------------------------------------------------------------------------- OAuth

def oauth_flow(settings: Settings, *, redirect_uri: str | None = None) -> OAuthFlow:
    """This session's OAuth flow (its pending states live in it). Raises OAuthNotConfigured."""
    config = config_from_settings(settings, redirect_uri=redirect_uri)
    state = _state()
    flow = state.get(FLOW_KEY)
    if not isinstance(flow, OAuthFlow) or not _same_config(flow.config, config):
        flow = OAuthFlow(config)
        state[FLOW_KEY] = flow
    return flow


def pending_flow() -> OAuthFlow | None:
    flow = _state().get(FLOW_KEY)
    return flow if isinstance(flow, OAuthFlow) else None


def _same_config(a: OAuthConfig, b: OAuthConfig) -> bool:
    return (a.mode, a.client_id, a.redirect_uri, a.authorize_url, a.token_url, a.deauthorize_url) == (
        b.mode, b.client_id, b.redirect_uri, b.authorize_url, b.token_url, b.deauthorize_url) and (
        a.client_secret.get_secret_value() == b.client_secret.get_secret_value())


def default_redirect_uri() -> str | None:
    """This app's own origin + /connect (the popup must come back to the app's origin)."""
    url = st.context.url  # None without a browser (bare mode)
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/connect"


def callback_params() -> dict[str, str]:
    """Stripe's answer in this page's URL (`code`/`state` or `error`), if any."""
    return {k: st.query_params[k] for k in CALLBACK_PARAMS if k in st.query_params}


def clear_callback_params() -> None:
    """Remove Stripe's answer from the URL (the browser's address bar and history entry)."""
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

            async def revoke_token(self, token, token_type_hint=None):  # pragma: no cover - disconnect does it
                raise NotImplementedError("Disconnect goes through ui.connection_state.disconnect")

            def __repr__(self) -> str:
                return "StripePopupClient()"

        _POPUP_CLIENT.append(StripePopupClient)
    return OAuth2Component(client=_POPUP_CLIENT[0](flow))


def connect_oauth(settings: Settings, flow: OAuthFlow, grant: OAuthGrant) -> Connection:
    """Make a completed OAuth grant this holder's connection, after reading the account's
    profile with it (which also proves the grant reaches the account Stripe named)."""
    conn = Connection.from_grant(grant, flow)
    try:
        account = fetch_account(conn.access(settings))
    except OAuthError:
        conn.close()
        raise
    except SyncError as error:  # the profile only names the account: go on with the id Stripe gave
        log.warning("session: reading the profile of %s failed: %s", grant.account_id, error)
        account = {"id": grant.account_id}
    if not access.cache_belongs_to(grant.account_id, account.get("id")).allowed:
        conn.close()
        raise OAuthError("Stripe's token reads another account than the one that was authorized, so nothing was "
                         "connected. Click “Connect with Stripe” to start again.", "account_mismatch")
    from ..key_check import _profile

    conn.profile = _profile(account)
    connect(settings, conn)
    return conn


def connect_key(settings: Settings, raw_key: str) -> tuple[Connection | None, KeyReport]:
    """Check a pasted restricted key and, when it can read its account, connect it.
    Raises key_check.KeyCheckError (plain) when it cannot be used at all."""
    from ..key_check import check_restricted_key, restricted_key_shape

    key = restricted_key_shape(raw_key)
    report = check_restricted_key(settings, key)
    if not report.usable:
        return None, report
    conn = Connection.from_key(report, key)
    connect(settings, conn)
    return conn, report


# ----------------------------------------------------------------------------- syncing

def sync_job(settings: Settings, account_id: str) -> SyncJob | None:
    return job_for(cache_path_for(settings, account_id))


def may_sync(settings: Settings, conn: Connection) -> access.Decision:
    """May this user sync their connected account (the access policy's answer)?"""
    target = access.Target(conn.account_id, cache_path_for(settings, conn.account_id))
    return access.may_sync(signin.principal_or_anonymous(), settings, target, conn)


def start_sync(settings: Settings, conn: Connection, *, full: bool = False) -> SyncJob | None:
    """Sync this holder's connected account, if the access policy allows it. None when it
    does not, or when the connection's token can no longer be renewed (the holder is then
    disconnected); the Connect page's notice says why."""
    decision = may_sync(settings, conn)
    if not decision.allowed:
        notice(decision.reason, "warning")
        return None
    try:
        api_key, stripe_account = conn.credentials(settings)
    except OAuthError as error:
        disconnect(settings)
        notice(str(error))
        return None
    job = start_connection(settings, conn, api_key, stripe_account, full=full)
    log.info("session: sync of %s started", conn.account_id)
    return job


class SyncControl:
    """*Sync now* for the open account, as the access policy decided: through this holder's
    own connection, or with the configured STRIPE_API_KEY."""

    def __init__(self, settings: Settings, target: access.Target, decision: access.Decision):
        self.settings, self.target, self.decision = settings, target, decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reason(self) -> str | None:
        return self.decision.reason

    def current(self) -> SyncJob | None:
        if self.decision.route == "connection":
            return sync_job(self.settings, self.target.account_id)
        return job_for(self.target.cache_path)

    def start(self) -> SyncJob | None:
        """The started (or already running) job; None when it was refused (the Connect page
        then says why)."""
        if self.decision.route == "connection" and self.decision.connection is not None:
            return start_sync(self.settings, self.decision.connection)
        if self.decision.route == "configured":
            return start_configured(self.target.cache_path)
        return None


def control(app_ctx) -> SyncControl | None:
    """How the open account syncs from the app (possibly refused, with the reason, e.g. for a
    viewer); None for the demo, or when there is no key or connection to sync it with."""
    account, settings = app_ctx.account, app_ctx.settings
    if account is None or settings is None or account.demo:
        return None
    target = access.Target(account.id, account.path, demo=account.demo, pending=account.pending)
    decision = access.may_sync(signin.principal_or_anonymous(), settings, target, app_ctx.connection)
    if decision.because in ("demo", "no_credentials"):
        return None
    return SyncControl(settings, target, decision)
