"""The browser's session cookie, set by the server (`serve.py` adds `SessionCookieMiddleware`
to `st.App`): an opaque random id, signed, `HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS,
lasting `SESSION_IDLE_DAYS`. The script reads it from `st.context.cookies`
(`ui/connection_state.py`); the browser never holds anything secret.

A page without a valid cookie (none, expired, forged or altered) gets a new id; a page with a
valid one gets the same id again with a renewed lifetime (it lasts SESSION_IDLE_DAYS from the
last visit, like the stored connection). After a connect or a sign-in the id is replaced, so an
id known before (planted or seen) is worthless after: on connect the script stores the
connection under a new id and asks for a one-time ticket (`issue_rotation`); the page loads
`ROTATE_PATH?ticket=…`, whose answer, to the browser holding the old id only, sets the new
cookie. Streamlit's sign-in callback gets a new id too.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from . import access
from .config import Settings, SettingsError, load_settings
from .connection_store import ConnectionStore, Keys, StoreKeyError, new_session_id

log = logging.getLogger(__name__)

COOKIE = "sa_session"
ROTATE_PATH = "/_sa/session"
TICKET_TTL = 120.0
SIGN_IN_CALLBACK = "/oauth2callback"
# Routes that answer outside the script (Streamlit's downloads and uploads, the open pages'
# /live/<token>): with sign-in configured they need a signed-in, allowed user. Pages themselves
# are gated by the script (ui/signin.py); /healthz and the Stripe webhook stay open.
SIGNED_IN_PREFIXES = ("/media/", "/_stcore/upload_file", "/live/")
STREAMLIT_USER_COOKIE = "_streamlit_user"
_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
        b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


@dataclass
class _Rotation:
    old: str
    new: str
    expires: float
    redeemed: bool = False


_TICKETS: dict[str, _Rotation] = {}
_LOCK = threading.Lock()


def issue_rotation(old_session_id: str, *, now=time.time) -> tuple[str, str]:
    """(new session id, one-time ticket that gives it to the browser holding `old_session_id`)."""
    ticket = secrets.token_urlsafe(24)
    new = new_session_id()
    with _LOCK:
        for key in [k for k, r in _TICKETS.items() if r.expires < now()]:
            del _TICKETS[key]
        _TICKETS[ticket] = _Rotation(old_session_id, new, now() + TICKET_TTL)
    return new, ticket


def rotated_away(session_id: str) -> bool:
    """Is this id being replaced (a rotation issued for it in the last TICKET_TTL)? A page
    loaded with it meanwhile must not set it again over the new one."""
    with _LOCK:
        return any(rotation.old == session_id for rotation in _TICKETS.values())


def redeem(ticket: str, cookie_session_id: str | None, *, now=time.time) -> str | None:
    """The new id for this ticket, when it is valid, unused, and presented by the browser it
    was issued to."""
    with _LOCK:
        rotation = _TICKETS.get(ticket)
        if rotation is None or rotation.redeemed or rotation.expires < now() or cookie_session_id != rotation.old:
            return None
        rotation.redeemed = True
    return rotation.new


def sign_in_configured() -> bool:
    """Is Streamlit's sign-in set up (`[auth]` with a redirect URI and a cookie secret)?"""
    from streamlit.runtime.secrets import secrets_singleton

    # False for a missing or unreadable secrets file (Streamlit logs why at startup).
    if not secrets_singleton.load_if_toml_exists():
        return False
    auth = secrets_singleton.get("auth")
    return bool(auth) and bool(auth.get("redirect_uri")) and bool(auth.get("cookie_secret"))


def signed_in_claims(cookies: dict[str, str]) -> dict | None:
    """The claims of Streamlit's signed sign-in cookie (checked with its cookie secret), or
    None when there is no valid one. Fails closed if Streamlit's reader moved."""
    try:
        from streamlit.web.server.starlette.starlette_websocket import _get_signed_cookie_with_chunks
    except ImportError:
        log.error("sign-in cookies cannot be read (Streamlit's reader moved): nobody counts as signed in")
        return None
    try:
        raw = _get_signed_cookie_with_chunks(cookies, STREAMLIT_USER_COOKIE)
        payload = json.loads(raw) if raw else None
    except (ValueError, UnicodeError):  # a cookie that is not Streamlit's: not signed in
        return None
    return payload if isinstance(payload, dict) and payload.get("is_logged_in") else None


