import pytest

from stripe_analytics.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "DATA_DIR", "STRIPE_MAX_REQUESTS_PER_SECOND",
                 "STRIPE_ACCOUNT", "STRIPE_OAUTH_MODE", "SYNC_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "secrets.toml"))


def test_defaults_without_any_setting():
    settings = load_settings()
    assert settings.stripe_api_key is None
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.requests_per_second == 20


def test_live_key_raises_default_budget_and_stays_secret(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "rk_live_abcdefghijklmnop1234")
    settings = load_settings()
    assert settings.mode == "live"
    assert settings.requests_per_second == 80
    assert "abcdefghijklmnop" not in repr(settings)
    assert "abcdefghijklmnop" not in str(settings.model_dump())


def test_precedence_env_over_dotenv_over_secrets_toml(monkeypatch, tmp_path):
    (tmp_path / "secrets.toml").write_text('DATA_DIR = "from_toml"\nSTRIPE_API_BASE = "http://toml.local:1"\n'
                                           'SYNC_CONCURRENCY = 3\n')
    (tmp_path / ".env").write_text("DATA_DIR=from_dotenv\nSTRIPE_API_BASE=http://dotenv.local:1\n")
    monkeypatch.setenv("DATA_DIR", "from_env")
    settings = load_settings()
    assert str(settings.data_dir) == "from_env"
    assert settings.stripe_api_base == "http://dotenv.local:1"
    assert settings.sync_concurrency == 3


