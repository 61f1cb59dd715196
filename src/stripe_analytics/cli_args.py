"""What the CLI's command modules share: their error (`CliError`, with its exit code), the
exit code the sync children share with the CLI, the argument every command that reads or
writes a cache takes (`--db`), the validation of the arguments, and the cache a reading
command opens."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .config import load_settings


class CliError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


EXIT_SYNC_BUSY = 4  # another sync of the account is running (the CLI and both sync children)


class DbArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    db: Path | None = None

    @field_validator("db")
    @classmethod
    def _db_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".duckdb":
            raise ValueError("must be a path to a .duckdb file")
        return value


def validated(model: type[BaseModel], namespace: argparse.Namespace) -> BaseModel:
    try:
        return model(**{k: v for k, v in vars(namespace).items() if v is not None})
    except ValidationError as error:
        item = error.errors()[0]
        name = "--" + str(item["loc"][0]).replace("_", "-") if item.get("loc") else "argument"
        raise CliError(f"{name} {item['msg'].removeprefix('Value error, ')}", 2) from None


def open_cache(db: Path | None):
    """The cache a reading command uses, read-only and verified: `--db`, or the only cache in
    DATA_DIR. Creates nothing."""
    from .cache import CacheError, CachePlaceError, open_for_reading

    settings = load_settings()
    if db is None:
        db = _only_cache(Path(settings.data_dir))
    try:
        return open_for_reading(db, verify=True)
    except CachePlaceError as error:
        raise CliError(str(error), 2) from None
    except CacheError as error:
        raise CliError(str(error)) from None


def _only_cache(data_dir: Path) -> Path:
    from .cache import CachePlaceError, check_readable_folder

    try:
        exists = check_readable_folder(data_dir, "DATA_DIR")
    except CachePlaceError as error:
        raise CliError(str(error), 2) from None
    candidates = sorted(data_dir.glob("*.duckdb")) if exists else []
    real = [p for p in candidates if p.stem != "demo"]
    if len(real) == 1:
        return real[0]
    if not real and candidates:
        return candidates[0]
    if not candidates:
        raise CliError(f"No cache in {data_dir} (DATA_DIR): run `stripe-analytics sync` or "
                       "`stripe-analytics demo` first.", 2)
    raise CliError(f"Several caches in {data_dir}; choose one with --db: " + ", ".join(p.name for p in real), 2)
