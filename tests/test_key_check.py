"""Restricted keys, checked at once against the fake Stripe server: exactly which Read
permissions are missing for which pages, keys that cannot be used at all, and a connected
key's sync into its own cache (key only on the child's stdin, never in the cache or logs)."""

from __future__ import annotations

import logging
import os
import time

import pytest

from stripe_analytics import sync_jobs
from stripe_analytics.connection import Connection, cache_path_for
from stripe_analytics.config import load_settings
from stripe_analytics.key_check import KeyCheckError, check_restricted_key, restricted_key_shape
from stripe_analytics.schema import RESOURCES
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import build_account

ACCOUNT = "acct_synctest"
FULL = "rk_test_full_access_0001"
NO_DISPUTES_NO_SUBS = "rk_test_no_disputes_subs_01"
LIVE = "rk_live_full_access_0001"
NO_ACCOUNT = "rk_test_cannot_read_acct_1"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)
    with FakeStripe() as fake:
        account, objects = build_account(int(time.time()), customers=8)
        account["business_profile"] = {**(account.get("business_profile") or {}), "name": "Sync Test Inc"}
        fake.add_account(account)
        fake.add_many(objects)
        fake.add_key(FULL, ACCOUNT)
        fake.add_key(LIVE, ACCOUNT)
        fake.add_key(NO_DISPUTES_NO_SUBS, ACCOUNT, denied={"disputes", "subscriptions"})
        fake.add_key(NO_ACCOUNT, ACCOUNT, denied={"account", "events"})
        yield fake


@pytest.fixture
def settings(fake, tmp_path):
    return load_settings(stripe_api_base=fake.url, data_dir=str(tmp_path / "data"))


def test_missing_disputes_and_subscriptions_are_named_with_their_pages(settings):
    report = check_restricted_key(settings, NO_DISPUTES_NO_SUBS)
    assert report.usable and not report.complete
    assert report.account_id == ACCOUNT and report.mode == "test"
    assert report.messages == [
        "Subscriptions: Read is needed for MRR, churn and retention",
        "Disputes: Read is needed for disputes on the Revenue page",
    ]
    assert "cannot read everything" in report.summary()


def test_a_key_with_every_permission_is_complete(settings):
    report = check_restricted_key(settings, f"  {FULL}\n")  # pasted with spaces around it
    assert report.complete and report.messages == []
    assert report.account["name"] == "Sync Test Inc"
    assert report.summary() == "This key can read everything the app uses."


def test_the_check_is_harmless_reads_only(settings, fake):
    fake.clear_requests()
    check_restricted_key(settings, FULL)
    requests = fake.requests
    assert {r.method for r in requests} == {"GET"}
    assert requests[0].path == "/v1/account"
    listed = sorted(r.path for r in requests[1:])
    assert listed == sorted(f"/v1/{'/'.join(r.service)}" for r in RESOURCES)
    assert all(r.query.get("limit") == "1" for r in requests[1:])


def test_a_live_key_is_live(settings):
    assert check_restricted_key(settings, LIVE).mode == "live"


def test_a_key_that_cannot_read_its_account_cannot_be_used(settings):
    report = check_restricted_key(settings, NO_ACCOUNT)
    assert not report.usable
    assert report.messages[0] == ("Account: Read is needed for naming this account's local copy (the key cannot "
                                  "be used without it)")
    assert "Events: Read is needed for incremental sync" in report.messages
    assert "cannot read the account itself" in report.summary()


def test_an_unknown_key_is_refused_plainly(settings, caplog):
    bogus = "rk_test_does_not_exist_42"
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(KeyCheckError) as info:
            check_restricted_key(settings, bogus)
    assert "Stripe refused the API key" in str(info.value) and "Copy a current key" in str(info.value)
    assert bogus not in str(info.value) and bogus not in caplog.text


