"""Stripe OAuth at library level, against the local OAuth test server (real HTTP on loopback)
and the fake Stripe API: authorize URLs, state handling, the code exchange, refresh after
expiry with a clock the test controls, refresh failure, Connect deauthorization, Stripe's
errors as plain messages, and no token in logs, exceptions or reprs."""

from __future__ import annotations

import copy
import http.client
import json
import logging
import pickle
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
import stripe

from stripe_analytics import oauth
from stripe_analytics.connection import Connection
from stripe_analytics.connection_store import ConnectionStore, holder_for_browser
from stripe_analytics.config import OAuthMode, load_settings
from stripe_analytics.oauth import OAuthError, OAuthFlow, OAuthNotConfigured, config_from_settings
from tests.fake_stripe import FakeStripe
from tests.oauth_server import APPS_TOKEN, CONNECT_TOKEN, DEAUTHORIZE, OAuthTestServer

PLATFORM = "acct_platform"
ALPHA = "acct_alpha"
BETA = "acct_beta"
SECRET = "sk_test_app_secret_000001"
REDIRECT = "http://127.0.0.1:8501/connect"


class Clock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def world(clean_env, clock):
    """A FakeStripe with a platform and two connected accounts, and the OAuth test server."""
    with FakeStripe() as fake:
        fake.add_account({"id": PLATFORM, "business_profile": {"name": "Platform"}}, key=SECRET)
        fake.add_account({"id": ALPHA, "email": "alpha@example.com", "business_profile": {"name": "Alpha Co"}},
                         connected_to=PLATFORM)
        fake.add_account({"id": BETA, "business_profile": {"name": "Beta Ltd"}}, connected_to=PLATFORM)
        with OAuthTestServer(fake=fake, secret_key=SECRET, now=clock) as server:
            server.add_account(ALPHA, "Alpha Co")
            server.add_account(BETA, "Beta Ltd")
            yield fake, server


def settings_for(server: OAuthTestServer, fake: FakeStripe, mode: str = "stripe_apps", **extra):
    env = server.env(mode)
    values = {k.lower(): v for k, v in env.items()}
    values.update(stripe_api_base=fake.url, stripe_redirect_uri=REDIRECT, data_dir=str(extra.pop("data_dir", "data")))
    values.update(extra)
    return load_settings(**values)


def flow_for(server, fake, clock, mode="stripe_apps", **extra) -> OAuthFlow:
    return OAuthFlow(config_from_settings(settings_for(server, fake, mode, **extra)), now=clock)


def authorize(url: str, account: str | None = ALPHA, decision: str = "approve") -> dict[str, str]:
    """What a browser does: open the authorize page, click a button, follow the redirect
    back; returns the callback's query parameters. (http.client, not httpx: the test's own
    "browser" traffic must not appear in the logs the library is checked for.)"""
    parts = urlsplit(url)
    con = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    con.request("GET", f"{parts.path}?{parts.query}")
    page = con.getresponse().read().decode()
    assert "Approve" in page and "Deny" in page, page
    form = dict(parse_qsl(parts.query))
    form["_flow"] = "connect" if parts.path == "/oauth/authorize" else "apps"
    if decision == "approve":
        form["_account"] = account
    else:
        form["_decision"] = "deny"
    con.request("POST", "/decision", body=urlencode(form),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    reply = con.getresponse()
    reply.read()
    con.close()
    assert reply.status == 302
    location = reply.getheader("Location")
    assert location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(location).query))


def api_account(fake: FakeStripe, key: str, stripe_account: str | None = None) -> dict:
    client = stripe.StripeClient(key, base_addresses={"api": fake.url}, stripe_account=stripe_account,
                                 max_network_retries=0)
    return client.v1.accounts.retrieve_current().to_dict()


# ----------------------------------------------------------------------------- configuration

def test_not_configured_says_what_to_set(clean_env):
    with pytest.raises(OAuthNotConfigured) as info:
        config_from_settings(load_settings())
    message = str(info.value)
    assert "STRIPE_CLIENT_ID" in message and "STRIPE_CLIENT_SECRET" in message and "STRIPE_REDIRECT_URI" in message
    assert "restricted key" in message and "demo" in message


