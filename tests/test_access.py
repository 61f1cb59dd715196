"""The access policy (access.py): sign-in allowlists and roles, the listening address, who
may sync and write which account with which credentials, and whether a cache is an account's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from stripe_analytics import access
from stripe_analytics.access import Exposure, Principal, Target
from stripe_analytics.config import Settings, SettingsError, load_settings
from stripe_analytics.connection import Connection

OPERATOR_KEY = "sk_test_operator_key_0001"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR", "ALLOWED_", "EDITORS", "SECRET_KEY",
                                                        "SESSION_", "ALLOW_ANONYMOUS"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))


def settings(**values) -> Settings:
    return load_settings(data_dir=Path("data"), **values)


def key_connection(account_id: str = "acct_mine") -> Connection:
    return Connection(kind="restricted_key", account_id=account_id, livemode=False, key=SecretStr("rk_test_mine_0001"))


TEAM = settings(allowed_domains="team.example", allowed_users="guest@other.example", editors="ed@team.example,ops.example")


# ----------------------------------------------------------------------------- sign-in

NOW = 1_800_000_000


@pytest.mark.parametrize("claims, role", [
    ({"email": "ed@team.example", "email_verified": True}, "editor"),
    ({"email": "Ed@Team.Example"}, "editor"),  # addresses compare case-insensitively
    ({"email": "vic@team.example"}, "viewer"),
    ({"email": "guest@other.example"}, "viewer"),
])
def test_listed_users_and_domains_get_their_role(claims, role):
    decision = access.sign_in(TEAM, {**claims, "iat": NOW - 3600}, now=NOW)
    assert decision.allowed and decision.principal.role == role and decision.principal.signed_in


def test_an_editor_domain_makes_everyone_there_an_editor():
    decision = access.sign_in(settings(allowed_domains="ops.example", editors="ops.example"),
                              {"email": "a@ops.example", "iat": NOW}, now=NOW)
    assert decision.principal.role == "editor"


@pytest.mark.parametrize("claims, words", [
    ({}, "did not include an e-mail address"),
    ({"email": None}, "did not include an e-mail address"),
    ({"email": ""}, "did not include an e-mail address"),
    ({"email": 42}, "did not include an e-mail address"),
    ({"email": ["ed@team.example"]}, "did not include an e-mail address"),
    ({"email": "not-an-address"}, "did not include an e-mail address"),
    ({"email": "x" * 400 + "@team.example"}, "did not include an e-mail address"),
    ({"email": "eve@evil.example"}, "eve@evil.example may not use this app"),
    ({"email": "eve@team.example.evil.example"}, "may not use this app"),  # a suffix is not the domain
    ({"email": "eve@sub.team.example"}, "may not use this app"),  # nor is a subdomain
    ({"email": "guest@other.example.com"}, "may not use this app"),
    ({"email": "ed@team.example", "email_verified": False}, "has not verified ed@team.example"),
])
def test_refused_identities_get_a_plain_reason(claims, words):
    decision = access.sign_in(TEAM, claims)
    assert not decision.allowed and decision.principal is None
    assert words in decision.reason


@pytest.mark.parametrize("claims", [
    {"email": "ed@team.example"},  # no time of sign-in at all
    {"email": "ed@team.example", "iat": "yesterday"},
    {"email": "ed@team.example", "iat": NOW - 14 * 86400 - 1},
])
def test_a_sign_in_lasts_session_idle_days(claims):
    decision = access.sign_in(TEAM, claims, now=NOW)
    assert not decision.allowed and decision.expired and "sign in again" in decision.reason
    assert access.sign_in(TEAM, {**claims, "iat": NOW - 14 * 86400 + 60}, now=NOW).allowed


def test_with_no_allowlist_nobody_gets_in():
    decision = access.sign_in(settings(), {"email": "ed@team.example", "email_verified": True})
    assert not decision.allowed and "ALLOWED_USERS or ALLOWED_DOMAINS" in decision.reason


@pytest.mark.parametrize("name, value", [
    ("allowed_users", "ed@team.example, not an address"),
    ("allowed_users", "team.example"),
    ("allowed_domains", "@team.example"),
    ("allowed_domains", "team"),
    ("editors", "ed@, team.example"),
    ("secret_key", "too-short"),
    ("session_idle_days", "0"),
    ("session_idle_days", "-3"),
    ("session_idle_days", "1000"),
    ("allow_anonymous_writes", "perhaps"),
])
def test_bad_access_settings_are_refused_with_their_name(name, value):
    with pytest.raises(SettingsError) as info:
        load_settings(**{name: value})
    assert name.upper() in str(info.value)


def test_lists_accept_toml_lists_and_blanks():
    values = settings(allowed_users=["A@x.example", " b@y.example "], allowed_domains=" , team.example,")
    assert values.allowed_user_list == ("a@x.example", "b@y.example")
    assert values.allowed_domain_list == ("team.example",)


# ----------------------------------------------------------------------------- where the app listens

@pytest.mark.parametrize("address, shared", [
    ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("[::1]", False), ("localhost", False),
    ("0.0.0.0", True), ("::", True), ("", True), (None, True), ("192.168.1.20", True), ("example.com", True),
])
def test_loopback_or_shared(address, shared):
    assert Exposure(address, sign_in_configured=False).shared is shared


def test_a_shared_address_without_sign_in_warns_and_with_sign_in_does_not():
    assert "0.0.0.0 without sign-in" in Exposure("0.0.0.0", False).warning()
    assert "every network interface" in Exposure("", False).warning()
    assert Exposure("0.0.0.0", True).warning() is None
    assert Exposure("127.0.0.1", False).warning() is None


# ----------------------------------------------------------------------------- writes and syncs

OPEN = Target("acct_configured", Path("data/acct_configured.duckdb"))
MINE = Target("acct_mine", Path("data/connected/acct_mine.duckdb"))
SHARED = Exposure("0.0.0.0", sign_in_configured=False)
GUARDED = Exposure("0.0.0.0", sign_in_configured=True)
LOCAL = Exposure("127.0.0.1", sign_in_configured=False)
VIEWER = Principal("vic@team.example", "viewer", signed_in=True)
EDITOR = Principal("ed@team.example", "editor", signed_in=True)


def test_the_configured_key_writes_on_loopback_but_not_on_a_shared_address_without_sign_in():
    with_key = settings(stripe_api_key=OPERATOR_KEY)
    assert access.may_write(Principal.anonymous(), with_key, OPEN, None, LOCAL).route == "configured"
    refused = access.may_write(Principal.anonymous(), with_key, OPEN, None, SHARED)
    assert not refused.allowed and "ALLOW_ANONYMOUS_WRITES=true" in refused.reason
    opted_in = settings(stripe_api_key=OPERATOR_KEY, allow_anonymous_writes="true")
    assert access.may_write(Principal.anonymous(), opted_in, OPEN, None, SHARED).allowed
    assert access.may_write(EDITOR, with_key, OPEN, None, GUARDED).route == "configured"


def test_a_users_own_connection_writes_even_on_a_shared_address():
    conn = key_connection()
    decision = access.may_write(Principal.anonymous(), settings(stripe_api_key=OPERATOR_KEY), MINE, conn, SHARED)
    assert decision.allowed and decision.route == "connection" and decision.connection is conn


def test_viewers_neither_write_nor_sync():
    with_key = settings(stripe_api_key=OPERATOR_KEY)
    for decision in (access.may_write(VIEWER, with_key, OPEN, None, GUARDED),
                     access.may_write(VIEWER, with_key, MINE, key_connection(), GUARDED),
                     access.may_sync(VIEWER, with_key, OPEN, None)):
        assert not decision.allowed and "viewer" in decision.reason and "EDITORS" in decision.reason


def test_the_demo_and_unconnected_accounts_are_refused_plainly():
    demo = Target("demo", Path("data/demo.duckdb"), demo=True)
    assert "demo account" in access.may_write(EDITOR, settings(), demo, None).reason
    assert "demo account" in access.may_sync(EDITOR, settings(), demo, None).reason
    assert "Connect this account" in access.may_write(EDITOR, settings(), OPEN, None).reason
    assert "Connect this account" in access.may_sync(EDITOR, settings(), OPEN, None).reason
    other = key_connection("acct_someone_else")
    assert access.may_write(EDITOR, settings(), MINE, other).allowed is False  # not this account's connection


def test_writes_wait_for_the_first_sync():
    pending = Target("__configured__", None, pending=True)
    assert "Sync this account once" in access.may_write(EDITOR, settings(stripe_api_key=OPERATOR_KEY), pending,
                                                        None).reason
    unsynced = Target("acct_mine", None)
    assert "Sync this account once" in access.may_write(EDITOR, settings(), unsynced, key_connection()).reason


def test_sync_prefers_the_users_own_connection():
    with_key = settings(stripe_api_key=OPERATOR_KEY)
    assert access.may_sync(EDITOR, with_key, MINE, key_connection()).route == "connection"
    assert access.may_sync(EDITOR, with_key, OPEN, key_connection()).route == "configured"
    closed = key_connection()
    closed.close()
    assert access.may_sync(EDITOR, settings(), MINE, closed).allowed is False


def test_a_cache_belongs_to_the_account_the_key_reads():
    assert access.cache_belongs_to("acct_a", "acct_a").allowed
    assert access.cache_belongs_to(None, "acct_a").allowed  # a new cache: the first write records it
    assert access.cache_belongs_to("acct_a", "acct_unknown").allowed  # a key that cannot name its account
    refused = access.cache_belongs_to("acct_a", "acct_b")
    assert not refused.allowed and "acct_a" in refused.reason and "acct_b" in refused.reason


def test_the_cli_is_not_affected_by_sign_in():
    assert Principal.operator().can_edit and not Principal.operator().signed_in


@pytest.mark.parametrize("action, enough", [("sync", "read access is enough"), ("write", "Write access")])
def test_the_cli_uses_the_configured_key_only(action, enough):
    """The command line asks the policy which credentials it may use: the configured key, never
    a connection a user stored on the Connect page; without one, the reason says what to set."""
    decision = access.operator_credentials(settings(stripe_api_key=OPERATOR_KEY, allowed_domains="team.example",
                                                    editors=""), action)
    assert decision.allowed and decision.route == "configured" and decision.connection is None
    refused = access.operator_credentials(settings(), action)
    assert not refused.allowed and refused.because == "no_credentials"
    assert "STRIPE_API_KEY" in refused.reason and enough in refused.reason


def test_refusals_say_why_in_a_typed_field():
    with_key = settings(stripe_api_key=OPERATOR_KEY)
    demo = Target("demo", Path("data/demo.duckdb"), demo=True)
    assert access.may_sync(EDITOR, settings(), demo, None).because == "demo"
    assert access.may_sync(VIEWER, with_key, OPEN, None).because == "role"
    assert access.may_sync(EDITOR, settings(), OPEN, None).because == "no_credentials"
    assert access.may_write(Principal.anonymous(), with_key, OPEN, None, SHARED).because == "unguarded"
    assert access.may_write(EDITOR, with_key, OPEN, None, GUARDED).because is None


# ----------------------------------------------------------------------------- notes and saved views

def test_notes_and_views_editors_may_change_them_viewers_read_them():
    editor = Principal("ana@example.com", "editor", signed_in=True)
    viewer = Principal("vic@example.com", "viewer", signed_in=True)
    assert access.may_annotate(editor, settings()).allowed
    assert access.may_annotate(Principal.anonymous(), settings(), Exposure("127.0.0.1", False)).allowed
    refused = access.may_annotate(viewer, settings())
    assert not refused.allowed and refused.because == "role" and "viewer (vic@example.com)" in refused.reason


def test_notes_and_views_on_a_shared_address_without_sign_in_need_anonymous_writes():
    shared = Exposure("0.0.0.0", sign_in_configured=False)
    refused = access.may_annotate(Principal.anonymous(), settings(), shared)
    assert not refused.allowed and refused.because == "unguarded" and "ALLOW_ANONYMOUS_WRITES" in refused.reason
    assert access.may_annotate(Principal.anonymous(), settings(allow_anonymous_writes=True), shared).allowed
    assert access.may_annotate(Principal("ana@example.com", "editor", True), settings(),
                               Exposure("0.0.0.0", sign_in_configured=True)).allowed
