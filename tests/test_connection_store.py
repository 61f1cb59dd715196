"""The encrypted connection store (connection_store.py): nothing readable at rest, the key
file, a changed SECRET_KEY, damaged or foreign entries, idle expiry, Disconnect, and the
signed session ids of the cookie."""

from __future__ import annotations

import json
import os
from pathlib import Path
import stat

import pytest
from pydantic import SecretStr

from stripe_analytics.config import load_settings
from stripe_analytics.connection import Connection
from stripe_analytics.connection_store import (KEY_FILE, STORE_FILE, ConnectionStore, Keys, holder_for_browser,
                                               holder_for_user, new_session_id)
from stripe_analytics.key_check import MissingPermission
from tests.test_oauth import Clock

KEY = "rk_test_stored_key_000000001"
SECRET = "a-long-secret-key-for-the-tests-0123456789"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR", "SECRET_KEY", "SESSION_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))


def conn(account: str = "acct_stored") -> Connection:
    return Connection(kind="restricted_key", account_id=account, livemode=False, key=SecretStr(KEY),
                      profile={"name": "Stored Co"}, missing=[MissingPermission("Disputes", "disputes", "disputes")])


def store_at(tmp_path, clock=None, **values) -> ConnectionStore:
    return ConnectionStore(load_settings(data_dir=tmp_path, **values), now=clock or Clock())


BROWSER = holder_for_browser(new_session_id())


def test_a_stored_connection_comes_back_whole_and_nothing_is_readable_at_rest(tmp_path):
    store = store_at(tmp_path)
    store.save(BROWSER, conn())
    again = store_at(tmp_path).load(BROWSER).connection  # another process, same DATA_DIR
    assert again.account_id == "acct_stored" and again.credentials(load_settings()) == (KEY, None)
    assert again.label == "Stored Co" and [m.permission for m in again.missing] == ["Disputes"]
    raw = (tmp_path / STORE_FILE).read_bytes()
    for plain in (KEY.encode(), b"acct_stored", b"Stored Co", BROWSER.encode(), BROWSER.split(":")[1].encode()):
        assert plain not in raw
    assert stat.S_IMODE((tmp_path / STORE_FILE).stat().st_mode) == 0o600


def test_the_key_file_is_made_once_with_mode_0600(tmp_path):
    store_at(tmp_path).save(BROWSER, conn())
    key_file = tmp_path / KEY_FILE
    first = key_file.read_bytes()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    os.chmod(key_file, 0o644)
    store_at(tmp_path).load(BROWSER)
    assert key_file.read_bytes() == first and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_missing_data_dir_is_made_owner_only_and_an_existing_one_keeps_its_mode(tmp_path):
    """What the store creates is private (DATA_DIR and the folders above it that were missing,
    its files); a folder that was there, like a shared 1777 one, is left as it was."""
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    data_dir = sticky / "new" / "data"
    ConnectionStore(load_settings(data_dir=data_dir), now=Clock()).save(BROWSER, conn())
    assert stat.S_IMODE(sticky.stat().st_mode) == 0o1777
    assert {p.relative_to(sticky).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in sticky.rglob("*")} == {
        "new": 0o700, "new/data": 0o700, f"new/data/{KEY_FILE}": 0o600, f"new/data/{STORE_FILE}": 0o600,
        f"new/data/{Path(STORE_FILE).with_suffix('.lock').name}": 0o600}


def test_secret_key_replaces_the_key_file(tmp_path):
    store_at(tmp_path, secret_key=SECRET).save(BROWSER, conn())
    assert not (tmp_path / KEY_FILE).exists()
    assert store_at(tmp_path, secret_key=SECRET).load(BROWSER).connection is not None


def test_a_changed_secret_key_means_connect_again(tmp_path):
    store_at(tmp_path, secret_key=SECRET).save(BROWSER, conn())
    loaded = store_at(tmp_path, secret_key=SECRET[::-1]).load(BROWSER)
    assert loaded.connection is None  # the new key names entries differently: nothing found, nothing crashes
    assert store_at(tmp_path, secret_key=SECRET[::-1]).purge_expired() == 1  # and the old entry is dropped
    assert store_at(tmp_path, secret_key=SECRET).load(BROWSER).connection is None


def test_a_damaged_entry_is_dropped_with_a_message(tmp_path):
    store = store_at(tmp_path)
    store.save(BROWSER, conn())
    data = json.loads((tmp_path / STORE_FILE).read_text())
    name = next(iter(data["entries"]))
    data["entries"][name] = data["entries"][name][:-8] + "AAAAAAAA"
    (tmp_path / STORE_FILE).write_text(json.dumps(data))
    loaded = store.load(BROWSER)
    assert loaded.connection is None and "could not be read" in loaded.problem and "connect again" in loaded.problem
    assert json.loads((tmp_path / STORE_FILE).read_text())["entries"] == {}


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"entries": 5}', b'{"entries": {"x": 1}}',
                                     b"\xff\xfe"])