def test_default_endpoints_are_stripes_and_every_one_is_a_setting(clean_env):
    apps = config_from_settings(load_settings(stripe_client_id="ca_1", stripe_client_secret=SECRET,
                                              stripe_redirect_uri=REDIRECT))
    assert apps.mode == OAuthMode.stripe_apps
    assert apps.authorize_url == "https://marketplace.stripe.com/oauth/v2/authorize"
    assert apps.token_url == "https://api.stripe.com/v1/oauth/token"
    connect = config_from_settings(load_settings(stripe_client_id="ca_1", stripe_client_secret=SECRET,
                                                 stripe_redirect_uri=REDIRECT, stripe_oauth_mode="connect"))
    assert connect.authorize_url == "https://connect.stripe.com/oauth/authorize"
    assert connect.token_url == "https://connect.stripe.com/oauth/token"
    assert connect.deauthorize_url == "https://connect.stripe.com/oauth/deauthorize"
    moved = config_from_settings(load_settings(stripe_client_id="ca_1", stripe_client_secret=SECRET,
                                               stripe_redirect_uri=REDIRECT, stripe_api_base="http://127.0.0.1:9"))
    assert moved.token_url == "http://127.0.0.1:9/v1/oauth/token"
    assert "sk_test" not in repr(apps) and "sk_test" not in repr(connect)


def test_authorize_urls_carry_the_parameters_of_each_mode(world, clock):
    fake, server = world
    apps = flow_for(server, fake, clock)
    first, second = apps.authorization_url(), apps.authorization_url()
    query = dict(parse_qsl(urlsplit(first).query))
    assert first.startswith(server.apps_authorize_url + "?")
    assert query.keys() == {"client_id", "redirect_uri", "state"}
    assert query["client_id"] == server.client_id and query["redirect_uri"] == REDIRECT
    assert len(query["state"]) >= 40 and query["state"] != dict(parse_qsl(urlsplit(second).query))["state"]
    connect = flow_for(server, fake, clock, "connect")
    query = dict(parse_qsl(urlsplit(connect.authorization_url()).query))
    assert query.keys() == {"response_type", "client_id", "scope", "state", "redirect_uri"}
    assert query["response_type"] == "code" and query["scope"] == "read_only"
    with pytest.raises(OAuthError) as info:
        connect.authorization_url(state="not-issued-here")
    assert info.value.code == "state_unknown"


# ----------------------------------------------------------------------------- the code exchange

def test_stripe_apps_code_exchange_gives_a_working_token(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url(), ALPHA))
    assert grant.account_id == ALPHA and grant.mode == OAuthMode.stripe_apps and not grant.livemode
    assert grant.expires_at == clock() + 3600
    (exchange,) = server.requests(APPS_TOKEN)
    assert exchange.form["grant_type"] == "authorization_code" and exchange.form["code"].startswith("ac_")
    assert exchange.auth_user == SECRET  # authenticated with the app's secret key
    token = grant.access_token.get_secret_value()
    assert token == server.grants[0].access_token
    assert api_account(fake, token)["id"] == ALPHA  # the access token is the API key
    assert token not in repr(grant) and token not in str(grant)


@pytest.mark.parametrize("tamper, code", [
    (lambda answer: answer.pop("state"), "state_missing"),
    (lambda answer: answer.update(state="x" * 43), "state_mismatch"),
])
def test_missing_or_mismatched_state_is_refused_before_any_exchange(world, clock, tamper, code):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    tamper(answer)
    with pytest.raises(OAuthError) as info:
        flow.complete(answer)
    assert info.value.code == code
    assert "nothing was connected" in str(info.value) and "Connect with Stripe" in str(info.value)
    assert server.requests(APPS_TOKEN) == []


