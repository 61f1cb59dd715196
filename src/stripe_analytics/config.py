"""Settings, read from the environment, a `.env` file and `.streamlit/secrets.toml`.

Order of precedence (first wins): explicit arguments, environment variables, `.env`,
`.streamlit/secrets.toml`, defaults. Secrets are `SecretStr` so they never print.
"""

from __future__ import annotations

import os
import re
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_API_BASE = "https://api.stripe.com"
TEST_MODE_REQUESTS_PER_SECOND = 20.0
LIVE_MODE_REQUESTS_PER_SECOND = 80.0
SECRETS_TOML = Path(".streamlit/secrets.toml")
DOTENV = Path(".env")


class SettingsError(Exception):
    """A setting has an invalid value; the message names it and says what is wrong."""


class OAuthMode(str, Enum):
    stripe_apps = "stripe_apps"
    connect = "connect"


class _SecretsTomlSource(PydanticBaseSettingsSource):
    """Top-level keys of `.streamlit/secrets.toml`, matched case-insensitively."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        super().__init__(settings_cls)
        self._values: dict[str, Any] = {}
        text = read_settings_file(path)
        if text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                # The message ends with "(at line L, column C)".
                raise SettingsError(f"The settings file {path} is not valid TOML: {error}. Fix that line "
                                    "(strings need quotes: KEY = \"value\").") from None
            self._values = {k.lower(): v for k, v in data.items() if not isinstance(v, dict)}

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: self._values[name] for name in self.settings_cls.model_fields if name in self._values}


class _WithoutEmptyValues(PydanticBaseSettingsSource):
    """A source whose empty (or blank) values count as not set, so the next source (or the
    default) decides: `SYNC_CONCURRENCY=` in the environment does not hide `.env`'s value."""

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._source = source

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return self._source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self._source().items() if not _empty(value)}


