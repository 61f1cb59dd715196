"""A local OAuth server for tests: Stripe Apps OAuth 2.0 and Connect OAuth, real HTTP on 127.0.0.1.

    with OAuthTestServer(fake=fake_stripe) as oauth:
        oauth.add_account("acct_alpha", "Alpha Co")
        settings = load_settings(stripe_oauth_authorize_url=oauth.apps_authorize_url, ...)

Endpoints (both modes on one server):

- `GET /oauth/v2/authorize` (Stripe Apps) and `GET /oauth/authorize` (Connect): an HTML page with
  one "Approve <account>" button per account and a "Deny" button; each posts to `/decision`,
  which redirects to `redirect_uri` with `code` and `state`, or `error=access_denied`.
- `POST /v1/oauth/token` (Stripe Apps) and `POST /oauth/token` (Connect): `authorization_code`
  and `refresh_token` grants, authenticated with the app's secret key (HTTP Basic, as Stripe).
  Codes are single use and expire; every refresh issues a new refresh token and kills the old.
- `POST /oauth/deauthorize` (Connect): `client_id` + `stripe_user_id`.

With `fake=` (a FakeStripe), issued Stripe Apps access tokens become API keys of the account
there (and stop working when refreshed away), and deauthorizing a Connect account cuts the
platform's access to it. Every request is recorded (`records`); switches make it fail like
Stripe: `deny`, `token_error` (e.g. "invalid_grant"), `expire_codes`, `fail_refresh`,
`tamper_state`, `mode_mismatch`, `access_ttl` (short-lived tokens).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

APPS_AUTHORIZE = "/oauth/v2/authorize"
CONNECT_AUTHORIZE = "/oauth/authorize"
APPS_TOKEN = "/v1/oauth/token"
CONNECT_TOKEN = "/oauth/token"
DEAUTHORIZE = "/oauth/deauthorize"
DECISION = "/decision"


@dataclass
class Record:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    auth_user: str | None  # the HTTP Basic user (the secret key the client authenticated with)
    status: int | None = None


@dataclass
class Code:
    code: str
    flow: str  # "apps" or "connect"
    account: str
    client_id: str
    redirect_uri: str
    scope: str
    created: float
    used: bool = False


@dataclass
class Grant:
    account: str
    flow: str
    access_token: str
    refresh_token: str
    scope: str
    refreshes: int = 0
    revoked: bool = False
    history: list[str] = field(default_factory=list)  # every refresh token issued, oldest first


class OAuthTestServer:
    def __init__(self, *, client_id: str = "ca_test_client_0001", secret_key: str = "sk_test_app_secret_000001",
                 livemode: bool = False, fake: Any = None, now: Callable[[], float] = time.time,
                 code_ttl: float = 300.0, access_ttl: int = 3600, host: str = "127.0.0.1", port: int = 0):
        self.client_id = client_id
        self.secret_key = secret_key
        self.livemode = livemode
        self.fake = fake
        self.now = now
        self.code_ttl = code_ttl
        self.access_ttl = access_ttl
        self.accounts: dict[str, str] = {}  # account id -> label on the authorize page
        # switches
        self.deny = False  # "Approve" comes back as access_denied, as when Stripe refuses
        self.token_error: str | None = None  # the code exchange answers this OAuth error
        self.expire_codes = False  # codes are expired by the time they are exchanged
        self.fail_refresh = False  # refresh_token grants answer invalid_grant
        self.tamper_state = False  # the redirect carries another state than the one received
        self.mode_mismatch = False  # the code exchange answers a test/live mode mismatch
        # what happened
        self.records: list[Record] = []
        self.codes: dict[str, Code] = {}
        self.grants: list[Grant] = []
        self.deauthorized: list[str] = []
        self._refresh: dict[str, Grant] = {}  # live refresh token -> grant
        self._lock = threading.RLock()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "OAuthTestServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="OAuthTestServer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "OAuthTestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    apps_authorize_url = property(lambda self: self.url + APPS_AUTHORIZE)
    apps_token_url = property(lambda self: self.url + APPS_TOKEN)
    connect_authorize_url = property(lambda self: self.url + CONNECT_AUTHORIZE)
    connect_token_url = property(lambda self: self.url + CONNECT_TOKEN)
    deauthorize_url = property(lambda self: self.url + DEAUTHORIZE)

    def env(self, mode: str) -> dict[str, str]:
        """Settings (as environment variables) pointing the app at this server."""
        base = {"STRIPE_OAUTH_MODE": mode, "STRIPE_CLIENT_ID": self.client_id, "STRIPE_CLIENT_SECRET": self.secret_key}
        if mode == "connect":
            return {**base, "STRIPE_OAUTH_AUTHORIZE_URL": self.connect_authorize_url,
                    "STRIPE_OAUTH_TOKEN_URL": self.connect_token_url,
                    "STRIPE_OAUTH_DEAUTHORIZE_URL": self.deauthorize_url}
        return {**base, "STRIPE_OAUTH_AUTHORIZE_URL": self.apps_authorize_url,
                "STRIPE_OAUTH_TOKEN_URL": self.apps_token_url}

    # ------------------------------------------------------------ setup and inspection
    def add_account(self, account_id: str, label: str | None = None) -> None:
        with self._lock:
            self.accounts[account_id] = label or account_id

    def requests(self, path: str | None = None, grant_type: str | None = None) -> list[Record]:
        with self._lock:
            return [r for r in self.records if (path is None or r.path == path)
                    and (grant_type is None or r.form.get("grant_type") == grant_type)]

    def secrets_issued(self) -> list[str]:
        """Every access and refresh token this server handed out (for leak scans)."""
        with self._lock:
            out = []
            for grant in self.grants:
                out += [grant.access_token, *grant.history]
            return out

    def decide(self, flow: str, params: dict[str, str], account: str | None, decision: str) -> str:
        with self._lock:
            redirect = params.get("redirect_uri") or ""
            state = params.get("state")
            if self.tamper_state and state is not None:
                state = secrets.token_urlsafe(32)
            answer: dict[str, str]
            if decision != "approve" or self.deny:
                answer = {"error": "access_denied", "error_description": "The user denied your request"}
            elif flow == "connect" and params.get("scope", "read_only") not in ("read_only", "read_write"):
                answer = {"error": "invalid_scope",
                          "error_description": f"Invalid scope: {params.get('scope')}. Valid scopes: read_only, "
                                               "read_write"}
            else:
                if account not in self.accounts:
                    raise ValueError(f"unknown account {account!r}")
                code = "ac_" + secrets.token_hex(12)
                self.codes[code] = Code(code, flow, account, params.get("client_id", ""), redirect,
                                        params.get("scope") or ("stripe_apps" if flow == "apps" else "read_only"),
                                        self.now())
                answer = {"code": code}
                if flow == "connect":
                    answer["scope"] = self.codes[code].scope
            if state is not None:
                answer["state"] = state
            return redirect + ("&" if "?" in redirect else "?") + urlencode(answer)

    # ------------------------------------------------------------ handlers
    def _authorize_page(self, flow: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        problems = []
        if query.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if not query.get("redirect_uri"):
            problems.append("missing redirect_uri")
        if flow == "connect" and query.get("response_type") != "code":
            problems.append("response_type must be code")
        if problems:
            return 400, {"Content-Type": "text/html; charset=utf-8"}, (
                f"<h1>Invalid authorize request</h1><p>{html.escape(', '.join(problems))}</p>").encode()
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items())
        hidden += f'<input type="hidden" name="_flow" value="{flow}">'
        buttons = "".join(
            f'<button type="submit" name="_account" value="{html.escape(acct)}">Approve {html.escape(label)}</button>'
            for acct, label in self.accounts.items())
        page = (f"<!doctype html><html><head><title>Authorize Stripe Analytics</title></head><body>"
                f"<h1>Connect Stripe Analytics ({'Stripe Apps' if flow == 'apps' else 'Connect'})</h1>"
                f"<p>{'Live' if self.livemode else 'Test'} mode. Choose the account to connect.</p>"
                f'<form method="post" action="{DECISION}">{hidden}{buttons}'
                f'<button type="submit" name="_decision" value="deny">Deny</button></form></body></html>')
        return 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page.encode()

    def _decision(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        flow = form.pop("_flow", "apps")
        decision = form.pop("_decision", "approve")
        account = form.pop("_account", None)
        location = self.decide(flow, form, account, decision)
        return 302, {"Location": location, "Cache-Control": "no-store"}, b""

    def _token(self, flow: str, form: dict[str, str], auth_user: str | None) -> tuple[int, dict[str, str], bytes]:
        if auth_user != self.secret_key and form.get("client_secret") != self.secret_key:
            return _oauth_error(401, "invalid_client", "No such API key, or the key is not the app's secret key.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(flow, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(flow, form)
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")

    def _exchange(self, flow: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.flow != flow:
            return _oauth_error(400, "invalid_grant", f"Authorization code does not exist: {form.get('code')}")
        if code.used:
            return _oauth_error(400, "invalid_grant", f"Authorization code already used: {code.code}")
        code.used = True
        if self.expire_codes or self.now() - code.created > self.code_ttl:
            return _oauth_error(400, "invalid_grant", f"Authorization code expired: {code.code}")
        if self.mode_mismatch:
            key_mode = "live" if self.livemode else "test"
            other = "test" if self.livemode else "live"
            return _oauth_error(400, "invalid_grant", f"This authorization code was created in {other} mode, but "
                                                      f"you are using a {key_mode} mode key.")
        if self.token_error:
            return _oauth_error(400, self.token_error, f"Injected {self.token_error}")
        grant = self._issue(code.account, flow, code.scope)
        return _json(200, self._token_body(grant))

    def _refresh_grant(self, flow: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        grant = self._refresh.get(form.get("refresh_token", ""))
        if self.fail_refresh or grant is None or grant.revoked or grant.flow != flow:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        del self._refresh[grant.refresh_token]  # the old refresh token dies
        old_access = grant.access_token
        grant.access_token, grant.refresh_token = self._new_tokens(grant.account, flow)
        grant.history.append(grant.refresh_token)
        grant.refreshes += 1
        self._refresh[grant.refresh_token] = grant
        self._revoke_key(old_access)
        return _json(200, self._token_body(grant))

    def _deauthorize(self, form: dict[str, str], auth_user: str | None) -> tuple[int, dict[str, str], bytes]:
        if auth_user != self.secret_key and form.get("client_secret") != self.secret_key:
            return _oauth_error(401, "invalid_client", "No such API key.")
        if form.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid_client", f"No such application: '{form.get('client_id')}'")
        account = form.get("stripe_user_id", "")
        live = [g for g in self.grants if g.account == account and g.flow == "connect" and not g.revoked]
        if not live:
            return _oauth_error(400, "invalid_client", f"This application is not connected to stripe account "
                                                       f"{account}, or that account does not exist.")
        for grant in live:
            grant.revoked = True
            self._refresh.pop(grant.refresh_token, None)
        self.deauthorized.append(account)
        if self.fake is not None:
            with self.fake._lock:  # cut the platform's Stripe-Account access, as Stripe does
                self.fake._platform_of.pop(account, None)
        return _json(200, {"stripe_user_id": account})

    def _new_tokens(self, account: str, flow: str) -> tuple[str, str]:
        prefix = "sk_live" if self.livemode else "sk_test"
        access = f"{prefix}_oauth{secrets.token_hex(16)}"
        refresh = "rt_" + secrets.token_hex(20)
        if flow == "apps" and self.fake is not None:
            self.fake.add_key(access, account)
        return access, refresh

    def _issue(self, account: str, flow: str, scope: str) -> Grant:
        access, refresh = self._new_tokens(account, flow)
        grant = Grant(account, flow, access, refresh, scope, history=[refresh])
        self.grants.append(grant)
        self._refresh[refresh] = grant
        return grant

    def _token_body(self, grant: Grant) -> dict[str, Any]:
        body = {"access_token": grant.access_token, "refresh_token": grant.refresh_token,
                "livemode": self.livemode, "scope": grant.scope, "token_type": "bearer",
                "stripe_publishable_key": ("pk_live_" if self.livemode else "pk_test_") + secrets.token_hex(8),
                "stripe_user_id": grant.account}
        if grant.flow == "apps":
            body["expires_in"] = self.access_ttl
        return body

    def _revoke_key(self, key: str) -> None:
        if self.fake is not None:
            with self.fake._lock:  # FakeStripe has no remove_key: a refreshed-away token stops working
                self.fake._keys.pop(key, None)

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if method == "POST" else {}
        record = Record(method, url.path, query, dict(form), _basic_user(headers.get("Authorization")))
        with self._lock:
            self.records.append(record)
            if method == "GET" and url.path == APPS_AUTHORIZE:
                reply = self._authorize_page("apps", query)
            elif method == "GET" and url.path == CONNECT_AUTHORIZE:
                reply = self._authorize_page("connect", query)
            elif method == "POST" and url.path == DECISION:
                reply = self._decision(form)
            elif method == "POST" and url.path == APPS_TOKEN:
                reply = self._token("apps", form, record.auth_user)
            elif method == "POST" and url.path == CONNECT_TOKEN:
                reply = self._token("connect", form, record.auth_user)
            elif method == "POST" and url.path == DEAUTHORIZE:
                reply = self._deauthorize(form, record.auth_user)
            else:
                reply = _oauth_error(404, "not_found", f"No route {method} {url.path}")
            record.status = reply[0]
        return reply


def _basic_user(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip()).decode().partition(":")[0]
    except ValueError:
        return None


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(payload).encode()


def _oauth_error(status: int, code: str, description: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": code, "error_description": description})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # never print requests (they carry codes)
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.oauth.handle(method, self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], oauth: OAuthTestServer):
        self.oauth = oauth
        super().__init__(address, _Handler)