def test_state_from_the_server_that_does_not_match_is_refused(world, clock):
    fake, server = world
    server.tamper_state = True
    flow = flow_for(server, fake, clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "state_mismatch"
    assert server.requests(APPS_TOKEN) == []


def test_a_state_is_single_use(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    flow.complete(answer)
    with pytest.raises(OAuthError) as info:
        flow.complete(answer)
    assert info.value.code == "state_reused" and "already used" in str(info.value)
    assert len(server.requests(APPS_TOKEN)) == 1


def test_an_expired_state_is_refused_and_stays_dead(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    clock.advance(oauth.STATE_TTL + 1)
    with pytest.raises(OAuthError) as info:
        flow.complete(answer)
    assert info.value.code == "state_expired" and "10 minutes" in str(info.value)
    with pytest.raises(OAuthError) as again:
        flow.complete(answer)
    assert again.value.code == "state_reused"
    assert server.requests(APPS_TOKEN) == []


def test_a_state_of_another_session_is_refused(world, clock):
    fake, server = world
    mine, theirs = flow_for(server, fake, clock), flow_for(server, fake, clock)
    answer = authorize(theirs.authorization_url(), BETA)
    with pytest.raises(OAuthError) as info:
        mine.complete(answer)
    assert info.value.code == "state_mismatch"
    assert theirs.complete(answer).account_id == BETA  # still good for the session that started it


def test_an_expired_code_is_a_plain_message(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    clock.advance(server.code_ttl + 1)  # still within the state's 10 minutes
    with pytest.raises(OAuthError) as info:
        flow.complete(answer)
    assert info.value.code == "invalid_grant"
    assert "expired" in str(info.value) and "Connect with Stripe" in str(info.value)
    assert "ac_" not in str(info.value) or "ac_***" in str(info.value)


def test_a_code_used_twice_is_refused_by_stripe(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    flow.complete(answer)
    second = flow.authorization_url()
    forged = {"code": answer["code"], "state": dict(parse_qsl(urlsplit(second).query))["state"]}
    with pytest.raises(OAuthError) as info:
        flow.complete(forged)
    assert info.value.code == "invalid_grant" and "already used" in str(info.value)


def test_missing_code_is_refused(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    answer = authorize(flow.authorization_url())
    del answer["code"]
    with pytest.raises(OAuthError) as info:
        flow.complete(answer)
    assert info.value.code == "code_missing"
    assert server.requests(APPS_TOKEN) == []


# ----------------------------------------------------------------------------- Stripe's errors

def test_access_denied_says_what_to_do(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url(), decision="deny"))
    assert info.value.code == "access_denied"
    assert str(info.value).startswith("You declined the connection on Stripe, so nothing was connected.")
    assert "restricted key" in str(info.value) and "demo" in str(info.value)


def test_a_refusal_by_stripe_is_access_denied_too(world, clock):
    fake, server = world
    server.deny = True
    flow = flow_for(server, fake, clock, "connect")
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "access_denied"


def test_invalid_scope(world, clock):
    fake, server = world
    settings = settings_for(server, fake, "connect")
    config = config_from_settings(settings)
    flow = OAuthFlow(oauth.OAuthConfig(**{**config.__dict__, "scope": "read_everything"}), now=clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "invalid_scope"
    assert "administrator" in str(info.value) and "read_only" in str(info.value)


def test_invalid_grant_from_the_token_endpoint(world, clock):
    fake, server = world
    server.token_error = "invalid_grant"
    flow = flow_for(server, fake, clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "invalid_grant" and "Connect with Stripe" in str(info.value)


def test_mode_mismatch_from_stripe(world, clock):
    fake, server = world
    server.mode_mismatch = True
    flow = flow_for(server, fake, clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "mode_mismatch"
    assert "sk_test_" in str(info.value) and "sk_live_" in str(info.value)  # the prefixes, never a key


def test_a_live_account_with_a_test_key_is_a_mode_mismatch(world, clock):
    fake, server = world
    server.livemode = True  # the server hands out live grants; the app's key is a test key
    flow = flow_for(server, fake, clock)
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "mode_mismatch"


def test_wrong_client_secret_is_invalid_client(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock, stripe_client_secret="sk_test_not_the_app_key_000")
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "invalid_client" and "STRIPE_CLIENT_SECRET" in str(info.value)


def test_unreachable_token_endpoint_is_a_plain_network_message(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock, stripe_oauth_token_url="http://127.0.0.1:9/v1/oauth/token")
    with pytest.raises(OAuthError) as info:
        flow.complete(authorize(flow.authorization_url()))
    assert info.value.code == "network" and "could not be reached" in str(info.value)


# ----------------------------------------------------------------------------- refresh

def test_refresh_before_expiry_keeps_the_newest_refresh_token(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url()))
    first_access = grant.access_token.get_secret_value()
    first_refresh = grant.refresh_token.get_secret_value()

    clock.advance(3600 - oauth.REFRESH_MARGIN - 1)
    assert flow.ensure_fresh(grant) is False  # not yet
    assert server.requests(APPS_TOKEN, "refresh_token") == []
    clock.advance(2)
    assert flow.ensure_fresh(grant) is True
    (refresh,) = server.requests(APPS_TOKEN, "refresh_token")
    assert refresh.form["refresh_token"] == first_refresh and refresh.auth_user == SECRET
    second_refresh = grant.refresh_token.get_secret_value()
    assert second_refresh != first_refresh and grant.access_token.get_secret_value() != first_access
    assert grant.expires_at == clock() + 3600
    assert api_account(fake, grant.access_token.get_secret_value())["id"] == ALPHA
    with pytest.raises(stripe.AuthenticationError):
        api_account(fake, first_access)  # refreshed away

    clock.advance(3600)  # expired outright: refreshed again, with the newest refresh token
    assert flow.ensure_fresh(grant) is True
    later = server.requests(APPS_TOKEN, "refresh_token")
    assert [r.form["refresh_token"] for r in later] == [first_refresh, second_refresh]
    assert grant.refreshes == 2
    # the old refresh token died: Stripe (the server) refuses it
    reply = httpx.post(server.apps_token_url, data={"grant_type": "refresh_token", "refresh_token": first_refresh},
                       auth=(SECRET, ""))
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


def test_the_connection_refreshes_before_using_the_token(world, clock, tmp_path):
    fake, server = world
    settings = settings_for(server, fake)
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url())), flow)
    clock.advance(3600)
    key, account = conn.credentials(settings)
    assert account is None and key == server.grants[0].access_token
    assert len(server.requests(APPS_TOKEN, "refresh_token")) == 1
    assert conn.access(settings).client.v1.accounts.retrieve_current().id == ALPHA


def test_refresh_failure_forgets_the_tokens_and_says_connect_again(world, clock, caplog):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url()))
    server.fail_refresh = True
    clock.advance(3600)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(OAuthError) as info:
            flow.ensure_fresh(grant)
    assert info.value.code == "refresh_failed"
    assert "no longer accepts" in str(info.value) and "Connect with Stripe" in str(info.value)
    assert grant.access_token is None and grant.refresh_token is None and grant.revoked
    with pytest.raises(OAuthError) as again:
        flow.ensure_fresh(grant)
    assert again.value.code == "revoked"
    assert_no_secret(server, caplog.text, str(info.value), repr(info.value))


def test_a_network_failure_during_refresh_keeps_the_tokens(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url()))
    broken = OAuthFlow(oauth.OAuthConfig(**{**flow.config.__dict__,
                                           "token_url": "http://127.0.0.1:9/v1/oauth/token"}), now=clock)
    clock.advance(3600)
    with pytest.raises(OAuthError) as info:
        broken.ensure_fresh(grant)
    assert info.value.code == "network"
    assert grant.refresh_token is not None and not grant.revoked
    assert flow.ensure_fresh(grant) is True  # works once Stripe is reachable again


# ----------------------------------------------------------------------------- Connect

def test_connect_exchange_keeps_no_token_and_uses_the_platform_key(world, clock):
    fake, server = world
    settings = settings_for(server, fake, "connect")
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    grant = flow.complete(authorize(flow.authorization_url(), BETA))
    assert grant.account_id == BETA and grant.mode == OAuthMode.connect
    assert grant.access_token is None and grant.refresh_token is None
    (exchange,) = server.requests(CONNECT_TOKEN)
    assert exchange.auth_user == SECRET and exchange.form["grant_type"] == "authorization_code"
    conn = Connection.from_grant(grant, flow)
    assert conn.credentials(settings) == (SECRET, BETA)
    assert conn.access(settings).client.v1.accounts.retrieve_current().id == BETA  # Stripe-Account header
    conn.close()


def test_connect_disconnect_deauthorizes(world, clock):
    fake, server = world
    settings = settings_for(server, fake, "connect")
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url(), ALPHA)), flow)
    assert conn.close() is None
    (call,) = server.requests(DEAUTHORIZE)
    assert call.form == {"client_id": server.client_id, "stripe_user_id": ALPHA} and call.auth_user == SECRET
    assert server.deauthorized == [ALPHA]
    assert not conn.open
    with pytest.raises(OAuthError):
        conn.credentials(settings)
    with pytest.raises(stripe.PermissionError):
        api_account(fake, SECRET, ALPHA)  # the platform lost its access


