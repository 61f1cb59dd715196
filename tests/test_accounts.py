"""The accounts a user can see (accounts.py): the operator's caches and the demo for everyone,
a connected account for its holder only."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from stripe_analytics.accounts import DEMO_ID, PENDING_ID, default_account, visible_accounts
from stripe_analytics.config import load_settings
from stripe_analytics.connection import Connection, cache_path_for


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR", "SECRET_KEY", "SESSION_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))


def connection(account: str) -> Connection:
    return Connection(kind="restricted_key", account_id=account, livemode=False, key=SecretStr("rk_test_seen_0001"),
                      profile={"name": f"{account} Co"})


def test_a_connected_account_is_seen_by_its_holder_only(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    (tmp_path / "acct_operator.duckdb").touch()
    for account in ("acct_mine", "acct_theirs"):  # both synced once, into DATA_DIR/connected/
        path = cache_path_for(settings, account)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    mine = visible_accounts(settings, connection("acct_mine"))
    assert [a.id for a in mine] == ["acct_mine", "acct_operator", DEMO_ID]
    assert mine[0].path == cache_path_for(settings, "acct_mine") and "connected" in mine[0].label
    assert default_account(settings, mine, connection("acct_mine")).id == "acct_mine"
    nobody = visible_accounts(settings, None)
    assert [a.id for a in nobody] == ["acct_operator", DEMO_ID]  # nobody else's connection shows
    assert default_account(settings, nobody).id == DEMO_ID  # no key configured: the demo first


def test_the_configured_account_before_its_first_sync(tmp_path):
    settings = load_settings(data_dir=tmp_path, stripe_api_key="rk_test_operator_0001")
    accounts = visible_accounts(settings, None)
    assert [a.id for a in accounts] == [PENDING_ID, DEMO_ID] and accounts[0].path is None
    assert default_account(settings, accounts).id == PENDING_ID
