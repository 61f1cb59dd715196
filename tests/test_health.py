"""health.report on real caches: 200 when readable and fresh, 503 when the configured
account's last successful sync is too old or never happened, and nothing secret in it."""

import json
import time

import pytest

from stripe_analytics import health
from stripe_analytics.cache import SCHEMA_VERSION, Cache
from stripe_analytics.config import Settings
from stripe_analytics.sync import sync_account
from tests.sync_accounts import fake_with_account

KEY = "sk_test_health_key_000000001"


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("health") / "data"
    with fake_with_account(KEY, customers=4) as fake:
        settings = Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir,
                            stripe_max_requests_per_second=1000)
        report = sync_account(settings)
    return settings, report.account_id


def test_fresh_readable_cache_is_healthy(synced):
    settings, account = synced
    status, body = health.report(settings, home_account=account)
    assert status == 200 and body["status"] == "ok"
    (entry,) = body["accounts"]
    assert entry["account"] == account and entry["cache_readable"] and entry["schema_version"] == SCHEMA_VERSION
    assert entry["last_sync_age_seconds"] < 600 and entry["scheduled_sync"]
    assert body["max_sync_age_minutes"] == 45  # 3 x the default 15-minute schedule
    text = json.dumps(body)
    assert KEY not in text and "@example.com" not in text


def test_a_sync_older_than_the_limit_is_503(synced):
    settings, account = synced
    later = time.time() + 3600
    status, body = health.report(settings, home_account=account, now=later)
    assert status == 503
    assert body["accounts"][0]["problems"] == ["last successful sync is older than 45 minutes"]
    strict = settings.model_copy(update={"health_max_sync_age_minutes": 120})
    assert health.report(strict, home_account=account, now=later)[0] == 200


def test_no_limit_when_the_schedule_is_off_unless_one_is_set(synced):
    settings, account = synced
    later = time.time() + 10 * 86400
    off = settings.model_copy(update={"sync_interval_minutes": 0})
    assert health.report(off, home_account=account, now=later)[0] == 200
    limited = off.model_copy(update={"health_max_sync_age_minutes": 60})
    assert health.report(limited, home_account=account, now=later)[0] == 503


def test_a_configured_account_that_never_synced_is_503(tmp_path):
    settings = Settings(stripe_api_key=KEY, data_dir=tmp_path)
    status, body = health.report(settings, home_account="acct_never")
    assert status == 503 and body["accounts"][0]["problems"] == ["not synced yet"]


def test_a_cache_without_a_successful_sync_is_503(tmp_path):
    with Cache.open(tmp_path / "acct_empty.duckdb") as cache, cache.transaction():
        cache.set_meta("account_id", "acct_empty")
    settings = Settings(stripe_api_key=KEY, data_dir=tmp_path)
    status, body = health.report(settings, home_account="acct_empty")
    assert status == 503 and body["accounts"][0]["problems"] == ["no sync has succeeded yet"]