def test_connect_deauthorizes_only_when_the_last_holder_lets_go(world, clock, tmp_path):
    """Stripe authorizes the platform once per account: one analyst's Disconnect must not cut
    another browser (or user) connected to the same account."""
    fake, server = world
    settings = settings_for(server, fake, "connect").model_copy(update={"data_dir": tmp_path})
    store = ConnectionStore(settings, now=clock)
    first, second = (OAuthFlow(config_from_settings(settings), now=clock) for _ in range(2))
    a = Connection.from_grant(first.complete(authorize(first.authorization_url(), ALPHA)), first)
    b = Connection.from_grant(second.complete(authorize(second.authorization_url(), ALPHA)), second)
    store.save(holder_for_browser("a" * 43), a)
    store.save(holder_for_browser("b" * 43), b)
    assert store.delete(holder_for_browser("a" * 43), a) is None and not a.open
    assert server.requests(DEAUTHORIZE) == []
    assert b.access(settings).client.v1.accounts.retrieve_current().id == ALPHA  # still works
    assert store.delete(holder_for_browser("b" * 43), b) is None
    assert server.deauthorized == [ALPHA]


def test_a_connect_connection_left_unused_expires_and_is_deauthorized(world, clock, tmp_path):
    """Connections last across reloads and restarts, but not for ever: SESSION_IDLE_DAYS
    unused, the stored entry is dropped and the platform's access deauthorized."""
    fake, server = world
    settings = settings_for(server, fake, "connect").model_copy(update={"data_dir": tmp_path,
                                                                       "session_idle_days": 2})
    store = ConnectionStore(settings, now=clock)
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url(), BETA)), flow)
    holder = holder_for_browser("c" * 43)
    store.save(holder, conn)
    clock.advance(86400)
    assert store.load(holder).connection.account_id == BETA and server.deauthorized == []
    clock.advance(2 * 86400 + 1)
    loaded = store.load(holder)
    assert loaded.connection is None and "not used for 2 days" in loaded.problem
    assert server.deauthorized == [BETA]
    assert store.load(holder).connection is None and store.load(holder).problem is None