def cookie_header(keys: Keys, session_id: str, settings: Settings, *, secure: bool) -> bytes:
    max_age = int(settings.session_idle_days * 86400)
    value = f"{COOKIE}={keys.sign_session_id(session_id)}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    return (value + ("; Secure" if secure else "")).encode("latin-1")


def request_cookies(scope) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed Cookie header is ignored, as browsers do
                continue
    return {k: morsel.value for k, morsel in jar.items()}


async def _refuse(send) -> None:
    body = b"Sign in to the app first."
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


def app_path(path: str) -> str:
    """The request path as the app's routes see it: Streamlit serves its own routes (downloads,
    uploads, the sign-in callback) under `server.baseUrlPath` when one is set, so the gate
    strips it before matching (`/analytics/media/x` is a download too)."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    if base and (path == f"/{base}" or path.startswith(f"/{base}/")):
        return path[len(base) + 1:] or "/"
    return path


def _secure(scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    headers = dict(scope.get("headers") or [])
    return headers.get(b"x-forwarded-proto", b"").split(b",")[0].strip() == b"https"


class SessionCookieMiddleware:
    """Pure ASGI middleware: issues the session cookie on pages that lack a valid one (and
    renews a valid one), rotates it after a sign-in, and answers `ROTATE_PATH`."""

    def __init__(self, app, settings: Settings | None = None):
        self.app = app
        self._settings = settings
        self._store: ConnectionStore | None = None

    def _ready(self) -> ConnectionStore | None:
        if self._store is None:
            try:
                self._store = ConnectionStore(self._settings or load_settings())
            except (SettingsError, StoreKeyError) as error:
                log.warning("session cookies are off: %s", error)
                return None
        return self._store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        store = self._ready()
        if store is None:
            return await self.app(scope, receive, send)
        path = app_path(scope.get("path") or "/")
        cookies = request_cookies(scope)
        if path.startswith(SIGNED_IN_PREFIXES) and sign_in_configured():
            claims = signed_in_claims(cookies)
            if claims is None or not access.sign_in(store.settings, claims).allowed:
                return await _refuse(send)
        current = store.keys.session_id_from_cookie(cookies.get(COOKIE))
        if path.endswith(ROTATE_PATH):
            return await self._rotate(scope, send, store, current)
        sign_in = path.endswith(SIGN_IN_CALLBACK)
        # A valid id is kept and its cookie renewed on every page load: the cookie lasts
        # SESSION_IDLE_DAYS from the last visit, as the stored connection does, so an analyst
        # who comes back every day stays connected. A missing or bad id, or a sign-in, gets a new
        # one; an id being rotated away is left alone (its renewal could land over the new id).
        if current is not None and not sign_in and rotated_away(current):
            return await self.app(scope, receive, send)
        session_id = current if current is not None and not sign_in else new_session_id()
        header = cookie_header(store.keys, session_id, store.settings, secure=_secure(scope))

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                kind = dict(headers).get(b"content-type", b"")
                if sign_in or kind.startswith(b"text/html"):
                    message = {**message, "headers": headers + [(b"set-cookie", header)]}
            await send(message)

        return await self.app(scope, receive, with_cookie)

    async def _rotate(self, scope, send, store: ConnectionStore, current: str | None):
        from urllib.parse import parse_qs

        ticket = (parse_qs((scope.get("query_string") or b"").decode("latin-1")).get("ticket") or [""])[0]
        new = redeem(ticket, current) if ticket else None
        headers = [(b"content-type", b"image/gif"), (b"cache-control", b"no-store")]
        if new is not None:
            headers.append((b"set-cookie", cookie_header(store.keys, new, store.settings, secure=_secure(scope))))
        await send({"type": "http.response.start", "status": 200 if new else 403, "headers": headers})
        await send({"type": "http.response.body", "body": _GIF if new else b""})