@pytest.mark.parametrize("pasted, words", [
    ("sk_test_0123456789abcdef", "secret key"),
    ("sk_live_0123456789abcdef", "secret key"),
    ("pk_test_0123456789abcdef", "publishable key"),
    ("rk_test_short", "not a complete"),
    ("hello world", "not a complete"),
    ("", "Paste a restricted key"),
])
def test_keys_that_are_not_restricted_keys_are_refused_without_asking_stripe(settings, fake, pasted, words):
    fake.clear_requests()
    with pytest.raises(KeyCheckError) as info:
        check_restricted_key(settings, pasted)
    assert words in str(info.value)
    if len(pasted) > 8:
        assert pasted not in str(info.value)
    assert fake.requests == []


def test_shape_check_trims(settings):
    assert restricted_key_shape(f"\t{FULL} ") == FULL


def test_a_connected_key_syncs_into_its_own_cache_and_the_key_stays_out(settings, caplog):
    report = check_restricted_key(settings, NO_DISPUTES_NO_SUBS)
    conn = Connection.from_key(report, NO_DISPUTES_NO_SUBS)
    assert NO_DISPUTES_NO_SUBS not in repr(conn) and NO_DISPUTES_NO_SUBS not in str(conn)
    with caplog.at_level(logging.DEBUG):
        job = sync_jobs.start_connection(settings, conn, *conn.credentials(settings))
        assert NO_DISPUTES_NO_SUBS not in " ".join(job.command)
        assert job.process.args == job.command
        deadline = time.monotonic() + 120
        while job.running and time.monotonic() < deadline:
            time.sleep(0.2)
    assert job.ok, job.error
    path = cache_path_for(settings, ACCOUNT)
    assert path == settings.data_dir / "connected" / f"{ACCOUNT}.duckdb" and path.exists()
    assert job.output[0].startswith("synced ")
    assert any("skipped subscriptions" in line for line in job.output)
    assert any("skipped disputes" in line for line in job.output)

    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 8
        assert con.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
    texts = [caplog.text, "\n".join(job.lines), "\n".join(job.output)]
    blobs = [p.read_bytes() for p in path.parent.iterdir() if p.is_file()]
    assert all(NO_DISPUTES_NO_SUBS not in t for t in texts)
    assert all(NO_DISPUTES_NO_SUBS.encode() not in b for b in blobs)
    conn.close()
    with pytest.raises(Exception):
        conn.credentials(settings)


def test_the_connect_page_takes_a_restricted_key_and_keeps_it_out_of_sight(fake, tmp_path, monkeypatch):
    """The Connect page through AppTest: paste a key, see the missing permissions, find the
    key nowhere in the page or in st.session_state, Disconnect."""
    from streamlit.testing.v1 import AppTest

    from tests.app_support import APP, app_env, data_dir_with_demo

    data_dir = data_dir_with_demo(tmp_path / "data")
    for name, value in app_env(data_dir, tmp_path, STRIPE_API_BASE=fake.url).items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/connect_page.py").run()
    assert not at.exception
    assert any("Connecting with Stripe is not set up" in i.value for i in at.info)  # no OAuth settings here
    (field,) = [t for t in at.text_input if t.label == "Restricted key"]
    field.input(NO_DISPUTES_NO_SUBS)
    next(b for b in at.button if b.label == "Check and connect").click()
    at.run()
    assert not at.exception
    shown = "\n".join(str(e.value) for kind in (at.markdown, at.caption, at.warning, at.info, at.success, at.error)
                      for e in kind) + "\n".join(str(b.label) for b in at.button)
    assert "Sync Test Inc" in shown and "Restricted key" in shown
    assert "Disputes: Read is needed for disputes on the Revenue page" in shown
    assert NO_DISPUTES_NO_SUBS not in shown
    assert [t for t in at.text_input if t.label == "Restricted key"] == []  # connected view: no key field
    for name in at.session_state:
        assert NO_DISPUTES_NO_SUBS not in repr(at.session_state[name]), name
    settings = load_settings()
    job = sync_jobs.job_for(cache_path_for(settings, ACCOUNT))
    deadline = time.monotonic() + 120
    while job is not None and job.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job is not None and job.ok, job and job.error
    next(b for b in at.button if b.label == "Disconnect").click()
    at.run()
    assert any("Disconnected from Sync Test Inc" in s.value for s in at.success)
    assert "_sa_connection" not in at.session_state