def test_connect_disconnect_when_stripe_cannot_be_told_still_forgets(world, clock):
    fake, server = world
    settings = settings_for(server, fake, "connect", stripe_oauth_deauthorize_url="http://127.0.0.1:9/deauthorize")
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url(), ALPHA)), flow)
    warning = conn.close()
    assert warning and "could not be reached" in warning and not conn.open


def test_stripe_apps_disconnect_forgets_the_tokens(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url()))
    conn = Connection.from_grant(grant, flow)
    assert conn.close() is None
    assert grant.access_token is None and grant.refresh_token is None
    assert server.requests(DEAUTHORIZE) == []


# ----------------------------------------------------------------------------- secrets

def assert_no_secret(server: OAuthTestServer, *texts: str) -> None:
    values = server.secrets_issued() + [server.secret_key] + list(server.codes)
    for text in texts:
        for value in values:
            assert value not in text, "a token, key or code leaked"


def test_no_token_in_logs_exceptions_or_reprs(world, clock, caplog):
    fake, server = world
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        settings = settings_for(server, fake)
        flow = OAuthFlow(config_from_settings(settings), now=clock)
        grant = flow.complete(authorize(flow.authorization_url()))
        clock.advance(3600)
        flow.ensure_fresh(grant)
        conn = Connection.from_grant(grant, flow)
        texts += [repr(grant), str(grant), repr(conn), str(conn), repr(flow), repr(flow.config), repr(settings)]
        for trouble in ("token_error", "expire_codes", "mode_mismatch", "deny"):
            setattr(server, trouble, "invalid_grant" if trouble == "token_error" else True)
            try:
                flow.complete(authorize(flow.authorization_url()))
            except OAuthError as error:
                texts += [str(error), repr(error)]
            setattr(server, trouble, None if trouble == "token_error" else False)
        server.fail_refresh = True
        clock.advance(3600)
        try:
            flow.ensure_fresh(grant)
        except OAuthError as error:
            texts += [str(error), repr(error)]
    assert len(texts) > 10
    assert "OAuth: connected acct_alpha" in caplog.text  # the log says what happened...
    assert_no_secret(server, caplog.text, *texts)  # ...without any secret


def test_grants_connections_and_flows_are_never_serialized(world, clock):
    fake, server = world
    flow = flow_for(server, fake, clock)
    grant = flow.complete(authorize(flow.authorization_url()))
    conn = Connection.from_grant(grant, flow)
    for thing in (grant, conn, flow):
        with pytest.raises(TypeError):
            pickle.dumps(thing)
        with pytest.raises(TypeError):
            copy.deepcopy(thing)
        with pytest.raises(TypeError):
            json.dumps(thing)