def _empty(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


_EMAIL = re.compile(r"^[^@\s,]+@[a-z0-9.-]+\.[a-z]{2,}$")
_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")


def _split_list(value: Any) -> list[str]:
    """A comma-separated setting (or a TOML list) as lower-case items, blanks dropped."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return [item.strip().lower() for item in str(value).split(",") if item.strip()]


def read_settings_file(path: Path) -> str | None:
    """The text of a settings file (`.env`, `secrets.toml`), None when there is none; raises
    SettingsError naming the file, and for text that is not UTF-8 the line and column."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise SettingsError(f"The settings file {path} is a folder, not a file.") from None
    except OSError as error:
        raise SettingsError(f"The settings file {path} cannot be read ({error.strerror}).") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise SettingsError(f"The settings file {path} is not UTF-8 text: line {line}, column {column} has the "
                            f"byte 0x{raw[error.start]:02x}. Save it as UTF-8.") from None


def key_mode(key: str | None) -> str | None:
    """'live' or 'test' from a Stripe key's prefix, None when unknown."""
    if not key:
        return None
    if "_live_" in key[:9]:
        return "live"
    if "_test_" in key[:9]:
        return "test"
    return None


def _split_secrets(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        # `.env` is read by settings_customise_sources, after checking it is readable UTF-8.
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
    )

    stripe_api_key: SecretStr | None = Field(
        default=None, description="Secret (sk_) or restricted (rk_) key of the account to sync."
    )
    stripe_api_base: str = Field(default=DEFAULT_API_BASE, description="Base URL of the Stripe API.")
    stripe_account: str | None = Field(
        default=None, description="Connected account id (acct_...) to act on with a platform key."
    )
    stripe_client_id: str | None = Field(default=None, description="OAuth client id (ca_...).")
    stripe_client_secret: SecretStr | None = Field(
        default=None, description="Secret key of the platform or app used for the OAuth token exchange."
    )
    stripe_redirect_uri: str | None = Field(default=None, description="OAuth redirect URI on the app's origin.")
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Webhook signing secret (whsec_...); several, comma-separated, while one is rotated.")
    stripe_oauth_mode: OAuthMode = Field(default=OAuthMode.stripe_apps, description="stripe_apps or connect.")
    stripe_oauth_authorize_url: str | None = Field(default=None, description="Override of the authorize URL.")
    stripe_oauth_token_url: str | None = Field(default=None, description="Override of the token URL.")
    stripe_oauth_deauthorize_url: str | None = Field(default=None, description="Override of the deauthorize URL.")
    data_dir: Path = Field(default=Path("./data"), description="Folder of the DuckDB caches.")
    demo_customers: int = Field(default=2000, ge=10, le=100_000,
                                description="Customers of the generated demo account (built on first start).")
    stripe_max_requests_per_second: float | None = Field(
        default=None,
        description="Client-side request budget; default 20 in test mode, 80 in live mode.",
    )
    stripe_max_network_retries: int = Field(default=6, ge=0, le=20, description="Retries per request.")
    sync_concurrency: int | None = Field(
        default=None, ge=1, le=64,
        description="Parallel requests during a backfill; unset: from the request budget and the measured latency.",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Key that encrypts stored connections; default: a key file generated in DATA_DIR."
    )
    session_idle_days: float = Field(default=14, gt=0, le=365, description="Days a connection lasts unused.")
    allow_anonymous_writes: bool = Field(
        default=False, description="Let the forms write with STRIPE_API_KEY on a shared address without sign-in."
    )
    allowed_users: str = Field(default="", description="Comma-separated e-mail addresses that may sign in.")
    allowed_domains: str = Field(default="", description="Comma-separated e-mail domains that may sign in.")
    editors: str = Field(default="", description="Comma-separated addresses or domains with the editor role.")
    sync_interval_minutes: float = Field(
        default=15, ge=0, le=1440, description="Minutes between the server's own incremental syncs; 0 turns them off.")
    health_max_sync_age_minutes: float | None = Field(
        default=None, gt=0, le=100_000,
        description="/healthz answers 503 when the last successful sync is older; default 3 x the sync interval.")

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _webhook_secrets_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        secrets = _split_secrets(value.get_secret_value())
        if any(not s.startswith("whsec_") or len(s) < 12 for s in secrets):
            raise ValueError("must be one or more webhook signing secrets (whsec_...), separated by commas")
        return SecretStr(",".join(secrets))

    @property
    def webhook_secrets(self) -> list[str]:
        """Every accepted webhook signing secret (more than one while a secret is rotated)."""
        return _split_secrets(self.stripe_webhook_secret.get_secret_value()) if self.stripe_webhook_secret else []

    @property
    def health_max_sync_age_seconds(self) -> float | None:
        """How old the last successful sync may be before /healthz says 503; None: no limit
        (the schedule is off and no limit was set)."""
        if self.health_max_sync_age_minutes is not None:
            return self.health_max_sync_age_minutes * 60
        return 3 * self.sync_interval_minutes * 60 if self.sync_interval_minutes else None

    @field_validator("stripe_api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        key = value.get_secret_value().strip()
        if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ValueError("must be a secret key (sk_test_/sk_live_) or a restricted key (rk_test_/rk_live_)")
        if len(key) < 16 or any(c.isspace() for c in key):
            raise ValueError("is not a complete Stripe key")
        return SecretStr(key)

    @field_validator("stripe_api_base", "stripe_oauth_authorize_url", "stripe_oauth_token_url",
                     "stripe_oauth_deauthorize_url", "stripe_redirect_uri")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("stripe_account")
    @classmethod
    def _account_shape(cls, value: str | None) -> str | None:
        if value and not value.startswith("acct_"):
            raise ValueError("must be an account id starting with acct_")
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _secret_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be at least 32 characters long (e.g. `python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'`)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("allowed_users", "allowed_domains", "editors", mode="before")
    @classmethod
    def _address_list(cls, value: Any, info) -> str:
        items = _split_list(value)
        for item in items:
            if info.field_name == "allowed_users" and not _EMAIL.match(item):
                raise ValueError(f"must list e-mail addresses separated by commas; {item!r} is not one")
            if info.field_name == "allowed_domains" and not _DOMAIN.match(item):
                raise ValueError(f"must list domains (example.com) separated by commas; {item!r} is not one")
            if info.field_name == "editors" and not (_EMAIL.match(item) or _DOMAIN.match(item)):
                raise ValueError(f"must list e-mail addresses or domains separated by commas; {item!r} is neither")
        return ",".join(items)

    @field_validator("stripe_max_requests_per_second")
    @classmethod
    def _positive_rate(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value <= 1000):
            raise ValueError("must be a number of requests per second between 0 and 1000")
        return value

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, values: Any) -> Any:
        """An empty (or blank) value means "not set", for every setting: the sources drop theirs
        (`_WithoutEmptyValues`); this does the same for values passed to `load_settings`."""
        if isinstance(values, dict):
            return {k: v for k, v in values.items() if not _empty(v)}
        return values

    @model_validator(mode="after")
    def _api_base_default(self) -> "Settings":
        if not self.stripe_api_base:
            self.stripe_api_base = DEFAULT_API_BASE
        return self

    @property
    def mode(self) -> str | None:
        key = self.stripe_api_key.get_secret_value() if self.stripe_api_key else None
        return key_mode(key)

    @property
    def allowed_user_list(self) -> tuple[str, ...]:
        return tuple(_split_list(self.allowed_users))

    @property
    def allowed_domain_list(self) -> tuple[str, ...]:
        return tuple(_split_list(self.allowed_domains))

    @property
    def editor_list(self) -> tuple[str, ...]:
        return tuple(_split_list(self.editors))

    @property
    def requests_per_second(self) -> float:
        if self.stripe_max_requests_per_second is not None:
            return self.stripe_max_requests_per_second
        return LIVE_MODE_REQUESTS_PER_SECOND if self.mode == "live" else TEST_MODE_REQUESTS_PER_SECOND

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets_path = Path(os.environ.get("STREAMLIT_SECRETS_FILE") or SECRETS_TOML)
        dotenv = DotEnvSettingsSource(settings_cls, env_file=None)
        if read_settings_file(DOTENV) is not None:  # pydantic-settings itself raises UnicodeDecodeError
            dotenv = DotEnvSettingsSource(settings_cls, env_file=DOTENV, env_file_encoding="utf-8")
        files = (env_settings, dotenv, _SecretsTomlSource(settings_cls, secrets_path))
        return (init_settings, *(_WithoutEmptyValues(settings_cls, source) for source in files))


def describe_validation_error(error: ValidationError) -> str:
    """One plain line per bad setting, naming it as the user writes it (upper case)."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item.get("loc", ())).upper() or "SETTINGS"
        message = item.get("msg", "is invalid")
        message = message.removeprefix("Value error, ")
        lines.append(f"Setting {name} {message}" if message.startswith(("must", "is ")) else f"Setting {name}: {message}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings from all sources; raises SettingsError with a plain message when invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


_CURRENT: tuple[tuple, Settings] | None = None  # (what they were read from, the settings read)


def _file_stamp(path: Path) -> tuple:
    try:
        return str(path), path.read_bytes()  # a few hundred bytes: exact, where a file time may not move
    except OSError as error:
        return str(path), type(error).__name__


def _sources_stamp() -> tuple:
    """What `load_settings()` reads: the environment, the working folder (the files' paths are
    relative to it) and the two settings files' contents."""
    secrets_path = Path(os.environ.get("STREAMLIT_SECRETS_FILE") or SECRETS_TOML)
    return tuple(sorted(os.environ.items())), os.getcwd(), _file_stamp(DOTENV), _file_stamp(secrets_path)


def current_settings() -> Settings:
    """`load_settings()`, read again only when the environment or a settings file changed. The
    app asks on every rerun, so that an edited setting takes effect at the next one; reading
    them takes 2-8 ms of each rerun, comparing their sources ~0.1 ms. Invalid settings raise
    SettingsError each time."""
    global _CURRENT
    stamp = _sources_stamp()
    current = _CURRENT
    if current is not None and current[0] == stamp:
        return current[1]
    settings = load_settings()
    _CURRENT = (stamp, settings)
    return settings
