"""The argument every command that reads or writes a cache takes (`--db`), shared by the CLI's
command modules, and the exit code the sync children share with the CLI."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

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