def test_session_state_dumps_on_screen_show_no_secret(world, clock):
    """st.write / st.json of st.session_state (what a debugging page would show) hides the
    connection's secrets."""
    from streamlit.testing.v1 import AppTest

    fake, server = world
    flow = flow_for(server, fake, clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url())), flow)

    def script():
        import streamlit as st

        st.write(st.session_state)
        st.json(st.session_state.to_dict())
        st.write(st.session_state["_sa_connection"])
        st.text(repr(st.session_state["_sa_connection"]))

    at = AppTest.from_function(script)
    at.session_state["_sa_connection"] = conn
    at.session_state["_sa_oauth_flow"] = flow
    at.run()
    assert not at.exception
    shown = "\n".join(str(e.proto) for e in at.main.children.values())
    assert "acct_alpha" in shown  # the connection is rendered...
    assert_no_secret(server, shown)  # ...but not its tokens


def test_a_stored_connection_keeps_only_the_newest_tokens_after_a_refresh(world, clock, tmp_path):
    """Refresh keeps the newest token in the encrypted store too: a reload after the renewal
    uses the new refresh token (Stripe killed the old one)."""
    fake, server = world
    settings = settings_for(server, fake).model_copy(update={"data_dir": tmp_path})
    store = ConnectionStore(settings, now=clock)
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url())), flow)
    holder = holder_for_browser("d" * 43)
    store.save(holder, conn)
    first_refresh = conn.grant.refresh_token.get_secret_value()
    clock.advance(3600)
    conn.credentials(settings)  # renews
    newest = conn.grant.refresh_token.get_secret_value()
    assert newest != first_refresh
    restored = store.load(holder).connection
    assert restored.grant.refresh_token.get_secret_value() == newest
    assert first_refresh.encode() not in (tmp_path / "connections.store").read_bytes()
    assert newest.encode() not in (tmp_path / "connections.store").read_bytes()


@pytest.mark.parametrize("mode, account", [("stripe_apps", ALPHA), ("connect", BETA)])
def test_oauth_connections_come_back_from_the_store(world, clock, tmp_path, mode, account):
    fake, server = world
    settings = settings_for(server, fake, mode).model_copy(update={"data_dir": tmp_path})
    # The server's store outlives settings: it was made before OAuth was set up (or in another mode).
    store = ConnectionStore(settings_for(server, fake, "connect" if mode == "stripe_apps" else "stripe_apps",
                                         data_dir=tmp_path), now=clock)
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    conn = Connection.from_grant(flow.complete(authorize(flow.authorization_url(), account)), flow)
    holder = holder_for_browser("e" * 43)
    store.save(holder, conn)
    loaded = store.load(holder, settings)  # restored with this run's settings
    assert loaded.problem is None and loaded.connection.kind == conn.kind
    assert loaded.connection.access(settings).client.v1.accounts.retrieve_current().id == account


def test_a_page_takes_the_tokens_another_holder_renewed(world, clock, tmp_path):
    """The open page keeps its connection object across reruns; when the scheduled sync renewed
    the same stored connection meanwhile, the page's refresh token is dead at Stripe. The page
    takes the stored, newer tokens instead of renewing with the dead one (which would close
    the connection)."""
    fake, server = world
    settings = settings_for(server, fake).model_copy(update={"data_dir": tmp_path})
    store = ConnectionStore(settings, now=clock)
    flow = OAuthFlow(config_from_settings(settings), now=clock)
    holder = holder_for_browser("f" * 43)
    store.save(holder, Connection.from_grant(flow.complete(authorize(flow.authorization_url())), flow))
    page = store.load(holder, settings).connection
    scheduled = store.load(holder, settings).connection
    for copy in (page, scheduled):  # both about to expire (a loaded connection keeps real time)
        copy.grant.expires_at = time.time() + 10
    scheduled.credentials(settings)  # the scheduled sync renews and stores the new tokens
    assert len(server.requests(APPS_TOKEN, "refresh_token")) == 1

    stored = store.load(holder, settings).connection
    assert page.adopt_newer_tokens(stored)
    assert not page.adopt_newer_tokens(stored)  # the same tokens: nothing newer to take
    key, _ = page.credentials(settings)
    assert key == scheduled.grant.access_token.get_secret_value()
    assert len(server.requests(APPS_TOKEN, "refresh_token")) == 1  # no renewal with the dead token
    assert page.open and page.access(settings).client.v1.accounts.retrieve_current().id == ALPHA