def test_a_damaged_store_file_is_started_afresh(tmp_path, content):
    (tmp_path / STORE_FILE).write_bytes(content)
    store = store_at(tmp_path)
    assert store.load(BROWSER).connection is None
    store.save(BROWSER, conn())
    assert store.load(BROWSER).connection is not None


def test_an_entry_copied_to_another_holder_is_refused(tmp_path):
    """Moving someone's encrypted entry under one's own name does not hand over their connection."""
    store = store_at(tmp_path)
    other = holder_for_browser(new_session_id())
    store.save(BROWSER, conn())
    data = json.loads((tmp_path / STORE_FILE).read_text())
    data["entries"][store.keys.entry_name(other)] = data["entries"][store.keys.entry_name(BROWSER)]
    (tmp_path / STORE_FILE).write_text(json.dumps(data))
    loaded = store.load(other)
    assert loaded.connection is None and loaded.problem
    assert store.load(BROWSER).connection is not None


def test_users_and_browsers_are_separate_holders(tmp_path):
    store = store_at(tmp_path)
    store.save(holder_for_user("Ed@Team.example"), conn())
    assert store.load(holder_for_user("ed@team.example")).connection is not None
    assert store.load(holder_for_user("vic@team.example")).connection is None
    assert store.load(BROWSER).connection is None


def test_idle_connections_expire_and_use_keeps_them(tmp_path):
    clock = Clock()
    store = store_at(tmp_path, clock, session_idle_days=2)
    store.save(BROWSER, conn())
    for _ in range(5):  # used every day: lasts well past two days
        clock.t += 86400
        assert store.load(BROWSER).connection is not None
    clock.t += 2 * 86400 + 1
    loaded = store.load(BROWSER)
    assert loaded.connection is None and "not used for 2 days" in loaded.problem
    assert json.loads((tmp_path / STORE_FILE).read_text())["entries"] == {}


def test_purge_drops_only_idle_entries(tmp_path):
    clock = Clock()
    store = store_at(tmp_path, clock, session_idle_days=1)
    store.save(BROWSER, conn())
    clock.t += 3600
    fresh = holder_for_browser(new_session_id())
    store.save(fresh, conn("acct_fresh"))
    clock.t += 86400 - 1800
    assert store.purge_expired() == 1
    assert store.load(fresh).connection is not None and store.load(BROWSER).connection is None


def test_disconnect_deletes_the_stored_key(tmp_path):
    store = store_at(tmp_path)
    connection = conn()
    store.save(BROWSER, connection)
    assert store.delete(BROWSER, connection) is None and not connection.open
    entries = json.loads((tmp_path / STORE_FILE).read_text())["entries"]
    assert all(KEY not in json.dumps(store._decrypt(token)) for token in entries.values())
    assert store.load(BROWSER).connection is None


def test_a_closed_connection_is_never_stored(tmp_path):
    connection = conn()
    connection.close()
    with pytest.raises(ValueError):
        store_at(tmp_path).save(BROWSER, connection)


@pytest.mark.parametrize("record", [
    {"kind": "password", "account_id": "acct_x", "livemode": False},
    {"kind": "restricted_key", "account_id": "../../etc", "livemode": False, "key": KEY},
    {"kind": "restricted_key", "account_id": "acct_x", "livemode": False},
    {"kind": "stripe_apps", "account_id": "acct_x", "livemode": False, "grant": {"mode": "stripe_apps"}},
    {"kind": "connect", "account_id": "acct_x", "livemode": False, "grant": {"mode": "stripe_apps"}},
])
def test_records_that_are_not_connections_are_dropped(tmp_path, record):
    store = store_at(tmp_path)
    with store._locked() as entries:
        entries[store.keys.entry_name(BROWSER)] = store._encrypt(BROWSER, record, store._now())
    loaded = store.load(BROWSER)
    assert loaded.connection is None and "can no longer be used" in loaded.problem


# ----------------------------------------------------------------------------- session ids

def test_session_ids_are_signed_and_checked():
    keys = Keys(b"k" * 32)
    session_id = new_session_id()
    cookie = keys.sign_session_id(session_id)
    assert keys.session_id_from_cookie(cookie) == session_id
    forged = [None, "", "abc", session_id, f"{session_id}.", f"{session_id}.{'A' * 24}", cookie[:-1] + "B",
              "x" + cookie[1:], cookie + ".extra", "a" * 300, Keys(b"j" * 32).sign_session_id(session_id),
              cookie.replace(session_id[:4], "%2e%2e")]
    for value in forged:
        assert keys.session_id_from_cookie(value) is None, value
