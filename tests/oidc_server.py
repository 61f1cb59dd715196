"""A local OpenID Connect provider for tests, real HTTP on 127.0.0.1: what `st.login` talks to.

    with OIDCTestServer() as idp:
        idp.add_user("ann@team.example")
        secrets = idp.auth_section(app_url)   # the [auth] section of .streamlit/secrets.toml

Endpoints: `/.well-known/openid-configuration` (discovery), `/jwks` (the RSA key the ID tokens
are signed with), `/authorize` (a sign-in page: type an e-mail address, press "Sign in"; it
redirects back with a single-use `code` and the client's `state`), `/token` (authorization
code grant, client authenticated with HTTP Basic or in the form, PKCE checked when used:
answers an RS256 ID token carrying the client's `nonce`). Per-user `claims` overrides let a
test leave out or change any claim (`None` removes it), e.g. no `email`, `email_verified`
false, or an `iat` long ago. Every request is recorded (`records`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.oauth_server import _json, _Server  # the same small HTTP server, serving this provider's `handle`


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Pending:
    email: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    issued: float
    used: bool = False


class OIDCTestServer:
    def __init__(self, *, client_id: str = "analytics-app", client_secret: str = "oidc-client-secret-0001"):
        self.client_id, self.client_secret = client_id, client_secret
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.users: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, Pending] = {}
        self.records: list[tuple[str, str]] = []
        self.id_tokens: list[str] = []
        self._server: _Server | None = None

    # -- lifecycle
    def __enter__(self) -> "OIDCTestServer":
        self._server = _Server(("127.0.0.1", 0), self)  # type: ignore[arg-type] - any object with `handle`
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_user(self, login: str, **claims: Any) -> None:
        """A user who signs in by typing `login`; `claims` override the ID token's (None removes one)."""
        self.users[login] = claims

    def auth_section(self, app_url: str, cookie_secret: str = "cookie-secret-for-tests-0000000001") -> dict[str, str]:
        return {"redirect_uri": f"{app_url}/oauth2callback", "cookie_secret": cookie_secret,
                "client_id": self.client_id, "client_secret": self.client_secret,
                "server_metadata_url": f"{self.url}/.well-known/openid-configuration"}

    # -- protocol
    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"]}

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": _int(numbers.n),
                          "e": _int(numbers.e)}]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = self._key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{_b64(signature)}"

    def authorize_page(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {"Content-Type": "text/plain"}, b"unknown client or response type"
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items())
        page = (f"<html><body><h1>Test identity provider</h1><form method='post' action='/login'>{hidden}"
                "<label>E-mail <input name='email' id='email'></label><button type='submit'>Sign in</button>"
                "</form></body></html>")
        return 200, {"Content-Type": "text/html"}, page.encode()

    def login(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        email = form.get("email", "")
        if email not in self.users:
            return 403, {"Content-Type": "text/plain"}, b"no such user at the provider"
        code = secrets.token_urlsafe(24)
        self.codes[code] = Pending(email, form["client_id"], form["redirect_uri"], form.get("nonce"),
                                   form.get("code_challenge"), time.time())
        target = form["redirect_uri"] + "?" + urlencode({"code": code, "state": form.get("state", "")})
        return 302, {"Location": target}, b""

    def token(self, form: dict[str, str], headers: Any) -> tuple[int, dict[str, str], bytes]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return _json(401, {"error": "invalid_client"})
        pending = self.codes.get(form.get("code", ""))
        if (form.get("grant_type") != "authorization_code" or pending is None or pending.used
                or pending.redirect_uri != form.get("redirect_uri") or time.time() - pending.issued > 60):
            return _json(400, {"error": "invalid_grant"})
        if pending.challenge:
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != pending.challenge:
                return _json(400, {"error": "invalid_grant"})
        pending.used = True
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "sub": "sub-" + hashlib.sha256(pending.email.encode()).hexdigest()[:16],
                                  "aud": self.client_id, "iat": now, "exp": now + 3600, "email": pending.email,
                                  "email_verified": True, "name": pending.email.split("@")[0].title()}
        if pending.nonce:
            claims["nonce"] = pending.nonce
        for name, value in self.users[pending.email].items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        id_token = self.sign(claims)
        self.id_tokens.append(id_token)
        return _json(200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 3600,
                           "id_token": id_token, "scope": "openid email profile"})

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        self.records.append((method, parts.path))
        query = dict(parse_qsl(parts.query))
        form = dict(parse_qsl(body.decode())) if body else {}
        if parts.path == "/.well-known/openid-configuration":
            return _json(200, self.discovery())
        if parts.path == "/jwks":
            return _json(200, self.jwks())
        if parts.path == "/authorize" and method == "GET":
            return self.authorize_page(query)
        if parts.path == "/login" and method == "POST":
            return self.login(form)
        if parts.path == "/token" and method == "POST":
            return self.token(form, headers)
        return 404, {"Content-Type": "text/plain"}, b"not found"