@pytest.mark.parametrize("name,value,expected", [
    ("STRIPE_API_KEY", "pk_test_abcdefghijklmnop", "STRIPE_API_KEY must be a secret key"),
    ("STRIPE_API_KEY", "sk_test_x", "STRIPE_API_KEY is not a complete Stripe key"),
    ("STRIPE_API_BASE", "ftp://example", "STRIPE_API_BASE must be an http(s) URL"),
    ("STRIPE_MAX_REQUESTS_PER_SECOND", "0", "STRIPE_MAX_REQUESTS_PER_SECOND must be"),
    ("STRIPE_MAX_REQUESTS_PER_SECOND", "fast", "STRIPE_MAX_REQUESTS_PER_SECOND"),
    ("STRIPE_ACCOUNT", "cus_123", "STRIPE_ACCOUNT must be an account id"),
    ("STRIPE_OAUTH_MODE", "magic", "STRIPE_OAUTH_MODE"),
    ("SYNC_CONCURRENCY", "0", "SYNC_CONCURRENCY"),
])
def test_invalid_values_name_the_setting(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expected in str(info.value)
    assert "Traceback" not in str(info.value)
    if name == "STRIPE_API_KEY":
        assert value not in str(info.value)


def test_cli_reports_bad_setting_without_traceback(monkeypatch, capsys):
    from stripe_analytics.cli import main

    monkeypatch.setenv("STRIPE_API_BASE", "not a url")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "STRIPE_API_BASE" in err and "Traceback" not in err


def test_live_data_settings_are_validated():
    rotating = load_settings(stripe_webhook_secret="whsec_new_secret_1, whsec_old_secret_2")
    assert rotating.webhook_secrets == ["whsec_new_secret_1", "whsec_old_secret_2"]
    assert "whsec_" not in repr(rotating)
    assert load_settings(sync_interval_minutes=10).health_max_sync_age_seconds == 1800
    assert load_settings(sync_interval_minutes=0).health_max_sync_age_seconds is None
    assert load_settings(sync_interval_minutes=0, health_max_sync_age_minutes=5).health_max_sync_age_seconds == 300
    for bad in ({"stripe_webhook_secret": "not-a-secret"}, {"sync_interval_minutes": -1},
                {"health_max_sync_age_minutes": 0}):
        with pytest.raises(SettingsError):
            load_settings(**bad)


@pytest.mark.parametrize("name", ["STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_ACCOUNT", "DATA_DIR",
                                  "STRIPE_MAX_REQUESTS_PER_SECOND", "STRIPE_MAX_NETWORK_RETRIES", "SYNC_CONCURRENCY",
                                  "STRIPE_OAUTH_MODE"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_value_counts_as_unset(monkeypatch, name, value):
    default = load_settings()
    monkeypatch.setenv(name, value)
    assert load_settings() == default


def test_a_dotenv_that_is_not_utf8_names_the_file_line_and_column(tmp_path):
    (tmp_path / ".env").write_bytes(b"DATA_DIR=x\n# caf\xe9\n")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == ("The settings file .env is not UTF-8 text: line 2, column 6 has the byte 0xe9. "
                               "Save it as UTF-8.")


def test_a_malformed_secrets_toml_names_the_file_and_line(tmp_path):
    (tmp_path / "secrets.toml").write_text('DATA_DIR = "x"\nSYNC_CONCURRENCY = eight\n')
    with pytest.raises(SettingsError, match=r"secrets.toml is not valid TOML: .*line 2"):
        load_settings()


def test_a_settings_file_that_is_a_folder_is_named(tmp_path):
    (tmp_path / ".env").mkdir()
    with pytest.raises(SettingsError, match=r"\.env is a folder"):
        load_settings()


# A valid value of every setting, different from its default.
VALUES = {
    "stripe_api_key": "sk_test_abcdefghijklmnop", "stripe_api_base": "http://127.0.0.1:9999",
    "stripe_account": "acct_1Example", "stripe_client_id": "ca_example", "stripe_client_secret": "sk_test_client_secret_1",
    "stripe_redirect_uri": "http://localhost:8501/oauth", "stripe_webhook_secret": "whsec_example_1234",
    "stripe_oauth_mode": "connect", "stripe_oauth_authorize_url": "http://127.0.0.1:9999/authorize",
    "stripe_oauth_token_url": "http://127.0.0.1:9999/token", "stripe_oauth_deauthorize_url": "http://127.0.0.1:9999/de",
    "data_dir": "elsewhere", "demo_customers": "50", "stripe_max_requests_per_second": "5",
    "stripe_max_network_retries": "2", "sync_concurrency": "8", "secret_key": "k" * 40, "session_idle_days": "3",
    "allow_anonymous_writes": "true", "allowed_users": "ann@example.com", "allowed_domains": "example.com",
    "editors": "example.com", "sync_interval_minutes": "5", "health_max_sync_age_minutes": "30",
}


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_value_is_not_set_so_the_next_source_decides(monkeypatch, tmp_path, empty):
    """`SYNC_CONCURRENCY=` in the environment does not hide `SYNC_CONCURRENCY=8` in `.env`, nor an
    empty line in `.env` the value in secrets.toml: an empty value counts as not set, for every setting."""
    from stripe_analytics.config import Settings

    assert set(VALUES) == set(Settings.model_fields)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in VALUES.items():
        monkeypatch.setenv(name.upper(), value)
        expected = getattr(load_settings(), name)
        assert expected != Settings.model_fields[name].default, name

        monkeypatch.setenv(name.upper(), empty)
        (tmp_path / ".env").write_text(f"{name.upper()}={value}\n")
        assert getattr(load_settings(), name) == expected, ("environment over .env", name)

        monkeypatch.delenv(name.upper())
        (tmp_path / ".env").write_text(f"{name.upper()}={empty}\n")
        (tmp_path / "secrets.toml").write_text(f'{name.upper()} = "{value}"\n')
        assert getattr(load_settings(), name) == expected, (".env over secrets.toml", name)
        (tmp_path / ".env").unlink()
        (tmp_path / "secrets.toml").unlink()


def test_the_app_reads_its_settings_again_only_when_a_source_changed(monkeypatch, tmp_path):
    from stripe_analytics.config import current_settings

    monkeypatch.setenv("DATA_DIR", "first")
    first = current_settings()
    assert str(first.data_dir) == "first"
    assert current_settings() is first  # nothing changed: the same settings, not read again

    monkeypatch.setenv("DATA_DIR", "second")  # the environment
    second = current_settings()
    assert str(second.data_dir) == "second" and current_settings() is second

    monkeypatch.delenv("DATA_DIR")
    (tmp_path / ".env").write_text("DATA_DIR=from_dotenv\n")  # a file that appeared
    assert str(current_settings().data_dir) == "from_dotenv"
    (tmp_path / "secrets.toml").write_text('SYNC_CONCURRENCY = 3\n')
    assert current_settings().sync_concurrency == 3
    (tmp_path / "secrets.toml").write_text('SYNC_CONCURRENCY = 5\n')  # a file edited
    assert current_settings().sync_concurrency == 5

    (tmp_path / "secrets.toml").write_text('SYNC_CONCURRENCY = "many"\n')  # invalid: said every time
    for _ in range(2):
        with pytest.raises(SettingsError, match="SYNC_CONCURRENCY"):
            current_settings()
    (tmp_path / "secrets.toml").write_text('SYNC_CONCURRENCY = 2\n')
    assert current_settings().sync_concurrency == 2
